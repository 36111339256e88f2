/**
 * The pipeline: load a shipped DiT by its card and turn noise into pictures.
 *
 * ```
 * card.json ─► sessions (ONNX Runtime) ─► sampleLoop(ε̂ = DiT, CFG, diffusion step) ─► latents ─► VAE decoder ─► images
 * ```
 *
 * Everything model-specific (sizes, classes, the null class, the latent scale factor) comes from the card. A
 * text-conditioned model (a card with `architecture.textEncoder`) samples from prompts instead of classes: its
 * vocabulary tokenizes them, and the unconditional half of guidance reads the null caption.
 *
 * @module
 */
import { createDiffusion } from "./diffusion.ts";
import {
  checkSession,
  isTextCard,
  type ModelCard,
  type ModelFile,
  readAnyCard,
  readVocabulary,
  type TextCard,
} from "./model/card.ts";
import { MODELS_DIR, oneLine, verifyModelFile, verifyOnnxFile } from "./model/folder.ts";
import { fromOrtTensor, openSession, ort, type OrtSession, toOrtTensor } from "./model/onnx.ts";
import { SeededRandom } from "./random.ts";
import {
  checkpoint,
  describeNonFinite,
  type DiTModel,
  respacingFor,
  sampleLoop,
  type SamplerName,
  SAMPLERS,
  type StepInfo,
} from "./sampler.ts";
import { describeValue } from "./checks.ts";
import { concatBatch, sliceBatch, Tensor } from "./tensor.ts";
import { captionsAsLabels } from "./text_dit.ts";
import { nullCaption, tokenize, type TokenizedPrompt, type Vocabulary } from "./tokenizer.ts";

export { MODELS_DIR };

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

/**
 * The largest classifier-free guidance scale {@link DiTPipeline.sample} accepts. The paper samples at 1.5–4
 * and sweeps up to 10; by 20 our models' images are saturated, and past 100 the guided ε̂ = ε_u + s·(ε_c − ε_u)
 * is all difference term: nothing a picture can show changes, while at about 1e37 it overflows float32.
 */
export const MAX_GUIDANCE_SCALE = 100;

/** The most images one {@link DiTPipeline.sample} call makes: they are all held in memory (emoji: ~53 KB each). */
export const MAX_SAMPLES = 10_000;

/** The largest network batch {@link DiTPipeline.sample} runs (guided: twice as many rows go through the DiT). */
export const MAX_BATCH_SIZE = 256;

/** Images per network batch when {@link SampleOptions} names none. */
const DEFAULT_BATCH_SIZE = 32;

/** Options of {@link DiTPipeline.sample}: `classes` for a class-conditioned model, `prompts` for a text one. */
export interface SampleOptions {
  /**
   * A class-conditioned model's: one class per image, by name or id (`"Food & Drink"`, `3`); 1 to
   * {@link MAX_SAMPLES} entries.
   */
  classes?: readonly (string | number)[];
  /**
   * A text-conditioned model's: one prompt per image (`"hot pepper"`), 1 to {@link MAX_SAMPLES} entries, each of
   * 1 to the vocabulary's `maxLength` words. A word the vocabulary lacks is read as `[unk]` and listed in the
   * result's `prompts[i].unknown`.
   */
  prompts?: readonly string[];
  /** Classifier-free guidance scale from 0 to {@link MAX_GUIDANCE_SCALE} (default 4); 1 turns guidance off. */
  guidanceScale?: number;
  /**
   * Sampling steps, respaced from the card's training steps: 1 to `numTimesteps` (default: the card's
   * `sampling.steps`, else 50); DDPM needs 2 or more.
   */
  steps?: number;
  /**
   * `"ddim"`, `"ddpm"` (the paper's), `"dpm++2m"` (DPM-Solver++(2M)), `"euler"` or `"heun"` (on
   * Karras et al.'s noise levels: `steps` levels, fewer where they snap to the same timestep; Heun evaluates
   * the network twice per step). Default: the card's `sampling.sampler`, else `"ddim"`.
   */
  sampler?: SamplerName;
  /**
   * Guide only at timesteps t with lo <= t <= hi, integers from 0 to the card's `numTimesteps` − 1 (default:
   * every step); outside it a step runs the conditional model alone, on half the batch. See `guidedAt`.
   */
  guidanceInterval?: readonly [number, number];
  /** DDIM's η in [0, 1] (default 0, deterministic; 1 is as stochastic as DDPM). */
  eta?: number;
  /** The seed, an integer in [0, 2³²): same seed and options, same images (default 0). */
  seed?: number;
  /**
   * Images per network batch, 1 to {@link MAX_BATCH_SIZE} (default 32); larger n runs in batches so memory
   * stays bounded.
   */
  batchSize?: number;
  /** Called after every step, with the batch it belongs to. */
  onStep?: (info: StepInfo & { batch: number; batches: number }) => void | Promise<void>;
  /** Stops sampling within a step: checked after each step and after each batch's decoding. */
  signal?: AbortSignal;
}

/** What {@link DiTPipeline.sampleLatents} returns. */
export interface LatentsResult {
  /** The class id of each sample (a class-conditioned model's). */
  labels?: number[];
  /** Each sample's prompt as the model read it (a text model's): ids, words, and the `unknown` ones. */
  prompts?: TokenizedPrompt[];
  /** x_0 as the DiT produces it, `[n, 4, h, w]` (VAE latents × the card's scale factor). */
  latents: Tensor;
}

/** What {@link DiTPipeline.sample} returns: the latents, and the images the VAE decodes them to. */
export interface SampleResult extends LatentsResult {
  /** The decoded images, `[n, C, H, W]` in [-1, 1]. */
  images: Tensor;
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
 * await using dit = await loadDiT("digits"); // closed at the end of the scope
 * const { images } = await dit.sample({ classes: ["7", "7", "7", "7"], steps: 10, seed: 1 });
 * assert.deepEqual(images.shape, [4, 1, 32, 32]);
 * ```
 *
 * @example The int8 variant of the same model
 * ```ts
 * import { loadDiT } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dit = await loadDiT("digits", { precision: "int8" });
 * assert.equal(dit.precision, "int8");
 * const { images } = await dit.sample({ classes: ["7"], steps: 10 });
 * assert.deepEqual(images.shape, [1, 1, 32, 32]);
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
  const card = readAnyCard(dir);
  const vocabulary = isTextCard(card) ? readVocabulary(dir, card) : undefined;
  const file = DIT_FILE[precision];
  if (!card.files[file]) {
    throw new Error(
      `${dir}/card.json: files.${file} is missing, so ${card.name} has no ${precision} DiT; expected precision "fp32"`,
    );
  }
  // the weights both DiT graphs share, named first: a missing one is the likeliest fault of a copied folder
  if (card.files.ditWeights) verifyModelFile(dir, card, card.files.ditWeights, "the DiT's weights");
  const dit = await openChecked(dir, card, file);
  return new DiTPipeline(dir, card, dit, precision, vocabulary);
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
 * Where a model's VAE decoder is: its own folder, if its card names one (`files.vaeDecoder`); else, for a model
 * that shares the latent of a shipped model (`vae.from`: its name, like "emoji" or "models/digits"), that model's
 * folder and card, after checking that the latents are the same (channels, size, scale factor) and, where the card
 * records it (`vae.decoderSha256`), that the decoder is the very file the model was trained with. The weights are
 * stored once (models/emoji-text draws with models/emoji's decoder). `card` is undefined if neither applies.
 *
 * @throws a one-line `Error` if `vae.from` names no shipped model with a decoder, or one that does not fit.
 */
function decoderSource(
  dir: string,
  card: ModelCard | TextCard,
): { dir: string; card?: ModelCard | TextCard } {
  if (card.files.vaeDecoder) return { dir, card };
  const vae = (card as { vae?: { from?: unknown; decoderSha256?: unknown } }).vae;
  if (typeof vae?.from !== "string") return { dir };
  const name = vae.from.replace(/^models\//, "");
  const where = `${dir}/card.json: vae.from ${oneLine(JSON.stringify(vae.from), 100)}`;
  if (name.includes("/")) throw new Error(`${where} is a path; expected a shipped model's name`);
  let sourceDir: string;
  try {
    sourceDir = modelFolder(name);
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`);
  }
  const source = readAnyCard(sourceDir);
  const decoderFile = source.files.vaeDecoder;
  if (!decoderFile) {
    throw new Error(`${where} ships no VAE decoder (its files.vaeDecoder); expected one that does`);
  }
  const [a, b] = [card.latent, source.latent];
  if (
    a.channels !== b.channels || a.height !== b.height || a.width !== b.width ||
    a.scaleFactor !== b.scaleFactor
  ) {
    throw new Error(
      `${where} has the latent ${b.channels}×${b.height}×${b.width} ÷ ${b.scaleFactor}; this model's is ` +
        `${a.channels}×${a.height}×${a.width} ÷ ${a.scaleFactor}: its decoder cannot draw these latents`,
    );
  }
  if (vae.decoderSha256 !== undefined && vae.decoderSha256 !== source.sha256[decoderFile]) {
    throw new Error(
      `${where}: its ${decoderFile} is not the decoder this model was trained with (vae.decoderSha256 differs)`,
    );
  }
  return { dir: sourceDir, card: source };
}

/**
 * Opens one ONNX file of the card, after checking it (and the weights file it names) against the card's
 * hashes inside the model folder, then its inputs and outputs against the card's `onnx` section.
 */
async function openChecked(dir: string, card: ModelCard | TextCard, file: ModelFile): Promise<OrtSession> {
  const name = card.files[file];
  if (!name) {
    throw new Error(`${dir}/card.json: files.${file} is missing; expected the ${file} ONNX file name`);
  }
  const session = await openSession(verifyOnnxFile(dir, card, name));
  checkSession(card, file, session);
  return session;
}

/**
 * The sampler and step count a model samples with when none is given: its card's `sampling` (chosen from the
 * model's measured quality against steps), or DDIM with 50 steps for a card without one.
 *
 * @example
 * ```ts
 * import { defaultSampling, readCard } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const card = readCard(new URL("../models/digits", import.meta.url).pathname);
 * assert.deepEqual(defaultSampling({ ...card, sampling: undefined }), { sampler: "ddim", steps: 50 });
 * ```
 */
export function defaultSampling(card: ModelCard | TextCard): { sampler: SamplerName; steps: number } {
  const { sampler = "ddim", steps = 50 } = card.sampling ?? {};
  return { sampler, steps };
}

/**
 * A loaded model: its card, the DiT forward pass, the VAE, and the sampler. Made by {@link loadDiT}; release
 * its ONNX Runtime sessions with {@link DiTPipeline.close}, or by `await using`.
 */
export class DiTPipeline implements DiTModel, AsyncDisposable {
  /** The folder the model came from. */
  readonly dir: string;
  /** Everything known about the model: a class-conditioned model's card, or a text model's (`isTextCard`). */
  readonly card: ModelCard | TextCard;
  /** Which DiT graph runs: `"fp32"` or `"int8"`. */
  readonly precision: Precision;
  /** A text model's vocabulary (its folder's `files.vocabulary`); undefined for a class-conditioned model. */
  readonly vocabulary?: Vocabulary;
  readonly #dit: OrtSession;
  #decoder?: Promise<OrtSession>;
  #decoderSource?: { dir: string; card?: ModelCard | TextCard };
  #encoder?: Promise<OrtSession>;

  /** Use {@link loadDiT}. */
  constructor(
    dir: string,
    card: ModelCard | TextCard,
    dit: OrtSession,
    precision: Precision = DEFAULT_PRECISION,
    vocabulary?: Vocabulary,
  ) {
    if (isTextCard(card) !== (vocabulary !== undefined)) {
      throw new Error(`DiTPipeline: a text model needs its vocabulary, and only a text model has one`);
    }
    this.dir = dir;
    this.card = card;
    this.#dit = dit;
    this.precision = precision;
    this.vocabulary = vocabulary;
  }

  /**
   * A prompt as this text model reads it: its word ids (`[pad]` after the words), its words, and the words the
   * vocabulary lacks (`unknown`, read as `[unk]`).
   *
   * @throws if the model is class-conditioned, or the prompt has no words or more than the vocabulary's
   *   `maxLength`.
   *
   * @example
   * ```ts
   * import { loadDiT } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * await using dit = await loadDiT(new URL("../tests/fixtures/text-dit", import.meta.url).pathname);
   * const { words, unknown } = dit.tokenize("Hot pepper, zebra!");
   * assert.deepEqual([words, unknown], [["hot", "pepper", "zebra"], ["zebra"]]);
   * ```
   */
  tokenize(prompt: string): TokenizedPrompt {
    if (!this.vocabulary) {
      throw new Error(
        `${
          printable(this.card.name)
        } is class-conditioned: it takes classes, not prompts (a text model has a vocabulary)`,
      );
    }
    return tokenize(this.vocabulary, prompt);
  }

  /**
   * The sampler and step count {@link sample} uses when none is given: the card's `sampling` (chosen from the
   * model's measured quality against steps), or DDIM with 50 steps for a card without one.
   *
   * @example
   * ```ts
   * import { loadDiT } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const dit = await loadDiT("emoji");
   * assert.deepEqual(dit.defaultSampling, { sampler: dit.card.sampling!.sampler, steps: dit.card.sampling!.steps });
   * await dit.close();
   * ```
   */
  get defaultSampling(): { sampler: SamplerName; steps: number } {
    return defaultSampling(this.card);
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
    if (isTextCard(this.card)) {
      throw new Error(`${printable(this.card.name)} is text-conditioned: it takes prompts, not classes`);
    }
    const classes = this.card.classes;
    const byName = classes.find((c) => c.name === String(nameOrId));
    if (byName) return byName.id;
    const id = typeof nameOrId === "number" ? nameOrId : /^\d+$/.test(nameOrId) ? Number(nameOrId) : NaN;
    if (Number.isInteger(id) && id >= 0 && id < classes.length) return id;
    throw new Error(
      `unknown class "${printable(String(nameOrId))}" for ${printable(this.card.name)}; expected an id 0-${
        classes.length - 1
      } or one of: ${listNames(classes.map((c) => c.name))}`,
    );
  }

  /**
   * One DiT forward pass through ONNX Runtime: x_t `[B, 4, h, w]`, timesteps and labels → `[B, 8, h, w]`
   * (ε̂ then the variance interpolation v). A text model takes one row of word ids per sample instead of a label
   * (`tokenize(prompt).ids`, or the null caption's).
   *
   * @example
   * ```ts
   * import { loadDiT, requireClassCard, SeededRandom } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const dit = await loadDiT("digits");
   * const { nullClassId } = requireClassCard(dit.card); // (a text model's card has no classes)
   * const out = await dit.forward(new SeededRandom(0).randn([2, 4, 8, 8]), [999, 999], [3, nullClassId]);
   * assert.deepEqual(out.shape, [2, 8, 8, 8]);
   * await dit.close();
   * ```
   *
   * @example A text model: a row of word ids per sample, here a prompt and the null caption
   * ```ts
   * import { loadDiT, nullCaption, SeededRandom } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * await using dit = await loadDiT(new URL("../tests/fixtures/text-dit", import.meta.url).pathname);
   * const { channels, height, width } = dit.card.latent;
   * const ids = [dit.tokenize("hot pepper").ids, nullCaption(dit.vocabulary!).ids];
   * const out = await dit.forward(new SeededRandom(0).randn([2, channels, height, width]), [999, 999], ids);
   * assert.deepEqual(out.shape, [2, 2 * channels, height, width]);
   * ```
   */
  async forward(
    x: Tensor,
    t: readonly number[],
    y: readonly number[] | readonly (readonly number[])[],
  ): Promise<Tensor> {
    const int64 = (v: readonly number[], shape = [v.length]) =>
      new ort.Tensor("int64", BigInt64Array.from(v, BigInt), shape);
    const text = isTextCard(this.card);
    if (text !== y.every((row) => Array.isArray(row))) {
      throw new Error(
        `forward: y ${text ? "holds labels" : "holds rows"}; ${printable(this.card.name)} takes ${
          text ? "one row of word ids per sample (a text model)" : "one label per sample"
        }`,
      );
    }
    const rows = y as readonly (readonly number[])[];
    const ids = text
      ? int64(rows.flat(), [rows.length, rows[0]?.length ?? 0])
      : int64(y as readonly number[]);
    const result = await this.#dit.run({ x: toOrtTensor(x), t: int64(t), y: ids });
    return fromOrtTensor(result.out);
  }

  /**
   * A model draws with its own VAE decoder, or with the one of the shipped model whose latent it shares (the
   * card's `vae.from`, read by {@link decoderSource}); one with neither cannot draw: say so before any work.
   * Returns where the decoder is (its folder and card).
   */
  #checkDecoder(method: string): { dir: string; card: ModelCard | TextCard } {
    this.#decoderSource ??= decoderSource(this.dir, this.card);
    const { dir, card } = this.#decoderSource;
    if (card) return { dir, card };
    throw new Error(
      `${method}: ${this.card.name} ships no VAE decoder (card.json files.vaeDecoder) and names no shipped model ` +
        `that decodes its latents (vae.from); call sampleLatents for its latents`,
    );
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
    const source = this.#checkDecoder("decode");
    const bad = describeNonFinite(latents.data);
    if (bad) throw new Error(`decode: the latents have non-finite values (${bad}); expected finite latents`);
    const scaleFactor = this.card.latent.scaleFactor;
    const scale = Math.fround(1 / scaleFactor);
    const unscaled = new Tensor(latents.data.map((v) => v * scale), latents.shape);
    const overflow = describeNonFinite(unscaled.data);
    if (overflow) {
      throw new Error(
        `decode: latents ÷ the card's latent.scaleFactor (${scaleFactor}) have non-finite values (${overflow}); the scale factor is too small`,
      );
    }
    this.#decoder ??= openChecked(source.dir, source.card, "vaeDecoder");
    const decoder = await this.#decoder;
    const images = fromOrtTensor((await decoder.run({ latent: toOrtTensor(unscaled) })).image);
    const out = describeNonFinite(images.data);
    if (out) {
      const largest = unscaled.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      throw new Error(
        `decode: the VAE decoder's output has non-finite values (${out}) from finite input (largest |value| ${
          largest.toPrecision(3)
        }); the latents are far outside the VAE's range, or its weights are corrupt`,
      );
    }
    return images;
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
   * Samples one image per entry of `classes` (or of `prompts`, for a text model): {@link DiTPipeline.sampleLatents},
   * then the VAE decoder.
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
   * assert.deepEqual(images.shape, [2, 3, 64, 64]);
   * assert.equal(predictions.length, 5);
   * await dit.close();
   * ```
   *
   * @example A text model draws prompts; the words it never saw come back in `unknown`
   * ```ts
   * import { loadDiT } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * await using dit = await loadDiT(new URL("../tests/fixtures/text-dit", import.meta.url).pathname);
   * const { images, prompts } = await dit.sample({ prompts: ["hot pepper", "zebra"], guidanceScale: 4, steps: 5 });
   * assert.equal(images.shape[0], 2);
   * assert.deepEqual(prompts?.map((p) => p.unknown), [[], ["zebra"]]);
   * ```
   */
  async sample(options: SampleOptions): Promise<SampleResult> {
    this.#checkDecoder("sample");
    const result = await this.sampleLatents(options);
    const { batchSize = DEFAULT_BATCH_SIZE, signal } = options;
    const n = result.latents.shape[0];
    const images: Tensor[] = [];
    for (let start = 0; start < n; start += batchSize) {
      images.push(await this.decode(sliceBatch(result.latents, start, Math.min(start + batchSize, n))));
      // decoding is one more synchronous ONNX Runtime run: give an abort its turn before the next batch
      if (signal) await checkpoint(signal);
    }
    return { ...result, images: concatBatch(images) };
  }

  /**
   * Samples one latent per entry of `classes`, without decoding them: the DiT's part of {@link sample}, for
   * when the pictures are not needed (timing the sampler, comparing latents).
   *
   * @throws as {@link sample}.
   *
   * @example The same latents as sample's, without the VAE
   * ```ts
   * import { loadDiT } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * await using dit = await loadDiT("digits");
   * const options = { classes: ["3"], steps: 5, seed: 2 };
   * const { latents } = await dit.sampleLatents(options);
   * assert.deepEqual(latents.shape, [1, 4, 8, 8]);
   * assert.deepEqual(latents, (await dit.sample(options)).latents);
   * ```
   */
  async sampleLatents(options: SampleOptions): Promise<LatentsResult> {
    const {
      guidanceScale = 4,
      steps = this.defaultSampling.steps,
      sampler = this.defaultSampling.sampler,
      eta = 0,
      seed = 0,
      batchSize = DEFAULT_BATCH_SIZE,
      signal,
    } = options;
    const fail = (message: string): never => {
      throw new Error(`sample: ${message}`);
    };
    const conditions = this.vocabulary ? this.checkPrompts(options, fail) : this.checkClasses(options, fail);
    const numTimesteps = this.card.diffusion.numTimesteps;
    if (!Number.isInteger(steps) || steps < 1 || steps > numTimesteps) {
      fail(`steps is ${steps}; expected an integer from 1 to ${numTimesteps}`);
    }
    if (!SAMPLERS.includes(sampler)) {
      fail(
        `sampler is "${printable(String(sampler))}"; expected one of ${
          SAMPLERS.map((s) => `"${s}"`).join(", ")
        }`,
      );
    }
    if (sampler === "ddpm" && steps < 2) {
      // DDPM's learned variance interpolates between β_t and the posterior's β̃_t, which one step does not have
      fail(
        `sampler "ddpm" needs steps >= 2 (a one-step process has no posterior variance); use "ddim" for 1 step`,
      );
    }
    if (!(typeof guidanceScale === "number" && guidanceScale >= 0 && guidanceScale <= MAX_GUIDANCE_SCALE)) {
      fail(
        `guidanceScale is ${guidanceScale}; expected a number >= 0 and <= ${MAX_GUIDANCE_SCALE} (1 turns guidance off)`,
      );
    }
    const interval = options.guidanceInterval;
    if (
      interval !== undefined &&
      !(Array.isArray(interval) && interval.length === 2 &&
        interval.every((t) => Number.isInteger(t) && t >= 0 && t < numTimesteps) &&
        interval[0] <= interval[1])
    ) {
      const shown = Array.isArray(interval)
        ? `[${interval.slice(0, 3).map(describeValue).join(", ")}${interval.length > 3 ? ", …" : ""}]`
        : describeValue(interval);
      fail(
        `guidanceInterval is ${shown}; expected [lo, hi], integers with 0 <= lo <= hi <= ${
          numTimesteps - 1
        } (the timesteps guided; omit it to guide every step)`,
      );
    }
    if (!(typeof eta === "number" && eta >= 0 && eta <= 1)) {
      fail(`eta is ${eta}; expected a number from 0 (deterministic DDIM) to 1 (as much noise as DDPM)`);
    }
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      fail(`seed is ${seed}; expected an integer from 0 to 4294967295`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
      fail(`batchSize is ${batchSize}; expected an integer from 1 to ${MAX_BATCH_SIZE}`);
    }
    if (options.onStep !== undefined && typeof options.onStep !== "function") {
      fail("onStep is not a function; expected a function or nothing");
    }
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      fail("signal is not an AbortSignal; expected an AbortSignal or nothing");
    }
    const diffusion = createDiffusion({
      respacing: respacingFor(sampler, steps),
      schedule: this.card.diffusion.schedule,
      numTimesteps,
    });
    const random = new SeededRandom(seed);
    const { channels, height, width } = this.card.latent;
    const n = "labels" in conditions ? conditions.labels.length : conditions.prompts.length;
    const batches = Math.ceil(n / batchSize);
    const latents: Tensor[] = [];
    for (let batch = 0; batch < batches; batch++) {
      const [from, to] = [batch * batchSize, (batch + 1) * batchSize];
      // a text model through the sampler: label i stands for the batch's prompt i, the last for the null caption
      const conditioning = "labels" in conditions
        ? { model: this, labels: conditions.labels.slice(from, to), nullClass: conditions.nullClass }
        : captionsAsLabels(
          this,
          conditions.prompts.slice(from, to).map((p) => p.ids),
          conditions.nullCaption,
        );
      const x0 = await sampleLoop({
        ...conditioning,
        diffusion,
        latentShape: [channels, height, width],
        random,
        guidanceScale,
        guidanceInterval: interval,
        sampler,
        eta,
        onStep: options.onStep && ((info) => options.onStep!({ ...info, batch, batches })),
        signal,
      });
      latents.push(x0);
    }
    return {
      ...("labels" in conditions ? { labels: conditions.labels } : { prompts: conditions.prompts }),
      latents: concatBatch(latents),
    };
  }

  /** `options.classes` as class ids, for a class-conditioned model (`prompts` refused, naming the model). */
  private checkClasses(
    options: SampleOptions,
    fail: (message: string) => never,
  ): { labels: number[]; nullClass: number } {
    const card = this.card as ModelCard;
    if (options.prompts !== undefined) {
      fail(
        `prompts are for a text-conditioned model; ${
          printable(card.name)
        } is class-conditioned: give classes`,
      );
    }
    if (!Array.isArray(options.classes)) fail("classes is not an array; expected class names or ids");
    const classes = options.classes!;
    if (classes.length === 0) fail("classes is empty; expected at least one class");
    if (classes.length > MAX_SAMPLES) {
      fail(`classes has ${classes.length} entries; expected at most ${MAX_SAMPLES} (one image each)`);
    }
    return { labels: classes.map((c) => this.classId(c)), nullClass: card.nullClassId };
  }

  /** `options.prompts` tokenized, for a text model (`classes` refused, naming the model), and the null caption. */
  private checkPrompts(
    options: SampleOptions,
    fail: (message: string) => never,
  ): { prompts: TokenizedPrompt[]; nullCaption: number[] } {
    const vocabulary = this.vocabulary!;
    if (options.classes !== undefined) {
      fail(
        `classes are for a class-conditioned model; ${
          printable(this.card.name)
        } is text-conditioned: give prompts`,
      );
    }
    const prompts = options.prompts;
    if (!Array.isArray(prompts)) fail("prompts is not an array; expected one prompt (a string) per image");
    if (prompts!.length === 0) fail("prompts is empty; expected at least one prompt");
    if (prompts!.length > MAX_SAMPLES) {
      fail(`prompts has ${prompts!.length} entries; expected at most ${MAX_SAMPLES} (one image each)`);
    }
    const tokenized = prompts!.map((prompt, i) => {
      try {
        return tokenize(vocabulary, prompt);
      } catch (error) {
        return fail((error as Error).message.replace(/^tokenize: the prompt/, `prompts[${i}]`));
      }
    });
    return { prompts: tokenized, nullCaption: nullCaption(vocabulary).ids };
  }

  /** Releases the ONNX Runtime sessions. */
  async close(): Promise<void> {
    await this.#dit.release();
    for (const session of [this.#decoder, this.#encoder]) await (await session)?.release();
  }

  /** {@link DiTPipeline.close}, for `await using dit = await loadDiT(…)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Longest class name shown in an error, and how many names at most: a card may list thousands. */
const NAME_CHARS = 40, LISTED_NAMES = 20;

/** `text` without control or format characters (no terminal escapes, no bidi overrides), at most 40 characters. */
function printable(text: string): string {
  return oneLine(text, NAME_CHARS, "\uFFFD");
}

/** The first 20 class names, each printable, then how many more. */
function listNames(names: string[]): string {
  const shown = names.slice(0, LISTED_NAMES).map(printable).join(", ");
  return names.length > LISTED_NAMES ? `${shown}, … (${names.length - LISTED_NAMES} more)` : shown;
}
