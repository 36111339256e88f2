/**
 * Classifier-free guidance (Ho & Salimans, 2022), as DiT samples with it.
 *
 * The model is trained to also predict without its label (the null class, 10%
 * of the time). At sampling time both predictions are made, and the sampler
 * follows the conditional one extrapolated away from the unconditional one:
 * scale 1 is plain conditional sampling, larger scales trade diversity for
 * fidelity to the class.
 *
 * @module
 */
import { sameShape, Tensor } from "./tensor.ts";
import { f32 } from "./float32.ts";

/**
 * `uncond + scale · (cond − uncond)`, elementwise in float32 as the reference's
 * `forward_with_cfg`.
 *
 * (The reference guides only the first three channels of its output, a quirk
 * of the code it was ported from; this function guides whatever it is given,
 * and this toolkit's sampler gives it every ε channel.)
 *
 * @param cond the prediction with the class label.
 * @param uncond the prediction with the null class, the same shape.
 * @param scale the guidance scale; 1 returns `cond`, 0 returns `uncond`.
 * @throws if the shapes differ or `scale` is not finite.
 *
 * @example
 * ```ts
 * import { classifierFreeGuidance, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const cond = Tensor.from([1, 2], [2]);
 * const uncond = Tensor.from([0, 1], [2]);
 * assert.deepEqual([...classifierFreeGuidance(cond, uncond, 4).data], [4, 5]);
 * ```
 */
export function classifierFreeGuidance(cond: Tensor, uncond: Tensor, scale: number): Tensor {
  sameShape(cond, "classifierFreeGuidance: cond", uncond, "classifierFreeGuidance: uncond");
  if (!Number.isFinite(scale)) {
    throw new Error(`classifierFreeGuidance: scale is ${scale}; expected a finite number`);
  }
  const s = f32(scale);
  const out = new Float32Array(cond.size);
  for (let i = 0; i < out.length; i++) {
    out[i] = uncond.data[i] + f32(s * f32(cond.data[i] - uncond.data[i]));
  }
  return new Tensor(out, cond.shape);
}
