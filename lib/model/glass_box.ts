/**
 * The glass box: a shipped DiT run in plain TypeScript, by the parts of `dit.ts` (`embed`, `ditBlock`,
 * `finalLayer`, `ditForward`) over the weights read out of its `dit.onnx`, keeping every intermediate so you
 * can look inside; a text-conditioned DiT by those of `text_dit.ts` (`textEncoder`, `captionEmbedder`,
 * `ditBlock` with the words, `textDiTForward`), with its tokenizer. It is a `DiTModel`, so the sampler runs on it as on ONNX Runtime; it is slower than ONNX
 * Runtime, and here to be read and looked into.
 *
 * @module
 */
import { ditForward, type DiTIntermediates, type DiTParameters, ditParameters } from "../dit.ts";
import type { DiTModel } from "../sampler.ts";
import type { Tensor } from "../tensor.ts";
import {
  textDiTForward,
  type TextDiTIntermediates,
  type TextDiTModel,
  type TextDiTParameters,
  textDiTParameters,
} from "../text_dit.ts";
import { nullCaption, tokenize, type TokenizedPrompt, type Vocabulary } from "../tokenizer.ts";
import { type DiTCard, readDiTCard, readTextCard, readVocabulary, type TextCard } from "./card.ts";
import { verifyOnnxFile } from "./folder.ts";
import { readOnnxWeights } from "./weights.ts";

/** A model ready to run in the glass box: its card, its weights, and its forward pass. */
export interface GlassBox extends DiTModel {
  /** The model's card (a DiT's). */
  readonly card: DiTCard;
  /** Its parameters by PyTorch name (`blocks.3.attn.qkv.weight`), read from its `dit.onnx`. */
  readonly weights: ReadonlyMap<string, Tensor>;
  /** The same parameters, checked against the card and arranged as the reference's modules. */
  readonly parameters: DiTParameters;
  /** The output [ε̂ | v], `[B, 2C, H, W]`: what the sampler needs. */
  forward(x: Tensor, t: ArrayLike<number>, y: ArrayLike<number>): Tensor;
  /** {@link ditForward}: the output and every intermediate. */
  lookInside(x: Tensor, t: ArrayLike<number>, y: ArrayLike<number>): DiTIntermediates;
}

/**
 * Loads a model folder (its `card.json` and the DiT file the card names) into the glass box.
 *
 * The folder is a sandbox, as for `loadDiT`: the card is schema-checked and must be a DiT's ({@link readDiTCard}), and the DiT file
 * and the weights file it names must be regular files inside the folder whose sha256 is the card's
 * ({@link verifyOnnxFile}) before a byte of them is read. The weights are then checked against the card's
 * architecture once (`ditParameters`).
 *
 * @param modelDir a folder like `models/digits`, whose card is a DiT's (of any block design).
 * @throws a one-line `Error` if the card or the ONNX file cannot be read, is outside the folder, differs
 *   from the card's hash or is invalid, if the card's network is not a DiT, or if a weight does not fit the
 *   card.
 *
 * @example The conditioning c is the sum of the timestep and label embeddings
 * ```ts
 * import { loadGlassBox, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const box = loadGlassBox(new URL("../../models/digits", import.meta.url).pathname);
 * const x = new SeededRandom(1).randn([2, 4, 8, 8]);
 * const { yEmbedding, out } = box.lookInside(x, [500, 500], [7, box.card.nullClassId]);
 * assert.deepEqual(yEmbedding.select(1), box.parameters.yEmbedder.embeddingTable.select(10)); // the null row
 * assert.deepEqual(box.forward(x, [500, 500], [7, 10]), out);
 * ```
 */
export function loadGlassBox(modelDir: string): GlassBox {
  const card = readDiTCard(modelDir);
  const weights = readOnnxWeights(verifyOnnxFile(modelDir, card, card.files.dit));
  const parameters = ditParameters(weights, card.architecture);
  return {
    card,
    weights,
    parameters,
    forward: (x, t, y) => ditForward(parameters, x, t, y).out,
    lookInside: (x, t, y) => ditForward(parameters, x, t, y),
  };
}

/** A text-conditioned model ready to run in the glass box: its card, vocabulary, weights and forward pass. */
export interface TextGlassBox extends TextDiTModel {
  /** The model's card (a text DiT's). */
  readonly card: TextCard;
  /** The tokenizer's vocabulary (the model folder's `files.vocabulary`). */
  readonly vocabulary: Vocabulary;
  /** Its parameters by PyTorch name (`text_encoder.layers.0.attn.qkv.weight`), read from its `dit.onnx`. */
  readonly weights: ReadonlyMap<string, Tensor>;
  /** The same parameters, checked against the card and arranged as the recipe's modules. */
  readonly parameters: TextDiTParameters;
  /** A prompt as this model's word ids (`tokenize` with its vocabulary; unknown words listed in `unknown`). */
  tokenize(prompt: string): TokenizedPrompt;
  /** The null caption's ids: what the unconditional half of guidance reads. */
  readonly nullCaption: readonly number[];
  /** The output [ε̂ | v], `[B, 2C, H, W]`, for one row of word ids per sample. */
  forward(x: Tensor, t: ArrayLike<number>, ids: readonly (readonly number[])[]): Tensor;
  /**
   * {@link textDiTForward}: the output and every intermediate, per-word attention maps included. Each prompt is
   * a string (tokenized here) or a row of word ids.
   */
  lookInside(
    x: Tensor,
    t: ArrayLike<number>,
    prompts: readonly (string | readonly number[])[],
  ): TextDiTIntermediates;
}

/**
 * Loads a text-conditioned model folder (its `card.json`, the DiT file and the vocabulary the card names) into
 * the glass box, with the same sandbox as {@link loadGlassBox}: the card is schema-checked and must be a text
 * DiT's (`readTextCard`), and every file must be a regular file inside the folder whose sha256 is the card's.
 *
 * @param modelDir a folder like `models/emoji-text`.
 * @throws a one-line `Error` if a file cannot be read, is outside the folder, differs from the card's hash or is
 *   invalid, if the card is not a text model's, or if a weight or the vocabulary does not fit the card.
 *
 * @example Where do the patches look? The per-word maps of the tests' tiny model
 * ```ts
 * import { loadTextGlassBox, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const box = loadTextGlassBox(new URL("../../tests/fixtures/text-dit", import.meta.url).pathname);
 * const { channels, height, width } = box.card.latent;
 * const x = new SeededRandom(1).randn([2, channels, height, width]);
 * const inside = box.lookInside(x, [500, 500], ["hot pepper", box.nullCaption]);
 * assert.deepEqual(inside.text.mask.select(0).data.slice(0, 3), Float32Array.of(1, 1, 0)); // two words, then [pad]
 * assert.deepEqual(inside.wordMaps.shape.slice(0, 2), [2, box.vocabulary.maxLength]); // [B, L, h, w]
 * assert.deepEqual(box.forward(x, [500, 500], [box.tokenize("hot pepper").ids, box.nullCaption]), inside.out);
 * ```
 */
export function loadTextGlassBox(modelDir: string): TextGlassBox {
  const card = readTextCard(modelDir);
  const vocabulary = readVocabulary(modelDir, card);
  const weights = readOnnxWeights(verifyOnnxFile(modelDir, card, card.files.dit));
  const parameters = textDiTParameters(weights, card.architecture);
  const ids = (prompt: string | readonly number[]) =>
    typeof prompt === "string" ? tokenize(vocabulary, prompt).ids : prompt;
  return {
    card,
    vocabulary,
    weights,
    parameters,
    nullCaption: nullCaption(vocabulary).ids,
    tokenize: (prompt) => tokenize(vocabulary, prompt),
    forward: (x, t, rows) => textDiTForward(parameters, x, t, rows).out,
    lookInside: (x, t, prompts) => textDiTForward(parameters, x, t, prompts.map(ids)),
  };
}
