/**
 * The glass box: a DiT's forward pass in plain TypeScript, over the weights
 * read out of its `dit.onnx`, keeping every intermediate so you can look inside.
 *
 * It is assembled from the toolkit's own concept functions (`patchify`,
 * `sincosPosEmbed2d`, `timestepEmbedding`, `layerNorm`, `modulate`,
 * `attention`, `gatedResidual`, `unpatchify`), step for step as the
 * reference's `DiT.forward`:
 *
 * ```
 * x  = x_embedder(x) + pos_embed               patch tokens plus their positions, [B, T, D]
 * c  = t_embedder(t) + y_embedder(y)           the conditioning, [B, D]
 * x  = block(x, c)  for each of the blocks     adaLN-Zero transformer blocks
 * ε̂|v = unpatchify(final_layer(x, c))          [B, 2C, H, W]
 * ```
 *
 * So the test that its output equals ONNX Runtime's (tests/glassbox_test.ts)
 * proves that each concept function is the one the trained model computes.
 * It is slower than ONNX Runtime; it is here to be read and looked into.
 *
 * @module
 */
import { attention } from "../attention.ts";
import { gatedResidual, layerNorm, modulate } from "../adaln.ts";
import { gelu, linear, silu } from "../nn.ts";
import { patchify, unpatchify } from "../patchify.ts";
import { sincosPosEmbed2d } from "../positional.ts";
import { dims, Tensor } from "../tensor.ts";
import { timestepEmbedding } from "../timestep.ts";
import { type ModelCard, readCard } from "./card.ts";
import { verifyOnnxFile } from "./folder.ts";
import { readOnnxWeights } from "./weights.ts";

/** DiT's LayerNorms (`norm1`, `norm2`, `norm_final`) all use this eps. */
const LAYER_NORM_EPS = 1e-6;

/** How far the stored `pos_embed` may be from `sincosPosEmbed2d`'s table: float32 rounding, no more. */
const POS_EMBED_TOLERANCE = 1e-6;

/** What one DiT block computed (names as in the reference's `DiTBlock.forward`, camelCased). */
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

/** Every intermediate of one DiT forward pass ({@link ditForward}). */
export interface DiTIntermediates {
  /** The patch tokens out of `x_embedder`, `[B, T, D]`. */
  patchTokens: Tensor;
  /** The patch tokens plus the positional embedding: the first block's input, `[B, T, D]`. */
  tokens: Tensor;
  /** `t_embedder(t)`, `[B, D]`. */
  tEmbedding: Tensor;
  /** `y_embedder(y)`: each label's row of the embedding table, `[B, D]`. */
  yEmbedding: Tensor;
  /** The conditioning c = tEmbedding + yEmbedding, `[B, D]`. */
  c: Tensor;
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
 * Runs a DiT on noisy latents x_t at timesteps t with labels y, returning every
 * intermediate. Architecture facts come from the card; weights are looked up
 * by the reference's PyTorch parameter names (`blocks.3.attn.qkv.weight`).
 *
 * @param weights the model's parameters by name, as {@link readOnnxWeights} returns them.
 * @param card the model's card ({@link readCard}).
 * @param x noisy latents x_t, `[B, C, H, W]` as the card's `latent` says.
 * @param t one timestep per sample (ONNX Runtime takes integers; fractions are allowed here).
 * @param y one label per sample: a class id, or `card.nullClassId` for "no class".
 * @throws if x, t or y does not fit the card, if a weight is missing or has a
 *   shape the card does not imply (naming it), or if the stored `pos_embed` is
 *   not `sincosPosEmbed2d`'s table.
 *
 * @example Look inside the digits model on pure noise at t = 999, asking for a 3
 * ```ts
 * import { ditForward, readCard, readOnnxWeights, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dir = new URL("../../models/digits", import.meta.url).pathname;
 * const weights = readOnnxWeights(`${dir}/dit.onnx`);
 * const step = ditForward(weights, readCard(dir), new SeededRandom(0).randn([1, 4, 8, 8]), [999], [3]);
 * assert.deepEqual(step.out.shape, [1, 8, 8, 8]); // [ε̂ | v]
 * assert.equal(step.blocks.length, 6);
 * assert.deepEqual(step.blocks[0].attention.shape, [1, 3, 64, 64]); // 3 heads over 64 tokens
 * ```
 */
export function ditForward(
  weights: ReadonlyMap<string, Tensor>,
  card: ModelCard,
  x: Tensor,
  t: ArrayLike<number>,
  y: ArrayLike<number>,
): DiTIntermediates {
  const {
    inputSize,
    patchSize: p,
    inChannels: C,
    hiddenSize: D,
    depth,
    numHeads,
    mlpRatio,
    learnSigma,
    frequencyEmbeddingSize,
    numClasses,
  } = card.architecture;
  const [B, xC, H, W] = dims(x, 4, "ditForward: x", `[B, C, H, W] = [B, ${C}, ${inputSize}, ${inputSize}]`);
  if (xC !== C || H !== inputSize || W !== inputSize) {
    throw new Error(
      `ditForward: x: expected shape [B, C, H, W] = [B, ${C}, ${inputSize}, ${inputSize}] (card ${card.name}), got [${x.shape}]`,
    );
  }
  for (const [name, values] of [["t", t], ["y", y]] as const) {
    if (values.length !== B) {
      throw new Error(`ditForward: ${name} has ${values.length} values; expected one per sample, B = ${B}`);
    }
  }
  const grid = inputSize / p, T = grid * grid;
  const outChannels = learnSigma ? 2 * C : C;
  const mlpHidden = Math.trunc(D * mlpRatio); // the reference's int(hidden_size * mlp_ratio)
  const param = (name: string, shape: number[]): Tensor => {
    const weight = weights.get(name);
    if (!weight) {
      throw new Error(
        `ditForward: weight ${name} is missing; expected an initializer of that name (the PyTorch parameter name)`,
      );
    }
    if (weight.shape.join() !== shape.join()) {
      throw new Error(
        `ditForward: weight ${name}: expected shape [${shape}] (card ${card.name}), got [${weight.shape}]`,
      );
    }
    return weight;
  };
  // a named nn.Linear: its weight [out, in] and bias [out], applied to x
  const dense = (name: string, x: Tensor, outDim: number, inDim: number) =>
    linear(x, param(`${name}.weight`, [outDim, inDim]), param(`${name}.bias`, [outDim]));

  // x_embedder: each p×p patch becomes one token of D features
  const patchTokens = linear(
    patchify(x, p),
    patchEmbeddingWeight(param("x_embedder.proj.weight", [D, C, p, p])),
    param("x_embedder.proj.bias", [D]),
  );
  // pos_embed: the concept function's table is the one added, once shown to be the model's own
  const posEmbed = sincosPosEmbed2d(D, grid);
  checkPosEmbed(posEmbed, param("pos_embed", [1, T, D]));
  const tokens = add(patchTokens, posEmbed);

  // t_embedder: sinusoidal features of t, then Linear → SiLU → Linear
  const tEmbedding = dense(
    "t_embedder.mlp.2",
    silu(dense("t_embedder.mlp.0", timestepEmbedding(t, frequencyEmbeddingSize), D, frequencyEmbeddingSize)),
    D,
    D,
  );
  const yEmbedding = labelEmbedding(
    param("y_embedder.embedding_table.weight", [numClasses + 1, D]),
    y,
    numClasses,
  );
  const c = add(tEmbedding, yEmbedding);
  // every adaLN_modulation starts with SiLU(c): compute it once
  const siluC = silu(c);

  const blocks: DiTBlockIntermediates[] = [];
  let h = tokens;
  for (let i = 0; i < depth; i++) {
    // x = x + gate_msa · Attention(modulate(norm1(x), shift_msa, scale_msa))
    // x = x + gate_mlp · MLP(modulate(norm2(x), shift_mlp, scale_mlp))
    const block = (name: string, shape: number[]) => param(`blocks.${i}.${name}`, shape);
    const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = chunk(
      dense(`blocks.${i}.adaLN_modulation.1`, siluC, 6 * D, D),
      6,
    );
    const attn = attention(
      modulate(layerNorm(h, LAYER_NORM_EPS), shiftMsa, scaleMsa),
      block("attn.qkv.weight", [3 * D, D]),
      block("attn.qkv.bias", [3 * D]),
      block("attn.proj.weight", [D, D]),
      block("attn.proj.bias", [D]),
      numHeads,
    );
    h = gatedResidual(h, gateMsa, attn.output);
    const hidden = dense(
      `blocks.${i}.mlp.fc1`,
      modulate(layerNorm(h, LAYER_NORM_EPS), shiftMlp, scaleMlp),
      mlpHidden,
      D,
    );
    const mlp = dense(`blocks.${i}.mlp.fc2`, gelu(hidden), D, mlpHidden);
    h = gatedResidual(h, gateMlp, mlp);
    blocks.push({
      shiftMsa,
      scaleMsa,
      gateMsa,
      shiftMlp,
      scaleMlp,
      gateMlp,
      attention: attn.probabilities,
      output: h,
    });
  }

  // final_layer: modulated LayerNorm, then each token to its patch of [ε̂ | v]
  const [finalShift, finalScale] = chunk(dense("final_layer.adaLN_modulation.1", siluC, 2 * D, D), 2);
  const finalTokens = dense(
    "final_layer.linear",
    modulate(layerNorm(h, LAYER_NORM_EPS), finalShift, finalScale),
    p * p * outChannels,
    D,
  );
  const out = unpatchify(finalTokens, p, outChannels);
  return { patchTokens, tokens, tEmbedding, yEmbedding, c, blocks, finalShift, finalScale, finalTokens, out };
}

/** y_embedder: each label's row of the embedding table, whose last row is the null class. */
function labelEmbedding(table: Tensor, y: ArrayLike<number>, numClasses: number): Tensor {
  const [, D] = table.shape;
  const out = new Float32Array(y.length * D);
  for (let b = 0; b < y.length; b++) {
    const label = y[b];
    if (!Number.isInteger(label) || label < 0 || label > numClasses) {
      throw new Error(
        `ditForward: y[${b}] is ${label}; expected a class id in [0, ${numClasses}] (${numClasses} is the null class)`,
      );
    }
    out.set(table.data.subarray(label * D, (label + 1) * D), b * D);
  }
  return new Tensor(out, [y.length, D]);
}

/**
 * `x_embedder` is a convolution with kernel = stride = p, so it applies one
 * linear map to each p×p patch on its own: a dot product of the patch with
 * each output channel's `[C, p, p]` kernel. `patchify` flattens a patch in
 * (row, column, channel) order, the kernel is stored (channel, row, column);
 * permuting the kernel to (row, column, channel) makes the conv exactly
 * `linear(patchify(x, p), W')`: `[D, C, p, p]` → W' `[D, p·p·C]`.
 */
function patchEmbeddingWeight(convWeight: Tensor): Tensor {
  const [D, C, p] = convWeight.shape;
  const out = new Float32Array(convWeight.size);
  for (let d = 0; d < D; d++) {
    for (let i = 0; i < p; i++) {
      for (let j = 0; j < p; j++) {
        for (let c = 0; c < C; c++) {
          out[((d * p + i) * p + j) * C + c] = convWeight.data[((d * C + c) * p + i) * p + j];
        }
      }
    }
  }
  return new Tensor(out, [D, p * p * C]);
}

/** Throws unless the model's stored `pos_embed` [1, T, D] is our table to float32 precision. */
function checkPosEmbed(ours: Tensor, stored: Tensor): void {
  let worst = 0, at = 0;
  for (let i = 0; i < ours.size; i++) {
    const diff = Math.abs(ours.data[i] - stored.data[i]);
    if (!(diff <= worst)) [worst, at] = [diff, i];
  }
  if (worst > POS_EMBED_TOLERANCE) {
    const [, D] = ours.shape;
    throw new Error(
      `ditForward: the stored pos_embed differs from sincosPosEmbed2d by ${worst} at token ${
        Math.floor(at / D)
      }, feature ${at % D}; expected them equal to float32 precision (${POS_EMBED_TOLERANCE})`,
    );
  }
}

/** `a + b`, with b repeated over a's leading dimensions (as pos_embed [T, D] is added to every sample). */
function add(a: Tensor, b: Tensor): Tensor {
  const out = new Float32Array(a.size);
  for (let i = 0; i < a.size; i++) out[i] = a.data[i] + b.data[i % b.size];
  return new Tensor(out, a.shape);
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

/** A model ready to run in the glass box: its card, its weights, and its forward pass. */
export interface GlassBox {
  /** The model's card. */
  card: ModelCard;
  /** Its parameters by PyTorch name, read from its `dit.onnx`. */
  weights: Map<string, Tensor>;
  /** {@link ditForward} with this model's weights and card. */
  forward(x: Tensor, t: ArrayLike<number>, y: ArrayLike<number>): DiTIntermediates;
}

/**
 * Loads a model folder (its `card.json` and the DiT file the card names) into the glass box.
 *
 * The folder is a sandbox, as for `loadDiT`: the card is schema-checked ({@link readCard}), and the DiT file
 * and the weights file it names must be regular files inside the folder whose sha256 is the card's
 * ({@link verifyOnnxFile}) before a byte of them is read.
 *
 * @param modelDir a folder like `models/digits`.
 * @throws a one-line `Error` if the card or the ONNX file cannot be read, is outside the folder, differs
 *   from the card's hash or is invalid.
 *
 * @example The conditioning c is the sum of the timestep and label embeddings
 * ```ts
 * import { loadGlassBox, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dit = loadGlassBox(new URL("../../models/digits", import.meta.url).pathname);
 * const { tEmbedding, yEmbedding, c } = dit.forward(new SeededRandom(1).randn([2, 4, 8, 8]), [500, 500], [7, dit.card.nullClassId]);
 * assert.equal(c.at(1, 5), Math.fround(tEmbedding.at(1, 5) + yEmbedding.at(1, 5)));
 * assert.deepEqual(yEmbedding.data.subarray(192), dit.weights.get("y_embedder.embedding_table.weight")!.data.subarray(10 * 192));
 * ```
 */
export function loadGlassBox(modelDir: string): GlassBox {
  const card = readCard(modelDir);
  const weights = readOnnxWeights(verifyOnnxFile(modelDir, card, card.files.dit));
  return { card, weights, forward: (x, t, y) => ditForward(weights, card, x, t, y) };
}
