import assert from "node:assert/strict";
import { expf, roundHalfEven } from "../lib/float32.ts";

Deno.test("expf is within 1 ulp of the true exp and exact at 0", () => {
  assert.equal(expf(0), 1);
  for (let x = -20; x <= 20; x += 0.01037) {
    const input = Math.fround(x);
    const exact = Math.exp(input);
    const ulp = 2 ** (Math.floor(Math.log2(exact)) - 23);
    assert.ok(Math.abs(expf(input) - exact) <= ulp, `expf(${input}) = ${expf(input)}, exp = ${exact}`);
  }
  assert.equal(expf(-200), 0);
  assert.equal(expf(200), Infinity);
});

Deno.test("roundHalfEven sends halves to the even neighbour", () => {
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4, 2.6, 7].map(roundHalfEven), [0, 2, 2, 4, 2, 3, 7]);
});
