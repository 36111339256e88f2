/**
 * Euler and Heun on Karras sigmas (Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based
 * Generative Models"): the probability-flow ODE solved in the noise level σ, with steps spaced for it.
 *
 * Karras et al. write the process as x̃ = x0 + σ·ε ("variance exploding"), with σ(t) = √((1−ᾱ_t)/ᾱ_t); the
 * DiT's x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε is the same point scaled by α_t = √ᾱ_t, so x̃ = x_t/α_t = x_t·√(1+σ²).
 * In x̃ the ODE is dx̃/dσ = (x̃ − x̂0)/σ, and one network evaluation gives x̂0 = x̃ − σ·ε̂. These steps keep
 * their state in the model's space (x_t, what the network takes) and convert at each step.
 *
 * Which σ to visit: {@link karrasSchedule} spaces N levels evenly in σ^{1/ρ} (ρ = 7), which crowds the
 * steps at low noise, where the images' detail is decided. The DiT takes an integer t, so each level is
 * snapped to the nearest trained timestep; `createDiffusion({ respacing: "karras20" })` keeps exactly those
 * timesteps, and {@link eulerStep} and {@link heunStep} step on that respaced process with the same `index`
 * contract as `ddimStep`: from ᾱ_t at `index` to ᾱ at `index − 1`, and to σ = 0 at index 0.
 *
 * Arithmetic: the formulas as they read, in float64 with results stored as float32; they agree with the
 * PyTorch restatement in models/recipes/samplers.py (the tests' fixtures) to float32 precision.
 *
 * @module
 */
import { GaussianDiffusion, type StepResult } from "./diffusion.ts";
import {
  checkInteger,
  checkList,
  checkNumber,
  describeValue,
  MAX_TIMESTEPS,
  requireFinite,
} from "./checks.ts";
import { sameShape, Tensor } from "./tensor.ts";

/** What {@link karrasSchedule} returns: the timesteps to visit and their noise levels. */
export interface KarrasSchedule {
  /** The timesteps (indices into the ᾱ table) nearest the spaced levels, noisiest first, without repeats. */
  timesteps: number[];
  /** σ at each of those timesteps, then 0: one more entry than `timesteps`, decreasing. */
  sigmas: Float64Array;
  /** The N levels σ_i as spaced, before snapping (the curve of Karras et al.'s eq. 5). */
  ideal: Float64Array;
}

/**
 * Karras et al.'s noise levels (eq. 5) over a process, snapped to its timesteps:
 * `σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ` for i = 0 … N−1, with σ(t) = √((1−ᾱ_t)/ᾱ_t),
 * σ_max = σ(T−1) and σ_min = σ(0). Each σ_i is replaced by the σ of the timestep nearest to it in log σ (the
 * network takes integer t). Where timesteps lie sparse in σ (near t = 0 once N reaches about 100 of 1000)
 * several σ_i snap to one timestep; repeats are dropped, so fewer than N steps may come back.
 *
 * @param alphasCumprod ᾱ_t for t = 0 … T−1 (a `createDiffusion()` process's `alphasCumprod`), falling, in (0, 1).
 * @param steps N, 1 … T (one step: σ_max alone).
 * @param rho ρ > 0; 7 is the paper's choice (larger crowds the steps further toward σ_min).
 * @throws if ᾱ is not a falling list in (0, 1) of at most {@link MAX_TIMESTEPS}, or steps or rho are out of range.
 *
 * @example Ten levels over DiT's 1000-step linear schedule
 * ```ts
 * import { createDiffusion, karrasSchedule } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const { timesteps, sigmas } = karrasSchedule(createDiffusion().alphasCumprod, 10);
 * assert.deepEqual(timesteps, [999, 937, 864, 775, 663, 511, 301, 102, 18, 0]);
 * assert.equal(sigmas.length, 11);
 * assert.equal(sigmas[10], 0);
 * ```
 */
export function karrasSchedule(alphasCumprod: ArrayLike<number>, steps: number, rho = 7): KarrasSchedule {
  const table = checkList(alphasCumprod, "karrasSchedule: alphasCumprod", MAX_TIMESTEPS);
  const T = table.length;
  for (let t = 0; t < T; t++) {
    const a = table[t];
    if (!(typeof a === "number" && a > 0 && a < 1 && (t === 0 || a < (table[t - 1] as number)))) {
      throw new Error(
        `karrasSchedule: alphasCumprod[${t}] is ${
          describeValue(a)
        }; expected ᾱ in (0, 1), falling with t (σ must rise with t to be snapped to)`,
      );
    }
  }
  checkInteger(steps, "karrasSchedule: steps", 1, Math.max(T, 1));
  checkNumber(rho, "karrasSchedule: rho", (v) => v > 0 && Number.isFinite(v), "a finite number > 0 (7)");
  const sigmaAll = Float64Array.from(table as ArrayLike<number>, (a) => Math.sqrt((1 - a) / a));
  const logSigma = sigmaAll.map(Math.log);
  const top = sigmaAll[T - 1] ** (1 / rho), bottom = sigmaAll[0] ** (1 / rho);
  const ideal = Float64Array.from(
    { length: steps },
    (_, i) => (top + (steps > 1 ? i / (steps - 1) : 0) * (bottom - top)) ** rho,
  );
  const timesteps: number[] = [];
  for (const sigma of ideal) {
    const t = nearest(logSigma, Math.log(sigma));
    if (timesteps.at(-1) !== t) timesteps.push(t); // the levels fall, so a repeat can only be the last one
  }
  const sigmas = Float64Array.from([...timesteps.map((t) => sigmaAll[t]), 0]);
  return { timesteps, sigmas, ideal };
}

/** The index of the rising `values` nearest to `target`; on a tie the lower one (as numpy's argmin). */
function nearest(values: Float64Array, target: number): number {
  let lo = 0, hi = values.length - 1;
  while (lo < hi) { // the first value >= target (binary search: T may be 100,000)
    const mid = (lo + hi) >> 1;
    if (values[mid] < target) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && target - values[lo - 1] <= Math.abs(values[lo] - target) ? lo - 1 : lo;
}

/** Heun's second evaluation: Euler's proposal at the next level, and the network's output there. */
export interface HeunProposal {
  /** The {@link eulerStep} sample from the same x_t, index and model output. */
  sample: Tensor;
  /** The network's output `[B, 2C, …]` (or `[B, C, …]`) at that sample and the next timestep. */
  modelOutput: Tensor;
}

/**
 * One Euler step of the probability-flow ODE from σ_t (at `index`) to the next level σ_s (at `index − 1`, or
 * σ = 0 at index 0): `x̃_s = x̃ + (σ_s − σ_t)·d` with the slope `d = (x̃ − x̂0)/σ_t`, x̃ = x_t·√(1+σ_t²).
 *
 * @param diffusion the process the steps visit; `createDiffusion({ respacing: "karras20" })` for Karras's levels.
 * @param modelOutput the network's output at x_t; only ε̂ is used.
 * @param x x_t, `[B, C, …]`.
 * @param index the position in this (respaced) process.
 * @returns x_s in the model's space, and x̂0 = x̃ − σ_t·ε̂ (the same x̂0 as `ddimStep`'s).
 * @throws on a shape mismatch, an index out of range, or a result that is not finite.
 *
 * @example With the true noise as ε̂, an Euler step from t = 999 lands on x_s of the same x0 and noise
 * ```ts
 * import { createDiffusion, eulerStep, SeededRandom, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const diffusion = createDiffusion({ respacing: "karras10", learnSigma: false }); // the output is ε̂ alone
 * const random = new SeededRandom(0);
 * const x0 = random.randn([1, 4, 2, 2]), eps = random.randn([1, 4, 2, 2]);
 * const xt = diffusion.qSample(x0, [9], eps);
 * const { sample } = eulerStep(diffusion, eps, xt, 9);
 * const expected = diffusion.qSample(x0, [8], eps);
 * assert.ok(sample.data.every((v, i) => Math.abs(v - expected.data[i]) < 1e-4));
 * ```
 */
export function eulerStep(
  diffusion: GaussianDiffusion,
  modelOutput: Tensor,
  x: Tensor,
  index: number,
): StepResult {
  const { here, next, slope } = start("eulerStep", diffusion, modelOutput, x, index);
  return finish("eulerStep", here, next, slope.ve, slope.d, slope.predXstart, { modelOutput, x });
}

/**
 * One Heun step (Karras et al. Algorithm 1): the Euler step's slope d at σ_t and a second slope d′ at its
 * proposal (the network evaluated again at σ_s), then `x̃_s = x̃ + (σ_s − σ_t)·(d + d′)/2`. Second order for
 * two network evaluations. The last step (to σ = 0) has no second slope: use {@link eulerStep} there.
 *
 * @param diffusion as for {@link eulerStep}.
 * @param modelOutput the network's output at x_t.
 * @param x x_t.
 * @param index the position in this (respaced) process, at least 1.
 * @param proposal Euler's sample from the same arguments, and the network's output at it and timestep
 *   `diffusion.timestepMap[index − 1]`.
 * @returns x_s, and x̂0 from the first evaluation (at x_t).
 * @throws as {@link eulerStep}, at index 0, or when the proposal's shapes do not match.
 *
 * @example Heun on a stand-in network that predicts ε̂ = x
 * ```ts
 * import { createDiffusion, eulerStep, heunStep, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const diffusion = createDiffusion({ respacing: "karras10", learnSigma: false });
 * const x = new SeededRandom(0).randn([1, 4, 2, 2]);
 * const euler = eulerStep(diffusion, x, x, 5);
 * const heun = heunStep(diffusion, x, x, 5, { sample: euler.sample, modelOutput: euler.sample });
 * assert.deepEqual(heun.predXstart, euler.predXstart);
 * assert.notDeepEqual(heun.sample, euler.sample);
 * ```
 */
export function heunStep(
  diffusion: GaussianDiffusion,
  modelOutput: Tensor,
  x: Tensor,
  index: number,
  proposal: HeunProposal,
): StepResult {
  const fn = "heunStep";
  const { here, next, slope } = start(fn, diffusion, modelOutput, x, index);
  if (index === 0) {
    throw new Error(
      `${fn}: index is 0, the last step (to σ = 0), where the slope (x̃ − x̂0)/σ cannot be evaluated; expected index >= 1 (use eulerStep for the last step)`,
    );
  }
  if (typeof proposal !== "object" || proposal === null) {
    throw new Error(
      `${fn}: proposal is ${
        describeValue(proposal)
      }; expected { sample, modelOutput } from eulerStep and the network`,
    );
  }
  sameShape(x, `${fn}: x`, proposal.sample, `${fn}: proposal.sample`);
  const eps = diffusion.epsilon(proposal.modelOutput, proposal.sample, `${fn}: proposal`);
  const second = slopeAt(next, proposal.sample.data, eps.data);
  const d = new Float32Array(x.size);
  for (let i = 0; i < x.size; i++) d[i] = (slope.d[i] + second.d[i]) / 2;
  return finish(fn, here, next, slope.ve, d, slope.predXstart, {
    modelOutput,
    x,
    "proposal.sample": proposal.sample,
    "proposal.modelOutput": proposal.modelOutput,
  });
}

/** A noise level: σ and 1/α = √(1+σ²) (= √(1/ᾱ)), float64. */
interface Level {
  sigma: number;
  scale: number;
}

/** The checks both steps share, the levels at `index` and after it, and the slope at x_t. */
function start(fn: string, diffusion: GaussianDiffusion, modelOutput: Tensor, x: Tensor, index: number) {
  if (!(diffusion instanceof GaussianDiffusion)) {
    throw new Error(
      `${fn}: diffusion is ${describeValue(diffusion)}; expected a process from createDiffusion`,
    );
  }
  checkInteger(index, `${fn}: index`, 0, diffusion.numTimesteps - 1);
  const eps = diffusion.epsilon(modelOutput, x, fn);
  const level = (i: number): Level => ({
    sigma: diffusion.sqrtRecipm1AlphasCumprod[i], // σ = √(1/ᾱ − 1) = √((1−ᾱ)/ᾱ)
    scale: diffusion.sqrtRecipAlphasCumprod[i],
  });
  const here = level(index);
  const next = index === 0 ? { sigma: 0, scale: 1 } : level(index - 1); // ᾱ = 1 after the last step
  return { here, next, slope: slopeAt(here, x.data, eps.data) };
}

/** x̃ = x·√(1+σ²), x̂0 = x̃ − σ·ε̂ and the slope d = (x̃ − x̂0)/σ of the ODE at one level. */
function slopeAt(level: Level, x: Float32Array, eps: Float32Array) {
  const { scale, sigma } = level;
  const ve = new Float32Array(x.length),
    predXstart = new Float32Array(x.length),
    d = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    ve[i] = scale * x[i];
    predXstart[i] = ve[i] - sigma * eps[i];
    d[i] = (ve[i] - predXstart[i]) / sigma;
  }
  return { ve, predXstart, d };
}

/** x̃_s = x̃ + (σ_s − σ_t)·d, back to the model's space: x_s = x̃_s/√(1+σ_s²). */
function finish(
  fn: string,
  here: Level,
  next: Level,
  ve: Float32Array,
  d: Float32Array,
  predXstart: Float32Array,
  args: Record<string, Tensor>,
): StepResult {
  const dSigma = next.sigma - here.sigma;
  const sample = new Float32Array(ve.length);
  for (let i = 0; i < ve.length; i++) sample[i] = (ve[i] + dSigma * d[i]) / next.scale;
  const data = Object.fromEntries(Object.entries(args).map(([name, t]) => [name, t.data]));
  requireFinite(fn, predXstart, "x̂0 = x·√(1+σ²) − σ·ε̂", data);
  requireFinite(fn, sample, "(x̃ + (σ_s − σ_t)·d)/√(1+σ_s²)", data);
  const shape = args.x.shape;
  return { sample: new Tensor(sample, shape), predXstart: new Tensor(predXstart, shape) };
}
