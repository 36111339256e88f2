/**
 * A DiT conditioned on words: PixArt-α's design (Chen et al. 2023) at our scale, as readable parts, in the
 * shape of the recipe's `TextDiT` (models/recipes/models.py):
 *
 * ```
 * words = text_encoder(ids)                         [B, L, E]    a small transformer over the prompt's words
 * w = y_embedder(words),  mask = ids ≠ [pad]        [B, L, D]    each word at the DiT's width
 * x = x_embedder(x) + pos_embed                     [B, T, D]
 * c = t_embedder(t) + mean of w over the mask       [B, D]       (pooledText; else t_embedder(t) alone)
 * x = block(x, c, w, mask), for each block          [B, T, D]    adaLN-Zero, with cross-attention to w
 * x = final_layer(x, c)                             [B, T, p·p·2C]
 * x = unpatchify(x)                                 [B, 2C, H, W]
 * ```
 *
 * The blocks are `ditBlock`'s adaLN-Zero blocks given the words: between self-attention and the MLP, every
 * image token (a patch) asks the words what to draw, through `crossAttention`, and the `[pad]` after a short
 * prompt is masked out. Those cross-attention probabilities are the pictures this model is for: for each word,
 * how much each patch listens to it ({@link wordAttentionMaps}).
 *
 * The text encoder is trained from scratch with the DiT, on the emoji's names and keywords: a word embedding
 * table over the vocabulary (`lib/tokenizer.ts`), learned positions, a few pre-LayerNorm transformer layers whose
 * self-attention also masks `[pad]`. The null caption of classifier-free guidance is `[null]` then `[pad]`: the
 * unconditional half of a guided step reads it like any prompt.
 *
 * Pure maths, like every concept: no file is read here (`loadTextGlassBox` reads a model folder into these parts).
 *
 * @module
 */
import { attention } from "./attention.ts";
import { layerNorm } from "./adaln.ts";
import {
  type BackboneArchitecture,
  type BackboneParameters,
  backboneParameters,
  ditBlock,
  type DiTBlockIntermediates,
  embedPatchesAndTimestep,
  finalLayer,
  type LinearParameters,
  weightReader,
  type Words,
} from "./dit.ts";
import { describeValue } from "./checks.ts";
import { gelu, linear } from "./nn.ts";
import { unpatchify } from "./patchify.ts";
import type { DiTModel } from "./sampler.ts";
import { add, dims, Tensor } from "./tensor.ts";

/** The text encoder's configuration, as a text DiT card's `architecture.textEncoder` holds it. */
export interface TextEncoderArchitecture {
  /** Tokens in the vocabulary, the special ones included (the rows of the word embedding table). */
  vocabSize: number;
  /** Word positions L: every prompt is padded to this many ids. */
  maxLength: number;
  /** The encoder's width E. */
  width: number;
  /** Its transformer layers. */
  depth: number;
  /** Attention heads per layer; must divide the width. */
  numHeads: number;
  /** The MLP's hidden width over E. */
  mlpRatio: number;
}

/**
 * A text DiT's configuration: a DiT's (without classes) plus its text encoder, and whether the mean of the
 * prompt's words joins the timestep in c.
 */
export interface TextDiTArchitecture extends BackboneArchitecture {
  /** The text encoder. */
  textEncoder: TextEncoderArchitecture;
  /** Whether c = t-embedding + the mean of the words (else the t-embedding alone). */
  pooledText: boolean;
}

/** One text encoder layer's parameters, named as the recipe's `TextEncoderLayer` (timm's names inside). */
export interface TextEncoderLayerParameters {
  /** Self-attention over the words: `qkv` `[3E, E]`, `proj` `[E, E]`. */
  attn: { qkv: LinearParameters; proj: LinearParameters };
  /** The MLP: `fc1` `[mlpRatio·E, E]`, GELU (tanh), `fc2` `[E, mlpRatio·E]`. */
  mlp: { fc1: LinearParameters; fc2: LinearParameters };
}

/** The text encoder's parameters (`text_encoder.*`). */
export interface TextEncoderParameters {
  /** `token_embedding.weight`: one row of E features per token of the vocabulary, `[vocabSize, E]`. */
  tokenEmbedding: Tensor;
  /** `positional_embedding` without its batch axis: one learned row per word position, `[L, E]`. */
  positionalEmbedding: Tensor;
  /** The layers, in order. */
  layers: TextEncoderLayerParameters[];
}

/** A text DiT's parameters, checked against its architecture and arranged as the recipe's modules. */
export interface TextDiTParameters extends BackboneParameters {
  /** The configuration they were checked against. */
  architecture: TextDiTArchitecture;
  /** `text_encoder`. */
  textEncoder: TextEncoderParameters;
  /** `y_embedder`: PixArt-α's caption projection `y_proj`, an MLP from E to D, `fc1` `[D, E]`, `fc2` `[D, D]`. */
  yEmbedder: { yProj: { fc1: LinearParameters; fc2: LinearParameters } };
}

/**
 * Checks a text DiT's weights against its architecture and arranges them as the recipe's modules, looked up by
 * their PyTorch names (`text_encoder.layers.1.attn.qkv.weight`, `y_embedder.y_proj.fc1.bias`,
 * `blocks.3.cross_attn.kv.weight`), as `readOnnxWeights` returns them from a text model's `dit.onnx`.
 *
 * @param weights parameters by PyTorch name.
 * @param architecture the card's `architecture`; its `block` must be an adaLN design (the recipe's is
 *   `"adaLN-Zero"`).
 * @throws naming the weight, if one is missing or has a shape the architecture does not imply, or if the stored
 *   `pos_embed` is not `sincosPosEmbed2d`'s table; if the design is not an adaLN one.
 *
 * @example The tiny text model of the tests
 * ```ts
 * import { loadTextGlassBox, textDiTParameters } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const { card, weights } = loadTextGlassBox(new URL("../tests/fixtures/text-dit", import.meta.url).pathname);
 * const dit = textDiTParameters(weights, card.architecture);
 * const { vocabSize, width } = card.architecture.textEncoder;
 * assert.deepEqual(dit.textEncoder.tokenEmbedding.shape, [vocabSize, width]);
 * assert.ok(dit.blocks.every((block) => block.crossAttn)); // every block reads the words
 * ```
 */
export function textDiTParameters(
  weights: ReadonlyMap<string, Tensor>,
  architecture: TextDiTArchitecture,
): TextDiTParameters {
  const fn = "textDiTParameters";
  const backbone = backboneParameters(weights, architecture, fn, true);
  const { param, dense } = weightReader(weights, fn);
  const { hiddenSize: D, textEncoder: e } = architecture;
  const E = e.width, hidden = Math.trunc(E * e.mlpRatio);
  const layer = (i: number): TextEncoderLayerParameters => {
    const name = `text_encoder.layers.${i}`;
    return {
      attn: { qkv: dense(`${name}.attn.qkv`, 3 * E, E), proj: dense(`${name}.attn.proj`, E, E) },
      mlp: { fc1: dense(`${name}.mlp.fc1`, hidden, E), fc2: dense(`${name}.mlp.fc2`, E, hidden) },
    };
  };
  const positional = param("text_encoder.positional_embedding", [1, e.maxLength, E]);
  return {
    architecture,
    ...backbone,
    textEncoder: {
      tokenEmbedding: param("text_encoder.token_embedding.weight", [e.vocabSize, E]),
      positionalEmbedding: positional.reshape([e.maxLength, E]),
      layers: Array.from({ length: e.depth }, (_, i) => layer(i)),
    },
    yEmbedder: {
      yProj: { fc1: dense("y_embedder.y_proj.fc1", D, E), fc2: dense("y_embedder.y_proj.fc2", D, D) },
    },
  };
}

/** What {@link textEncoder} computed. */
export interface TextEncoderIntermediates {
  /** 1 where a position holds a word (or `[null]`), 0 where it holds `[pad]`, `[B, L]`. */
  mask: Tensor;
  /** Each id's row of the word embedding table, `[B, L, E]`. */
  tokenEmbeddings: Tensor;
  /** The first layer's input: the embeddings plus the learned positions, `[B, L, E]`. */
  tokens: Tensor;
  /** What each layer computed: its self-attention probabilities `[B, heads, L, L]` and its output `[B, L, E]`. */
  layers: { attention: Tensor; output: Tensor }[];
  /** The encoder's output, the last layer's output after a LayerNorm, `[B, L, E]`. */
  output: Tensor;
}

/**
 * The text encoder on word ids, the recipe's `TextEncoder.forward`:
 *
 * ```
 * x = token_embedding(ids) + positional_embedding                  [B, L, E]
 * x = x + Attention(norm1(x), mask);  x = x + MLP(norm2(x))         each layer
 * x = norm_final(x)                                                [B, L, E]
 * ```
 *
 * The mask leaves `[pad]` (id 0) out as a key, so the words never read the padding; the padded positions still
 * compute (their queries read the words), and the DiT never reads them.
 *
 * @param encoder the parameters ({@link TextDiTParameters}' `textEncoder`).
 * @param ids one row of L word ids per sample (`tokenize`'s `ids`), each id below the vocabulary's size, the
 *   first one not `[pad]`.
 * @param numHeads the encoder's attention heads.
 * @throws naming the row and position of an id out of range, a row of the wrong length or one that starts
 *   with `[pad]`.
 *
 * @example Two prompts of the tests' tiny model: words, then [pad]
 * ```ts
 * import { loadTextGlassBox, textEncoder } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const box = loadTextGlassBox(new URL("../tests/fixtures/text-dit", import.meta.url).pathname);
 * const ids = [box.tokenize("hot pepper").ids, box.tokenize("penguin").ids];
 * const { mask, layers } = textEncoder(box.parameters.textEncoder, ids, box.card.architecture.textEncoder.numHeads);
 * assert.deepEqual([...mask.data].slice(0, 3), [1, 1, 0]);
 * assert.equal(layers[0].attention.at(1, 0, 0, 1), 0); // "penguin" does not read the [pad] after it
 * ```
 */
export function textEncoder(
  encoder: TextEncoderParameters,
  ids: readonly (readonly number[])[],
  numHeads: number,
): TextEncoderIntermediates {
  const [vocabSize, E] = encoder.tokenEmbedding.shape, [L] = encoder.positionalEmbedding.shape;
  const mask = checkIds(ids, vocabSize, L, "textEncoder");
  const B = ids.length;
  const embeddings = new Float32Array(B * L * E);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      embeddings.set(encoder.tokenEmbedding.select(ids[b][l]).data, (b * L + l) * E);
    }
  }
  const tokenEmbeddings = new Tensor(embeddings, [B, L, E]); // token_embedding(ids)
  const tokens = add(tokenEmbeddings, encoder.positionalEmbedding); // + positional_embedding: [B, L, E]
  const layers: TextEncoderIntermediates["layers"] = [];
  let x = tokens;
  for (const { attn, mlp } of encoder.layers) {
    const a = attention(
      layerNorm(x),
      attn.qkv.weight,
      attn.qkv.bias,
      attn.proj.weight,
      attn.proj.bias,
      numHeads,
      mask,
    );
    x = add(x, a.output); // [B, L, E]
    x = add(
      x,
      linear(gelu(linear(layerNorm(x), mlp.fc1.weight, mlp.fc1.bias)), mlp.fc2.weight, mlp.fc2.bias),
    );
    layers.push({ attention: a.probabilities, output: x });
  }
  return { mask, tokenEmbeddings, tokens, layers, output: layerNorm(x) };
}

/**
 * `y_embedder`, PixArt-α's caption projection: each word of the encoder's output to the DiT's width, by an MLP
 * (`y_proj`: Linear, tanh-GELU, Linear). `[B, L, E]` → `[B, L, D]`.
 *
 * @example
 * ```ts
 * import { captionEmbedder, loadTextGlassBox, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const box = loadTextGlassBox(new URL("../tests/fixtures/text-dit", import.meta.url).pathname);
 * const { width, maxLength } = box.card.architecture.textEncoder;
 * const words = captionEmbedder(box.parameters.yEmbedder, new SeededRandom(0).randn([1, maxLength, width]));
 * assert.deepEqual(words.shape, [1, maxLength, box.card.architecture.hiddenSize]);
 * ```
 */
export function captionEmbedder(yEmbedder: TextDiTParameters["yEmbedder"], words: Tensor): Tensor {
  const { fc1, fc2 } = yEmbedder.yProj;
  return linear(gelu(linear(words, fc1.weight, fc1.bias)), fc2.weight, fc2.bias);
}

/**
 * The mean of each prompt's words, the `[pad]` left out: `[B, L, D]` with its mask `[B, L]` → `[B, D]`. A text
 * DiT with `pooledText` adds it to the timestep's embedding, so the prompt also modulates every block, as a
 * class label does in the class-conditioned DiT (Imagen and SD3 add a pooled text embedding the same way).
 *
 * @throws if the shapes do not fit or a row of the mask has no 1.
 *
 * @example Two words and a [pad]: the mean of the two
 * ```ts
 * import { poolWords, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const words = Tensor.from([1, 2, 3, 4, 100, 100], [1, 3, 2]);
 * assert.deepEqual([...poolWords(words, Tensor.from([1, 1, 0], [1, 3])).data], [2, 3]);
 * ```
 */
export function poolWords(words: Tensor, mask: Tensor): Tensor {
  const [B, L, D] = dims(words, 3, "poolWords: words", "[B, L, D]");
  const [mB, mL] = dims(mask, 2, "poolWords: mask", `[B, L] = [${B}, ${L}]`);
  if (mB !== B || mL !== L) {
    throw new Error(`poolWords: mask: expected shape [${B}, ${L}], got [${mask.shape}]`);
  }
  const out = new Float32Array(B * D);
  for (let b = 0; b < B; b++) {
    const sum = new Float64Array(D);
    let count = 0;
    for (let l = 0; l < L; l++) {
      const m = mask.data[b * L + l];
      if (m === 0) continue;
      count += m;
      for (let d = 0; d < D; d++) sum[d] += m * words.data[(b * L + l) * D + d];
    }
    if (!(count > 0)) throw new Error(`poolWords: mask row ${b} has no 1; expected at least one word`);
    for (let d = 0; d < D; d++) out[b * D + d] = sum[d] / count;
  }
  return new Tensor(out, [B, D]);
}

/**
 * Per-word attention maps over the patch grid: cross-attention probabilities `[B, heads, T, L]` averaged over
 * the heads and laid out as the image, `[B, L, h, w]` with T = h·w (`gridSize` = h = w). Map l of sample b is
 * how much each patch listens to word l; each patch's values over the words sum to 1.
 *
 * @throws if T is not `gridSize`².
 *
 * @example One block of the tests' tiny model: "hot pepper"
 * ```ts
 * import { loadTextGlassBox, SeededRandom, wordAttentionMaps } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const box = loadTextGlassBox(new URL("../tests/fixtures/text-dit", import.meta.url).pathname);
 * const { channels, height, width } = box.card.latent;
 * const inside = box.lookInside(new SeededRandom(0).randn([1, channels, height, width]), [500], ["hot pepper"]);
 * const grid = height / box.card.architecture.patchSize;
 * const maps = wordAttentionMaps(inside.blocks[0].crossAttention!, grid);
 * assert.deepEqual(maps.shape, [1, box.card.architecture.textEncoder.maxLength, grid, grid]);
 * assert.ok(Math.abs(maps.at(0, 0, 0, 0) + maps.at(0, 1, 0, 0) - 1) < 1e-6); // "hot" + "pepper": all of it
 * ```
 */
export function wordAttentionMaps(crossAttention: Tensor, gridSize: number): Tensor {
  const [B, heads, T, L] = dims(crossAttention, 4, "wordAttentionMaps: crossAttention", "[B, heads, T, L]");
  if (!Number.isInteger(gridSize) || gridSize * gridSize !== T) {
    throw new Error(
      `wordAttentionMaps: gridSize is ${describeValue(gridSize)}; expected the patch grid's side, √T = √${T}`,
    );
  }
  const out = new Float32Array(B * L * T);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      for (let i = 0; i < T; i++) {
        let sum = 0;
        for (let h = 0; h < heads; h++) sum += crossAttention.data[((b * heads + h) * T + i) * L + l];
        out[(b * L + l) * T + i] = sum / heads;
      }
    }
  }
  return new Tensor(out, [B, L, gridSize, gridSize]);
}

/** Every intermediate of one text DiT forward pass ({@link textDiTForward}). */
export interface TextDiTIntermediates {
  /** The text encoder's, on the word ids. */
  text: TextEncoderIntermediates;
  /** The words as the blocks read them, `y_embedder`'s output, `[B, L, D]`. */
  words: Tensor;
  /** The mean of the words (padding left out), `[B, D]`, added to c when the model pools. */
  pooledWords: Tensor;
  /** `x_embedder(x)`, `[B, T, D]`. */
  patchTokens: Tensor;
  /** The first block's input: the patch tokens plus `pos_embed`, `[B, T, D]`. */
  tokens: Tensor;
  /** `t_embedder(t)`, `[B, D]`. */
  tEmbedding: Tensor;
  /** The conditioning every block's adaLN reads: tEmbedding (+ pooledWords), `[B, D]`. */
  c: Tensor;
  /** What each block computed, its cross-attention to the words included (`crossAttention`, `[B, heads, T, L]`). */
  blocks: DiTBlockIntermediates[];
  /** Per-word attention maps, averaged over the blocks and their heads, `[B, L, h, w]` ({@link wordAttentionMaps}). */
  wordMaps: Tensor;
  /** `final_layer`'s shift, `[B, D]`. */
  finalShift?: Tensor;
  /** `final_layer`'s scale, `[B, D]`. */
  finalScale?: Tensor;
  /** `final_layer`'s output: each token's patch of [ε̂ | v], `[B, T, p·p·2C]`. */
  finalTokens: Tensor;
  /** The model's output [ε̂ | v], `[B, 2C, H, W]`. */
  out: Tensor;
}

/**
 * A text DiT's forward pass on noisy latents x_t at timesteps t with prompts given as word ids, the recipe's
 * `TextDiT.forward`, keeping every intermediate (the module's description has its lines and shapes).
 *
 * @param dit the model's parameters ({@link textDiTParameters}).
 * @param x noisy latents x_t, `[B, C, H, W]`.
 * @param t one timestep per sample.
 * @param ids one row of L word ids per sample (`tokenize(vocabulary, prompt).ids`; `nullCaption`'s for the
 *   unconditional half of guidance).
 * @throws if x, t or the ids do not fit the architecture, naming which.
 *
 * @example Pure noise at t = 999, asking the tests' tiny model for "hot pepper"
 * ```ts
 * import { loadTextGlassBox, SeededRandom, textDiTForward } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const box = loadTextGlassBox(new URL("../tests/fixtures/text-dit", import.meta.url).pathname);
 * const { channels, height, width } = box.card.latent;
 * const x = new SeededRandom(0).randn([1, channels, height, width]);
 * const inside = textDiTForward(box.parameters, x, [999], [box.tokenize("hot pepper").ids]);
 * assert.deepEqual(inside.out.shape, [1, 2 * channels, height, width]);
 * assert.equal(inside.blocks.length, box.card.architecture.depth);
 * ```
 */
export function textDiTForward(
  dit: TextDiTParameters,
  x: Tensor,
  t: ArrayLike<number>,
  ids: readonly (readonly number[])[],
): TextDiTIntermediates {
  const a = dit.architecture;
  const { patchTokens, tokens, tEmbedding } = embedPatchesAndTimestep(dit, a, x, t, "textDiTForward");
  if (ids?.length !== x.shape[0]) {
    throw new Error(
      `textDiTForward: ids has ${describeValue(ids?.length)} rows; expected one per sample, B = ${
        x.shape[0]
      }`,
    );
  }
  const text = textEncoder(dit.textEncoder, ids, a.textEncoder.numHeads); // [B, L, E]
  const words: Words = { tokens: captionEmbedder(dit.yEmbedder, text.output), mask: text.mask }; // [B, L, D]
  const pooledWords = poolWords(words.tokens, words.mask); // [B, D]
  const c = a.pooledText ? add(tEmbedding, pooledWords) : tEmbedding; // [B, D]
  const blocks: DiTBlockIntermediates[] = [];
  let h = tokens;
  for (const block of dit.blocks) {
    const inside = ditBlock(dit.design, block, h, c, a.numHeads, words);
    blocks.push(inside);
    h = inside.output; // [B, T, D]
  }
  const final = finalLayer(dit.finalLayer, h, c); // [B, T, p·p·2C]
  const out = unpatchify(final.output, a.patchSize, a.learnSigma ? 2 * a.inChannels : a.inChannels);
  return {
    text,
    words: words.tokens,
    pooledWords,
    patchTokens,
    tokens,
    tEmbedding,
    c,
    blocks,
    wordMaps: meanOf(blocks.map((b) => wordAttentionMaps(b.crossAttention!, a.inputSize / a.patchSize))),
    ...(final.shift && { finalShift: final.shift, finalScale: final.scale }),
    finalTokens: final.output,
    out,
  };
}

/** A network conditioned on word ids: what {@link captionsAsLabels} turns into the sampler's `DiTModel`. */
export interface TextDiTModel {
  /** x_t, t and one row of word ids per sample → [ε̂ | v], now or as a promise. */
  forward(x: Tensor, t: number[], ids: readonly (readonly number[])[]): Tensor | Promise<Tensor>;
}

/**
 * A text model as the sampler takes a model: `sampleLoop` conditions on integer labels and one null label, so
 * here label i stands for `captions[i]` and label `captions.length` for the null caption. Returns the
 * `DiTModel` to pass as `model`, the `labels` (one per caption, in order) and the `nullClass`.
 *
 * @example Two prompts through sampleLoop with a stand-in network
 * ```ts
 * import { captionsAsLabels, createDiffusion, sampleLoop, SeededRandom, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const seen: number[][][] = [];
 * const network = { forward: (x: Tensor, _t: number[], ids: readonly (readonly number[])[]) => {
 *   seen.push(ids.map((row) => [...row]));
 *   return Tensor.zeros([x.shape[0], 8, 2, 2]);
 * } };
 * const { model, labels, nullClass } = captionsAsLabels(network, [[3, 4, 0], [5, 0, 0]], [2, 0, 0]);
 * await sampleLoop({ model, labels, nullClass, diffusion: createDiffusion({ respacing: "2" }),
 *   latentShape: [4, 2, 2], random: new SeededRandom(0), guidanceScale: 4, sampler: "ddim" });
 * assert.deepEqual(seen[0], [[3, 4, 0], [5, 0, 0], [2, 0, 0], [2, 0, 0]]); // both prompts, then the null caption twice
 * ```
 */
export function captionsAsLabels(
  model: TextDiTModel,
  captions: readonly (readonly number[])[],
  nullCaption: readonly number[],
): { model: DiTModel; labels: number[]; nullClass: number } {
  const rows = [...captions, nullCaption];
  return {
    model: { forward: (x, t, y) => model.forward(x, t, y.map((label) => rows[label])) },
    labels: captions.map((_, i) => i),
    nullClass: captions.length,
  };
}

/** The element-wise mean of tensors of one shape. */
function meanOf(tensors: Tensor[]): Tensor {
  const out = new Float32Array(tensors[0].size);
  for (const tensor of tensors) {
    for (let i = 0; i < out.length; i++) out[i] += tensor.data[i] / tensors.length;
  }
  return new Tensor(out, tensors[0].shape);
}

/**
 * The key mask of word ids `[B, L]` (1: a word, 0: `[pad]`), after checking every row: L integer ids below the
 * vocabulary's size, the first not `[pad]` (so there is always a key to attend to).
 */
function checkIds(ids: readonly (readonly number[])[], vocabSize: number, L: number, fn: string): Tensor {
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new Error(`${fn}: ids is ${describeValue(ids)}; expected one row of ${L} word ids per sample`);
  }
  const mask = new Float32Array(ids.length * L);
  ids.forEach((row, b) => {
    if (!Array.isArray(row) || row.length !== L) {
      throw new Error(
        `${fn}: ids[${b}] has ${describeValue(row?.length)} ids; expected ${L} (the vocabulary's maxLength)`,
      );
    }
    row.forEach((id, l) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new Error(
          `${fn}: ids[${b}][${l}] is ${describeValue(id)}; expected a token id from 0 to ${vocabSize - 1}`,
        );
      }
      mask[b * L + l] = id === 0 ? 0 : 1;
    });
    if (row[0] === 0) {
      throw new Error(
        `${fn}: ids[${b}] starts with [pad]; expected a prompt's ids (or the null caption's, [null] first)`,
      );
    }
  });
  return new Tensor(mask, [ids.length, L]);
}
