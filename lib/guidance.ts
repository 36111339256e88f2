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
import { checkTensor, concatBatch, sameShape, sliceBatch, Tensor } from "./tensor.ts";
import { checkInteger, checkList, checkNumber, describeValue, requireFinite } from "./checks.ts";

/**
 * `uncond + scale · (cond − uncond)`, elementwise, as the reference's
 * `forward_with_cfg`.
 *
 * (The reference guides only the first three channels of its output, a quirk
 * of the code it was ported from; this function guides whatever it is given,
 * and this toolkit's sampler gives it every ε channel.)
 *
 * @param cond the prediction with the class label.
 * @param uncond the prediction with the null class, the same shape.
 * @param scale the guidance scale; 1 returns `cond`, 0 returns `uncond`.
 * @throws if the shapes differ, `scale` is not finite, or a result is not finite (naming the argument
 *   holding a value that is not, or the overflow of a large scale times a large difference).
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
  checkScale(scale, "classifierFreeGuidance");
  const out = new Float32Array(cond.size);
  for (let i = 0; i < out.length; i++) out[i] = uncond.data[i] + scale * (cond.data[i] - uncond.data[i]);
  requireFinite("classifierFreeGuidance", out, "uncond + scale·(cond − uncond)", {
    cond: cond.data,
    uncond: uncond.data,
  });
  return new Tensor(out, cond.shape);
}

/** A guidance scale is a finite number, one float32 holds (a larger one is Infinity once rounded). */
function checkScale(scale: number, fn: string): void {
  checkNumber(
    scale,
    `${fn}: scale`,
    (v) => Number.isFinite(Math.fround(v)),
    "a finite number (float32: |scale| < 3.4e38)",
  );
}

/**
 * The model input for a guided step: both halves of one batch, `[x | x]` with labels `[y | null]`, so the
 * conditional and unconditional predictions come from a single network run (as the reference's
 * `forward_with_cfg`).
 *
 * @param x x_t, `[n, C, h, w]`.
 * @param labels the n class labels.
 * @param nullClass the null class's label (the row after the real classes).
 * @throws if `x` is not a tensor `[n, ...]`, or the labels are not n non-negative integers.
 *
 * @example
 * ```ts
 * import { guidanceBatch, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const { x, y } = guidanceBatch(Tensor.zeros([2, 4, 8, 8]), [3, 7], 10);
 * assert.deepEqual(x.shape, [4, 4, 8, 8]);
 * assert.deepEqual(y, [3, 7, 10, 10]);
 * ```
 */
export function guidanceBatch(
  x: Tensor,
  labels: readonly number[],
  nullClass: number,
): { x: Tensor; y: number[] } {
  checkTensor(x, "guidanceBatch: x", "[n, C, h, w]");
  if (x.shape.length === 0) throw new Error("guidanceBatch: x is a scalar; expected [n, C, h, w]");
  checkList(labels, "guidanceBatch: labels");
  for (let i = 0; i < labels.length; i++) {
    checkInteger(labels[i], `guidanceBatch: labels[${i}]`, 0, Number.MAX_SAFE_INTEGER);
  }
  checkInteger(nullClass, "guidanceBatch: nullClass", 0, Number.MAX_SAFE_INTEGER);
  if (labels.length !== x.shape[0]) {
    throw new Error(
      `guidanceBatch: labels has ${labels.length} entries; expected one per sample (${x.shape[0]})`,
    );
  }
  return { x: concatBatch([x, x]), y: [...labels, ...labels.map(() => nullClass)] };
}

/**
 * Combines the model's output for a {@link guidanceBatch} into the conditional half's output with guided ε̂:
 * `[2n, 2C, h, w]` → `[n, 2C, h, w]` = [ε̂_uncond + s·(ε̂_cond − ε̂_uncond) | v_cond]. Every ε channel is
 * guided; the variance interpolation v is the conditional one, as in the reference.
 *
 * @param output the network's output for `[x | x]`, ε̂ then v along the channels.
 * @param scale the guidance scale.
 * @throws if `output` is not `[2n, 2C, ...]` or as {@link classifierFreeGuidance}.
 *
 * @example Scale 0 gives the unconditional ε̂
 * ```ts
 * import { guideOutput, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const output = Tensor.from([1, 9, 3, 9], [2, 2, 1, 1]); // [ε̂ | v] for cond, then uncond
 * assert.deepEqual([...guideOutput(output, 0).data], [3, 9]);
 * assert.deepEqual([...guideOutput(output, 2).data], [-1, 9]); // 3 + 2·(1 − 3)
 * ```
 */
export function guideOutput(output: Tensor, scale: number): Tensor {
  const [twoN, twoC, ...rest] = checkTensor(output, "guideOutput: output", "[2n, 2C, ...]").shape;
  checkScale(scale, "guideOutput"); // (here too: an empty batch never reaches classifierFreeGuidance)
  if (output.shape.length < 2 || twoN % 2 !== 0 || twoC % 2 !== 0) {
    throw new Error(
      `guideOutput: output has shape [${output.shape}]; expected [2n, 2C, ...] (cond then uncond, ε̂ then v)`,
    );
  }
  const n = twoN / 2, block = output.size / twoN, half = block / 2;
  const cond = sliceBatch(output, 0, n), uncond = sliceBatch(output, n, twoN);
  const out = new Float32Array(n * block);
  for (let b = 0; b < n; b++) {
    const at = (t: Tensor, offset: number) =>
      new Tensor(t.data.subarray(b * block + offset, b * block + offset + half), [half]);
    out.set(classifierFreeGuidance(at(cond, 0), at(uncond, 0), scale).data, b * block);
    out.set(at(cond, half).data, b * block + half);
  }
  return new Tensor(out, [n, twoC, ...rest]);
}

/**
 * Whether a network evaluation at timestep t is guided, under guidance in a limited interval (Kynkäänniemi et
 * al. 2024, "Applying Guidance in a Limited Interval Improves Sample and Distribution Quality in Diffusion
 * Models"): only for `lo <= t <= hi`, or always without an interval. Their finding: guidance at high noise
 * pulls every sample of a class toward the same layout (less variety), at low noise it hardly matters, so
 * the middle of the process is where it pays. Outside the interval a step runs the conditional model alone,
 * on half the batch.
 *
 * @param t the timestep the network is given (999 … 0 for DiT).
 * @param interval `[lo, hi]`, finite with lo <= hi; omitted, every step is guided.
 * @throws if t is not a finite number or the interval is not `[lo, hi]` of finite numbers with lo <= hi.
 *
 * @example Guidance only in the middle of the process
 * ```ts
 * import { guidedAt } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.deepEqual([999, 700, 300, 0].map((t) => guidedAt(t, [250, 750])), [false, true, true, false]);
 * assert.equal(guidedAt(999), true);
 * ```
 */
export function guidedAt(t: number, interval?: readonly [number, number]): boolean {
  checkNumber(t, "guidedAt: t", Number.isFinite, "a finite timestep");
  if (interval === undefined) return true;
  const [lo, hi] = checkList(interval, "guidedAt: interval", 2) as readonly unknown[];
  if (
    interval.length !== 2 || typeof lo !== "number" || typeof hi !== "number" || !Number.isFinite(lo) ||
    !Number.isFinite(hi) || lo > hi
  ) {
    throw new Error(
      `guidedAt: interval is [${
        Array.from(interval as ArrayLike<unknown>, describeValue).join(", ")
      }]; expected [lo, hi], finite numbers with lo <= hi`,
    );
  }
  return lo <= t && t <= hi;
}
