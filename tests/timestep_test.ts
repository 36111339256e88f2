import assert from "node:assert/strict";
import { timestepEmbedding } from "../lib/timestep.ts";
import { assertAllClose } from "./assert.ts";
import { FLOAT32, reference, tensor } from "./fixtures.ts";

Deno.test("timestepEmbedding equals TimestepEmbedder.timestep_embedding (fixtures, incl. fractional t, odd dim)", () => {
  for (const c of reference.timestepEmbedding) {
    assertAllClose(timestepEmbedding(c.t, c.dim, c.maxPeriod), tensor(c.embedding), {
      ...FLOAT32,
      msg: `dim=${c.dim}, maxPeriod=${c.maxPeriod}`,
    });
  }
});

Deno.test("timestepEmbedding follows [cos(t·f_k) | sin(t·f_k)] with f_k = maxPeriod^(-k/half)", () => {
  const dim = 10, half = 5, t = [0, 3.25, 777];
  const emb = timestepEmbedding(t, dim, 100);
  for (const [n, tn] of t.entries()) {
    for (let k = 0; k < half; k++) {
      const f = 100 ** (-k / half);
      // float64 formula vs float32 arithmetic: the angle's float32 rounding moves the value by < 1e-4 here
      assert.ok(Math.abs(emb.at(n, k) - Math.cos(tn * f)) < 1e-4);
      assert.ok(Math.abs(emb.at(n, half + k) - Math.sin(tn * f)) < 1e-4);
    }
  }
});

Deno.test("an odd dim appends a zero column", () => {
  const emb = timestepEmbedding([5, 600], 9);
  assert.deepEqual(emb.shape, [2, 9]);
  assert.equal(emb.at(0, 8), 0);
  assert.equal(emb.at(1, 8), 0);
  assert.equal(emb.at(1, 0), Math.fround(Math.cos(600)));
});

Deno.test("timestepEmbedding rejects bad dims, periods and timesteps", () => {
  assert.throws(() => timestepEmbedding([1], 0), /dim is 0; expected an integer >= 2/);
  assert.throws(() => timestepEmbedding([1], 1), /dim is 1; expected an integer >= 2/);
  assert.throws(() => timestepEmbedding([1], 2.5), /dim is 2.5/);
  assert.throws(() => timestepEmbedding([1], 8, 0), /maxPeriod is 0; expected a positive number/);
  assert.throws(() => timestepEmbedding([1, NaN], 8), /t\[1\] is NaN; expected a finite number/);
});
