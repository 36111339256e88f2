/**
 * The glass box: a shipped DiT run in plain TypeScript, by the parts of `dit.ts` (`embed`, `ditBlock`,
 * `finalLayer`, `ditForward`) over the weights read out of its `dit.onnx`, keeping every intermediate so you
 * can look inside. It is a `DiTModel`, so the sampler runs on it as on ONNX Runtime; it is slower than ONNX
 * Runtime, and here to be read and looked into.
 *
 * @module
 */
import { ditForward, type DiTIntermediates, type DiTParameters, ditParameters } from "../dit.ts";
import type { DiTModel } from "../sampler.ts";
import type { Tensor } from "../tensor.ts";
import { type DiTCard, readDiTCard } from "./card.ts";
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
