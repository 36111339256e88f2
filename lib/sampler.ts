/**
 * The sampling loop: from noise x_T to a clean latent x_0, one network evaluation per step.
 *
 * Everything here is a concept function of the toolkit: the respaced process ({@link createDiffusion}),
 * classifier-free guidance ({@link guidanceBatch}, {@link guideOutput}), and a reverse step, either DDPM's
 * ancestral `pSample` (the paper's sampler) or `ddimStep`. The network is whatever `model` function you pass:
 * ONNX Runtime in the pipeline, or the TypeScript glass box.
 *
 * Random numbers follow the reference's `sample.py`: x_T is drawn first, then every step draws fresh noise
 * for the whole model batch (both guidance halves) even when the step does not use it, so a seed gives the same
 * trajectory as `torch.manual_seed(seed)` there.
 *
 * @module
 */
import type { GaussianDiffusion } from "./diffusion.ts";
import { guidanceBatch, guideOutput } from "./guidance.ts";
import type { SeededRandom } from "./random.ts";
import { sliceBatch, splitChannels, type Tensor } from "./tensor.ts";

/** The reverse step: `"ddpm"` (ancestral sampling with the learned variance) or `"ddim"`. */
export type SamplerName = "ddpm" | "ddim";

/** The network: x_t `[B, C, h, w]`, timesteps and labels (one each per sample) → `[B, 2C, h, w]` (ε̂ then v). */
export type DiTModel = (x: Tensor, t: number[], y: number[]) => Promise<Tensor>;

/** What a progress callback receives after each step. */
export interface StepInfo {
  /** Steps done so far, 1 … steps. */
  step: number;
  /** Steps in total. */
  steps: number;
  /** The position in the respaced process, counting down from steps − 1 to 0. */
  index: number;
  /** The original timestep the model was given, 999 … 0. */
  t: number;
  /** x_t, the input of this step. */
  xt: Tensor;
  /** The (guided) noise prediction ε̂. */
  eps: Tensor;
  /** The predicted clean latent x̂0. */
  predXstart: Tensor;
  /** x_{t-1}, the output of this step. */
  sample: Tensor;
}

/** The inputs of {@link sampleLoop}. */
export interface SampleLoopOptions {
  /** The network. */
  model: DiTModel;
  /** The respaced diffusion; its length is the number of steps. */
  diffusion: GaussianDiffusion;
  /** One class label per sample. */
  labels: readonly number[];
  /** The null class's label, for guidance. */
  nullClass: number;
  /** The latent shape of one sample, `[C, h, w]`. */
  latentShape: readonly number[];
  /** Draws x_T and the per-step noise. */
  random: SeededRandom;
  /** Classifier-free guidance scale; 1 runs the conditional model alone. */
  guidanceScale: number;
  /** `"ddpm"` or `"ddim"`. */
  sampler: SamplerName;
  /** DDIM's η (0: deterministic). Ignored by DDPM. */
  eta?: number;
  /** Called after every step. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Stops sampling between steps; the loop then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Runs the reverse process and returns x_0, `[n, C, h, w]` (latents as the DiT sees them: scaled).
 *
 * @throws the signal's reason when aborted, or what the model throws.
 *
 * @example Five DDIM steps with a stand-in network that predicts ε̂ = 0
 * ```ts
 * import { createDiffusion, sampleLoop, SeededRandom, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const x0 = await sampleLoop({
 *   model: (x) => Promise.resolve(Tensor.zeros([x.shape[0], 8, 2, 2])),
 *   diffusion: createDiffusion({ respacing: "5" }),
 *   labels: [0],
 *   nullClass: 10,
 *   latentShape: [4, 2, 2],
 *   random: new SeededRandom(0),
 *   guidanceScale: 4,
 *   sampler: "ddim",
 * });
 * assert.deepEqual(x0.shape, [1, 4, 2, 2]);
 * ```
 */
export async function sampleLoop(options: SampleLoopOptions): Promise<Tensor> {
  const { model, diffusion, labels, nullClass, latentShape, random, guidanceScale, sampler, eta = 0 } =
    options;
  const n = labels.length;
  const guided = guidanceScale !== 1;
  let x = random.randn([n, ...latentShape]);
  for (let index = diffusion.numTimesteps - 1; index >= 0; index--) {
    options.signal?.throwIfAborted();
    const t = diffusion.timestepMap[index];
    let output: Tensor;
    if (guided) {
      const batch = guidanceBatch(x, labels, nullClass);
      output = guideOutput(await model(batch.x, batch.y.map(() => t), batch.y), guidanceScale);
    } else {
      output = await model(x, labels.map(() => t), [...labels]);
    }
    // the reference draws noise for its whole model batch every step; the conditional half is the first n
    const noise = sliceBatch(random.randn([guided ? 2 * n : n, ...latentShape]), 0, n);
    const { sample, predXstart } = sampler === "ddpm"
      ? diffusion.pSample(output, x, index, noise)
      : diffusion.ddimStep(output, x, index, eta, noise);
    await options.onStep?.({
      step: diffusion.numTimesteps - index,
      steps: diffusion.numTimesteps,
      index,
      t,
      xt: x,
      eps: splitChannels(output, latentShape[0])[0],
      predXstart,
      sample,
    });
    x = sample;
  }
  return x;
}
