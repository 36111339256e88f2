/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
 * Models", Algorithm 2), as diffusers' `DPMSolverMultistepScheduler` computes it (data prediction, solver
 * order 2, first order on the first step and on the last two).
 *
 * Why it needs so few steps: the probability-flow ODE, written in the half log-SNR λ = log(α/σ) (α = √ᾱ,
 * σ = √(1−ᾱ)) and in terms of the predicted clean sample x̂0, has an exact linear part. Solving that part
 * exactly leaves only x̂0 to approximate along a step, and x̂0 changes slowly:
 *
 * - first order (x̂0 constant over the step, h = λ_s − λ_t): `x_s = (σ_s/σ_t)·x_t − α_s·(e^{−h} − 1)·x̂0`,
 *   which is exactly deterministic DDIM;
 * - second order, multistep: x̂0 extrapolated to the middle of the step from this step's and the previous
 *   step's x̂0, `D = x̂0 + (1/(2r))·(x̂0 − x̂0_prev)` with r = h_prev/h: still one network evaluation per step.
 *
 * Why first order on the last two: the respaced process ends on t = 0, whose λ is far above its neighbour's
 * (15 steps: λ = 4.6 at t = 0 against 1.4 at t = 71, whose own step spanned 0.7). The multistep extrapolation
 * onto t = 0 would weigh x̂0 − x̂0_prev by 1/(2r) = 2.26, amplifying what changed in x̂0 over the previous step:
 * the emoji model's samples came out speckled with colour. So the step onto t = 0 (index 1) is DDIM, as
 * diffusers' final step to σ = 0 is (`final_sigmas_type="zero"` makes it first order), and the step from t = 0
 * to σ = 0 (index 0) lands on x̂0.
 *
 * The step works on the respaced process with the same `index` contract as `ddimStep`: from ᾱ_t at `index` to
 * ᾱ_s at `index − 1`, and to ᾱ = 1 (σ = 0) at index 0, where it lands on x̂0. It is pure: the caller keeps
 * the previous step's x̂0 and index. The formulas are written as they read, in float64 with results stored as
 * float32; they agree with the PyTorch restatement in models/recipes/samplers.py (the tests' fixtures) to
 * float32 precision.
 *
 * @module
 */
import { GaussianDiffusion, type StepResult } from "./diffusion.ts";
import { checkInteger, describeValue, requireFinite } from "./checks.ts";
import { sameShape, Tensor } from "./tensor.ts";

/** What a multistep solver remembers of the step before: its x̂0 and where it was taken. */
export interface PreviousStep {
  /** The previous step's x̂0, the shape of x. */
  predXstart: Tensor;
  /** The previous step's index: a noisier one than this step's (usually index + 1). */
  index: number;
}

/** λ = log(α/σ) = ½·log(ᾱ/(1−ᾱ)), half the log signal-to-noise ratio: the solver's time variable. */
function halfLogSnr(alphaBar: number): number {
  return 0.5 * Math.log(alphaBar / (1 - alphaBar));
}

/**
 * One DPM-Solver++(2M) step from x_t to x_s: `x_s = (σ_s/σ_t)·x_t − α_s·(e^{−h} − 1)·D`, with
 * x̂0 = (x_t − σ_t·ε̂)/α_t and D = x̂0 (first order: without `previous`, and at index 1, the step onto t = 0) or
 * the multistep `D = x̂0 + (1/(2r))·(x̂0 − x̂0_prev)`, r = h_prev/h (second order). At index 0 (to σ = 0) it
 * returns x̂0.
 *
 * @param diffusion the respaced process (`createDiffusion({ respacing: "20" })`).
 * @param modelOutput the network's output at x_t; only ε̂ is used.
 * @param x x_t, `[B, C, …]`.
 * @param index the position in the process.
 * @param previous the previous step's x̂0 and index (a higher index); omit it on the first step.
 * @throws on a shape mismatch, an index out of range, a previous index not above `index`, or a result that is
 *   not finite.
 *
 * @example Three steps, each passing its x̂0 on to the next
 * ```ts
 * import { createDiffusion, dpmSolverStep, type PreviousStep, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const diffusion = createDiffusion({ respacing: "3" });
 * const random = new SeededRandom(0);
 * let x = random.randn([1, 4, 2, 2]);
 * let previous: PreviousStep | undefined;
 * for (const index of [2, 1, 0]) {
 *   const modelOutput = random.randn([1, 8, 2, 2]); // stand-in for the DiT's [ε̂ | v]
 *   const step = dpmSolverStep(diffusion, modelOutput, x, index, previous);
 *   previous = { predXstart: step.predXstart, index };
 *   x = step.sample;
 * }
 * assert.deepEqual(x, previous!.predXstart); // the last step lands on x̂0
 * ```
 */
export function dpmSolverStep(
  diffusion: GaussianDiffusion,
  modelOutput: Tensor,
  x: Tensor,
  index: number,
  previous?: PreviousStep,
): StepResult {
  const fn = "dpmSolverStep";
  if (!(diffusion instanceof GaussianDiffusion)) {
    throw new Error(
      `${fn}: diffusion is ${describeValue(diffusion)}; expected a process from createDiffusion`,
    );
  }
  const last = diffusion.numTimesteps - 1;
  checkInteger(index, `${fn}: index`, 0, last);
  const eps = diffusion.epsilon(modelOutput, x, fn).data;
  if (previous !== undefined) {
    if (typeof previous !== "object" || previous === null) {
      throw new Error(
        `${fn}: previous is ${describeValue(previous)}; expected { predXstart, index } or nothing`,
      );
    }
    if (index === last) {
      throw new Error(`${fn}: previous is given at index ${index}, the noisiest step; expected none there`);
    }
    // the multistep extrapolation runs forward in λ: the previous x̂0 comes from a noisier step
    checkInteger(previous.index, `${fn}: previous.index`, index + 1, last);
    sameShape(x, `${fn}: x`, previous.predXstart, `${fn}: previous.predXstart`);
  }
  const alphaBar = diffusion.alphasCumprod[index], alphaBarNext = diffusion.alphasCumprodPrev[index];
  const alphaT = diffusion.sqrtAlphasCumprod[index], sigmaT = diffusion.sqrtOneMinusAlphasCumprod[index];
  const predXstart = new Float32Array(x.size);
  for (let i = 0; i < x.size; i++) predXstart[i] = (x.data[i] - sigmaT * eps[i]) / alphaT;
  const args = {
    modelOutput: modelOutput.data,
    x: x.data,
    ...(previous ? { "previous.predXstart": previous.predXstart.data } : {}),
  };
  requireFinite(fn, predXstart, "x̂0 = (x − σ_t·ε̂)/α_t", args);
  const x0 = new Tensor(predXstart, x.shape);
  // the final step, to ᾱ = 1: σ_s = 0 and e^{−h} = 0, so x_s = α_s·x̂0 = x̂0 (first order, as lower_order_final)
  if (index === 0) return { sample: x0, predXstart: x0 };

  const lambdaT = halfLogSnr(alphaBar);
  const h = halfLogSnr(alphaBarNext) - lambdaT;
  const sigmaRatio = Math.sqrt(1 - alphaBarNext) / Math.sqrt(1 - alphaBar); // σ_s/σ_t
  const dataCoef = -Math.sqrt(alphaBarNext) * Math.expm1(-h); // −α_s·(e^{−h} − 1)
  let d = predXstart;
  if (previous && index > 1) { // (onto t = 0 first order: see the module's note)
    const hPrev = lambdaT - halfLogSnr(diffusion.alphasCumprod[previous.index]);
    const c = h / (2 * hPrev); // 1/(2r)
    const prev = previous.predXstart.data;
    d = new Float32Array(x.size);
    for (let i = 0; i < x.size; i++) d[i] = predXstart[i] + c * (predXstart[i] - prev[i]);
  }
  const sample = new Float32Array(x.size);
  for (let i = 0; i < x.size; i++) sample[i] = sigmaRatio * x.data[i] + dataCoef * d[i];
  requireFinite(fn, sample, "(σ_s/σ_t)·x − α_s·(e^{−h} − 1)·D", args);
  return { sample: new Tensor(sample, x.shape), predXstart: x0 };
}
