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
 * Every part is made of the toolkit's concept functions (`patchify`, `sincosPosEmbed2d`, `timestepEmbedding`,
 * `layerNorm`, `modulate`, `attention`, `gatedResidual`, `unpatchify`), so running a trained model's weights
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
import { attention, type AttentionResult } from "./attention.ts";
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
}

/**
 * How a block takes in the conditioning c: one of the designs of the paper's Figure 3. `"adaLN-Zero"`, the
 * paper's choice and the only one the reference implements: c regresses a shift and a scale for each
 * LayerNorm and a gate for each residual branch, from a Linear that starts at zero. (The others, in-context
 * tokens, cross-attention and adaLN without gates, are not built yet: each changes what c does to a branch,
 * not the branches, which is why the design is an argument of {@link ditBlock} rather than another block.)
 */
export type BlockDesign = "adaLN-Zero";

/** An `nn.Linear`'s parameters: `weight` `[out, in]` (PyTorch's layout) and `bias` `[out]`. */
export interface LinearParameters {
  /** `[out, in]`. */
  weight: Tensor;
  /** `[out]`. */
  bias: Tensor;
}

/** One block's parameters, named as the reference's `DiTBlock` (`blocks.i.attn.qkv.weight` → `attn.qkv.weight`). */
export interface DiTBlockParameters {
  /** c → the block's six modulation vectors, `[6D, D]`. */
  adaLNModulation: LinearParameters;
  /** Self-attention: `qkv` `[3D, D]`, `proj` `[D, D]`. */
  attn: { qkv: LinearParameters; proj: LinearParameters };
  /** The MLP: `fc1` `[mlpRatio·D, D]`, GELU, `fc2` `[D, mlpRatio·D]`. */
  mlp: { fc1: LinearParameters; fc2: LinearParameters };
}

/** The final layer's parameters, named as the reference's `FinalLayer`. */
export interface FinalLayerParameters {
  /** c → shift and scale, `[2D, D]`. */
  adaLNModulation: LinearParameters;
  /** Each token → its patch of the output, `[p·p·2C, D]`. */
  linear: LinearParameters;
}

/** A DiT's parameters, checked against its architecture and arranged as the reference's modules. */
export interface DiTParameters {
  /** The configuration they were checked against. */
  architecture: DiTArchitecture;
  /** How every block takes in c; the reference's DiT is adaLN-Zero throughout. */
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
 * returns them from our `dit.onnx` files.
 *
 * @param weights parameters by PyTorch name.
 * @param architecture the model card's `architecture`.
 * @throws naming the weight, if one is missing or has a shape the architecture does not imply, or if the
 *   stored `pos_embed` is not `sincosPosEmbed2d`'s table.
 *
 * @example The digits model's six blocks
 * ```ts
 * import { ditParameters, readCard, readOnnxWeights } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dir = new URL("../models/digits", import.meta.url).pathname;
 * const dit = ditParameters(readOnnxWeights(`${dir}/dit.onnx`), readCard(dir).architecture);
 * assert.equal(dit.blocks.length, 6);
 * assert.deepEqual(dit.blocks[0].attn.qkv.weight.shape, [576, 192]); // [3D, D]
 * assert.deepEqual(dit.xEmbedder.weight.shape, [192, 4]); // [D, p·p·C]: p = 1
 * ```
 */
export function ditParameters(
  weights: ReadonlyMap<string, Tensor>,
  architecture: DiTArchitecture,
): DiTParameters {
  const {
    inputSize,
    patchSize: p,
    inChannels: C,
    hiddenSize: D,
    depth,
    mlpRatio,
    learnSigma,
    frequencyEmbeddingSize,
    numClasses,
  } = architecture;
  const grid = inputSize / p, T = grid * grid;
  const outChannels = learnSigma ? 2 * C : C;
  const mlpHidden = Math.trunc(D * mlpRatio); // the reference's int(hidden_size * mlp_ratio)
  const param = (name: string, shape: number[]): Tensor => {
    const weight = weights.get(name);
    if (!weight) {
      throw new Error(
        `ditParameters: weight ${name} is missing; expected an initializer of that name (the PyTorch parameter name)`,
      );
    }
    if (weight.shape.join() !== shape.join()) {
      throw new Error(`ditParameters: weight ${name}: expected shape [${shape}], got [${weight.shape}]`);
    }
    return weight;
  };
  const dense = (name: string, outDim: number, inDim: number): LinearParameters => ({
    weight: param(`${name}.weight`, [outDim, inDim]),
    bias: param(`${name}.bias`, [outDim]),
  });
  const posEmbed = sincosPosEmbed2d(D, grid);
  checkPosEmbed(posEmbed, param("pos_embed", [1, T, D]));
  return {
    architecture,
    design: "adaLN-Zero",
    xEmbedder: {
      weight: patchEmbeddingWeight(param("x_embedder.proj.weight", [D, C, p, p])),
      bias: param("x_embedder.proj.bias", [D]),
    },
    posEmbed,
    tEmbedder: {
      mlp: [dense("t_embedder.mlp.0", D, frequencyEmbeddingSize), dense("t_embedder.mlp.2", D, D)],
    },
    yEmbedder: { embeddingTable: param("y_embedder.embedding_table.weight", [numClasses + 1, D]) },
    blocks: Array.from({ length: depth }, (_, i) => ({
      adaLNModulation: dense(`blocks.${i}.adaLN_modulation.1`, 6 * D, D),
      attn: { qkv: dense(`blocks.${i}.attn.qkv`, 3 * D, D), proj: dense(`blocks.${i}.attn.proj`, D, D) },
      mlp: {
        fc1: dense(`blocks.${i}.mlp.fc1`, mlpHidden, D),
        fc2: dense(`blocks.${i}.mlp.fc2`, D, mlpHidden),
      },
    })),
    finalLayer: {
      adaLNModulation: dense("final_layer.adaLN_modulation.1", 2 * D, D),
      linear: dense("final_layer.linear", p * p * outChannels, D),
    },
  };
}

/** What {@link embed} computed: the tokens the first block reads, and the conditioning c. */
export interface Embedded {
  /** `x_embedder(x)`: one token of D features per patch, `[B, T, D]`. */
  patchTokens: Tensor;
  /** The patch tokens plus `pos_embed`: the first block's input, `[B, T, D]`. */
  tokens: Tensor;
  /** `t_embedder(t)`, `[B, D]`. */
  tEmbedding: Tensor;
  /** `y_embedder(y)`: each label's row of the embedding table, `[B, D]`. */
  yEmbedding: Tensor;
  /** The conditioning c = tEmbedding + yEmbedding, `[B, D]`. */
  c: Tensor;
}

/**
 * The DiT's inputs as the blocks take them: the noisy latent x_t cut into tokens with their positions added,
 * and the timestep and label summed into the conditioning c.
 *
 * @param dit the model's parameters ({@link ditParameters}).
 * @param x noisy latents x_t, `[B, C, H, W]` as the architecture says.
 * @param t one timestep per sample (ONNX Runtime takes integers; fractions are allowed here).
 * @param y one label per sample: a class id, or `numClasses` for the null class.
 * @throws if x, t or y does not fit the architecture, naming which.
 *
 * @example c is the sum of the timestep's and the label's embeddings
 * ```ts
 * import { ditParameters, embed, readCard, readOnnxWeights, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dir = new URL("../models/digits", import.meta.url).pathname;
 * const dit = ditParameters(readOnnxWeights(`${dir}/dit.onnx`), readCard(dir).architecture);
 * const { tokens, tEmbedding, yEmbedding, c } = embed(dit, new SeededRandom(0).randn([1, 4, 8, 8]), [500], [3]);
 * assert.deepEqual(tokens.shape, [1, 64, 192]); // 8×8 patches of 1×1, D = 192
 * assert.equal(c.at(0, 7), Math.fround(tEmbedding.at(0, 7) + yEmbedding.at(0, 7)));
 * ```
 */
export function embed(dit: DiTParameters, x: Tensor, t: ArrayLike<number>, y: ArrayLike<number>): Embedded {
  const { inputSize, patchSize: p, inChannels: C, frequencyEmbeddingSize, numClasses } = dit.architecture;
  const layout = `[B, C, H, W] = [B, ${C}, ${inputSize}, ${inputSize}]`;
  const [B, xC, H, W] = dims(x, 4, "embed: x", layout);
  if (xC !== C || H !== inputSize || W !== inputSize) {
    throw new Error(`embed: x: expected shape ${layout}, got [${x.shape}]`);
  }
  for (const [name, values] of [["t", t], ["y", y]] as const) {
    if (values?.length !== B) {
      throw new Error(
        `embed: ${name} has ${describeValue(values?.length)} values; expected one per sample, B = ${B}`,
      );
    }
  }
  const [mlp0, mlp2] = dit.tEmbedder.mlp;
  const patchTokens = dense(dit.xEmbedder, patchify(x, p)); // x_embedder(x): [B, T, D]
  const tokens = add(patchTokens, dit.posEmbed); // + pos_embed: [B, T, D]
  const tEmbedding = dense(mlp2, silu(dense(mlp0, timestepEmbedding(t, frequencyEmbeddingSize)))); // [B, D]
  const yEmbedding = labelEmbedding(dit.yEmbedder.embeddingTable, y, numClasses); // [B, D]
  const c = add(tEmbedding, yEmbedding); // [B, D]
  return { patchTokens, tokens, tEmbedding, yEmbedding, c };
}

/** What one block computed (names as in the reference's `DiTBlock.forward`, camelCased). */
export interface DiTBlockIntermediates {
  /** Shift of the attention branch's modulation, `[B, D]`. */
  shiftMsa: Tensor;
  /** Scale of the attention branch's modulation, `[B, D]`. */
  scaleMsa: Tensor;
  /** Gate of the attention branch's residual, `[B, D]`. */
  gateMsa: Tensor;
  /** Shift of the MLP branch's modulation, `[B, D]`. */
  shiftMlp: Tensor;
  /** Scale of the MLP branch's modulation, `[B, D]`. */
  scaleMlp: Tensor;
  /** Gate of the MLP branch's residual, `[B, D]`. */
  gateMlp: Tensor;
  /** The attention probabilities, `[B, heads, T, T]`: row i is where token i looks. */
  attention: Tensor;
  /** The tokens after the block, `[B, T, D]`. */
  output: Tensor;
}

/**
 * One DiT block on tokens x with conditioning c: self-attention, then an MLP, each a residual branch whose
 * input and output the conditioning shapes as the block's design says. adaLN-Zero, the reference's
 * `DiTBlock.forward`:
 *
 * ```
 * shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = adaLN_modulation(c)   six [B, D]
 * x = x + gate_msa · Attention(modulate(norm1(x), shift_msa, scale_msa))                  [B, T, D]
 * x = x + gate_mlp · MLP(modulate(norm2(x), shift_mlp, scale_mlp))                        [B, T, D]
 * ```
 *
 * @param design how c enters the block ({@link BlockDesign}).
 * @param block the block's parameters (one of {@link DiTParameters}' `blocks`).
 * @param x tokens, `[B, T, D]`.
 * @param c the conditioning, `[B, D]`.
 * @param numHeads attention heads; must divide D.
 * @throws if the design is not one built, or x, c or a weight does not fit the others (naming it).
 *
 * @example With its modulation zeroed, as at the start of training, a block is the identity
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
 */
export function ditBlock(
  design: BlockDesign,
  block: DiTBlockParameters,
  x: Tensor,
  c: Tensor,
  numHeads: number,
): DiTBlockIntermediates {
  if (design !== "adaLN-Zero") {
    throw new Error(
      `ditBlock: design is ${describeValue(design)}; expected "adaLN-Zero" (the only one built)`,
    );
  }
  const [B, , D] = dims(x, 3, "ditBlock: x", "[B, T, D]");
  checkConditioning(c, "ditBlock", B, D);
  const modulation = chunk(dense(block.adaLNModulation, silu(c)), 6); // six [B, D]
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = modulation;
  const attn = selfAttention(block.attn, modulate(layerNorm(x), shiftMsa, scaleMsa), numHeads);
  const h = gatedResidual(x, gateMsa, attn.output); // [B, T, D]
  const output = gatedResidual(h, gateMlp, mlp(block.mlp, modulate(layerNorm(h), shiftMlp, scaleMlp))); // [B, T, D]
  return { shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp, attention: attn.probabilities, output };
}

/** What the final layer computed. */
export interface FinalLayerIntermediates {
  /** The modulation's shift, `[B, D]`. */
  shift: Tensor;
  /** The modulation's scale, `[B, D]`. */
  scale: Tensor;
  /** Each token's patch of the output [ε̂ | v], `[B, T, p·p·2C]`. */
  output: Tensor;
}

/**
 * The final layer, the reference's `FinalLayer.forward`: a last adaptive LayerNorm, then each token to its
 * p×p patch of the output.
 *
 * ```
 * shift, scale = adaLN_modulation(c)            two [B, D]
 * x = linear(modulate(norm_final(x), shift, scale))  [B, T, p·p·2C]
 * ```
 *
 * @param layer the parameters ({@link DiTParameters}' `finalLayer`).
 * @param x the last block's tokens, `[B, T, D]`.
 * @param c the conditioning, `[B, D]`.
 * @throws if x, c or a weight does not fit the others (naming it).
 *
 * @example The digits model's last tokens, each to its 1×1 patch of [ε̂ | v]: 8 numbers
 * ```ts
 * import { ditParameters, finalLayer, readCard, readOnnxWeights, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dir = new URL("../models/digits", import.meta.url).pathname;
 * const dit = ditParameters(readOnnxWeights(`${dir}/dit.onnx`), readCard(dir).architecture);
 * const random = new SeededRandom(0);
 * const { output } = finalLayer(dit.finalLayer, random.randn([1, 64, 192]), random.randn([1, 192]));
 * assert.deepEqual(output.shape, [1, 64, 8]); // [B, T, p·p·2C]
 * ```
 */
export function finalLayer(layer: FinalLayerParameters, x: Tensor, c: Tensor): FinalLayerIntermediates {
  const [B, , D] = dims(x, 3, "finalLayer: x", "[B, T, D]");
  checkConditioning(c, "finalLayer", B, D);
  const [shift, scale] = chunk(dense(layer.adaLNModulation, silu(c)), 2); // two [B, D]
  const output = dense(layer.linear, modulate(layerNorm(x), shift, scale)); // [B, T, p·p·2C]
  return { shift, scale, output };
}

/** Every intermediate of one DiT forward pass ({@link ditForward}). */
export interface DiTIntermediates extends Embedded {
  /** What each block computed, in order. */
  blocks: DiTBlockIntermediates[];
  /** `final_layer`'s shift, `[B, D]`. */
  finalShift: Tensor;
  /** `final_layer`'s scale, `[B, D]`. */
  finalScale: Tensor;
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
 * @param dit the model's parameters ({@link ditParameters}).
 * @param x noisy latents x_t, `[B, C, H, W]`.
 * @param t one timestep per sample.
 * @param y one label per sample: a class id, or the null class.
 * @throws as {@link embed}, if x, t or y does not fit the architecture.
 *
 * @example Look inside the digits model on pure noise at t = 999, asking for a 3
 * ```ts
 * import { ditForward, ditParameters, readCard, readOnnxWeights, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dir = new URL("../models/digits", import.meta.url).pathname;
 * const dit = ditParameters(readOnnxWeights(`${dir}/dit.onnx`), readCard(dir).architecture);
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
  const embedded = embed(dit, x, t, y); // tokens [B, T, D], c [B, D]
  const blocks: DiTBlockIntermediates[] = [];
  let tokens = embedded.tokens;
  for (const block of dit.blocks) {
    const inside = ditBlock(dit.design, block, tokens, embedded.c, numHeads);
    blocks.push(inside);
    tokens = inside.output; // [B, T, D]
  }
  const final = finalLayer(dit.finalLayer, tokens, embedded.c); // [B, T, p·p·2C]
  const out = unpatchify(final.output, p, learnSigma ? 2 * C : C); // [B, 2C, H, W]
  return {
    ...embedded,
    blocks,
    finalShift: final.shift,
    finalScale: final.scale,
    finalTokens: final.output,
    out,
  };
}

/** An `nn.Linear` applied to x: `x·Wᵀ + b`. */
function dense(layer: LinearParameters, x: Tensor): Tensor {
  return linear(x, layer.weight, layer.bias);
}

/** timm's `Attention` as DiT's blocks use it: tokens `[B, T, D]` → `[B, T, D]`, with the probabilities. */
function selfAttention(attn: DiTBlockParameters["attn"], x: Tensor, numHeads: number): AttentionResult {
  return attention(x, attn.qkv.weight, attn.qkv.bias, attn.proj.weight, attn.proj.bias, numHeads);
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
function checkPosEmbed(ours: Tensor, stored: Tensor): void {
  let worst = 0, at = 0;
  for (let i = 0; i < ours.size && !Number.isNaN(worst); i++) {
    const diff = Math.abs(ours.data[i] - stored.data[i]);
    if (!(diff <= worst)) [worst, at] = [diff, i]; // (a NaN stops the search: it is the worst)
  }
  if (!(worst <= POS_EMBED_TOLERANCE)) {
    const [, D] = ours.shape;
    throw new Error(
      `ditParameters: the stored pos_embed differs from sincosPosEmbed2d by ${worst} at token ${
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
