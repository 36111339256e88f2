/**
 * The pipeline: load a shipped DiT by its card and turn noise into pictures.
 *
 * ```
 * card.json ─► sessions (ONNX Runtime) ─► sampleLoop(ε̂ = DiT, CFG, diffusion step) ─► latents ─► VAE decoder ─► images
 * ```
 *
 * Everything model-specific (sizes, classes, the null class, the latent scale factor) comes from the card.
 *
 * @module
 */
import { createDiffusion } from "./diffusion.ts";
import { checkSession, type ModelCard, type ModelFile, readCard } from "./model/card.ts";
import { oneLine, verifyModelFile, verifyOnnxFile } from "./model/folder.ts";
import { fromOrtTensor, openSession, ort, type OrtSession, toOrtTensor } from "./model/onnx.ts";
import { SeededRandom } from "./random.ts";
import { sampleLoop, type SamplerName, type StepInfo } from "./sampler.ts";
import { concatBatch, Tensor } from "./tensor.ts";

/** The models folder of this repository. */
export const MODELS_DIR: string = new URL("../models/", import.meta.url).pathname;

/** The model `deno task sample` and {@link loadDiT} use when none is named. */
export const DEFAULT_MODEL = "emoji";

/**
 * How the DiT's matrix multiplies compute: `"fp32"`, or `"int8"` (weights 7-bit integers per output channel,
 * activations quantized to uint8 on the fly; faster than fp32 on every CPU measured (bench/RESULTS.md), the
 * same integer arithmetic with or without VNNI (`quantize.ts` says why), at a measured quality cost recorded in
 * each card's `quality.byPrecision`).
 */
export type Precision = "fp32" | "int8";

/** The precision {@link loadDiT} uses when none is named. */
export const DEFAULT_PRECISION: Precision = "fp32";

/** Which card file holds the DiT graph of each precision. */
export const DIT_FILE: Record<Precision, ModelFile> = { fp32: "dit", int8: "ditInt8" };

/** Options of {@link loadDiT}. */
export interface LoadOptions {
  /** Which DiT graph runs (default {@link DEFAULT_PRECISION}). */
  precision?: Precision;
}

/** Options of {@link DiTPipeline.sample}. */
export interface SampleOptions {
  /** One class per image, by name or id (`"Food & Drink"`, `3`). */
  classes: readonly (string | number)[];
  /** Classifier-free guidance scale (default 4); 1 turns guidance off. */
  guidanceScale?: number;
  /** Sampling steps, respaced from the 1000 training steps (default 50). */
  steps?: number;
  /** `"ddim"` (default) or `"ddpm"`. */
  sampler?: SamplerName;
  /** DDIM's η (default 0, deterministic). */
  eta?: number;
  /** The seed: same seed and options, same images (default 0). */
  seed?: number;
  /** Images per network batch (default 32); larger n runs in batches so memory stays bounded. */
  batchSize?: number;
  /** Decode the latents with the VAE (default true). */
  decode?: boolean;
  /** Called after every step, with the batch it belongs to. */
  onStep?: (info: StepInfo & { batch: number; batches: number }) => void | Promise<void>;
  /** Stops sampling between steps. */
  signal?: AbortSignal;
}

/** What {@link DiTPipeline.sample} returns. */
export interface SampleResult {
  /** The class id of each image. */
  labels: number[];
  /** x_0 as the DiT produces it, `[n, 4, h, w]` (VAE latents × the card's scale factor). */
  latents: Tensor;
  /** The decoded images, `[n, C, H, W]` in [-1, 1] (absent with `decode: false`). */
  images?: Tensor;
}

/**
 * Opens a shipped model (`"digits"`, `"emoji"`) or a model folder holding a `card.json`, checks its ONNX files
 * against the card, and returns a {@link DiTPipeline}.
 *
 * The folder is a sandbox: the card is size-limited and schema-checked ({@link readCard}), and each file it
 * names is opened only if it is a regular file inside the folder (symlinks resolved) whose sha256 is the
 * card's, and so are the weights files an ONNX file names (`verifyOnnxFile`); the DiT now, the VAE when first
 * used. Hashes are cached per file while its size and times stay the same.
 *
 * @throws a one-line `Error` for an unknown model or precision, or a missing, corrupt, hostile or mismatched
 *   card, ONNX file or weights file.
 *
 * @example Four guided samples of the digit 7
 * ```ts
 * import { loadDiT } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dit = await loadDiT("digits");
 * const { images } = await dit.sample({ classes: ["7", "7", "7", "7"], steps: 10, seed: 1 });
 * assert.deepEqual(images!.shape, [4, 1, 32, 32]);
 * await dit.close();
 * ```
 *
 * @example The int8 variant of the same model
 * ```ts
 * import { loadDiT } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dit = await loadDiT("digits", { precision: "int8" });
 * assert.equal(dit.precision, "int8");
 * const { images } = await dit.sample({ classes: ["7"], steps: 10 });
 * assert.deepEqual(images!.shape, [1, 1, 32, 32]);
 * await dit.close();
 * ```
 */
export async function loadDiT(
  model: string = DEFAULT_MODEL,
  options: LoadOptions = {},
): Promise<DiTPipeline> {
  const { precision = DEFAULT_PRECISION } = options;
  if (precision !== "fp32" && precision !== "int8") {
    throw new Error(`loadDiT: precision is "${precision}"; expected "fp32" or "int8"`);
  }
  const dir = modelFolder(model);
  const card = readCard(dir);
  const file = DIT_FILE[precision];
  if (!card.files[file]) {
    throw new Error(
      `${dir}/card.json: files.${file} is missing, so ${card.name} has no ${precision} DiT; expected precision "fp32"`,
    );
  }
  // the weights both DiT graphs share, named first: a missing one is the likeliest fault of a copied folder
  if (card.files.ditWeights) verifyModelFile(dir, card, card.files.ditWeights, "the DiT's weights");
  const dit = await openChecked(dir, card, file);
  return new DiTPipeline(dir, card, dit, precision);
}

/**
 * The folder of a model: a shipped model by its name (only the folders under {@link MODELS_DIR}, so a name
 * cannot climb out with `..`), or any folder given as a path (one with a `/`, like `./mine`).
 */
function modelFolder(model: string): string {
  const shipped = () =>
    [...Deno.readDirSync(MODELS_DIR)]
      .filter((e) => e.isDirectory && e.name !== "recipes")
      .map((e) => e.name)
      .sort();
  const unknown = () =>
    new Error(
      `unknown model ${oneLine(JSON.stringify(model) ?? String(model), 160)}; expected one of ${
        shipped().join(", ")
      } or a folder holding card.json`,
    );
  if (typeof model !== "string") throw unknown();
  if (!model.includes("/")) {
    if (!shipped().includes(model)) throw unknown();
    return `${MODELS_DIR}${model}`;
  }
  const dir = model.replace(/\/+$/, "") || "/";
  let isDir = false;
  try {
    isDir = Deno.statSync(dir).isDirectory;
  } catch { /* reported below */ }
  if (!isDir) throw unknown();
  return dir;
}

/**
 * Opens one ONNX file of the card, after checking it (and the weights file it names) against the card's
 * hashes inside the model folder, then its inputs and outputs against the card's `onnx` section.
 */
async function openChecked(dir: string, card: ModelCard, file: ModelFile): Promise<OrtSession> {
  const name = card.files[file];
  if (!name) {
    throw new Error(`${dir}/card.json: files.${file} is missing; expected the ${file} ONNX file name`);
  }
  const session = await openSession(verifyOnnxFile(dir, card, name));
  checkSession(card, file, session);
  return session;
}

/** A loaded model: its card, the DiT forward pass, the VAE, and the sampler. Made by {@link loadDiT}. */
export class DiTPipeline {
  /** The folder the model came from. */
  readonly dir: string;
  /** Everything known about the model. */
  readonly card: ModelCard;
  /** Which DiT graph runs: `"fp32"` or `"int8"`. */
  readonly precision: Precision;
  readonly #dit: OrtSession;
  #decoder?: Promise<OrtSession>;
  #encoder?: Promise<OrtSession>;

  /** Use {@link loadDiT}. */
  constructor(dir: string, card: ModelCard, dit: OrtSession, precision: Precision = DEFAULT_PRECISION) {
    this.dir = dir;
    this.card = card;
    this.#dit = dit;
    this.precision = precision;
  }

  /**
   * The class id of a class name or id, as the card lists them.
   * @throws naming the unknown class and the accepted ones.
   *
   * @example
   * ```ts
   * import { loadDiT } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const dit = await loadDiT("emoji");
   * assert.equal(dit.classId("Flags"), 8);
   * await dit.close();
   * ```
   */
  classId(nameOrId: string | number): number {
    const classes = this.card.classes;
    const byName = classes.find((c) => c.name === String(nameOrId));
    if (byName) return byName.id;
    const id = typeof nameOrId === "number" ? nameOrId : /^\d+$/.test(nameOrId) ? Number(nameOrId) : NaN;
    if (Number.isInteger(id) && id >= 0 && id < classes.length) return id;
    throw new Error(
      `unknown class "${nameOrId}" for ${this.card.name}; expected an id 0-${classes.length - 1} or one of: ${
        classes.map((c) => c.name).join(", ")
      }`,
    );
  }

  /**
   * One DiT forward pass through ONNX Runtime: x_t `[B, 4, h, w]`, timesteps and labels → `[B, 8, h, w]`
   * (ε̂ then the variance interpolation v).
   *
   * @example
   * ```ts
   * import { loadDiT, SeededRandom } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const dit = await loadDiT("digits");
   * const out = await dit.forward(new SeededRandom(0).randn([2, 4, 8, 8]), [999, 999], [3, dit.card.nullClassId]);
   * assert.deepEqual(out.shape, [2, 8, 8, 8]);
   * await dit.close();
   * ```
   */
  async forward(x: Tensor, t: readonly number[], y: readonly number[]): Promise<Tensor> {
    const int64 = (v: readonly number[]) =>
      new ort.Tensor("int64", BigInt64Array.from(v, BigInt), [v.length]);
    const result = await this.#dit.run({ x: toOrtTensor(x), t: int64(t), y: int64(y) });
    return fromOrtTensor(result.out);
  }

  /**
   * Decodes DiT latents to images in [-1, 1]: the VAE decoder applied to latents ÷ scale factor.
   *
   * @example Pure noise decodes to an image-shaped mess
   * ```ts
   * import { loadDiT, SeededRandom } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const dit = await loadDiT("digits");
   * const images = await dit.decode(new SeededRandom(0).randn([1, 4, 8, 8]));
   * assert.deepEqual(images.shape, [1, 1, 32, 32]);
   * await dit.close();
   * ```
   */
  async decode(latents: Tensor): Promise<Tensor> {
    this.#decoder ??= openChecked(this.dir, this.card, "vaeDecoder");
    const decoder = await this.#decoder;
    const scale = Math.fround(1 / this.card.latent.scaleFactor);
    const unscaled = new Tensor(latents.data.map((v) => v * scale), latents.shape);
    return fromOrtTensor((await decoder.run({ latent: toOrtTensor(unscaled) })).image);
  }

  /**
   * Encodes images in [-1, 1] to DiT latents: the VAE posterior mean × scale factor.
   *
   * @example
   * ```ts
   * import { loadDiT, Tensor } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const dit = await loadDiT("emoji");
   * const white = Tensor.from(new Array(3 * 64 * 64).fill(1), [1, 3, 64, 64]);
   * assert.deepEqual((await dit.encode(white)).shape, [1, 4, 16, 16]);
   * await dit.close();
   * ```
   */
  async encode(images: Tensor): Promise<Tensor> {
    this.#encoder ??= openChecked(this.dir, this.card, "vaeEncoder");
    const encoder = await this.#encoder;
    const mean = fromOrtTensor((await encoder.run({ image: toOrtTensor(images) })).mean);
    const scale = this.card.latent.scaleFactor;
    return new Tensor(mean.data.map((v) => v * scale), mean.shape);
  }

  /**
   * Samples one image per entry of `classes`.
   *
   * @throws naming the bad option (unknown class, steps outside 1…1000, …), or the signal's reason when aborted.
   *
   * @example Two emoji of food, with a look at every step's x̂0
   * ```ts
   * import { loadDiT, type Tensor } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const dit = await loadDiT("emoji");
   * const predictions: Tensor[] = [];
   * const { images } = await dit.sample({
   *   classes: ["Food & Drink", "Food & Drink"],
   *   guidanceScale: 4,
   *   steps: 5,
   *   sampler: "ddim",
   *   seed: 0,
   *   onStep: ({ predXstart }) => void predictions.push(predXstart),
   * });
   * assert.deepEqual(images!.shape, [2, 3, 64, 64]);
   * assert.equal(predictions.length, 5);
   * await dit.close();
   * ```
   */
  async sample(options: SampleOptions): Promise<SampleResult> {
    const {
      guidanceScale = 4,
      steps = 50,
      sampler = "ddim",
      eta = 0,
      seed = 0,
      batchSize = 32,
      decode = true,
    } = options;
    const labels = options.classes.map((c) => this.classId(c));
    if (labels.length === 0) throw new Error("sample: classes is empty; expected at least one class");
    if (!Number.isInteger(steps) || steps < 1 || steps > this.card.diffusion.numTimesteps) {
      throw new Error(
        `sample: steps is ${steps}; expected an integer from 1 to ${this.card.diffusion.numTimesteps}`,
      );
    }
    if (!Number.isFinite(guidanceScale) || guidanceScale < 0) {
      throw new Error(`sample: guidanceScale is ${guidanceScale}; expected a number >= 0`);
    }
    if (sampler !== "ddim" && sampler !== "ddpm") {
      throw new Error(`sample: sampler is "${sampler}"; expected "ddim" or "ddpm"`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`sample: batchSize is ${batchSize}; expected an integer >= 1`);
    }
    const diffusion = createDiffusion({
      respacing: String(steps),
      schedule: this.card.diffusion.schedule,
      numTimesteps: this.card.diffusion.numTimesteps,
    });
    const random = new SeededRandom(seed);
    const { channels, height, width } = this.card.latent;
    const batches = Math.ceil(labels.length / batchSize);
    const latents: Tensor[] = [], images: Tensor[] = [];
    for (let batch = 0; batch < batches; batch++) {
      const x0 = await sampleLoop({
        model: (x, t, y) => this.forward(x, t, y),
        diffusion,
        labels: labels.slice(batch * batchSize, (batch + 1) * batchSize),
        nullClass: this.card.nullClassId,
        latentShape: [channels, height, width],
        random,
        guidanceScale,
        sampler,
        eta,
        onStep: options.onStep && ((info) => options.onStep!({ ...info, batch, batches })),
        signal: options.signal,
      });
      latents.push(x0);
      if (decode) images.push(await this.decode(x0));
    }
    return { labels, latents: concatBatch(latents), images: decode ? concatBatch(images) : undefined };
  }

  /** Releases the ONNX Runtime sessions. */
  async close(): Promise<void> {
    await this.#dit.release();
    for (const session of [this.#decoder, this.#encoder]) await (await session)?.release();
  }
}
