/**
 * The model card: every fact about a shipped model lives in `models/<name>/card.json`, and the toolkit reads
 * them from there (nothing model-specific is written into `lib/`). This module reads a card, checks every
 * field the toolkit uses against a schema with stated bounds ({@link CARD_LIMITS}), and checks an ONNX Runtime
 * session against it. The files it names are checked against it by `folder.ts`.
 *
 * @module
 */
import { BLOCK_DESIGNS, type DiTArchitecture } from "../dit.ts";
import type { ScheduleName } from "../schedule.ts";
import { type SamplerName, SAMPLERS } from "../sampler.ts";
import type { TextDiTArchitecture } from "../text_dit.ts";
import { checkVocabulary, MAX_PROMPT_WORDS, type Vocabulary } from "../tokenizer.ts";
import {
  isPlainName,
  MAX_CARD_BYTES,
  MAX_MODEL_FILE_BYTES,
  MAX_NAME_LENGTH,
  oneLine,
  readBounded,
  resolveInside,
  verifyModelFile,
} from "./folder.ts";

/** One input or output of an ONNX file as the card records it; `"B"` marks the dynamic batch. */
export interface ValueSpec {
  /** The value's name in the graph. */
  name: string;
  /** Its element type, as onnxruntime's JavaScript API names it (`"float32"`, `"int64"`). */
  type: string;
  /** Its dimensions; a string is a symbolic (dynamic) one. */
  shape: (number | string)[];
}

/**
 * The ONNX files a card can name, by role: the denoising network in float32 (`dit`: the DiT, or the U-Net of
 * a card whose `architecture.type` is `"UNet"`) and with int8 matrix multiplies (`ditInt8`, optional), both
 * reading the weights in `files.ditWeights` where it names one; the VAE's two halves; the classifier the
 * quality is measured with.
 */
export type ModelFile = "dit" | "ditInt8" | "vaeEncoder" | "vaeDecoder" | "classifier";

/** What `card.json` holds (recipes/export.py writes it; recipes/evaluate.py adds `quality`). */
export interface ModelCard {
  /** The model's name (its folder under `models/`). */
  name: string;
  /** What the model draws, in a sentence. */
  description: string;
  /** File names by role: plain names of files in the card's folder; `dit` is required. */
  files: { dit: string } & Partial<Record<ModelFile, string>> & Record<string, string>;
  /** sha256 (hex) of every file in `files`, checked before a file is read. */
  sha256: Record<string, string>;
  /** Optional size in bytes of files in `files`, checked before hashing. */
  bytes?: Record<string, number>;
  /**
   * The network's configuration, with how it was trained and its size: a DiT's in the reference's terms
   * (camelCased), or a U-Net's ({@link UNetArchitecture}); `type` says which.
   */
  architecture: DiTCardArchitecture | UNetArchitecture;
  /** The class ids and names the DiT was trained on. */
  classes: { id: number; name: string }[];
  /** The label of the null class (classifier-free guidance's unconditional half). */
  nullClassId: number;
  /** The diffusion process the DiT was trained with. */
  diffusion: {
    schedule: ScheduleName;
    numTimesteps: number;
    prediction: "epsilon";
    variance: "learned-range";
  };
  /** The images the VAE encodes and decodes. */
  image?: { channels: number; height: number; width: number; range: [number, number]; layout: "NCHW" };
  /** The latent the DiT models; latents are VAE latents × scaleFactor. */
  latent: { channels: number; height: number; width: number; scaleFactor: number };
  /** The ONNX files' contract: opset, weight storage, and each file's inputs and outputs. */
  onnx: { opset: number } & Record<string, unknown>;
  /**
   * How this model samples by default (`deno task sample`, `dit.sample` without `sampler` or `steps`): chosen
   * from its measured quality against steps (`quality.bySampler`), with the reason in `chosenBy`.
   */
  sampling?: { sampler: SamplerName; steps: number; chosenBy?: string };
  /** Measured quality (recipes/evaluate.py). */
  quality?: Record<string, unknown>;
}

/** What a card records of every network besides its shape: how it was trained, its size and its cost. */
export interface TrainedNetwork {
  /** The probability with which a training label was replaced by the null class (for guidance). */
  classDropoutProb: number;
  /** Its parameter count. */
  parameters: number;
  /**
   * Gflops of one forward pass of one sample, counted as the paper counts them: a multiply-add is one flop
   * (recipes/gflops.py; DiT-XL/2 is 118.6 by this count). Recorded by the recipe since issue 15.
   */
  gflops?: number;
}

/** A DiT card's `architecture`: {@link DiTArchitecture} (its `block` defaults to `"adaLN-Zero"`). */
export type DiTCardArchitecture = DiTArchitecture & TrainedNetwork & { type: "DiT" };

/** A card whose network is a DiT. */
export type DiTCard = ModelCard & { architecture: DiTCardArchitecture };

/**
 * A text DiT card's `architecture` ({@link TextDiTArchitecture}): no classes; the probability with which a
 * training caption was replaced by the null caption instead of a label's.
 */
export type TextDiTCardArchitecture =
  & TextDiTArchitecture
  & Omit<TrainedNetwork, "classDropoutProb">
  & { type: "DiT"; captionDropoutProb: number };

/**
 * The card of a text-conditioned DiT (recipes/export.py `--text`): a {@link ModelCard} without classes, whose
 * architecture has a text encoder and whose files include the tokenizer's vocabulary (`files.vocabulary`, a
 * `{tokens, maxLength}` JSON file, read by {@link readVocabulary}).
 */
export type TextCard = Omit<ModelCard, "architecture" | "classes" | "nullClassId" | "files"> & {
  /** The network: a DiT with a text encoder. */
  architecture: TextDiTCardArchitecture;
  /** File names by role; `vocabulary` is the tokenizer's. */
  files: { dit: string; vocabulary: string } & Partial<Record<ModelFile, string>> & Record<string, string>;
  /** What the model reads and how (the tokenizer, the null caption), in words. */
  text?: Record<string, unknown>;
};

/**
 * Whether a card is a text-conditioned model's.
 *
 * @example
 * ```ts
 * import { isTextCard, readAnyCard } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(isTextCard(readAnyCard(new URL("../../models/digits", import.meta.url).pathname)), false);
 * assert.equal(isTextCard(readAnyCard(new URL("../../tests/fixtures/text-dit", import.meta.url).pathname)), true);
 * ```
 */
export function isTextCard(card: ModelCard | TextCard): card is TextCard {
  return (card.architecture as Partial<TextDiTCardArchitecture>).textEncoder !== undefined;
}

/**
 * `card` as a class-conditioned model's, for the tools that sample classes; a text model's is refused in one
 * line naming it.
 *
 * @example
 * ```ts
 * import { loadDiT, requireClassCard } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * await using dit = await loadDiT("digits");
 * assert.equal(requireClassCard(dit.card).classes.length, 10);
 * ```
 */
export function requireClassCard(card: ModelCard | TextCard): ModelCard {
  if (isTextCard(card)) {
    throw new Error(
      `${oneLine(card.name, 40)} is text-conditioned (it takes prompts); expected a class-conditioned model`,
    );
  }
  return card;
}

/**
 * A U-Net card's `architecture`: the convolutional backbone DiT replaced (ADM / latent diffusion's kind, made
 * by recipes/models.py's `UNet`), with the same contract as a DiT: x_t, t, y → [ε̂ | v]. The toolkit samples it
 * through ONNX Runtime (`loadDiT`); the glass box runs DiTs only.
 */
export interface UNetArchitecture extends TrainedNetwork {
  /** Which network: a U-Net. */
  type: "UNet";
  /** The latent's height and width, H = W. */
  inputSize: number;
  /** The latent's channels C. */
  inChannels: number;
  /** The channels of the first level. */
  modelChannels: number;
  /** Each level's channels over `modelChannels`; each level but the last halves the resolution. */
  channelMult: number[];
  /** Residual blocks a level on the way down (one more on the way up). */
  numResBlocks: number;
  /** The width of the timestep and label embeddings added in every residual block. */
  embDim: number;
  /** The width of the timestep's sinusoids, fed to the timestep MLP. */
  frequencyEmbeddingSize: number;
  /** Whether the output holds the variance interpolation v after ε̂ (2C channels rather than C). */
  learnSigma: boolean;
  /** The classes; label `numClasses` is the null class. */
  numClasses: number;
}

/**
 * The bounds {@link readCard} holds a card to, so that a hostile or mistaken card is refused with a named
 * field before anything is allocated from it. Each is far above what the toolkit's models need (digits:
 * 10 classes, an 8×8 latent; emoji: 9 classes, 16×16) and the reference's largest DiT (DiT-XL/2 at 512×512:
 * 1000 classes, a 64×64 latent, 1024 tokens, hidden size 1152, depth 28).
 */
export const CARD_LIMITS = {
  /** Classes the DiT was trained on. */
  classes: 10_000,
  /** Characters of a class name. */
  classNameLength: 100,
  /** Latent height and width (the DiT's inputSize). */
  latentSize: 256,
  /** Latent channels. */
  latentChannels: 64,
  /** Tokens a latent is cut into, (inputSize / patchSize)². */
  tokens: 4096,
  /** The DiT's hidden size, and its timestep frequency embedding size. */
  hiddenSize: 16_384,
  /** The DiT's blocks. */
  depth: 1024,
  /** The MLP's width over the hidden size. */
  mlpRatio: 64,
  /** A U-Net's levels (`channelMult` entries), and the multiple of `modelChannels` one may have. */
  unetLevels: 8,
  /** Gflops of one forward pass of one sample (DiT-XL/2 at 512×512: 525). */
  gflops: 1e6,
  /** Diffusion training timesteps. */
  numTimesteps: 10_000,
  /** The latent scale factor's range. */
  scaleFactor: [1e-3, 1e3] as const,
  /** Files named in `files`. */
  files: 64,
  /** Inputs or outputs of one ONNX file, and dimensions of one of them. */
  onnxValues: 16,
  /** Tokens of a text model's vocabulary (the emoji captions have about 4,000). */
  vocabulary: 1_000_000,
  /** Bytes of a text model's vocabulary file. */
  vocabularyBytes: 64 * 2 ** 20,
} as const;

// Characters that would break a one-line message or steer a terminal: C0/C1 controls, line separators.
const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/u;

/** The card files that are ONNX graphs, whose inputs and outputs the card's `onnx` section must record. */
const ONNX_FILES: readonly ModelFile[] = ["dit", "ditInt8", "vaeEncoder", "vaeDecoder", "classifier"];

/**
 * Reads and checks `<folder>/card.json`. The card is read only if it is a regular file inside the folder of
 * at most {@link MAX_CARD_BYTES} (a FIFO cannot hang the read, `/dev/zero` cannot fill memory), and every
 * field the toolkit uses is checked for type, range and form against {@link CARD_LIMITS}: the name and file
 * names are plain names ({@link isPlainName}), class names are short and free of control characters, sizes
 * are bounded, and each ONNX file the card names has its inputs and outputs in the `onnx` section.
 *
 * @throws an `Error` of one line naming the card and the field that is missing or wrong.
 *
 * @example
 * ```ts
 * import { readCard } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const card = readCard(new URL("../../models/digits", import.meta.url).pathname);
 * assert.equal(card.classes.length, card.architecture.numClasses);
 * ```
 */
export function readCard(folder: string): ModelCard {
  return readChecked(folder, "class") as ModelCard;
}

/**
 * Reads and checks `<folder>/card.json` as {@link readCard} does, for a text-conditioned model: its architecture
 * has a text encoder (`architecture.textEncoder`, within {@link CARD_LIMITS}), it has no classes, and its files
 * include the vocabulary.
 *
 * @throws as {@link readCard}; and naming `architecture.textEncoder` if the card is a class-conditioned model's.
 *
 * @example
 * ```ts
 * import { readTextCard } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const card = readTextCard(new URL("../../tests/fixtures/text-dit", import.meta.url).pathname);
 * assert.equal(card.files.vocabulary, "vocab.json");
 * assert.throws(() => readTextCard(new URL("../../models/digits", import.meta.url).pathname), /textEncoder is undefined/);
 * ```
 */
export function readTextCard(folder: string): TextCard {
  return readChecked(folder, "text") as TextCard;
}

/**
 * Reads and checks `<folder>/card.json`, a class-conditioned model's ({@link readCard}) or a text-conditioned
 * one's ({@link readTextCard}), whichever it is: what `loadDiT` reads. {@link isTextCard} tells them apart.
 *
 * @throws as {@link readCard}.
 *
 * @example
 * ```ts
 * import { isTextCard, readAnyCard } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const card = readAnyCard(new URL("../../tests/fixtures/text-dit", import.meta.url).pathname);
 * assert.ok(isTextCard(card) && card.architecture.textEncoder.maxLength > 0);
 * ```
 */
export function readAnyCard(folder: string): ModelCard | TextCard {
  return readChecked(folder, "any");
}

/**
 * The vocabulary of a text model's folder (`files.vocabulary`), read only if it is a regular file inside the
 * folder whose sha256 is the card's, of at most {@link CARD_LIMITS}' `vocabularyBytes`, and checked
 * (`checkVocabulary`) to be the one the model reads: `vocabSize` tokens and its `maxLength`.
 *
 * @throws a one-line `Error` naming the file and what is wrong.
 *
 * @example
 * ```ts
 * import { readTextCard, readVocabulary, tokenize } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dir = new URL("../../tests/fixtures/text-dit", import.meta.url).pathname;
 * const vocabulary = readVocabulary(dir, readTextCard(dir));
 * assert.deepEqual(tokenize(vocabulary, "hot pepper").words, ["hot", "pepper"]);
 * ```
 */
export function readVocabulary(folder: string, card: TextCard): Vocabulary {
  const name = card.files.vocabulary;
  const path = verifyModelFile(folder, card, name, "the vocabulary");
  let vocabulary: Vocabulary;
  try {
    const bytes = readBounded(path, CARD_LIMITS.vocabularyBytes, "the vocabulary", `${folder}/${name}`);
    vocabulary = checkVocabulary(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)));
  } catch (error) {
    const message = oneLine((error as Error).message);
    throw new Error(message.startsWith(folder) ? message : `${folder}/${name}: ${message}`);
  }
  const { vocabSize, maxLength } = card.architecture.textEncoder;
  if (vocabulary.tokens.length !== vocabSize || vocabulary.maxLength !== maxLength) {
    throw new Error(
      `${folder}/${name}: ${vocabulary.tokens.length} tokens of at most ${vocabulary.maxLength} words; the card's text encoder reads ${vocabSize} and ${maxLength} (architecture.textEncoder)`,
    );
  }
  return vocabulary;
}

/** The card of `folder`, checked as a class-conditioned, a text-conditioned or either model's. */
function readChecked(folder: string, kind: "class" | "text" | "any"): ModelCard | TextCard {
  const path = `${folder}/card.json`;
  const file = resolveInside(folder, "card.json", "the model card", MAX_CARD_BYTES);
  let card: ModelCard;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(
      readBounded(file.path, MAX_CARD_BYTES, "the model card", path),
    );
    card = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(
      message.startsWith(path) ? message : `${path}: cannot read the model card (${oneLine(message)})`,
    );
  }
  checkCard(card, path, kind);
  return card;
}

/**
 * Reads and checks `<folder>/card.json` as {@link readCard} does, and requires its network to be a DiT (of any
 * block design): what the glass box and the tools that read a DiT's shape take.
 *
 * @throws as {@link readCard}; and an `Error` of one line naming the card's `architecture.type` if it is not
 *   `"DiT"`.
 *
 * @example
 * ```ts
 * import { readDiTCard } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const card = readDiTCard(new URL("../../models/digits", import.meta.url).pathname);
 * assert.equal(card.architecture.hiddenSize % card.architecture.numHeads, 0);
 * ```
 */
export function readDiTCard(folder: string): DiTCard {
  const card = readCard(folder);
  if (card.architecture.type !== "DiT") {
    throw new Error(
      `${folder}/card.json: architecture.type is "${card.architecture.type}"; expected "DiT" here (the glass box and the DiT tools read a DiT's shape; sample any network with loadDiT)`,
    );
  }
  return card as DiTCard;
}

/** Each check of {@link checkCard}, failing with the card's path, the field, what it is and what it should be. */
function checks(path: string) {
  const fail = (field: string, expected: string, got: unknown): never => {
    const shown = got === undefined ? "undefined" : oneLine(JSON.stringify(got) ?? String(got), 80);
    throw new Error(`${path}: ${field} is ${shown}; expected ${expected}`);
  };
  const object = (field: string, value: unknown): Record<string, unknown> => {
    if (value === null || typeof value !== "object" || Array.isArray(value)) fail(field, "an object", value);
    return value as Record<string, unknown>;
  };
  const integer = (field: string, value: unknown, min: number, max: number): number => {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      fail(field, min === 1 ? `a positive integer up to ${max}` : `an integer from ${min} to ${max}`, value);
    }
    return value as number;
  };
  const number = (field: string, value: unknown, min: number, max: number): number => {
    if (typeof value !== "number" || !(value >= min && value <= max)) {
      fail(field, `a number from ${min} to ${max}`, value);
    }
    return value as number;
  };
  const oneOf = (field: string, value: unknown, allowed: readonly unknown[]) => {
    if (!allowed.includes(value)) fail(field, allowed.map((v) => JSON.stringify(v)).join(" or "), value);
  };
  const plainName = (field: string, value: unknown) => {
    if (!isPlainName(value)) {
      fail(field, `a plain name (letters, digits, - _ ., not starting with ., ≤ ${MAX_NAME_LENGTH})`, value);
    }
  };
  const text = (field: string, value: unknown, max: number) => {
    if (
      typeof value !== "string" || value.length === 0 || value.length > max || CONTROL.test(value)
    ) {
      fail(field, `a string of 1 to ${max} characters without control characters`, value);
    }
  };
  const array = (field: string, value: unknown, max: number): unknown[] => {
    if (!Array.isArray(value) || value.length > max) fail(field, `an array of at most ${max} entries`, value);
    return value as unknown[];
  };
  return { fail, object, integer, number, oneOf, plainName, text, array };
}

/** The schema of a card: every field the toolkit reads, by type, range and form. */
function checkCard(card: ModelCard, path: string, kind: "class" | "text" | "any"): void {
  const { fail, object, integer, number, oneOf, plainName, text, array } = checks(path);
  const L = CARD_LIMITS;
  object("the card", card);
  plainName("name", card.name);
  if (card.description !== undefined && typeof card.description !== "string") {
    fail("description", "a string", card.description);
  }

  const files = object("files", card.files);
  if (Object.keys(files).length > L.files) {
    fail("files", `at most ${L.files} entries`, Object.keys(files).length);
  }
  if (files.dit === undefined) {
    fail("files.dit", "the ONNX file name of the denoising network (the DiT, or the U-Net)", undefined);
  }
  for (const [role, name] of Object.entries(files)) plainName(`files.${role}`, name);
  const sha256 = object("sha256", card.sha256);
  for (const [name, hash] of Object.entries(sha256)) {
    if (typeof hash !== "string" || !/^[0-9a-f]{64}$/.test(hash)) {
      fail(`sha256["${oneLine(name, 60)}"]`, "64 lowercase hex digits", hash);
    }
  }
  if (card.bytes !== undefined) {
    for (const [name, size] of Object.entries(object("bytes", card.bytes))) {
      integer(`bytes["${oneLine(name, 60)}"]`, size, 0, MAX_MODEL_FILE_BYTES);
    }
  }

  const a = object("architecture", card.architecture) as unknown as ModelCard["architecture"];
  const textModel = (a as Partial<TextDiTCardArchitecture>).textEncoder !== undefined;
  if (kind === "class" && textModel) {
    fail(
      "architecture.textEncoder",
      "none here: this reads class-conditioned models, and this one is text-conditioned (loadDiT and loadTextGlassBox read it)",
      "a text encoder",
    );
  }
  if (kind === "text" && !textModel) {
    fail(
      "architecture.textEncoder",
      "a text encoder: a text-conditioned model's card (this one has classes)",
      undefined,
    );
  }
  oneOf("architecture.type", a.type, textModel ? ["DiT"] : ["DiT", "UNet"]);
  const inputSize = integer("architecture.inputSize", a.inputSize, 1, L.latentSize);
  integer("architecture.inChannels", a.inChannels, 1, L.latentChannels);
  if (a.type === "DiT") {
    const p = integer("architecture.patchSize", a.patchSize, 1, inputSize);
    if (inputSize % p !== 0) fail("architecture.patchSize", `a divisor of inputSize ${inputSize}`, p);
    if ((inputSize / p) ** 2 > L.tokens) {
      fail("architecture.patchSize", `at least ${inputSize / Math.sqrt(L.tokens)} (≤ ${L.tokens} tokens)`, p);
    }
    const D = integer("architecture.hiddenSize", a.hiddenSize, 1, L.hiddenSize);
    integer("architecture.depth", a.depth, 1, L.depth);
    const heads = integer("architecture.numHeads", a.numHeads, 1, D);
    if (D % heads !== 0) fail("architecture.numHeads", `a divisor of hiddenSize ${D}`, heads);
    number("architecture.mlpRatio", a.mlpRatio, 1 / D, L.mlpRatio);
    if (a.block !== undefined) {
      oneOf("architecture.block", a.block, textModel ? ["adaLN-Zero", "adaLN"] : BLOCK_DESIGNS);
    }
  } else {
    integer("architecture.modelChannels", a.modelChannels, 1, L.hiddenSize);
    const levels = array("architecture.channelMult", a.channelMult, L.unetLevels);
    if (levels.length === 0) fail("architecture.channelMult", "at least one level", levels);
    levels.forEach((m, i) => integer(`architecture.channelMult[${i}]`, m, 1, L.mlpRatio));
    if (inputSize % 2 ** (levels.length - 1) !== 0) {
      fail(
        "architecture.inputSize",
        `a multiple of ${2 ** (levels.length - 1)} (halved between levels)`,
        inputSize,
      );
    }
    integer("architecture.numResBlocks", a.numResBlocks, 1, L.depth);
    integer("architecture.embDim", a.embDim, 1, L.hiddenSize);
  }
  // the sampler reads the learned variance from the second half of the output channels
  oneOf("architecture.learnSigma", a.learnSigma, [true]);
  integer("architecture.frequencyEmbeddingSize", a.frequencyEmbeddingSize, 2, L.hiddenSize);
  if (a.gflops !== undefined) number("architecture.gflops", a.gflops, 0, L.gflops);
  if (textModel) {
    checkTextModel(card as unknown as TextCard, path);
  } else {
    checkClasses(card, path);
  }

  const d = object("diffusion", card.diffusion);
  oneOf("diffusion.schedule", d.schedule, ["linear", "squaredcos_cap_v2"]);
  integer("diffusion.numTimesteps", d.numTimesteps, 1, L.numTimesteps);
  oneOf("diffusion.prediction", d.prediction, ["epsilon"]);
  oneOf("diffusion.variance", d.variance, ["learned-range"]);

  const l = object("latent", card.latent);
  if (l.channels !== a.inChannels || l.height !== inputSize || l.width !== inputSize) {
    fail("latent", `channels ${a.inChannels}, height and width ${inputSize} (the network's input)`, {
      channels: l.channels,
      height: l.height,
      width: l.width,
    });
  }
  number("latent.scaleFactor", l.scaleFactor, ...L.scaleFactor);

  if (card.sampling !== undefined) {
    const s = object("sampling", card.sampling);
    oneOf("sampling.sampler", s.sampler, SAMPLERS);
    integer("sampling.steps", s.steps, s.sampler === "ddpm" ? 2 : 1, d.numTimesteps as number);
  }

  const onnx = object("onnx", card.onnx);
  for (const role of ONNX_FILES) {
    const name = files[role] as string | undefined;
    if (name === undefined) continue;
    const spec = object(`onnx["${name}"] (the inputs and outputs of files.${role})`, onnx[name]);
    for (const kind of ["inputs", "outputs"] as const) {
      const field = `onnx["${name}"].${kind}`;
      array(field, spec[kind], L.onnxValues).forEach((v, i) => {
        const { name: value, type, shape } = object(`${field}[${i}]`, v);
        text(`${field}[${i}].name`, value, MAX_NAME_LENGTH);
        text(`${field}[${i}].type`, type, 16);
        array(`${field}[${i}].shape`, shape, L.onnxValues).forEach((dim, j) => {
          if (typeof dim !== "string") integer(`${field}[${i}].shape[${j}]`, dim, 0, 2 ** 31 - 1);
        });
      });
    }
  }
}

/** A text model's part of the schema: its text encoder, no classes, a vocabulary file. */
function checkTextModel(card: TextCard, path: string): void {
  const { fail, object, integer, number, oneOf, plainName } = checks(path);
  const L = CARD_LIMITS;
  const a = card.architecture;
  const e = object("architecture.textEncoder", a.textEncoder);
  integer("architecture.textEncoder.vocabSize", e.vocabSize, 4, L.vocabulary); // [pad] [unk] [null] and a word
  integer("architecture.textEncoder.maxLength", e.maxLength, 1, MAX_PROMPT_WORDS);
  const width = integer("architecture.textEncoder.width", e.width, 1, L.hiddenSize);
  integer("architecture.textEncoder.depth", e.depth, 1, L.depth);
  const heads = integer("architecture.textEncoder.numHeads", e.numHeads, 1, width);
  if (width % heads !== 0) {
    fail("architecture.textEncoder.numHeads", `a divisor of its width ${width}`, heads);
  }
  number("architecture.textEncoder.mlpRatio", e.mlpRatio, 1 / width, L.mlpRatio);
  oneOf("architecture.pooledText", a.pooledText, [true, false]);
  number("architecture.captionDropoutProb", a.captionDropoutProb, 0, 1);
  for (const field of ["numClasses", "classDropoutProb"]) {
    const value = (a as unknown as Record<string, unknown>)[field];
    if (value !== undefined) fail(`architecture.${field}`, "none: a text model has no classes", value);
  }
  for (const field of ["classes", "nullClassId"] as const) {
    const value = (card as unknown as Record<string, unknown>)[field];
    if (value !== undefined) fail(field, "none: a text model has no classes", value);
  }
  if (card.files.vocabulary === undefined) {
    fail("files.vocabulary", "the tokenizer's vocabulary file (a text model's)", undefined);
  }
  plainName("files.vocabulary", card.files.vocabulary);
}

/** A class-conditioned model's part of the schema: its classes and the null class. */
function checkClasses(card: ModelCard, path: string): void {
  const { fail, object, integer, text, array } = checks(path);
  const L = CARD_LIMITS;
  const numClasses = integer("architecture.numClasses", card.architecture.numClasses, 1, L.classes);
  const classes = array("classes", card.classes, L.classes);
  if (classes.length !== numClasses) {
    fail("classes", `${numClasses} classes (architecture.numClasses)`, classes.length);
  }
  const names = new Set<string>();
  classes.forEach((c, i) => {
    const { id, name } = object(`classes[${i}]`, c);
    if (id !== i) fail(`classes[${i}].id`, `${i}`, id);
    text(`classes[${i}].name`, name, L.classNameLength);
    if (names.has(name as string)) fail(`classes[${i}].name`, "a name no other class has", name);
    names.add(name as string);
  });
  if (card.nullClassId !== numClasses) {
    fail("nullClassId", `${numClasses} (the row after the classes)`, card.nullClassId);
  }
}

/** One input or output as an ONNX Runtime session describes it. */
export interface ValueMetadata {
  /** Its name in the graph. */
  name: string;
  /** Whether it is a tensor (all of the toolkit's are). */
  isTensor: boolean;
  /** Its element type, e.g. `"float32"`. */
  type?: string;
  /** Its dimensions; a string is a symbolic one. */
  shape?: readonly (number | string)[];
}

/** The parts of an ONNX Runtime session that {@link checkSession} reads. */
export interface SessionMetadata {
  /** The session's inputs, in order. */
  inputMetadata: readonly ValueMetadata[];
  /** The session's outputs, in order. */
  outputMetadata: readonly ValueMetadata[];
}

/**
 * Checks a session's inputs and outputs against what the card records for that file: names, types and
 * shapes, with any symbolic dimension standing for the batch.
 *
 * @throws an `Error` naming the file, the value and what differs.
 */
export function checkSession(card: ModelCard | TextCard, file: ModelFile, session: SessionMetadata): void {
  const filename = card.files[file];
  const spec = (card.onnx as Record<string, { inputs: ValueSpec[]; outputs: ValueSpec[] }>)[filename ?? ""];
  if (!filename || !spec) {
    throw new Error(`card ${card.name}: onnx["${filename}"] is missing; expected its inputs and outputs`);
  }
  for (
    const [kind, expected, actual] of [
      ["input", spec.inputs, session.inputMetadata],
      ["output", spec.outputs, session.outputMetadata],
    ] as const
  ) {
    const names = actual.map((v) => v.name).join(", ");
    if (names !== expected.map((v) => v.name).join(", ")) {
      throw new Error(
        `${filename}: ${kind}s are [${names}]; the card expects [${expected.map((v) => v.name).join(", ")}]`,
      );
    }
    for (const [i, want] of expected.entries()) {
      const got = actual[i];
      const shape = (got.shape ?? []).map((d) => (typeof d === "string" ? "B" : d));
      const wantShape = want.shape.map((d) => (typeof d === "string" ? "B" : d));
      if (!got.isTensor || got.type !== want.type || shape.join() !== wantShape.join()) {
        throw new Error(
          `${filename}: ${kind} ${want.name} is ${got.type} [${shape}]; the card expects ${want.type} [${wantShape}]`,
        );
      }
    }
  }
}
