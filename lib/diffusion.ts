/**
 * The Gaussian diffusion process of DiT (from ADM/IDDPM): the forward process
 * q(x_t | x_0), the learned reverse step p(x_{t-1} | x_t), and DDIM.
 *
 * {@link createDiffusion} builds the float64 tables of the reference's
 * `create_diffusion`, respaced to the steps a sampler will visit. The methods
 * then write each formula as the reference does, in plain arithmetic: table
 * values and tensor elements combined in float64, the result stored as
 * float32. The reference rounds each table value to float32 and computes in
 * float32 throughout, so results differ from its by a few float32 ulps of the
 * largest value (tests/diffusion_test.ts). Symbols: ᾱ_t = alphasCumprod,
 * ε̂ = the model's noise prediction, x̂0 = the predicted clean sample.
 *
 * @module
 */
import { betaSchedule, type ScheduleName, spaceTimesteps } from "./schedule.ts";
import { checkTensor, sameShape, splitChannels, Tensor } from "./tensor.ts";
import { checkList, checkNumber, describeValue, MAX_TIMESTEPS, requireFinite } from "./checks.ts";
import { karrasSchedule } from "./karras.ts";

/** Options of {@link createDiffusion}, named after the reference's `create_diffusion`. */
export interface DiffusionOptions {
  /**
   * Which steps of the original process to keep: a {@link spaceTimesteps}
   * spec (`"250"`, `"ddim50"`, `[10, 20]`), a step count, `"karrasN"` (the
   * timesteps of Karras et al.'s N noise levels, {@link karrasSchedule}: for
   * `eulerStep` and `heunStep`), or `""` (the default) for every step.
   */
  respacing?: string | number | number[];
  /** The beta schedule; DiT trains with `"linear"`. */
  schedule?: ScheduleName;
  /** Length T of the original process; DiT uses 1000. */
  numTimesteps?: number;
  /**
   * Whether the model also outputs the variance interpolation v (DiT does, so
   * its output has 2·C channels). Without it the fixed "large" variance β_t is used.
   */
  learnSigma?: boolean;
}

/** The reverse-step distribution p(x_{t-1} | x_t) and the x̂0 behind it. */
export interface MeanVariance {
  /** The posterior mean μ̃(x_t, x̂0). */
  mean: Tensor;
  /** The variance Σ, broadcast to the shape of x. */
  variance: Tensor;
  /** log Σ. */
  logVariance: Tensor;
  /** x̂0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t, not clipped (as DiT samples latents). */
  predXstart: Tensor;
}

/** One sampling step's result. */
export interface StepResult {
  /** x_{t-1}. */
  sample: Tensor;
  /** The x̂0 predicted on the way. */
  predXstart: Tensor;
}

/**
 * Builds a diffusion process like the reference's `create_diffusion`
 * (ε-prediction, MSE training, learned-range variance by default).
 *
 * @throws if the schedule or respacing is invalid (numTimesteps above {@link MAX_TIMESTEPS}, a respacing
 *   keeping no step), the schedule's betas leave (0, 1], or its tables would divide by zero: ᾱ must stay in
 *   (0, 1) at every step (the linear schedule's ᾱ reaches 0 at numTimesteps = 20, so it needs 1 or ≥ 21).
 *
 * @example 50 sampling steps out of 1000
 * ```ts
 * import { createDiffusion } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const diffusion = createDiffusion({ respacing: "50" });
 * assert.equal(diffusion.numTimesteps, 50);
 * assert.equal(diffusion.timestepMap[49], 999); // the last step feeds the model t = 999
 * ```
 *
 * @example Karras et al.'s ten noise levels: crowded at low noise
 * ```ts
 * import { createDiffusion } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const diffusion = createDiffusion({ respacing: "karras10" });
 * assert.deepEqual([...diffusion.timestepMap], [0, 18, 102, 301, 511, 663, 775, 864, 937, 999]);
 * ```
 */
export function createDiffusion(options: DiffusionOptions = {}): GaussianDiffusion {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new Error(
      `createDiffusion: options is ${describeValue(options)}; expected an object of DiffusionOptions`,
    );
  }
  const { respacing = "", schedule = "linear", numTimesteps = 1000, learnSigma = true } = options;
  if (typeof learnSigma !== "boolean") {
    throw new Error(`createDiffusion: learnSigma is ${describeValue(learnSigma)}; expected true or false`);
  }
  if (typeof respacing !== "string" && typeof respacing !== "number" && !Array.isArray(respacing)) {
    throw new Error(
      `createDiffusion: respacing is ${
        describeValue(respacing)
      }; expected a step count, an array of counts, or a string like "250" or "ddim50"`,
    );
  }
  const baseBetas = betaSchedule(schedule, numTimesteps); // (it refuses betas outside (0, 1])
  // Respacing keeps ᾱ at the kept steps and re-derives each β from consecutive ᾱ.
  const baseAlphasCumprod = cumprod(baseBetas.map((b) => 1 - b));
  // The steps divide by ᾱ (x̂0 = x_t/√ᾱ − …) and by 1 − ᾱ (the posterior): both must be nonzero
  const degenerate = baseAlphasCumprod.findIndex((a) => !(a > 0 && a < 1));
  if (degenerate >= 0) {
    throw new Error(
      `createDiffusion: the ${schedule} schedule over numTimesteps=${numTimesteps} has alphasCumprod[${degenerate}] = ${
        baseAlphasCumprod[degenerate]
      }; expected ᾱ in (0, 1) at every step, as the steps divide by ᾱ and by 1 − ᾱ (the linear schedule needs numTimesteps = 1 or >= 21)`,
    );
  }
  const sections = respacing === ""
    ? [numTimesteps]
    : typeof respacing === "number"
    ? [respacing]
    : respacing;
  const kept = typeof sections === "string" && sections.startsWith("karras")
    ? karrasTimesteps(baseAlphasCumprod, sections)
    : spaceTimesteps(numTimesteps, sections);
  if (kept.length === 0) {
    throw new Error(
      `createDiffusion: respacing ${
        typeof respacing === "string" ? JSON.stringify(respacing.slice(0, 40)) : `[${sections}]`
      } keeps no step; expected at least one`,
    );
  }
  let lastAlphaCumprod = 1;
  const betas = Float64Array.from(kept, (t) => {
    const beta = 1 - baseAlphasCumprod[t] / lastAlphaCumprod;
    lastAlphaCumprod = baseAlphasCumprod[t];
    return beta;
  });
  return new GaussianDiffusion(betas, Float64Array.from(kept), learnSigma);
}

/** The timesteps of a `"karrasN"` respacing, ascending as the process's indices. */
function karrasTimesteps(alphasCumprod: Float64Array, spec: string): number[] {
  if (!/^karras\d{1,6}$/.test(spec)) {
    throw new Error(
      `createDiffusion: respacing is ${
        describeValue(spec)
      }; expected "karrasN" with N a step count, as "karras20"`,
    );
  }
  return karrasSchedule(alphasCumprod, Number(spec.slice(6))).timesteps.reverse();
}

function cumprod(values: Float64Array): Float64Array {
  let product = 1;
  return values.map((v) => (product *= v));
}

/** The tables that divide by ᾱ or by 1 − ᾱ (or take their logarithm), checked to be finite. */
const DIVIDING_TABLES = [
  "sqrtRecipAlphasCumprod",
  "sqrtRecipm1AlphasCumprod",
  "posteriorVariance",
  "posteriorLogVarianceClipped",
  "posteriorMeanCoef1",
  "posteriorMeanCoef2",
] as const;

/**
 * A (respaced) Gaussian diffusion: its tables, indexed by the position in the
 * respaced sequence, and the steps that use them. Made by {@link createDiffusion}.
 */
export class GaussianDiffusion {
  /** Number of steps in this (respaced) process. */
  readonly numTimesteps: number;
  /** Whether the model outputs [ε̂ | v] (2·C channels) rather than ε̂ alone. */
  readonly learnSigma: boolean;
  /** For each index, the original timestep t the model is fed. */
  readonly timestepMap: Float64Array;
  /** β for each index (re-derived from ᾱ when respaced). */
  readonly betas: Float64Array;
  /** ᾱ_t = ∏(1 − β). */
  readonly alphasCumprod: Float64Array;
  /** ᾱ_{t-1}, with ᾱ before the first step = 1. */
  readonly alphasCumprodPrev: Float64Array;
  /** √ᾱ_t: how much signal x_t keeps. */
  readonly sqrtAlphasCumprod: Float64Array;
  /** √(1−ᾱ_t): how much noise x_t holds. */
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  /** √(1/ᾱ_t). */
  readonly sqrtRecipAlphasCumprod: Float64Array;
  /** √(1/ᾱ_t − 1). */
  readonly sqrtRecipm1AlphasCumprod: Float64Array;
  /** β̃_t = β_t(1−ᾱ_{t-1})/(1−ᾱ_t), the variance of q(x_{t-1} | x_t, x_0). */
  readonly posteriorVariance: Float64Array;
  /** log β̃_t, with β̃_0 = 0 replaced by β̃_1 (empty for a one-step process, as in the reference). */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** The x_0 coefficient of the posterior mean: β_t√ᾱ_{t-1}/(1−ᾱ_t). */
  readonly posteriorMeanCoef1: Float64Array;
  /** The x_t coefficient of the posterior mean: (1−ᾱ_{t-1})√(1−β_t)/(1−ᾱ_t). */
  readonly posteriorMeanCoef2: Float64Array;

  /**
   * Use {@link createDiffusion} rather than this constructor.
   * @param betas β for each kept step, in (0, 1].
   * @param timestepMap the original timestep of each kept step.
   * @param learnSigma whether the model outputs the variance interpolation too.
   * @throws if the lengths differ or are 0 or above {@link MAX_TIMESTEPS}, a β is outside (0, 1], or a
   *   table comes out infinite or NaN (a step would divide by ᾱ = 0 or by 1 − ᾱ = 0).
   */
  constructor(betas: Float64Array, timestepMap: Float64Array, learnSigma: boolean) {
    checkList(betas, "GaussianDiffusion: betas", MAX_TIMESTEPS);
    checkList(timestepMap, "GaussianDiffusion: timestepMap", MAX_TIMESTEPS);
    if (betas.length === 0 || betas.length !== timestepMap.length) {
      throw new Error(
        `GaussianDiffusion: got ${betas.length} betas and ${timestepMap.length} timesteps; expected the same positive number`,
      );
    }
    const bad = Array.prototype.findIndex.call(
      betas,
      (b: unknown) => !(typeof b === "number" && b > 0 && b <= 1),
    );
    if (bad >= 0) {
      throw new Error(
        `GaussianDiffusion: betas[${bad}] is ${describeValue(betas[bad])}; expected a number in (0, 1]`,
      );
    }
    const n = betas.length;
    this.numTimesteps = n;
    this.learnSigma = learnSigma;
    this.timestepMap = timestepMap;
    this.betas = betas;
    const ac = cumprod(betas.map((b) => 1 - b));
    const acPrev = Float64Array.from({ length: n }, (_, i) => (i === 0 ? 1 : ac[i - 1]));
    this.alphasCumprod = ac;
    this.alphasCumprodPrev = acPrev;
    this.sqrtAlphasCumprod = ac.map(Math.sqrt);
    this.sqrtOneMinusAlphasCumprod = ac.map((a) => Math.sqrt(1 - a));
    this.sqrtRecipAlphasCumprod = ac.map((a) => Math.sqrt(1 / a));
    this.sqrtRecipm1AlphasCumprod = ac.map((a) => Math.sqrt(1 / a - 1));
    this.posteriorVariance = betas.map((b, i) => b * (1 - acPrev[i]) / (1 - ac[i]));
    this.posteriorLogVarianceClipped = n > 1
      ? this.posteriorVariance.map((v, i) => Math.log(i === 0 ? this.posteriorVariance[1] : v))
      : new Float64Array(0);
    this.posteriorMeanCoef1 = betas.map((b, i) => b * Math.sqrt(acPrev[i]) / (1 - ac[i]));
    this.posteriorMeanCoef2 = betas.map((b, i) => (1 - acPrev[i]) * Math.sqrt(1 - b) / (1 - ac[i]));
    // A β of 1 makes ᾱ 0 from there on, and a β below float64's resolution leaves ᾱ at 1: either way a
    // table divides by zero, and every step after would compute NaN
    for (const table of DIVIDING_TABLES) {
      const values = this[table];
      const at = values.findIndex((v) => !Number.isFinite(v));
      if (at >= 0) {
        throw new Error(
          `GaussianDiffusion: ${table}[${at}] is ${values[at]} (alphasCumprod[${at}] = ${
            ac[at]
          }); expected betas that keep ᾱ in (0, 1) at every step`,
        );
      }
    }
  }

  /**
   * Samples the forward process q(x_t | x_0): `√ᾱ_t·x0 + √(1−ᾱ_t)·noise`.
   *
   * @param x0 clean samples, `[B, ...]`.
   * @param t one index into this process per batch element.
   * @param noise standard normal noise, the shape of `x0`.
   * @throws on a shape mismatch, an index out of range, or a result that is not finite (naming the argument
   *   holding a value that is not, or the overflow).
   *
   * @example Noise a latent to the middle of the process
   * ```ts
   * import { createDiffusion, SeededRandom } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const diffusion = createDiffusion();
   * const random = new SeededRandom(0);
   * const x0 = random.randn([2, 4, 8, 8]);
   * const xt = diffusion.qSample(x0, [0, 500], random.randn([2, 4, 8, 8]));
   * assert.deepEqual(xt.shape, [2, 4, 8, 8]);
   * ```
   */
  qSample(x0: Tensor, t: readonly number[], noise: Tensor): Tensor {
    sameShape(x0, "qSample: x0", noise, "qSample: noise");
    if (x0.shape.length === 0) throw new Error("qSample: x0 is a scalar; expected a batch [B, ...]");
    const B = x0.shape[0];
    checkList(t, "qSample: t");
    if (t.length !== B) {
      throw new Error(`qSample: t has ${t.length} entries; expected one per batch element (${B})`);
    }
    t.forEach((ti, b) => this.#checkIndex(ti, `qSample: t[${b}]`));
    const out = new Float32Array(x0.size);
    const perSample = x0.size / B;
    for (let b = 0; b < B; b++) {
      const signal = this.sqrtAlphasCumprod[t[b]], noiseLevel = this.sqrtOneMinusAlphasCumprod[t[b]];
      for (let i = b * perSample; i < (b + 1) * perSample; i++) {
        out[i] = signal * x0.data[i] + noiseLevel * noise.data[i];
      }
    }
    requireFinite("qSample", out, "√ᾱ·x0 + √(1−ᾱ)·noise", { x0: x0.data, noise: noise.data });
    return new Tensor(out, x0.shape);
  }

  /**
   * p(x_{t-1} | x_t) from the model's output, as the reference's
   * `p_mean_variance` with `clip_denoised=False`: x̂0 from ε̂, the posterior
   * mean from x̂0 and x_t, and (learnSigma) the learned-range variance
   * `log Σ = (v+1)/2 · log β_t + (1 − (v+1)/2) · log β̃_t`.
   *
   * @param modelOutput `[B, 2C, ...]` (ε̂ then v) when learnSigma, else `[B, C, ...]` (ε̂).
   * @param x x_t, `[B, C, ...]`.
   * @param index the position in this (respaced) process, 0 … numTimesteps−1.
   * @throws on a shape mismatch, an index out of range, or a result that is not finite (naming the argument
   *   holding a value that is not, or the overflow).
   *
   * @example With ε̂ = 0, x̂0 is x_t scaled up by 1/√ᾱ_t
   * ```ts
   * import { createDiffusion, Tensor } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const diffusion = createDiffusion({ respacing: "10" });
   * const x = Tensor.from([1, 1], [1, 1, 1, 2]);
   * const { predXstart } = diffusion.pMeanVariance(Tensor.zeros([1, 2, 1, 2]), x, 9);
   * assert.ok(Math.abs(predXstart.data[0] - diffusion.sqrtRecipAlphasCumprod[9]) < 1e-4);
   * ```
   */
  pMeanVariance(modelOutput: Tensor, x: Tensor, index: number): MeanVariance {
    this.#checkIndex(index, "pMeanVariance: index");
    const { eps, varianceValues } = this.#splitOutput(modelOutput, x, "pMeanVariance");
    const predXstart = this.#predXstart(x, eps, index);
    const coef1 = this.posteriorMeanCoef1[index], coef2 = this.posteriorMeanCoef2[index];
    const mean = new Float32Array(x.size);
    for (let i = 0; i < x.size; i++) mean[i] = coef1 * predXstart[i] + coef2 * x.data[i];

    const logVariance = new Float32Array(x.size);
    let variance: Float32Array;
    if (varianceValues) {
      if (this.numTimesteps < 2) {
        throw new Error(
          "pMeanVariance: a one-step process has no clipped posterior log-variance; expected numTimesteps >= 2 for the learned variance (use ddimStep)",
        );
      }
      const minLog = this.posteriorLogVarianceClipped[index], maxLog = Math.log(this.betas[index]);
      for (let i = 0; i < x.size; i++) {
        const frac = (varianceValues[i] + 1) / 2; // v ∈ [-1, 1] → [0, 1]
        logVariance[i] = frac * maxLog + (1 - frac) * minLog;
      }
      variance = logVariance.map(Math.exp);
    } else {
      // The fixed "large" variance: β_t, but β̃_1 at the first step for a better decoder likelihood.
      const fixed = index === 0 && this.numTimesteps > 1 ? this.posteriorVariance[1] : this.betas[index];
      variance = new Float32Array(x.size).fill(fixed);
      logVariance.fill(Math.log(fixed));
    }
    const args = { modelOutput: modelOutput.data, x: x.data };
    requireFinite("pMeanVariance", predXstart, "x̂0 = √(1/ᾱ)·x − √(1/ᾱ − 1)·ε̂", args);
    requireFinite("pMeanVariance", mean, "the posterior mean μ̃(x, x̂0)", args);
    requireFinite("pMeanVariance", logVariance, "log Σ from v", args);
    requireFinite("pMeanVariance", variance, "the variance exp(log Σ) from v", args);
    return {
      mean: new Tensor(mean, x.shape),
      variance: new Tensor(variance, x.shape),
      logVariance: new Tensor(logVariance, x.shape),
      predXstart: new Tensor(predXstart, x.shape),
    };
  }

  /**
   * One DDPM ancestral step (the reference's `p_sample`, the paper's sampler):
   * `x_{t-1} = μ + exp(½·log Σ)·noise`, with no noise added at index 0.
   *
   * @param modelOutput as for {@link GaussianDiffusion.pMeanVariance}.
   * @param x x_t.
   * @param index the position in this (respaced) process.
   * @param noise standard normal noise the shape of x; may be omitted at index 0.
   * @throws on a shape mismatch, an index out of range, missing noise, or a result that is not finite.
   *
   * @example
   * ```ts
   * import { createDiffusion, SeededRandom } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const diffusion = createDiffusion({ respacing: "10" });
   * const random = new SeededRandom(0);
   * const x = random.randn([1, 4, 8, 8]);
   * const modelOutput = random.randn([1, 8, 8, 8]); // stand-in for the DiT's [ε̂ | v]
   * const { sample } = diffusion.pSample(modelOutput, x, 9, random.randn([1, 4, 8, 8]));
   * assert.deepEqual(sample.shape, x.shape);
   * ```
   */
  pSample(modelOutput: Tensor, x: Tensor, index: number, noise?: Tensor): StepResult {
    const { mean, logVariance, predXstart } = this.pMeanVariance(modelOutput, x, index);
    if (index === 0) return { sample: mean, predXstart };
    const z = this.#requireNoise(noise, x, "pSample");
    const sample = new Float32Array(x.size);
    for (let i = 0; i < x.size; i++) {
      sample[i] = mean.data[i] + Math.exp(0.5 * logVariance.data[i]) * z.data[i];
    }
    requireFinite("pSample", sample, "μ + exp(½·log Σ)·noise", {
      modelOutput: modelOutput.data,
      x: x.data,
      noise: z.data,
    });
    return { sample: new Tensor(sample, x.shape), predXstart };
  }

  /**
   * One DDIM step (the reference's `ddim_sample`, DDIM paper eq. 12): re-derive
   * ε̂ from x̂0, then `x_{t-1} = √ᾱ_{t-1}·x̂0 + √(1−ᾱ_{t-1}−σ²)·ε̂ + σ·noise` with
   * `σ = eta·√((1−ᾱ_{t-1})/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_{t-1})`. eta = 0 is deterministic.
   *
   * @param modelOutput `[B, 2C, ...]` or `[B, C, ...]`; only ε̂ is used.
   * @param x x_t.
   * @param index the position in this (respaced) process.
   * @param eta from 0 (deterministic DDIM) to 1 (DDPM-like noise); above 1, σ² would exceed 1 − ᾱ_{t-1} and
   *   the ε̂ coefficient √(1−ᾱ_{t-1}−σ²) would be NaN.
   * @param noise standard normal noise the shape of x; needed when eta > 0 and index > 0.
   * @throws on a shape mismatch, an index out of range, an eta outside [0, 1], missing noise, or a result
   *   that is not finite.
   *
   * @example Deterministic DDIM over 25 steps
   * ```ts
   * import { createDiffusion, SeededRandom } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const diffusion = createDiffusion({ respacing: "ddim25" });
   * const x = new SeededRandom(0).randn([1, 4, 8, 8]);
   * const modelOutput = new SeededRandom(1).randn([1, 8, 8, 8]);
   * const { sample } = diffusion.ddimStep(modelOutput, x, 24);
   * assert.deepEqual(sample.shape, x.shape);
   * ```
   */
  ddimStep(modelOutput: Tensor, x: Tensor, index: number, eta = 0, noise?: Tensor): StepResult {
    this.#checkIndex(index, "ddimStep: index");
    checkNumber(
      eta,
      "ddimStep: eta",
      (v) => v >= 0 && v <= 1,
      "a number >= 0 and <= 1 (0: DDIM, 1: DDPM-like)",
    );
    const { eps } = this.#splitOutput(modelOutput, x, "ddimStep");
    const predXstart = this.#predXstart(x, eps, index);
    const recip = this.sqrtRecipAlphasCumprod[index], recipm1 = this.sqrtRecipm1AlphasCumprod[index];
    const alphaBar = this.alphasCumprod[index], alphaBarPrev = this.alphasCumprodPrev[index];
    const sigma = eta * Math.sqrt((1 - alphaBarPrev) / (1 - alphaBar)) *
      Math.sqrt(1 - alphaBar / alphaBarPrev);
    const z = sigma > 0 && index > 0 ? this.#requireNoise(noise, x, "ddimStep (eta > 0)") : null;
    // (σ² ≤ 1 − ᾱ_{t-1} for eta ≤ 1; the max keeps a last-bit rounding below it from giving √(−0.0…) = NaN)
    const epsCoef = Math.sqrt(Math.max(0, 1 - alphaBarPrev - sigma ** 2));
    const sqrtAlphaBarPrev = Math.sqrt(alphaBarPrev);
    const sample = new Float32Array(x.size);
    for (let i = 0; i < x.size; i++) {
      const epsRederived = (recip * x.data[i] - predXstart[i]) / recipm1;
      const meanPred = predXstart[i] * sqrtAlphaBarPrev + epsCoef * epsRederived;
      sample[i] = z ? meanPred + sigma * z.data[i] : meanPred;
    }
    const args = { modelOutput: modelOutput.data, x: x.data, ...(z ? { noise: z.data } : {}) };
    requireFinite("ddimStep", predXstart, "x̂0 = √(1/ᾱ)·x − √(1/ᾱ − 1)·ε̂", args);
    requireFinite("ddimStep", sample, "√ᾱ_prev·x̂0 + √(1−ᾱ_prev−σ²)·ε̂ + σ·noise", args);
    return { sample: new Tensor(sample, x.shape), predXstart: new Tensor(predXstart, x.shape) };
  }

  /**
   * The ε̂ channels of a model output, after checking its shape against x: the first C of 2·C channels when
   * learnSigma (the rest is the variance interpolation v), else all of them. For the samplers that need only
   * ε̂ (`dpmSolverStep`, `eulerStep`, `heunStep`).
   *
   * @param modelOutput `[B, 2C, ...]` when learnSigma, else `[B, C, ...]`.
   * @param x x_t, `[B, C, ...]`.
   * @param caller the function named in errors.
   * @throws if the shapes do not fit each other.
   *
   * @example
   * ```ts
   * import { createDiffusion, Tensor } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const output = Tensor.from([1, 2, 3, 4], [1, 4, 1, 1]); // ε̂ = [1, 2], v = [3, 4]
   * const eps = createDiffusion().epsilon(output, Tensor.zeros([1, 2, 1, 1]));
   * assert.deepEqual([...eps.data], [1, 2]);
   * ```
   */
  epsilon(modelOutput: Tensor, x: Tensor, caller = "epsilon"): Tensor {
    return new Tensor(this.#splitOutput(modelOutput, x, caller).eps, x.shape);
  }

  /** x̂0 = √(1/ᾱ_t)·x_t − √(1/ᾱ_t − 1)·ε̂, unclipped. */
  #predXstart(x: Tensor, eps: Float32Array, index: number): Float32Array {
    const recip = this.sqrtRecipAlphasCumprod[index], recipm1 = this.sqrtRecipm1AlphasCumprod[index];
    const out = new Float32Array(x.size);
    for (let i = 0; i < x.size; i++) out[i] = recip * x.data[i] - recipm1 * eps[i];
    return out;
  }

  /** Splits the model output's channels into ε̂ and (learnSigma) the variance values v. */
  #splitOutput(
    modelOutput: Tensor,
    x: Tensor,
    method: string,
  ): { eps: Float32Array; varianceValues: Float32Array | null } {
    checkTensor(x, `${method}: x`, "[B, C, ...]");
    checkTensor(modelOutput, `${method}: modelOutput`);
    if (x.shape.length < 2) throw new Error(`${method}: x has shape [${x.shape}]; expected [B, C, ...]`);
    const [B, C, ...rest] = x.shape;
    const outChannels = this.learnSigma ? 2 * C : C;
    const expected = [B, outChannels, ...rest];
    if (
      modelOutput.shape.length !== expected.length || modelOutput.shape.some((n, i) => n !== expected[i])
    ) {
      throw new Error(
        `${method}: modelOutput: expected shape [${expected}] (${
          this.learnSigma ? "ε̂ and v: twice the channels of x" : "ε̂: the shape of x"
        }), got [${modelOutput.shape}]`,
      );
    }
    if (!this.learnSigma) return { eps: modelOutput.data, varianceValues: null };
    const [eps, varianceValues] = splitChannels(modelOutput, C);
    return { eps: eps.data, varianceValues: varianceValues.data };
  }

  #requireNoise(noise: Tensor | undefined, x: Tensor, method: string): Tensor {
    if (!noise) {
      throw new Error(`${method}: noise is missing; expected a standard normal tensor [${x.shape}]`);
    }
    sameShape(x, `${method}: x`, noise, `${method}: noise`);
    return noise;
  }

  #checkIndex(index: number, name: string): void {
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= this.numTimesteps) {
      throw new Error(`${name} is ${describeValue(index)}; expected an integer in [0, ${this.numTimesteps})`);
    }
  }
}
