import assert from "node:assert/strict";
import { gatedResidual, layerNorm, modulate } from "../lib/adaln.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertRelativeError } from "./assert.ts";
import { CONCEPT_TOLERANCE, reference, tensor } from "./fixtures.ts";

const r = reference.adaln;

Deno.test("layerNorm, modulate and gatedResidual equal the reference's torch ops (fixtures)", () => {
  const x = tensor(r.x);
  assertRelativeError(layerNorm(x), tensor(r.layerNorm), CONCEPT_TOLERANCE, "layerNorm");
  assertRelativeError(
    modulate(x, tensor(r.shift), tensor(r.scale)),
    tensor(r.modulate),
    CONCEPT_TOLERANCE,
    "modulate",
  );
  assertRelativeError(
    gatedResidual(x, tensor(r.gate), tensor(r.y)),
    tensor(r.gatedResidual),
    CONCEPT_TOLERANCE,
    "gatedResidual",
  );
});

Deno.test("layerNorm gives each row mean 0 and variance D/(D + eps·D/var)", () => {
  const x = new SeededRandom(5).randn([3, 7, 48]);
  const y = layerNorm(x);
  for (let row = 0; row < 21; row++) {
    const v = y.data.subarray(row * 48, (row + 1) * 48);
    const mean = v.reduce((a, b) => a + b) / 48;
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / 48;
    assert.ok(Math.abs(mean) < 1e-6, `row ${row} mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 1e-4, `row ${row} variance ${variance}`);
  }
  // a constant row normalizes to zeros, not NaN: eps keeps the division finite
  assert.deepEqual([...layerNorm(Tensor.from([3, 3, 3], [1, 3])).data], [0, 0, 0]);
});

Deno.test("adaLN-Zero starts as the identity: zero shift/scale and zero gate change nothing", () => {
  const random = new SeededRandom(8);
  const x = random.randn([2, 5, 16]);
  assert.deepEqual(modulate(x, Tensor.zeros([2, 16]), Tensor.zeros([2, 16])), x);
  assert.deepEqual(gatedResidual(x, Tensor.zeros([2, 16]), random.randn([2, 5, 16])), x);
});

Deno.test("modulate broadcasts each sample's shift and scale over its tokens", () => {
  const x = Tensor.from([1, 1, 1, 1], [2, 2, 1]);
  const y = modulate(x, Tensor.from([0, 5], [2, 1]), Tensor.from([1, -1], [2, 1]));
  assert.deepEqual([...y.data], [2, 2, 5, 5]);
});

Deno.test("adaLN functions reject mismatched shapes, naming the argument", () => {
  const x = Tensor.zeros([2, 5, 16]);
  assert.throws(
    () => modulate(x, Tensor.zeros([2, 8]), Tensor.zeros([2, 16])),
    /modulate: shift: expected shape \[B, D\] = \[2, 16\], got \[2,8\]/,
  );
  assert.throws(
    () => modulate(x, Tensor.zeros([2, 16]), Tensor.zeros([16])),
    /modulate: scale: expected shape/,
  );
  assert.throws(
    () => modulate(Tensor.zeros([5, 16]), Tensor.zeros([5, 16]), Tensor.zeros([5, 16])),
    /modulate: x: expected shape \[B, T, D\]/,
  );
  assert.throws(
    () => gatedResidual(x, Tensor.zeros([2, 16]), Tensor.zeros([2, 4, 16])),
    /gatedResidual: y: expected the shape of x/,
  );
  assert.throws(() => layerNorm(x, -1), /eps is -1; expected a non-negative number/);
});
