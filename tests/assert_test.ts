import assert from "node:assert/strict";
import { assertAllClose } from "./assert.ts";
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
