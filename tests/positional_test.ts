import assert from "node:assert/strict";
import { sincosPosEmbed1d, sincosPosEmbed2d } from "../lib/positional.ts";
import { assertAllClose } from "./assert.ts";
import { FLOAT32, reference, tensor } from "./fixtures.ts";

Deno.test("sincosPosEmbed2d equals the reference's get_2d_sincos_pos_embed (fixtures)", () => {
  for (const c of reference.sincosPosEmbed2d) {
    assertAllClose(sincosPosEmbed2d(c.embedDim, c.gridSize), tensor(c.table), {
      ...FLOAT32,
      msg: `D=${c.embedDim}, grid=${c.gridSize}`,
    });
  }
});

Deno.test("first half encodes the column, second half the row, each as [sin | cos] of ω_k = 10000^(-k/(D/4))", () => {
  const D = 32, grid = 5, quarter = D / 4;
  const pos = sincosPosEmbed2d(D, grid);
  for (let row = 0; row < grid; row++) {
    for (let col = 0; col < grid; col++) {
      const token = row * grid + col;
      for (let k = 0; k < quarter; k++) {
        const omega = 1 / 10000 ** (k / quarter);
        const expected = [
          [k, Math.sin(col * omega)],
          [quarter + k, Math.cos(col * omega)],
          [2 * quarter + k, Math.sin(row * omega)],
          [3 * quarter + k, Math.cos(row * omega)],
        ];
        for (const [d, value] of expected) assert.equal(pos.at(token, d), Math.fround(value));
      }
    }
  }
});

Deno.test("tokens in one column share the first half; the 2-D table is two 1-D tables side by side", () => {
  const D = 16, grid = 4, pos = sincosPosEmbed2d(D, grid);
  const columnCodes = sincosPosEmbed1d(D / 2, [0, 1, 2, 3]);
  for (let token = 0; token < grid * grid; token++) {
    const col = token % grid;
    assert.deepEqual(
      pos.data.subarray(token * D, token * D + D / 2),
      columnCodes.data.subarray(col * (D / 2), (col + 1) * (D / 2)),
    );
  }
});

Deno.test("sincosPosEmbed rejects dimensions the reference forbids", () => {
  assert.throws(() => sincosPosEmbed2d(6, 4), /embedDim is 6; expected a positive multiple of 4/);
  assert.throws(() => sincosPosEmbed2d(0, 4), /embedDim is 0/);
  assert.throws(() => sincosPosEmbed2d(8, 0), /gridSize is 0; expected a positive integer/);
  assert.throws(() => sincosPosEmbed1d(5, [0]), /embedDim is 5; expected a positive even integer/);
});
