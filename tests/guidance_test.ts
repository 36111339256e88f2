import assert from "node:assert/strict";
import { classifierFreeGuidance } from "../lib/guidance.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose } from "./assert.ts";
import { FLOAT32, reference, tensor } from "./fixtures.ts";

Deno.test("classifierFreeGuidance equals the reference's uncond + s·(cond − uncond) (fixtures)", () => {
  for (const c of reference.cfg) {
    assertAllClose(classifierFreeGuidance(tensor(c.cond), tensor(c.uncond), c.scale), tensor(c.guided), {
      ...FLOAT32,
      msg: `scale ${c.scale}`,
    });
  }
});

Deno.test("scale 1 is the conditional prediction (to float32 rounding), scale 0 the unconditional one", () => {
  const random = new SeededRandom(11);
  const cond = random.randn([2, 4, 8, 8]), uncond = random.randn([2, 4, 8, 8]);
  assertAllClose(classifierFreeGuidance(cond, uncond, 1), cond, { rtol: 0, atol: 5e-7 });
  assert.deepEqual(classifierFreeGuidance(cond, uncond, 0).data, uncond.data);
});

Deno.test("classifierFreeGuidance rejects mismatched shapes and non-finite scales", () => {
  assert.throws(
    () => classifierFreeGuidance(Tensor.zeros([2, 4]), Tensor.zeros([4, 2]), 4),
    /classifierFreeGuidance: uncond: expected the shape of .*cond \[2,4\], got \[4,2\]/,
  );
  assert.throws(() => classifierFreeGuidance(Tensor.zeros([2]), Tensor.zeros([2]), NaN), /scale is NaN/);
});
