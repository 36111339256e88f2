import assert from "node:assert/strict";
import { assertAllClose, assertRelativeError } from "./assert.ts";
import { Tensor } from "../lib/tensor.ts";

Deno.test("assertAllClose passes within tolerance and fails beyond it, naming the worst element", () => {
  assertAllClose([1, 2, 3], [1, 2, 3 + 1e-7], { rtol: 1e-6 });
  assert.throws(
    () => assertAllClose([1, 2, 3], [1, 2.1, 3], { rtol: 1e-3 }),
    /1 of 3 elements.*worst at \[1\]/,
  );
  assert.throws(() => assertAllClose([0], [1e-6], { rtol: 0, atol: 1e-7 }), /differ/);
});

Deno.test("assertAllClose rejects NaN, length and shape mismatches", () => {
  assert.throws(() => assertAllClose([NaN], [NaN]), /differ/);
  assert.throws(() => assertAllClose([1, 2], [1]), /length 2 != expected 1/);
  assert.throws(
    () => assertAllClose(Tensor.zeros([2, 3]), Tensor.zeros([3, 2])),
    /shape \[2,3\] != expected \[3,2\]/,
  );
});

Deno.test("assertRelativeError measures the error against the largest expected value, and fails beyond it", () => {
  assertRelativeError([100, 1e-3], [100, 2e-3], 1e-5); // an element near 0 may be far off in its own terms
  assert.throws(
    () => assertRelativeError([100, 0.01], [100, 0], 1e-5),
    /= 1\.00e-4 > 1e-5; worst at \[1\]: 0\.01 vs expected 0/,
  );
  assert.throws(() => assertRelativeError([NaN, 5], [1, 1], 10), /worst at \[0\]: NaN/);
  assert.throws(() => assertRelativeError([0], [0, 1], 1), /length 1 != expected 2/);
  assert.throws(
    () => assertRelativeError(Tensor.zeros([2, 3]), Tensor.zeros([3, 2]), 1),
    /shape \[2,3\] != expected \[3,2\]/,
  );
});
