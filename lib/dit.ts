/**
 * The DiT as readable parts, in the shape of the reference's `models.py`: {@link embed} (`x_embedder` +
 * `pos_embed`, `t_embedder`, `y_embedder` → c), {@link ditBlock} (one transformer block, its conditioning
 * design a parameter), {@link finalLayer}, and {@link ditForward}, which is those parts in order:
 *
 * ```
 * x = x_embedder(x) + pos_embed      [B, T, D]        T = (H/p)·(W/p) tokens of D features
 * c = t_embedder(t) + y_embedder(y)  [B, D]
 * x = block(x, c), for each block    [B, T, D]
 * x = final_layer(x, c)              [B, T, p·p·2C]
 * x = unpatchify(x)                  [B, 2C, H, W]    ε̂, then the variance interpolation v
 * ```
 *
 * That is the reference's DiT, whose blocks are adaLN-Zero blocks. The paper compares four ways for the
 * blocks to take in t and y ({@link BlockDesign}); the card's `architecture.block` says which a model uses, and
 * the same parts run all four.
 *
 * Every part is made of the toolkit's concept functions (`patchify`, `sincosPosEmbed2d`, `timestepEmbedding`,
 * `layerNorm`, `modulate`, `attention`, `crossAttention`, `gatedResidual`, `unpatchify`), so running a trained
 * model's weights
 * through {@link ditForward} and getting ONNX Runtime's output (tests/glassbox_test.ts) proves that each
 * concept function is the one the model computes. The weights are checked and arranged once, by
 * {@link ditParameters}; the parts then only compute.
 *
 * DiT's LayerNorms (`norm1`, `norm2`, `norm_final`) have no affine parameters and eps 1e-6: `layerNorm` as
 * it is by default.
 *
 * Pure maths, like every concept: no file is read here (`loadGlassBox` reads a model folder into these parts).
 *
 * @module
 */
import { attention, type AttentionResult, crossAttention } from "./attention.ts";
import { gatedResidual, layerNorm, modulate } from "./adaln.ts";
import { describeValue } from "./checks.ts";
import { gelu, linear, silu } from "./nn.ts";
import { patchify, unpatchify } from "./patchify.ts";
import { sincosPosEmbed2d } from "./positional.ts";
import { add, dims, Tensor } from "./tensor.ts";
import { timestepEmbedding } from "./timestep.ts";

/** A DiT's configuration in the reference's terms, camelCased: what a model card's `architecture` holds. */
export interface DiTArchitecture {
  /** The latent's height and width, H = W. */
  inputSize: number;
  /** The patch size p: each p×p patch of the latent becomes one token. */
  patchSize: number;
  /** The latent's channels C. */
  inChannels: number;
  /** The token width D. */
  hiddenSize: number;
  /** The number of blocks. */
  depth: number;
  /** Attention heads per block. */
  numHeads: number;
  /** The MLP's hidden width over D. */
  mlpRatio: number;
  /** Whether the output holds the variance interpolation v after ε̂ (2C channels rather than C). */
  learnSigma: boolean;
  /** The width of `timestepEmbedding`'s sinusoids, fed to `t_embedder`'s MLP. */
  frequencyEmbeddingSize: number;
  /** The classes; label `numClasses` is the null class. */
  numClasses: number;
  /** How the blocks take in t and y ({@link BlockDesign}); `"adaLN-Zero"`, the reference's, when absent. */
  block?: BlockDesign;
}

/**
 * How a block takes in the timestep and the label: the four designs of the paper's Section 3.2 (its Figure 3),
 * compared in its Figure 5. Each changes what the conditioning does to a block's branches, not the branches
 * (self-attention, then an MLP, each a residual branch after a LayerNorm), which is why the design is an
 * argument of {@link ditBlock} rather than another block:
 *
 * - `"adaLN-Zero"`, the paper's choice and the only one the reference implements: c = t-embedding +
 *   y-embedding regresses a shift and a scale for each LayerNorm and a gate for each residual branch, from a
 *   Linear that starts at zero, so every block starts as the identity;
 * - `"adaLN"`: the shifts and scales only (no gates), from an ordinarily initialized Linear;
 * - `"cross-attention"`: no modulation; after self-attention, a cross-attention layer ({@link crossAttention})
 *   in which the image tokens attend to the t and y embeddings as two tokens (about 15% more Gflops);
 * - `"in-context"`: no modulation and no extra layer: the t and y embeddings join the image tokens as two more
 *   tokens, and leave after the last block; the blocks are a plain transformer's.
 *
 * The final layer follows the design: adaLN-modulated by c in the two adaLN designs, a plain LayerNorm and
 * Linear in the two token designs, where t and y reach the output only through the tokens.
 */
export type BlockDesign = "adaLN-Zero" | "adaLN" | "cross-attention" | "in-context";

/**
 * Every {@link BlockDesign}, in the order of the paper's Figure 3.
 *
 * @example
 * ```ts
 * import { BLOCK_DESIGNS } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.deepEqual(BLOCK_DESIGNS, ["in-context", "cross-attention", "adaLN", "adaLN-Zero"]);
 * ```
 */
export const BLOCK_DESIGNS: readonly BlockDesign[] = ["in-context", "cross-attention", "adaLN", "adaLN-Zero"];

/** The modulation vectors c regresses per block in the two adaLN designs, in the order the reference chunks them. */
const MODULATIONS = {
  "adaLN-Zero": ["shiftMsa", "scaleMsa", "gateMsa", "shiftMlp", "scaleMlp", "gateMlp"],
  "adaLN": ["shiftMsa", "scaleMsa", "shiftMlp", "scaleMlp"],
} as const;

/** How many conditioning tokens (t, y) the token designs use. */
const CONDITIONING_TOKENS = 2;

/** An `nn.Linear`'s parameters: `weight` `[out, in]` (PyTorch's layout) and `bias` `[out]`. */
export interface LinearParameters {
  /** `[out, in]`. */
  weight: Tensor;
  /** `[out]`. */
  bias: Tensor;
}

/**
 * One block's parameters, named as the reference's `DiTBlock` (`blocks.i.attn.qkv.weight` → `attn.qkv.weight`);
 * which of the optional ones a block has depends on its design.
 */
export interface DiTBlockParameters {
  /**
   * c → the block's modulation vectors: `[6D, D]` in adaLN-Zero (shift, scale, gate of each branch), `[4D, D]`
   * in adaLN (no gates); absent in the token designs.
   */
  adaLNModulation?: LinearParameters;
  /** Self-attention: `qkv` `[3D, D]`, `proj` `[D, D]`. */
  attn: { qkv: LinearParameters; proj: LinearParameters };
  /**
   * The cross-attention design's extra layer (`cross_attn`): `q` `[D, D]` of the image tokens, `kv` `[2D, D]`
   * of the conditioning tokens (a text DiT's adaLN blocks have it too, its `kv` of the words), `proj` `[D, D]`;
   * absent in the other designs.
   */
  crossAttn?: { q: LinearParameters; kv: LinearParameters; proj: LinearParameters };
  /** The MLP: `fc1` `[mlpRatio·D, D]`, GELU, `fc2` `[D, mlpRatio·D]`. */
  mlp: { fc1: LinearParameters; fc2: LinearParameters };
}

/** The final layer's parameters, named as the reference's `FinalLayer`. */
export interface FinalLayerParameters {
  /** c → shift and scale, `[2D, D]`; absent in the token designs, whose final LayerNorm is not modulated. */
  adaLNModulation?: LinearParameters;
  /** Each token → its patch of the output, `[p·p·2C, D]`. */
  linear: LinearParameters;
}

/** A DiT's parameters, checked against its architecture and arranged as the reference's modules. */
export interface DiTParameters {
  /** The configuration they were checked against. */
  architecture: DiTArchitecture;
  /** How every block takes in t and y: the architecture's `block`; the reference's DiT is adaLN-Zero throughout. */
  design: BlockDesign;
  /**
   * `x_embedder`: its convolution with kernel = stride = p, as the one linear map it applies to each patch,
   * over `patchify`'s tokens: weight `[D, p·p·C]`.
   */
  xEmbedder: LinearParameters;
  /** `pos_embed` without its batch axis, `[T, D]`: `sincosPosEmbed2d`'s table, checked equal to the stored one. */
  posEmbed: Tensor;
  /** `t_embedder`'s MLP: Linear to D, SiLU, Linear (the reference's `mlp.0` and `mlp.2`). */
  tEmbedder: { mlp: [LinearParameters, LinearParameters] };
  /** `y_embedder`'s table, `[numClasses + 1, D]`: one row per class, the null class last. */
  yEmbedder: { embeddingTable: Tensor };
  /** The blocks, in order. */
  blocks: DiTBlockParameters[];
  /** `final_layer`. */
  finalLayer: FinalLayerParameters;
}

/** How far the stored `pos_embed` may be from `sincosPosEmbed2d`'s table: float32 rounding, no more. */
const POS_EMBED_TOLERANCE = 1e-6;

/**
 * Checks a DiT's weights against its architecture and arranges them as the reference's modules. The weights
 * are looked up by the reference's PyTorch parameter names (`blocks.3.attn.qkv.weight`), as `readOnnxWeights`
 * returns them from our `dit.onnx` files; the cross-attention design's extra layer by the recipe's names for it
 * (`blocks.3.cross_attn.q.weight`, `…cross_attn.kv…`, `…cross_attn.proj…`).
 *
 * @param weights parameters by PyTorch name.
 * @param architecture the model card's `architecture`; its `block` (default `"adaLN-Zero"`) says which
 *   weights a block has.
 * @throws naming the weight, if one is missing or has a shape the architecture does not imply, or if the
 *   stored `pos_embed` is not `sincosPosEmbed2d`'s table; naming the design, if `block` is not one of
 *   {@link BLOCK_DESIGNS}.
 *
 * @example The digits model's six blocks
 * ```ts
 * import { ditParameters, loadGlassBox } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const { card, weights } = loadGlassBox(new URL("../models/digits", import.meta.url).pathname);
 * const dit = ditParameters(weights, card.architecture);
 * assert.equal(dit.design, "adaLN-Zero"); // the card names no block: the reference's
 * assert.equal(dit.blocks.length, 6);
 * assert.deepEqual(dit.blocks[0].attn.qkv.weight.shape, [576, 192]); // [3D, D]
 * assert.deepEqual(dit.blocks[0].adaLNModulation?.weight.shape, [1152, 192]); // [6D, D]
 * assert.deepEqual(dit.xEmbedder.weight.shape, [192, 4]); // [D, p·p·C]: p = 1
 * ```
 */
export function ditParameters(
  weights: ReadonlyMap<string, Tensor>,
  architecture: DiTArchitecture,
): DiTParameters {
  const { hiddenSize: D, numClasses } = architecture;
  const backbone = backboneParameters(weights, architecture, "ditParameters", false);
  const { param } = weightReader(weights, "ditParameters");
  return {
    architecture,
    ...backbone,
    yEmbedder: { embeddingTable: param("y_embedder.embedding_table.weight", [numClasses + 1, D]) },
  };
}

/** What every DiT has, whatever it is conditioned on: {@link DiTParameters} less `architecture` and `yEmbedder`. */
export type BackboneParameters = Omit<DiTParameters, "architecture" | "yEmbedder">;

/** A DiT's shape without what its conditioning adds: {@link DiTArchitecture} less `numClasses`. */
export type BackboneArchitecture = Omit<DiTArchitecture, "numClasses">;

/**
 * Reads and checks the parts every DiT has, for `fn` (the caller, named in errors): `x_embedder` (as a linear
 * map over patchify's tokens), `pos_embed` (checked to be sincosPosEmbed2d's table), `t_embedder`, the blocks
 * of the architecture's design, and `final_layer`. With `text`, every block also has a `cross_attn` to the
 * words (a text DiT's; adaLN designs only). {@link ditParameters} adds the label table; a text DiT's reader,
 * its text encoder.
 */
export function backboneParameters(
  weights: ReadonlyMap<string, Tensor>,
  architecture: BackboneArchitecture,
  fn: string,
  text: boolean,
): BackboneParameters {
  const {
    inputSize,
    patchSize: p,
    inChannels: C,
    hiddenSize: D,
    depth,
    mlpRatio,
    learnSigma,
    frequencyEmbeddingSize,
    block: design = "adaLN-Zero",
  } = architecture;
  checkDesign(design, `${fn}: architecture.block`);
  const adaptive = design === "adaLN-Zero" || design === "adaLN";
  if (text && !adaptive) {
    throw new Error(
      `${fn}: architecture.block is "${design}"; a text DiT's blocks are "adaLN-Zero" or "adaLN" (t modulates, the words are read by cross-attention)`,
    );
  }
  const grid = inputSize / p, T = grid * grid;
  const outChannels = learnSigma ? 2 * C : C;
  const mlpHidden = Math.trunc(D * mlpRatio); // the reference's int(hidden_size * mlp_ratio)
  const { param, dense } = weightReader(weights, fn);
  const block = (i: number): DiTBlockParameters => ({
    ...(adaptive &&
      { adaLNModulation: dense(`blocks.${i}.adaLN_modulation.1`, MODULATIONS[design].length * D, D) }),
    attn: { qkv: dense(`blocks.${i}.attn.qkv`, 3 * D, D), proj: dense(`blocks.${i}.attn.proj`, D, D) },
    ...((design === "cross-attention" || text) && {
      crossAttn: {
        q: dense(`blocks.${i}.cross_attn.q`, D, D),
        kv: dense(`blocks.${i}.cross_attn.kv`, 2 * D, D),
        proj: dense(`blocks.${i}.cross_attn.proj`, D, D),
      },
    }),
    mlp: { fc1: dense(`blocks.${i}.mlp.fc1`, mlpHidden, D), fc2: dense(`blocks.${i}.mlp.fc2`, D, mlpHidden) },
  });
  const posEmbed = sincosPosEmbed2d(D, grid);
  checkPosEmbed(posEmbed, param("pos_embed", [1, T, D]), fn);
  return {
    design,
    xEmbedder: {
      weight: patchEmbeddingWeight(param("x_embedder.proj.weight", [D, C, p, p])),
      bias: param("x_embedder.proj.bias", [D]),
    },
    posEmbed,
    tEmbedder: {
      mlp: [dense("t_embedder.mlp.0", D, frequencyEmbeddingSize), dense("t_embedder.mlp.2", D, D)],
    },
    blocks: Array.from({ length: depth }, (_, i) => block(i)),
    finalLayer: {
      ...(adaptive && { adaLNModulation: dense("final_layer.adaLN_modulation.1", 2 * D, D) }),
      linear: dense("final_layer.linear", p * p * outChannels, D),
    },
  };
}

/**
 * Looks weights up by their PyTorch name and checks each one's shape, failing in one line that names `fn`
 * (the caller) and the weight: `param` for any tensor, `dense` for an `nn.Linear` (`name.weight` `[out, in]`
 * and `name.bias` `[out]`).
 */
export function weightReader(weights: ReadonlyMap<string, Tensor>, fn: string): {
  param: (name: string, shape: number[]) => Tensor;
  dense: (name: string, outDim: number, inDim: number) => LinearParameters;
} {
  const param = (name: string, shape: number[]): Tensor => {
    const weight = weights.get(name);
    if (!weight) {
      throw new Error(
        `${fn}: weight ${name} is missing; expected an initializer of that name (the PyTorch parameter name)`,
      );
    }
    if (weight.shape.join() !== shape.join()) {
      throw new Error(`${fn}: weight ${name}: expected shape [${shape}], got [${weight.shape}]`);
    }
    return weight;
  };
  const dense = (name: string, outDim: number, inDim: number): LinearParameters => ({
    weight: param(`${name}.weight`, [outDim, inDim]),
    bias: param(`${name}.bias`, [outDim]),
  });
  return { param, dense };
}

/** What {@link embed} computed: the tokens the first block reads, and the conditioning. */
export interface Embedded {
  /** `x_embedder(x)`: one token of D features per patch, `[B, T, D]`. */
  patchTokens: Tensor;
  /**
   * The first block's input: the patch tokens plus `pos_embed`, `[B, T, D]`; in the in-context design followed
   * by the two conditioning tokens, `[B, T + 2, D]`.
   */
  tokens: Tensor;
  /** `t_embedder(t)`, `[B, D]`. */
  tEmbedding: Tensor;
  /** `y_embedder(y)`: each label's row of the embedding table, `[B, D]`. */
  yEmbedding: Tensor;
  /** The conditioning c = tEmbedding + yEmbedding, `[B, D]`: what the adaLN designs regress their modulation from. */
  c: Tensor;
  /**
   * tEmbedding and yEmbedding as two tokens, `[B, 2, D]`: what the in-context design appends to the image
   * tokens, and what the cross-attention design's image tokens attend to.
   */
  conditioningTokens: Tensor;
}

/**
 * The DiT's inputs as the blocks take them: the noisy latent x_t cut into tokens with their positions added,
 * and the timestep and label embedded, summed into the conditioning c and set side by side as two tokens (in
 * the in-context design, appended to the image tokens).
 *
 * @param dit the model's parameters ({@link ditParameters}).
 * @param x noisy latents x_t, `[B, C, H, W]` as the architecture says.
 * @param t one timestep per sample (ONNX Runtime takes integers; fractions are allowed here).
 * @param y one label per sample: a class id, or `numClasses` for the null class.
 * @throws if x, t or y does not fit the architecture, naming which.
 *
 * @example c is the sum of the timestep's and the label's embeddings
 * ```ts
 * import { embed, loadGlassBox, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dit = loadGlassBox(new URL("../models/digits", import.meta.url).pathname).parameters;
 * const { tokens, tEmbedding, yEmbedding, c } = embed(dit, new SeededRandom(0).randn([1, 4, 8, 8]), [500], [3]);
 * assert.deepEqual(tokens.shape, [1, 64, 192]); // 8×8 patches of 1×1, D = 192
 * assert.equal(c.at(0, 7), Math.fround(tEmbedding.at(0, 7) + yEmbedding.at(0, 7)));
 * ```
 */
export function embed(dit: DiTParameters, x: Tensor, t: ArrayLike<number>, y: ArrayLike<number>): Embedded {
  const { numClasses } = dit.architecture;
  const { patchTokens, tokens, tEmbedding } = embedPatchesAndTimestep(dit, dit.architecture, x, t, "embed");
  if (y?.length !== x.shape[0]) {
    throw new Error(
      `embed: y has ${describeValue(y?.length)} values; expected one per sample, B = ${x.shape[0]}`,
    );
  }
  const yEmbedding = labelEmbedding(dit.yEmbedder.embeddingTable, y, numClasses); // [B, D]
  const c = add(tEmbedding, yEmbedding); // [B, D]
  const conditioningTokens = concatTokens([tEmbedding, yEmbedding]); // [B, 2, D]
  return {
    patchTokens,
    tokens: dit.design === "in-context" ? concatTokens([tokens, conditioningTokens]) : tokens, // [B, T (+ 2), D]
    tEmbedding,
    yEmbedding,
    c,
    conditioningTokens,
  };
}

/**
 * The image tokens and the timestep's embedding, as every DiT makes them (`fn`, the caller, is named in
 * errors): `x_embedder(x)` (patchify, then one linear map a patch), `+ pos_embed`, and `t_embedder(t)`.
 */
export function embedPatchesAndTimestep(
  dit: BackboneParameters,
  architecture: BackboneArchitecture,
  x: Tensor,
  t: ArrayLike<number>,
  fn: string,
): { patchTokens: Tensor; tokens: Tensor; tEmbedding: Tensor } {
  const { inputSize, patchSize: p, inChannels: C, frequencyEmbeddingSize } = architecture;
  const layout = `[B, C, H, W] = [B, ${C}, ${inputSize}, ${inputSize}]`;
  const [B, xC, H, W] = dims(x, 4, `${fn}: x`, layout);
  if (xC !== C || H !== inputSize || W !== inputSize) {
    throw new Error(`${fn}: x: expected shape ${layout}, got [${x.shape}]`);
  }
  if (t?.length !== B) {
    throw new Error(`${fn}: t has ${describeValue(t?.length)} values; expected one per sample, B = ${B}`);
  }
  const [mlp0, mlp2] = dit.tEmbedder.mlp;
  const patchTokens = dense(dit.xEmbedder, patchify(x, p)); // x_embedder(x): [B, T, D]
  const tokens = add(patchTokens, dit.posEmbed); // + pos_embed: [B, T, D]
  const tEmbedding = dense(mlp2, silu(dense(mlp0, timestepEmbedding(t, frequencyEmbeddingSize)))); // [B, D]
  return { patchTokens, tokens, tEmbedding };
}

/**
 * What one block computed (names as in the reference's `DiTBlock.forward`, camelCased). The modulation
 * vectors are there in the adaLN designs, the gates in adaLN-Zero only, the cross-attention probabilities in
 * the cross-attention design only.
 */
export interface DiTBlockIntermediates {
  /** Shift of the attention branch's modulation, `[B, D]`. */
  shiftMsa?: Tensor;
  /** Scale of the attention branch's modulation, `[B, D]`. */
  scaleMsa?: Tensor;
  /** Gate of the attention branch's residual, `[B, D]`. */
  gateMsa?: Tensor;
  /** Shift of the MLP branch's modulation, `[B, D]`. */
  shiftMlp?: Tensor;
  /** Scale of the MLP branch's modulation, `[B, D]`. */
  scaleMlp?: Tensor;
  /** Gate of the MLP branch's residual, `[B, D]`. */
  gateMlp?: Tensor;
  /** The self-attention probabilities, `[B, heads, T, T]`: row i is where token i looks. */
  attention: Tensor;
  /**
   * The cross-attention probabilities: `[B, heads, T, 2]` in the cross-attention design (how much each token
   * takes from t and from y); `[B, heads, T, L]` in a text DiT's block (how much each patch takes from each
   * word; 0 for the `[pad]` after the prompt).
   */
  crossAttention?: Tensor;
  /** The tokens after the block, `[B, T, D]`. */
  output: Tensor;
}

/**
 * One DiT block on tokens x: self-attention, then an MLP, each a residual branch after a LayerNorm, with the
 * conditioning entering as the block's design says ({@link BlockDesign}). adaLN-Zero, the reference's
 * `DiTBlock.forward`:
 *
 * ```
 * shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = adaLN_modulation(c)   six [B, D]
 * x = x + gate_msa · Attention(modulate(norm1(x), shift_msa, scale_msa))                  [B, T, D]
 * x = x + gate_mlp · MLP(modulate(norm2(x), shift_mlp, scale_mlp))                        [B, T, D]
 * ```
 *
 * adaLN is the same without the gates (four vectors). The token designs have no modulation:
 *
 * ```
 * x = x + Attention(norm1(x))                                  [B, T, D]
 * x = x + CrossAttention(norm_cross(x), c)    cross-attention only; c = [t, y] tokens, [B, 2, D]
 * x = x + MLP(norm2(x))                                        [B, T, D]
 * ```
 *
 * A text DiT's block (PixArt-α's) is an adaLN block that also reads the prompt's words: between the two
 * branches, a cross-attention layer whose keys and values are the words (`words`, the `[pad]` after the prompt
 * masked out); it is neither modulated nor gated, and its output projection starts at zero instead:
 *
 * ```
 * x = x + gate_msa · Attention(modulate(norm1(x), shift_msa, scale_msa))      [B, T, D]
 * x = x + CrossAttention(norm_cross(x), words, mask)                          [B, T, D]
 * x = x + gate_mlp · MLP(modulate(norm2(x), shift_mlp, scale_mlp))            [B, T, D]
 * ```
 *
 * @param design how t and y enter the block ({@link BlockDesign}).
 * @param block the block's parameters (one of {@link DiTParameters}' `blocks`), as the design has them.
 * @param x tokens, `[B, T, D]` (in-context: the image tokens followed by the two conditioning tokens).
 * @param c the conditioning: c `[B, D]` in the adaLN designs; the conditioning tokens `[B, 2, D]` (embed's
 *   `conditioningTokens`) in the cross-attention design; not read in the in-context design, whose t and y ride
 *   in x.
 * @param numHeads attention heads; must divide D.
 * @param words a text DiT's block only (an adaLN design whose block has `crossAttn`): the prompt's words as the
 *   blocks read them, `tokens` `[B, L, D]`, and `mask` `[B, L]` (1: a word, 0: `[pad]`).
 * @throws if the design is not one of {@link BLOCK_DESIGNS}, the block lacks a layer the design needs, a text
 *   block gets no words or another block gets words, or x, c, the words or a weight does not fit the others
 *   (naming it).
 *
 * @example With its modulation zeroed, as at the start of training, an adaLN-Zero block is the identity
 * ```ts
 * import { type DiTBlockParameters, ditBlock, SeededRandom, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const D = 8, random = new SeededRandom(0);
 * const dense = (out: number, inp: number) => ({ weight: random.randn([out, inp]), bias: random.randn([out]) });
 * const block: DiTBlockParameters = {
 *   adaLNModulation: { weight: Tensor.zeros([6 * D, D]), bias: Tensor.zeros([6 * D]) }, // adaLN-Zero's zero init
 *   attn: { qkv: dense(3 * D, D), proj: dense(D, D) },
 *   mlp: { fc1: dense(4 * D, D), fc2: dense(D, 4 * D) },
 * };
 * const x = random.randn([2, 5, D]);
 * const inside = ditBlock("adaLN-Zero", block, x, random.randn([2, D]), 2);
 * assert.deepEqual(inside.output, x); // both gates are 0
 * assert.deepEqual(inside.attention.shape, [2, 2, 5, 5]); // yet attention looked: [B, heads, T, T]
 * ```
 *
 * @example A cross-attention block: each token chooses between the t and the y token
 * ```ts
 * import { type DiTBlockParameters, ditBlock, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const D = 8, random = new SeededRandom(1);
 * const dense = (out: number, inp: number) => ({ weight: random.randn([out, inp]), bias: random.randn([out]) });
 * const block: DiTBlockParameters = {
 *   attn: { qkv: dense(3 * D, D), proj: dense(D, D) },
 *   crossAttn: { q: dense(D, D), kv: dense(2 * D, D), proj: dense(D, D) },
 *   mlp: { fc1: dense(4 * D, D), fc2: dense(D, 4 * D) },
 * };
 * const tokens = random.randn([1, 5, D]), conditioningTokens = random.randn([1, 2, D]); // [t, y]
 * const inside = ditBlock("cross-attention", block, tokens, conditioningTokens, 2);
 * assert.deepEqual(inside.crossAttention?.shape, [1, 2, 5, 2]); // [B, heads, T, 2]
 * assert.equal(inside.gateMsa, undefined); // no modulation in this design
 * ```
 *
 * @example A text DiT's block: the patches read three words, the last one [pad]
 * ```ts
 * import { type DiTBlockParameters, ditBlock, SeededRandom, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const D = 8, random = new SeededRandom(2);
 * const dense = (out: number, inp: number) => ({ weight: random.randn([out, inp]), bias: random.randn([out]) });
 * const block: DiTBlockParameters = {
 *   adaLNModulation: dense(6 * D, D),
 *   attn: { qkv: dense(3 * D, D), proj: dense(D, D) },
 *   crossAttn: { q: dense(D, D), kv: dense(2 * D, D), proj: dense(D, D) },
 *   mlp: { fc1: dense(4 * D, D), fc2: dense(D, 4 * D) },
 * };
 * const words = { tokens: random.randn([1, 3, D]), mask: Tensor.from([1, 1, 0], [1, 3]) };
 * const inside = ditBlock("adaLN-Zero", block, random.randn([1, 5, D]), random.randn([1, D]), 2, words);
 * assert.deepEqual(inside.crossAttention?.shape, [1, 2, 5, 3]); // [B, heads, T, L]
 * assert.equal(inside.crossAttention?.at(0, 1, 4, 2), 0); // nobody listens to [pad]
 * ```
 */
export function ditBlock(
  design: BlockDesign,
  block: DiTBlockParameters,
  x: Tensor,
  c: Tensor,
  numHeads: number,
  words?: Words,
): DiTBlockIntermediates {
  checkDesign(design, "ditBlock: design");
  const [B, , D] = dims(x, 3, "ditBlock: x", "[B, T, D]");
  if (words !== undefined && !(design === "adaLN-Zero" || design === "adaLN")) {
    throw new Error(
      `ditBlock: words were given to a "${design}" block; only a text DiT's blocks (adaLN designs with crossAttn) read words`,
    );
  }
  if (design === "adaLN-Zero" || design === "adaLN") {
    checkConditioning(c, "ditBlock", B, D);
    const names = MODULATIONS[design];
    const modulation = layer(block.adaLNModulation, design, "adaLNModulation");
    if (modulation.weight.shape[0] !== names.length * D) {
      throw new Error(
        `ditBlock: block.adaLNModulation.weight: expected shape [${names.length}D, D] = [${
          names.length * D
        }, ${D}] for "${design}" (${names.join(", ")}), got [${modulation.weight.shape}]`,
      );
    }
    const vectors = chunk(dense(modulation, silu(c)), names.length); // four or six [B, D]
    if (design === "adaLN") {
      const [shiftMsa, scaleMsa, shiftMlp, scaleMlp] = vectors;
      const attn = selfAttention(block.attn, modulate(layerNorm(x), shiftMsa, scaleMsa), numHeads);
      const read = readWords(block, add(x, attn.output), words, numHeads); // [B, T, D]
      const output = add(read.h, mlp(block.mlp, modulate(layerNorm(read.h), shiftMlp, scaleMlp))); // [B, T, D]
      return {
        shiftMsa,
        scaleMsa,
        shiftMlp,
        scaleMlp,
        attention: attn.probabilities,
        ...(read.cross && { crossAttention: read.cross }),
        output,
      };
    }
    const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = vectors;
    const attn = selfAttention(block.attn, modulate(layerNorm(x), shiftMsa, scaleMsa), numHeads);
    const { h, cross } = readWords(block, gatedResidual(x, gateMsa, attn.output), words, numHeads); // [B, T, D]
    const output = gatedResidual(h, gateMlp, mlp(block.mlp, modulate(layerNorm(h), shiftMlp, scaleMlp))); // [B, T, D]
    return {
      shiftMsa,
      scaleMsa,
      gateMsa,
      shiftMlp,
      scaleMlp,
      gateMlp,
      attention: attn.probabilities,
      ...(cross && { crossAttention: cross }),
      output,
    };
  }
  const attn = selfAttention(block.attn, layerNorm(x), numHeads);
  let h = add(x, attn.output); // [B, T, D]
  let cross: AttentionResult | undefined;
  if (design === "cross-attention") {
    const layout = `[B, 2, D] = [${B}, 2, ${D}] (embed's conditioningTokens)`;
    const [cB, S, cD] = dims(c, 3, "ditBlock: c", layout);
    if (cB !== B || S !== CONDITIONING_TOKENS || cD !== D) {
      throw new Error(`ditBlock: c: expected shape ${layout}, got [${c.shape}]`);
    }
    cross = crossAttend(layer(block.crossAttn, design, "crossAttn"), layerNorm(h), c, numHeads);
    h = add(h, cross.output); // [B, T, D]
  }
  const output = add(h, mlp(block.mlp, layerNorm(h))); // [B, T, D]
  return { attention: attn.probabilities, ...(cross && { crossAttention: cross.probabilities }), output };
}

/** What the final layer computed. */
export interface FinalLayerIntermediates {
  /** The modulation's shift, `[B, D]` (adaLN designs). */
  shift?: Tensor;
  /** The modulation's scale, `[B, D]` (adaLN designs). */
  scale?: Tensor;
  /** Each token's patch of the output [ε̂ | v], `[B, T, p·p·2C]`. */
  output: Tensor;
}

/**
 * The final layer, the reference's `FinalLayer.forward`: a last adaptive LayerNorm, then each token to its
 * p×p patch of the output.
 *
 * ```
 * shift, scale = adaLN_modulation(c)                 two [B, D]
 * x = linear(modulate(norm_final(x), shift, scale))  [B, T, p·p·2C]
 * ```
 *
 * In the token designs (in-context, cross-attention) the layer has no `adaLNModulation` and computes
 * `linear(norm_final(x))`: t and y reach the output only through the tokens, and c is not read.
 *
 * @param layer the parameters ({@link DiTParameters}' `finalLayer`).
 * @param x the last block's image tokens, `[B, T, D]`.
 * @param c the conditioning, `[B, D]`.
 * @throws if x, c or a weight does not fit the others (naming it).
 *
 * @example The digits model's last tokens, each to its 1×1 patch of [ε̂ | v]: 8 numbers
 * ```ts
 * import { finalLayer, loadGlassBox, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dit = loadGlassBox(new URL("../models/digits", import.meta.url).pathname).parameters;
 * const random = new SeededRandom(0);
 * const { output } = finalLayer(dit.finalLayer, random.randn([1, 64, 192]), random.randn([1, 192]));
 * assert.deepEqual(output.shape, [1, 64, 8]); // [B, T, p·p·2C]
 * ```
 */
export function finalLayer(layer: FinalLayerParameters, x: Tensor, c: Tensor): FinalLayerIntermediates {
  const [B, , D] = dims(x, 3, "finalLayer: x", "[B, T, D]");
  if (!layer.adaLNModulation) return { output: dense(layer.linear, layerNorm(x)) }; // [B, T, p·p·2C]
  checkConditioning(c, "finalLayer", B, D);
  const [shift, scale] = chunk(dense(layer.adaLNModulation, silu(c)), 2); // two [B, D]
  const output = dense(layer.linear, modulate(layerNorm(x), shift, scale)); // [B, T, p·p·2C]
  return { shift, scale, output };
}

/** Every intermediate of one DiT forward pass ({@link ditForward}). */
export interface DiTIntermediates extends Embedded {
  /** What each block computed, in order. */
  blocks: DiTBlockIntermediates[];
  /** `final_layer`'s shift, `[B, D]` (adaLN designs). */
  finalShift?: Tensor;
  /** `final_layer`'s scale, `[B, D]` (adaLN designs). */
  finalScale?: Tensor;
  /** `final_layer`'s output: each token's patch of [ε̂ | v], `[B, T, p·p·2C]`. */
  finalTokens: Tensor;
  /** The model's output [ε̂ | v], `[B, 2C, H, W]`: the noise prediction, then the variance interpolation. */
  out: Tensor;
}

/**
 * A DiT's forward pass on noisy latents x_t at timesteps t with labels y, the reference's `DiT.forward`,
 * keeping every intermediate:
 *
 * ```
 * x = x_embedder(x) + pos_embed      [B, T, D]
 * c = t_embedder(t) + y_embedder(y)  [B, D]
 * x = block(x, c), for each block    [B, T, D]
 * x = final_layer(x, c)              [B, T, p·p·2C]
 * x = unpatchify(x)                  [B, 2C, H, W]
 * ```
 *
 * with the blocks of the model's design ({@link BlockDesign}): in-context blocks run on the image tokens and
 * the two conditioning tokens, which leave before the final layer; cross-attention blocks get the
 * conditioning tokens as c.
 *
 * @param dit the model's parameters ({@link ditParameters}).
 * @param x noisy latents x_t, `[B, C, H, W]`.
 * @param t one timestep per sample.
 * @param y one label per sample: a class id, or the null class.
 * @throws as {@link embed}, if x, t or y does not fit the architecture.
 *
 * @example Look inside the digits model on pure noise at t = 999, asking for a 3
 * ```ts
 * import { ditForward, loadGlassBox, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dit = loadGlassBox(new URL("../models/digits", import.meta.url).pathname).parameters;
 * const inside = ditForward(dit, new SeededRandom(0).randn([1, 4, 8, 8]), [999], [3]);
 * assert.deepEqual(inside.out.shape, [1, 8, 8, 8]); // [ε̂ | v]
 * assert.equal(inside.blocks.length, 6);
 * assert.deepEqual(inside.blocks[0].attention.shape, [1, 3, 64, 64]); // 3 heads over 64 tokens
 * ```
 */
export function ditForward(
  dit: DiTParameters,
  x: Tensor,
  t: ArrayLike<number>,
  y: ArrayLike<number>,
): DiTIntermediates {
  const { patchSize: p, inChannels: C, learnSigma, numHeads } = dit.architecture;
  const embedded = embed(dit, x, t, y); // tokens [B, T (+ 2), D], c [B, D], conditioningTokens [B, 2, D]
  const c = dit.design === "cross-attention" ? embedded.conditioningTokens : embedded.c;
  const blocks: DiTBlockIntermediates[] = [];
  let tokens = embedded.tokens;
  for (const block of dit.blocks) {
    const inside = ditBlock(dit.design, block, tokens, c, numHeads);
    blocks.push(inside);
    tokens = inside.output; // [B, T (+ 2), D]
  }
  if (dit.design === "in-context") tokens = withoutLastTokens(tokens, CONDITIONING_TOKENS); // [B, T, D]
  const final = finalLayer(dit.finalLayer, tokens, embedded.c); // [B, T, p·p·2C]
  const out = unpatchify(final.output, p, learnSigma ? 2 * C : C); // [B, 2C, H, W]
  return {
    ...embedded,
    blocks,
    ...(final.shift && { finalShift: final.shift, finalScale: final.scale }),
    finalTokens: final.output,
    out,
  };
}

/**
 * A text DiT's words as its blocks read them: `tokens` `[B, L, D]` (the text encoder's output through
 * `y_embedder`) and `mask` `[B, L]`, 1 for a word and 0 for the `[pad]` after the prompt.
 */
export interface Words {
  /** One token of D features per word position, `[B, L, D]`. */
  tokens: Tensor;
  /** 1 where a position holds a word, 0 where it holds `[pad]`, `[B, L]`. */
  mask: Tensor;
}

/**
 * An adaptive block's cross-attention branch, `h + CrossAttention(norm_cross(h), words, mask)`, where the block
 * has one (a text DiT's); h itself where it has none. Throws if the block and the words do not go together.
 */
function readWords(
  block: DiTBlockParameters,
  h: Tensor,
  words: Words | undefined,
  numHeads: number,
): { h: Tensor; cross?: Tensor } {
  if (!block.crossAttn) {
    if (words !== undefined) {
      throw new Error("ditBlock: words were given, but the block has no crossAttn to read them with");
    }
    return { h };
  }
  if (words === undefined) {
    throw new Error(
      "ditBlock: the block has crossAttn, so it reads words (a text DiT's block); expected words { tokens, mask }",
    );
  }
  const cross = crossAttend(block.crossAttn, layerNorm(h), words.tokens, numHeads, words.mask);
  return { h: add(h, cross.output), cross: cross.probabilities }; // [B, T, D], [B, heads, T, L]
}

/** An `nn.Linear` applied to x: `x·Wᵀ + b`. */
function dense(layer: LinearParameters, x: Tensor): Tensor {
  return linear(x, layer.weight, layer.bias);
}

/** timm's `Attention` as DiT's blocks use it: tokens `[B, T, D]` → `[B, T, D]`, with the probabilities. */
function selfAttention(attn: DiTBlockParameters["attn"], x: Tensor, numHeads: number): AttentionResult {
  return attention(x, attn.qkv.weight, attn.qkv.bias, attn.proj.weight, attn.proj.bias, numHeads);
}

/**
 * A block's cross-attention layer (`q`, `kv`, `proj`): tokens `[B, T, D]` read `context` `[B, S, D]` (the
 * conditioning tokens, or a text DiT's words with their mask) → `[B, T, D]`, with the probabilities.
 */
function crossAttend(
  layer: NonNullable<DiTBlockParameters["crossAttn"]>,
  x: Tensor,
  context: Tensor,
  numHeads: number,
  keyMask?: Tensor,
): AttentionResult {
  const { q, kv, proj } = layer;
  return crossAttention(
    x,
    context,
    q.weight,
    q.bias,
    kv.weight,
    kv.bias,
    proj.weight,
    proj.bias,
    numHeads,
    keyMask,
  );
}

/** timm's `Mlp`: `fc2(GELU(fc1(x)))`, the tanh GELU, `[B, T, D]` → `[B, T, D]`. */
function mlp(layers: DiTBlockParameters["mlp"], x: Tensor): Tensor {
  return dense(layers.fc2, gelu(dense(layers.fc1, x)));
}

/** Throws unless c is `[B, D]` for tokens `[B, T, D]`. */
function checkConditioning(c: Tensor, fn: string, B: number, D: number): void {
  const [cB, cD] = dims(c, 2, `${fn}: c`, `[B, D] = [${B}, ${D}]`);
  if (cB !== B || cD !== D) {
    throw new Error(`${fn}: c: expected shape [B, D] = [${B}, ${D}], got [${c.shape}]`);
  }
}

/** y_embedder: each label's row of the embedding table, whose last row is the null class. */
function labelEmbedding(table: Tensor, y: ArrayLike<number>, numClasses: number): Tensor {
  const [, D] = table.shape;
  const out = new Float32Array(y.length * D);
  for (let b = 0; b < y.length; b++) {
    const label = y[b];
    if (!Number.isInteger(label) || label < 0 || label > numClasses) {
      throw new Error(
        `embed: y[${b}] is ${
          describeValue(label)
        }; expected a class id in [0, ${numClasses}] (${numClasses} is the null class)`,
      );
    }
    out.set(table.select(label).data, b * D);
  }
  return new Tensor(out, [y.length, D]);
}

/**
 * `x_embedder` is a convolution with kernel = stride = p, so it applies one linear map to each p×p patch on
 * its own: a dot product of the patch with each output channel's `[C, p, p]` kernel. `patchify` flattens a
 * patch in (row, column, channel) order, the kernel is stored (channel, row, column); permuting the kernel to
 * (row, column, channel) makes the conv exactly `linear(patchify(x, p), W')`: `[D, C, p, p]` → W' `[D, p·p·C]`.
 */
function patchEmbeddingWeight(convWeight: Tensor): Tensor {
  const [D, C, p] = convWeight.shape;
  const out = new Float32Array(convWeight.size);
  for (let d = 0; d < D; d++) {
    for (let i = 0; i < p; i++) {
      for (let j = 0; j < p; j++) {
        for (let c = 0; c < C; c++) out[((d * p + i) * p + j) * C + c] = convWeight.at(d, c, i, j);
      }
    }
  }
  return new Tensor(out, [D, p * p * C]);
}

/** Throws unless the model's stored `pos_embed` `[1, T, D]` is our table to float32 precision. */
function checkPosEmbed(ours: Tensor, stored: Tensor, fn: string): void {
  let worst = 0, at = 0;
  for (let i = 0; i < ours.size && !Number.isNaN(worst); i++) {
    const diff = Math.abs(ours.data[i] - stored.data[i]);
    if (!(diff <= worst)) [worst, at] = [diff, i]; // (a NaN stops the search: it is the worst)
  }
  if (!(worst <= POS_EMBED_TOLERANCE)) {
    const [, D] = ours.shape;
    throw new Error(
      `${fn}: the stored pos_embed differs from sincosPosEmbed2d by ${worst} at token ${
        Math.floor(at / D)
      }, feature ${at % D}; expected them equal to float32 precision (${POS_EMBED_TOLERANCE})`,
    );
  }
}

/** The reference's `.chunk(k, dim=1)`: `[B, k·D]` → k tensors `[B, D]`, feature ranges in order. */
function chunk(m: Tensor, k: number): Tensor[] {
  const [B, kD] = m.shape, D = kD / k;
  return Array.from({ length: k }, (_, j) => {
    const part = new Float32Array(B * D);
    for (let b = 0; b < B; b++) part.set(m.data.subarray(b * kD + j * D, b * kD + (j + 1) * D), b * D);
    return new Tensor(part, [B, D]);
  });
}

/** Throws unless `design` is one of {@link BLOCK_DESIGNS}, naming `what`. */
function checkDesign(design: unknown, what: string): asserts design is BlockDesign {
  if (!BLOCK_DESIGNS.includes(design as BlockDesign)) {
    throw new Error(
      `${what} is ${describeValue(design)}; expected one of ${BLOCK_DESIGNS.map((d) => `"${d}"`).join(", ")}`,
    );
  }
}

/** A layer a block design needs, or an error naming it. */
function layer<L>(value: L | undefined, design: BlockDesign, name: string): L {
  if (!value) {
    throw new Error(`ditBlock: block.${name} is missing; the "${design}" design needs it`);
  }
  return value;
}

/** Tensors `[B, Tᵢ, D]` side by side along the tokens → `[B, ΣTᵢ, D]` (tokens `[B, D]` count as one). */
function concatTokens(parts: Tensor[]): Tensor {
  const B = parts[0].shape[0], D = parts[0].shape[parts[0].shape.length - 1];
  const counts = parts.map((part) => part.size / (B * D)), T = counts.reduce((a, b) => a + b);
  const out = new Float32Array(B * T * D);
  for (let b = 0, at = 0; b < B; b++) {
    for (const [i, part] of parts.entries()) {
      const size = counts[i] * D;
      out.set(part.data.subarray(b * size, (b + 1) * size), at);
      at += size;
    }
  }
  return new Tensor(out, [B, T, D]);
}

/** `[B, T + n, D]` → `[B, T, D]`: the in-context design's conditioning tokens leave after the last block. */
function withoutLastTokens(x: Tensor, n: number): Tensor {
  const [B, Tn, D] = x.shape, T = Tn - n;
  const out = new Float32Array(B * T * D);
  for (let b = 0; b < B; b++) out.set(x.data.subarray(b * Tn * D, (b * Tn + T) * D), b * T * D);
  return new Tensor(out, [B, T, D]);
}
