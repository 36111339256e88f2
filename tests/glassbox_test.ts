/**
 * The glass box against ONNX Runtime: the pure-TypeScript DiT built from the concept functions (`embed`,
 * `ditBlock`, `finalLayer`, composed by `ditForward`) computes what the shipped dit.onnx computes, so those
 * functions are the ones the trained models use.
 */
import assert from "node:assert/strict";
import { createDiffusion } from "../lib/diffusion.ts";
import {
  type BlockDesign,
  ditBlock,
  type DiTIntermediates,
  type DiTParameters,
  ditParameters,
  embed,
  finalLayer,
} from "../lib/dit.ts";
import { type DiTCardArchitecture, readDiTCard } from "../lib/model/card.ts";
import { loadGlassBox } from "../lib/model/glass_box.ts";
import { fromOrtTensor, ort, toOrtTensor } from "../lib/model/onnx.ts";
import { readOnnxWeights } from "../lib/model/weights.ts";
import { loadDiT } from "../lib/pipeline.ts";
import { sincosPosEmbed2d } from "../lib/positional.ts";
import { SeededRandom } from "../lib/random.ts";
import { sampleLoop } from "../lib/sampler.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose, assertRelativeError } from "./assert.ts";

const MODELS = new URL("../models/", import.meta.url).pathname;

/**
 * Glass box against ONNX Runtime, max |a − b| / max |b|: both compute in float32, in different orders
 * (measured: 3.3e-7 digits, 7.0e-7 emoji; the ablation's arms 2.8e-7 to 4.4e-7).
 */
const MAX_RELATIVE_ERROR = 1e-6;

/** The block-design ablation's DiT arms (issue 15), one per design; the fifth arm, the U-Net, has no glass box. */
const ARMS: Record<string, BlockDesign> = {
  "digits-adaln-zero": "adaLN-Zero",
  "digits-adaln": "adaLN",
  "digits-cross-attention": "cross-attention",
  "digits-in-context": "in-context",
};

/** max |a − b| / max |b|: the error relative to the output's scale. */
function relativeError(a: Tensor, b: Tensor): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.size; i++) {
    diff = Math.max(diff, Math.abs(a.data[i] - b.data[i]));
    scale = Math.max(scale, Math.abs(b.data[i]));
  }
  return diff / scale;
}

const int64 = (values: number[]) =>
  new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), [values.length]);

for (const name of ["digits", "emoji", ...Object.keys(ARMS)]) {
  const dir = `${MODELS}${name}`;

  Deno.test(`${name}: the glass box's output equals ONNX Runtime's (max relative error ≤ ${MAX_RELATIVE_ERROR.toExponential()})`, async () => {
    const box = loadGlassBox(dir);
    assert.equal(box.parameters.design, ARMS[name] ?? "adaLN-Zero");
    const { channels: C, height: H, width: W } = box.card.latent;
    const x = new SeededRandom(7).randn([2, C, H, W]);
    const t = [999, 17], y = [1, box.card.nullClassId]; // a real class and the null class
    const glass = box.lookInside(x, t, y);
    const session = await ort.InferenceSession.create(`${dir}/${box.card.files.dit}`);
    const onnxOut = fromOrtTensor((await session.run({ x: toOrtTensor(x), t: int64(t), y: int64(y) })).out);
    await session.release();
    assert.deepEqual(glass.out.shape, onnxOut.shape);
    const error = relativeError(glass.out, onnxOut);
    assert.ok(error <= MAX_RELATIVE_ERROR, `max relative error ${error}`);
    checkIntermediates(glass, box.card.architecture, box.parameters);
    checkParts(glass, box.parameters, x, t, y);
    assert.deepEqual(box.forward(x, t, y), glass.out);
  });
}

/** The intermediates have the shapes the architecture and its block design imply, and mean what they say. */
function checkIntermediates(
  glass: DiTIntermediates,
  a: DiTCardArchitecture,
  dit: DiTParameters,
): void {
  const design = dit.design, B = 2, D = a.hiddenSize, T = (a.inputSize / a.patchSize) ** 2;
  const S = design === "in-context" ? T + 2 : T; // the tokens the blocks see
  assert.deepEqual(glass.patchTokens.shape, [B, T, D]);
  assert.deepEqual(glass.tokens.shape, [B, S, D]);
  // the image tokens − patchTokens are the positional table, the same for both samples
  const pos = sincosPosEmbed2d(D, a.inputSize / a.patchSize).data;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T * D; i++) {
      assert.equal(
        glass.tokens.data[b * S * D + i],
        Math.fround(glass.patchTokens.data[b * T * D + i] + pos[i]),
      );
    }
  }
  if (design === "in-context") { // then t and y, as the last two tokens
    for (let b = 0; b < B; b++) {
      assert.deepEqual(glass.tokens.select(b, T), glass.tEmbedding.select(b));
      assert.deepEqual(glass.tokens.select(b, T + 1), glass.yEmbedding.select(b));
    }
  }
  for (const v of [glass.tEmbedding, glass.yEmbedding, glass.c]) assert.deepEqual(v.shape, [B, D]);
  assert.deepEqual(glass.conditioningTokens.shape, [B, 2, D]);
  const adaptive = design === "adaLN-Zero" || design === "adaLN";
  for (const v of [glass.finalShift, glass.finalScale]) {
    assert.deepEqual(v?.shape, adaptive ? [B, D] : undefined);
  }
  // sample 1 asked for the null class: its label embedding is the table's last row
  assert.deepEqual(
    glass.yEmbedding.data.subarray(D),
    dit.yEmbedder.embeddingTable.data.subarray(a.numClasses * D),
  );
  assert.equal(glass.blocks.length, a.depth);
  const rowsSumToOne = (p: Tensor, what: string) => {
    const n = p.shape.at(-1)!;
    for (let row = 0; row < p.size / n; row++) {
      const sum = p.data.subarray(row * n, (row + 1) * n).reduce((s, v) => s + v);
      assert.ok(Math.abs(sum - 1) < 1e-5, `${what}, row ${row} sums to ${sum}`);
    }
  };
  for (const [i, block] of glass.blocks.entries()) {
    for (const name of ["shiftMsa", "scaleMsa", "shiftMlp", "scaleMlp"] as const) {
      assert.deepEqual(block[name]?.shape, adaptive ? [B, D] : undefined, `block ${i} ${name}`);
    }
    for (const name of ["gateMsa", "gateMlp"] as const) {
      assert.deepEqual(
        block[name]?.shape,
        design === "adaLN-Zero" ? [B, D] : undefined,
        `block ${i} ${name}`,
      );
    }
    assert.deepEqual(block.output.shape, [B, S, D]);
    assert.deepEqual(block.attention.shape, [B, a.numHeads, S, S]);
    rowsSumToOne(block.attention, `block ${i}, attention`);
    if (design === "cross-attention") { // each image token splits its attention between the t and the y token
      assert.deepEqual(block.crossAttention?.shape, [B, a.numHeads, T, 2]);
      rowsSumToOne(block.crossAttention!, `block ${i}, cross-attention`);
    } else {
      assert.equal(block.crossAttention, undefined);
    }
  }
  // a trained adaLN-Zero model has opened its gates
  if (design === "adaLN-Zero") assert.ok(glass.blocks[0].gateMsa!.data.some((g) => Math.abs(g) > 1e-3));
  assert.deepEqual(glass.finalTokens.shape, [B, T, a.patchSize ** 2 * 2 * a.inChannels]);
  assert.deepEqual(glass.out.shape, [B, 2 * a.inChannels, a.inputSize, a.inputSize]);
}

/** The parts, called one by one as a learner would, give the forward pass's intermediates. */
function checkParts(glass: DiTIntermediates, dit: DiTParameters, x: Tensor, t: number[], y: number[]): void {
  const { tokens, c, conditioningTokens } = embed(dit, x, t, y);
  assert.deepEqual(tokens, glass.tokens);
  // the cross-attention blocks read t and y as two tokens; the others c (in-context: not at all, they are in h)
  const conditioning = dit.design === "cross-attention" ? conditioningTokens : c;
  let h = tokens;
  for (const [i, block] of dit.blocks.entries()) {
    h = ditBlock(dit.design, block, h, conditioning, dit.architecture.numHeads).output;
    assert.deepEqual(h, glass.blocks[i].output, `block ${i}`);
  }
  if (dit.design === "in-context") { // the t and y tokens leave after the last block
    const [B, S, D] = h.shape, T = S - 2;
    const image = new Float32Array(B * T * D);
    for (let b = 0; b < B; b++) image.set(h.data.subarray(b * S * D, b * S * D + T * D), b * T * D);
    h = new Tensor(image, [B, T, D]);
  }
  assert.deepEqual(finalLayer(dit.finalLayer, h, c).output, glass.finalTokens);
}

Deno.test("the glass box is a DiTModel: sampleLoop on it gives ONNX Runtime's latents", async () => {
  const dir = `${MODELS}digits`;
  const box = loadGlassBox(dir);
  await using dit = await loadDiT(dir);
  const { channels, height, width } = box.card.latent;
  const run = (model: typeof box | typeof dit) =>
    sampleLoop({
      model,
      diffusion: createDiffusion({ respacing: "3" }),
      labels: [3, 8],
      nullClass: box.card.nullClassId,
      latentShape: [channels, height, width],
      random: new SeededRandom(4),
      guidanceScale: 4,
      sampler: "ddim",
    });
  // DDIM's first step, from t = 999, multiplies ε̂'s differences by about √ᾱ_{t-1}/√ᾱ_t ≈ 60, and guidance at
  // 4 by up to 9 more: the engines' 4e-7 become ~5e-5 of the latents' scale (measured: 5.2e-5)
  assertRelativeError(await run(box), await run(dit), 5e-4, "glass box vs ONNX Runtime latents");
});

Deno.test("x_embedder as linear(patchify(x), permuted kernel) equals the strided convolution", () => {
  const dir = `${MODELS}emoji`; // p = 2: the permutation matters only when a patch has several pixels
  const card = readDiTCard(dir), weights = readOnnxWeights(`${dir}/dit.onnx`);
  const { patchSize: p, inChannels: C, hiddenSize: D, inputSize: S } = card.architecture;
  const x = new SeededRandom(3).randn([1, C, S, S]);
  const { patchTokens } = embed(ditParameters(weights, card.architecture), x, [10], [0]);
  // Conv2d(kernel = stride = p) written out: token (gy, gx), channel d
  const kernel = weights.get("x_embedder.proj.weight")!, bias = weights.get("x_embedder.proj.bias")!;
  const grid = S / p, conv = new Float64Array(grid * grid * D);
  for (let gy = 0; gy < grid; gy++) {
    for (let gx = 0; gx < grid; gx++) {
      for (let d = 0; d < D; d++) {
        let sum = bias.data[d];
        for (let c = 0; c < C; c++) {
          for (let i = 0; i < p; i++) {
            for (let j = 0; j < p; j++) sum += kernel.at(d, c, i, j) * x.at(0, c, gy * p + i, gx * p + j);
          }
        }
        conv[(gy * grid + gx) * D + d] = sum;
      }
    }
  }
  assertAllClose(patchTokens.data, conv, { rtol: 1e-5, atol: 1e-5 });
});

Deno.test("ditParameters refuses weights that do not fit the architecture, once, naming the weight", () => {
  const dir = `${MODELS}digits`;
  const card = readDiTCard(dir), weights = readOnnxWeights(`${dir}/dit.onnx`);
  // pos_embed with its two halves (column, row) swapped is no longer sincosPosEmbed2d's table
  const pos = weights.get("pos_embed")!,
    D = card.architecture.hiddenSize,
    swapped = new Float32Array(pos.size);
  for (let i = 0; i < pos.size; i += D) {
    swapped.set(pos.data.subarray(i + D / 2, i + D), i);
    swapped.set(pos.data.subarray(i, i + D / 2), i + D / 2);
  }
  const tampered = new Map(weights).set("pos_embed", new Tensor(swapped, pos.shape));
  assert.throws(
    () => ditParameters(tampered, card.architecture),
    /^Error: ditParameters: the stored pos_embed differs from sincosPosEmbed2d by .* at token \d+, feature \d+; expected them equal to float32 precision \(0.000001\)$/,
  );
  const broken = new Float32Array(pos.data);
  broken[0] = NaN;
  assert.throws(
    () => ditParameters(new Map(weights).set("pos_embed", new Tensor(broken, pos.shape)), card.architecture),
    /the stored pos_embed differs from sincosPosEmbed2d by NaN at token 0, feature 0/,
  );
  const missing = new Map(weights);
  missing.delete("blocks.4.mlp.fc2.bias");
  assert.throws(
    () => ditParameters(missing, card.architecture),
    /^Error: ditParameters: weight blocks\.4\.mlp\.fc2\.bias is missing; expected an initializer of that name \(the PyTorch parameter name\)$/,
  );
  assert.throws(
    () => ditParameters(weights, { ...card.architecture, hiddenSize: 256 }),
    /^Error: ditParameters: weight pos_embed: expected shape \[1,64,256\], got \[1,64,192\]$/,
  );
});

Deno.test("embed, ditBlock and finalLayer refuse inputs that do not fit, in one line naming what and what fits", () => {
  const dir = `${MODELS}digits`;
  const card = readDiTCard(dir);
  const dit = ditParameters(readOnnxWeights(`${dir}/dit.onnx`), card.architecture);
  const x = new SeededRandom(0).randn([1, 4, 8, 8]);
  assert.throws(
    () => embed(dit, x, [0], [11]),
    /^Error: embed: y\[0\] is 11; expected a class id in \[0, 10\] \(10 is the null class\)$/,
  );
  assert.throws(() => embed(dit, x, [0], [2.5]), /^Error: embed: y\[0\] is 2\.5; expected a class id/);
  assert.throws(
    () => embed(dit, x, [0, 1], [0]),
    /^Error: embed: t has 2 values; expected one per sample, B = 1$/,
  );
  assert.throws(
    () => embed(dit, new SeededRandom(0).randn([1, 4, 16, 16]), [0], [0]),
    /^Error: embed: x: expected shape \[B, C, H, W\] = \[B, 4, 8, 8\], got \[1,4,16,16\]$/,
  );
  // the null class (10) is a valid label
  const { tokens, c, conditioningTokens } = embed(dit, x, [0], [10]);
  assert.deepEqual(tokens.shape, [1, 64, 192]);
  assert.throws(
    () => ditBlock("cross attention" as BlockDesign, dit.blocks[0], tokens, c, 3),
    /^Error: ditBlock: design is "cross attention" \(a string\); expected one of "in-context", "cross-attention", "adaLN", "adaLN-Zero"$/,
  );
  // an adaLN-Zero block run as another design lacks that design's layer, or has the wrong modulation
  assert.throws(
    () => ditBlock("cross-attention", dit.blocks[0], tokens, conditioningTokens, 3),
    /^Error: ditBlock: block\.crossAttn is missing; the "cross-attention" design needs it$/,
  );
  assert.throws(
    () => ditBlock("cross-attention", dit.blocks[0], tokens, c, 3),
    /^Error: ditBlock: c: expected shape \[B, 2, D\] = \[1, 2, 192\] \(embed's conditioningTokens\), got \[1,192\]$/,
  );
  assert.throws(
    () => ditBlock("adaLN", dit.blocks[0], tokens, c, 3),
    /^Error: ditBlock: block\.adaLNModulation\.weight: expected shape \[4D, D\] = \[768, 192\] for "adaLN" \(shiftMsa, scaleMsa, shiftMlp, scaleMlp\), got \[1152,192\]$/,
  );
  const { adaLNModulation: _, ...unmodulated } = dit.blocks[0];
  assert.throws(
    () => ditBlock("adaLN-Zero", unmodulated, tokens, c, 3),
    /^Error: ditBlock: block\.adaLNModulation is missing; the "adaLN-Zero" design needs it$/,
  );
  assert.throws(
    () =>
      ditParameters(readOnnxWeights(`${dir}/dit.onnx`), {
        ...card.architecture,
        block: "adaln" as BlockDesign,
      }),
    /^Error: ditParameters: architecture\.block is "adaln" \(a string\); expected one of "in-context", "cross-attention", "adaLN", "adaLN-Zero"$/,
  );
  // the weights of one design are not another's
  assert.throws(
    () =>
      ditParameters(readOnnxWeights(`${dir}/dit.onnx`), { ...card.architecture, block: "cross-attention" }),
    /^Error: ditParameters: weight blocks\.0\.cross_attn\.q\.weight is missing; expected an initializer of that name/,
  );
  assert.throws(
    () => ditBlock("adaLN-Zero", dit.blocks[0], tokens, Tensor.zeros([2, 192]), 3),
    /^Error: ditBlock: c: expected shape \[B, D\] = \[1, 192\], got \[2,192\]$/,
  );
  assert.throws(
    () => finalLayer(dit.finalLayer, Tensor.zeros([1, 64]), c),
    /^Error: finalLayer: x: expected shape \[B, T, D\], got \[1,64\]$/,
  );
});
