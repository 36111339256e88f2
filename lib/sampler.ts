/**
 * The sampling loop: from noise x_T to a clean latent x_0, one network evaluation per step (two for Heun).
 *
 * Everything here is a concept function of the toolkit: the respaced process ({@link createDiffusion}),
 * classifier-free guidance ({@link guidanceBatch}, {@link guideOutput}), optionally only in an interval of
 * timesteps ({@link guidedAt}), and a reverse step picked by name: DDPM's ancestral `pSample` (the paper's
 * sampler), `ddimStep`, {@link dpmSolverStep}, or {@link eulerStep} / {@link heunStep}. The network is
 * whatever {@link DiTModel} you pass: ONNX Runtime in the pipeline, or the TypeScript glass box.
 *
 * Random numbers follow the reference's `sample.py`: x_T is drawn first, then every DDPM or DDIM step draws
 * fresh noise for the whole guided model batch (both halves) even when the step does not use it, so a seed
 * gives the same trajectory as `torch.manual_seed(seed)` there. The ODE samplers (DPM-Solver++, Euler, Heun)
 * draw nothing after x_T.
 *
 * @module
 */
import type { GaussianDiffusion, StepResult } from "./diffusion.ts";
import { dpmSolverStep, type PreviousStep } from "./dpm_solver.ts";
import { guidanceBatch, guidedAt, guideOutput } from "./guidance.ts";
import { eulerStep, heunStep } from "./karras.ts";
import { describeValue } from "./checks.ts";
import type { SeededRandom } from "./random.ts";
import { sliceBatch, splitChannels, type Tensor } from "./tensor.ts";

/**
 * The reverse step: `"ddpm"` (ancestral sampling with the learned variance, the paper's), `"ddim"`,
 * `"dpm++2m"` (DPM-Solver++(2M)), or `"euler"` / `"heun"` (the probability-flow ODE in σ, meant for the
 * `"karrasN"` respacing).
 */
export type SamplerName = "ddpm" | "ddim" | "dpm++2m" | "euler" | "heun";

/**
 * Every {@link SamplerName}, in the order they are taught.
 *
 * @example
 * ```ts
 * import { SAMPLERS } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.ok(SAMPLERS.includes("heun"));
 * ```
 */
export const SAMPLERS: readonly SamplerName[] = ["ddpm", "ddim", "dpm++2m", "euler", "heun"];

/**
 * The respacing a sampler runs on, for `createDiffusion`: Karras et al.'s noise levels (`"karrasN"`) for Euler
 * and Heun, evenly respaced timesteps (`"N"`) for the others.
 *
 * @example
 * ```ts
 * import { respacingFor } from "@dit/toolkit/concepts";
 * import assert from "node:assert/strict";
 * assert.deepEqual([respacingFor("ddim", 20), respacingFor("heun", 20)], ["20", "karras20"]);
 * ```
 */
export function respacingFor(sampler: SamplerName, steps: number): string {
  return sampler === "euler" || sampler === "heun" ? `karras${steps}` : String(steps);
}

/**
 * The network, as the sampler needs it: a forward pass from x_t `[B, C, h, w]`, timesteps and labels (one
 * each per sample) to `[B, 2C, h, w]` (ε̂ then v). The pipeline of `loadDiT` (ONNX Runtime) is one, the glass
 * box of `loadGlassBox` (TypeScript) another, and so is `{ forward: (x, t, y) => … }` of your own.
 */
export interface DiTModel {
  /** x_t, t and y → [ε̂ | v], now or as a promise. */
  forward(x: Tensor, t: number[], y: number[]): Tensor | Promise<Tensor>;
}

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
  /**
   * Network evaluations so far: one per step, but two per Heun step except the last (a guided evaluation
   * runs both halves as one batch and counts once).
   */
  evaluations: number;
}

/** The inputs of {@link sampleLoop}. */
export interface SampleLoopOptions {
  /** The network: anything with a DiT's forward pass. */
  model: DiTModel;
  /**
   * The respaced diffusion; its length is the number of steps. Euler and Heun are meant for Karras's levels,
   * `createDiffusion({ respacing: "karrasN" })`, the others for even respacing (`"N"`).
   */
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
  /**
   * Guide only the network evaluations whose timestep t is in `[lo, hi]` ({@link guidedAt}); the others run
   * the conditional model alone, on n rows instead of 2n. Omitted: every evaluation is guided.
   */
  guidanceInterval?: readonly [number, number];
  /** Which reverse step: see {@link SamplerName}. */
  sampler: SamplerName;
  /** DDIM's η (0: deterministic). Ignored by DDPM. */
  eta?: number;
  /** Called after every step. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /**
   * Stops sampling between steps; the loop then rejects with the signal's reason. With a signal the loop lets
   * the event loop turn once per step (see {@link eventLoopTurn}), so an abort from a timer, a UI event or
   * SIGINT is seen after at most the step under way.
   */
  signal?: AbortSignal;
}

/**
 * Counts the non-finite values of an array: NaN, +Infinity and −Infinity.
 *
 * @example
 * ```ts
 * import { countNonFinite } from "./sampler.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(countNonFinite(Float32Array.of(1, NaN, Infinity, -Infinity, NaN)), { nan: 2, inf: 2 });
 * ```
 */
export function countNonFinite(data: ArrayLike<number>): { nan: number; inf: number } {
  let nan = 0, inf = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v !== v) nan++;
    else if (v === Infinity || v === -Infinity) inf++;
  }
  return { nan, inf };
}

/**
 * `""` when every value is finite, else what is not, for an error message: `"NaN ×12, ±Infinity ×3"`.
 *
 * @example
 * ```ts
 * import { describeNonFinite } from "./sampler.ts";
 * import assert from "node:assert/strict";
 * assert.equal(describeNonFinite(Float32Array.of(0, NaN, -Infinity)), "NaN ×1, ±Infinity ×1");
 * assert.equal(describeNonFinite(Float32Array.of(0, 1)), "");
 * ```
 */
export function describeNonFinite(data: ArrayLike<number>): string {
  const { nan, inf } = countNonFinite(data);
  return [nan ? `NaN ×${nan}` : "", inf ? `±Infinity ×${inf}` : ""].filter(Boolean).join(", ");
}

/**
 * Resolves after one turn of the event loop through a due timer, then throws the signal's reason if it was
 * aborted meanwhile.
 *
 * Why a timer: ONNX Runtime's `session.run` (onnxruntime-node) computes synchronously inside a `setImmediate`
 * callback. A loop of such steps keeps Deno's event loop busy with immediates, and measured on Deno 2.9.6 a
 * pending SIGINT listener then runs only 9–28 turns late (for 1–20 ms steps), or never for very short ones;
 * awaiting a file-system op does not help either. A due timer makes the loop wait on its timer driver, which
 * delivers the signal; one `setImmediate` after it lets the listener run before the next step starts (measured:
 * the abort is then seen at the end of the step during which Ctrl-C came, 5 times in 6, else one step later).
 * The timer is started before the step's work, so by the time it is awaited it has expired and costs nothing.
 *
 * @example Started before a step, awaited after it
 * ```ts
 * import { eventLoopTurn } from "./sampler.ts";
 * import assert from "node:assert/strict";
 * const controller = new AbortController();
 * const turn = eventLoopTurn(controller.signal);
 * controller.abort(new Error("stop"));
 * await assert.rejects(turn.done, /stop/);
 * ```
 */
export function eventLoopTurn(signal?: AbortSignal): { done: Promise<void>; cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<void>((resolve) => timer = setTimeout(resolve, 0))
    // the signal's listener runs later in the timer's turn than this continuation: one immediate lets it run
    .then(() => new Promise<void>((resolve) => afterPendingEvents(resolve)))
    .then(() => signal?.throwIfAborted());
  // for a step that throws: clearing the timer leaves `done` pending forever, so nothing outlives the caller
  return { done, cancel: () => clearTimeout(timer) };
}

/** `setImmediate` where there is one (Deno, Node), a timer in a browser. */
const afterPendingEvents: (callback: () => void) => void =
  (globalThis as { setImmediate?: (callback: () => void) => void }).setImmediate ??
    ((callback) => setTimeout(callback, 0));

/**
 * Waits one event-loop turn (so that a SIGINT listener or another abort source gets to run), then throws the
 * signal's reason if it is aborted: the check between any two pieces of long work. See {@link eventLoopTurn}.
 *
 * @example
 * ```ts
 * import { checkpoint } from "./sampler.ts";
 * import assert from "node:assert/strict";
 * await checkpoint(new AbortController().signal); // not aborted: returns
 * await assert.rejects(checkpoint(AbortSignal.abort(new Error("stopped"))), /stopped/);
 * ```
 */
export function checkpoint(signal?: AbortSignal): Promise<void> {
  return eventLoopTurn(signal).done;
}

/** Throws when the network's output holds a non-finite value: the concept functions after it check their own. */
function checkModelOutput(output: Tensor): void {
  const bad = describeNonFinite(output.data);
  if (bad) {
    throw new Error(
      `the DiT's output has non-finite values (${bad}); its input x_t was finite, so the model's weights are suspect`,
    );
  }
}

/**
 * Runs the reverse process and returns x_0, `[n, C, h, w]` (latents as the DiT sees them: scaled).
 *
 * Non-finite values stop the loop where they first appear: the network's output is checked here, and the
 * concept functions after it (guidance, the diffusion step) refuse to return non-finite values themselves.
 * Any error inside a step is rethrown with the step and t in front, so the message says where it happened.
 *
 * @throws the signal's reason when aborted, or an `Error` naming the step and what went wrong in it
 *   (`step 3 of 50 (t=959): the DiT's output has non-finite values (NaN ×512); …`).
 *
 * @example Five DDIM steps with a stand-in network that predicts ε̂ = 0
 * ```ts
 * import { createDiffusion, sampleLoop, SeededRandom, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const x0 = await sampleLoop({
 *   model: { forward: (x) => Tensor.zeros([x.shape[0], 8, 2, 2]) },
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
 *
 * @example Heun on Karras's five levels, guided only from t = 600 down: nine network evaluations
 * ```ts
 * import { createDiffusion, sampleLoop, SeededRandom, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const rows: number[] = [];
 * let evaluations = 0;
 * await sampleLoop({
 *   model: { forward: (x) => (rows.push(x.shape[0]), Tensor.zeros([x.shape[0], 8, 2, 2])) },
 *   diffusion: createDiffusion({ respacing: "karras5" }), // t = 999, 843, 593, 142, 0
 *   labels: [0],
 *   nullClass: 10,
 *   latentShape: [4, 2, 2],
 *   random: new SeededRandom(0),
 *   guidanceScale: 4,
 *   guidanceInterval: [0, 600],
 *   sampler: "heun",
 *   onStep: (info) => void (evaluations = info.evaluations),
 * });
 * assert.equal(evaluations, 9);
 * assert.deepEqual(rows, [1, 1, 1, 2, 2, 2, 2, 2, 2]); // unguided (1 row) at t = 999 and 843
 * ```
 */
export async function sampleLoop(options: SampleLoopOptions): Promise<Tensor> {
  const {
    model,
    diffusion,
    labels,
    nullClass,
    latentShape,
    random,
    guidanceScale,
    guidanceInterval,
    sampler,
    eta = 0,
    signal,
  } = options;
  if (!SAMPLERS.includes(sampler)) {
    throw new Error(
      `sampleLoop: sampler is ${describeValue(sampler)}; expected one of ${SAMPLERS.join(", ")}`,
    );
  }
  if (typeof model?.forward !== "function") {
    throw new Error(
      `sampleLoop: model is ${describeValue(model)}; expected a DiTModel, an object with forward(x, t, y)`,
    );
  }
  const n = labels.length;
  const steps = diffusion.numTimesteps;
  const inInterval = Array.from(diffusion.timestepMap, (t) => guidedAt(t, guidanceInterval));
  let evaluations = 0;
  /** The network's (guided) output at the process's `index`. */
  const evaluate = async (x: Tensor, index: number): Promise<Tensor> => {
    const t = diffusion.timestepMap[index];
    evaluations++;
    if (guidanceScale !== 1 && inInterval[index]) {
      const batch = guidanceBatch(x, labels, nullClass);
      const raw = await model.forward(batch.x, batch.y.map(() => t), batch.y);
      checkModelOutput(raw);
      return guideOutput(raw, guidanceScale);
    }
    const output = await model.forward(x, labels.map(() => t), [...labels]);
    checkModelOutput(output);
    return output;
  };
  signal?.throwIfAborted();
  let x = random.randn([n, ...latentShape]);
  let previous: PreviousStep | undefined; // DPM-Solver++'s memory of the step before
  for (let index = steps - 1; index >= 0; index--) {
    signal?.throwIfAborted();
    const t = diffusion.timestepMap[index];
    // started now, so it has expired by the time the step's work is done: see eventLoopTurn
    const turn = signal ? eventLoopTurn(signal) : undefined;
    try {
      const output = await evaluate(x, index);
      let step: StepResult;
      if (sampler === "ddpm" || sampler === "ddim") {
        // the reference draws noise for its whole model batch every step (2n when guided, whether or not this
        // step is inside a guidance interval); the conditional half is the first n
        const noise = sliceBatch(random.randn([guidanceScale !== 1 ? 2 * n : n, ...latentShape]), 0, n);
        step = sampler === "ddpm"
          ? diffusion.pSample(output, x, index, noise)
          : diffusion.ddimStep(output, x, index, eta, noise);
      } else if (sampler === "dpm++2m") {
        step = dpmSolverStep(diffusion, output, x, index, previous);
        previous = { predXstart: step.predXstart, index };
      } else if (sampler === "heun" && index > 0) {
        const proposal = eulerStep(diffusion, output, x, index).sample;
        const proposalOutput = await evaluate(proposal, index - 1);
        step = heunStep(diffusion, output, x, index, { sample: proposal, modelOutput: proposalOutput });
      } else {
        step = eulerStep(diffusion, output, x, index); // Euler, and Heun's last step (to σ = 0)
      }
      await options.onStep?.({
        step: steps - index,
        steps,
        index,
        t,
        xt: x,
        eps: splitChannels(output, latentShape[0])[0],
        predXstart: step.predXstart,
        sample: step.sample,
        evaluations,
      });
      x = step.sample;
      await turn?.done;
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error; // an interrupt is not the step's fault
      throw new Error(`step ${steps - index} of ${steps} (t=${t}): ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      turn?.cancel();
    }
  }
  return x;
}
