/**
 * The glass box against ONNX Runtime: the pure-TypeScript DiT built from the concept functions computes what
 * the shipped dit.onnx computes, so those functions are the ones the trained models use.
 */
import assert from "node:assert/strict";
import { type ModelCard, readCard } from "../lib/model/card.ts";
import { fromOrtTensor, ort, toOrtTensor } from "../lib/model/onnx.ts";
import { ditForward, type DiTIntermediates, loadGlassBox } from "../lib/model/reference.ts";
import { readOnnxWeights } from "../lib/model/weights.ts";
import { sincosPosEmbed2d } from "../lib/positional.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose } from "./assert.ts";

const MODELS = new URL("../models/", import.meta.url).pathname;
const MAX_RELATIVE_ERROR = 1e-6;

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

for (const name of ["digits", "emoji"]) {
  const dir = `${MODELS}${name}`;

  Deno.test(`${name}: the glass box's output equals ONNX Runtime's (max relative error < ${MAX_RELATIVE_ERROR})`, async () => {
    const box = loadGlassBox(dir);
    const { channels: C, height: H, width: W } = box.card.latent;
    const x = new SeededRandom(7).randn([2, C, H, W]);
    const t = [999, 17], y = [1, box.card.nullClassId]; // a real class and the null class
    const glass = box.forward(x, t, y);
    const session = await ort.InferenceSession.create(`${dir}/${box.card.files.dit}`);
    const onnxOut = fromOrtTensor((await session.run({ x: toOrtTensor(x), t: int64(t), y: int64(y) })).out);
    await session.release();
    assert.deepEqual(glass.out.shape, onnxOut.shape);
    const error = relativeError(glass.out, onnxOut);
    assert.ok(error < MAX_RELATIVE_ERROR, `max relative error ${error}`);
    checkIntermediates(glass, box.card.architecture, box.weights);
  });
}

/** The intermediates have the shapes the architecture implies and mean what they say. */
function checkIntermediates(
  glass: DiTIntermediates,
  a: ModelCard["architecture"],
  weights: Map<string, Tensor>,
): void {
  const B = 2, D = a.hiddenSize, T = (a.inputSize / a.patchSize) ** 2;
  assert.deepEqual(glass.patchTokens.shape, [B, T, D]);
  // tokens − patchTokens is the positional table, the same for both samples
  const pos = sincosPosEmbed2d(D, a.inputSize / a.patchSize).data;
  for (let i = 0; i < B * T * D; i++) {
    assert.equal(glass.tokens.data[i], Math.fround(glass.patchTokens.data[i] + pos[i % (T * D)]));
  }
  for (const v of [glass.tEmbedding, glass.yEmbedding, glass.c, glass.finalShift, glass.finalScale]) {
    assert.deepEqual(v.shape, [B, D]);
  }
  // sample 1 asked for the null class: its label embedding is the table's last row
  assert.deepEqual(
    glass.yEmbedding.data.subarray(D),
    weights.get("y_embedder.embedding_table.weight")!.data.subarray(a.numClasses * D),
  );
  assert.equal(glass.blocks.length, a.depth);
  for (const [i, block] of glass.blocks.entries()) {
    for (
      const gate of [
        block.shiftMsa,
        block.scaleMsa,
        block.gateMsa,
        block.shiftMlp,
        block.scaleMlp,
        block.gateMlp,
      ]
    ) {
      assert.deepEqual(gate.shape, [B, D], `block ${i}`);
    }
    assert.deepEqual(block.output.shape, [B, T, D]);
    assert.deepEqual(block.attention.shape, [B, a.numHeads, T, T]);
    for (let row = 0; row < B * a.numHeads * T; row++) {
      const sum = block.attention.data.subarray(row * T, (row + 1) * T).reduce((s, p) => s + p);
      assert.ok(Math.abs(sum - 1) < 1e-5, `block ${i}, attention row ${row} sums to ${sum}`);
    }
  }
  // a trained adaLN-Zero model has opened its gates
  assert.ok(glass.blocks[0].gateMsa.data.some((g) => Math.abs(g) > 1e-3));
  assert.deepEqual(glass.finalTokens.shape, [B, T, a.patchSize ** 2 * 2 * a.inChannels]);
  assert.deepEqual(glass.out.shape, [B, 2 * a.inChannels, a.inputSize, a.inputSize]);
}

Deno.test("x_embedder as linear(patchify(x), permuted kernel) equals the strided convolution", () => {
  const dir = `${MODELS}emoji`; // p = 2: the permutation matters only when a patch has several pixels
  const card = readCard(dir), weights = readOnnxWeights(`${dir}/dit.onnx`);
  const { patchSize: p, inChannels: C, hiddenSize: D, inputSize: S } = card.architecture;
  const x = new SeededRandom(3).randn([1, C, S, S]);
  const { patchTokens } = ditForward(weights, card, x, [10], [0]);
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

Deno.test("the glass box refuses weights, inputs and labels that do not fit its card", () => {
  const dir = `${MODELS}digits`;
  const card = readCard(dir), weights = readOnnxWeights(`${dir}/dit.onnx`);
  const x = new SeededRandom(0).randn([1, 4, 8, 8]);
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
    () => ditForward(tampered, card, x, [0], [0]),
    /the stored pos_embed differs from sincosPosEmbed2d/,
  );
  const missing = new Map(weights);
  missing.delete("blocks.4.mlp.fc2.bias");
  assert.throws(() => ditForward(missing, card, x, [0], [0]), /weight blocks\.4\.mlp\.fc2\.bias is missing/);
  const wider = { ...card, architecture: { ...card.architecture, hiddenSize: 256 } };
  assert.throws(
    () => ditForward(weights, wider, x, [0], [0]),
    /weight x_embedder\.proj\.weight: expected shape \[256,4,1,1\]/,
  );
  assert.throws(
    () => ditForward(weights, card, x, [0], [11]),
    /y\[0\] is 11; expected a class id in \[0, 10\]/,
  );
  assert.throws(() => ditForward(weights, card, x, [0], [2.5]), /y\[0\] is 2.5/);
  assert.throws(
    () => ditForward(weights, card, x, [0, 1], [0]),
    /t has 2 values; expected one per sample, B = 1/,
  );
  assert.throws(
    () => ditForward(weights, card, new SeededRandom(0).randn([1, 4, 16, 16]), [0], [0]),
    /x: expected shape \[B, C, H, W\] = \[B, 4, 8, 8\]/,
  );
  // the null class (10) is a valid label
  assert.deepEqual(ditForward(weights, card, x, [0], [10]).out.shape, [1, 8, 8, 8]);
});
