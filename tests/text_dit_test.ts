/**
 * The text-conditioned DiT. Its parts (`lib/text_dit.ts`, `ditBlock` given words) against an independent PyTorch
 * restatement (tests/reference/dit_reference.py's `textDiT`: a small random text DiT, each encoder layer, the
 * words, each block, [ε̂ | v]); and a tiny random text model exported by the recipe (tests/fixtures/text-dit,
 * made by tests/reference/text_dit_fixture.py) through ONNX Runtime against the recipe's PyTorch output, and the
 * glass box against ONNX Runtime; then what the padding mask promises, and sampling from prompts. With PyTorch
 * installed, the stored tiny model is re-exported and must be what is stored.
 */
import assert from "node:assert/strict";
import { createDiffusion } from "../lib/diffusion.ts";
import { ditBlock } from "../lib/dit.ts";
import { loadTextGlassBox } from "../lib/model/glass_box.ts";
import { fromOrtTensor, ort, toOrtTensor } from "../lib/model/onnx.ts";
import { loadDiT } from "../lib/pipeline.ts";
import { SeededRandom } from "../lib/random.ts";
import { sampleLoop } from "../lib/sampler.ts";
import { maxRelativeDifference, Tensor } from "../lib/tensor.ts";
import {
  captionsAsLabels,
  poolWords,
  textDiTForward,
  textDiTParameters,
  textEncoder,
  wordAttentionMaps,
} from "../lib/text_dit.ts";
import { assertRelativeError } from "./assert.ts";
import { CONCEPT_TOLERANCE, type Packed, reference, tensor } from "./fixtures.ts";
import { pythonOrSkip, TORCH_INSTALL } from "../cli/python.ts";

const FIXTURE = new URL("./fixtures/text-dit", import.meta.url).pathname;
const check = JSON.parse(Deno.readTextFileSync(new URL("./fixtures/text_dit_check.json", import.meta.url)));

/** Glass box against ONNX Runtime, as for the shipped models (tests/glassbox_test.ts): float32 both, other orders. */
const MAX_RELATIVE_ERROR = 1e-6;

const restated = reference.textDiT as {
  architecture: Parameters<typeof textDiTParameters>[1];
  x: Packed;
  t: number[];
  ids: number[][];
  weights: Record<string, Packed>;
  encoderLayers: Packed[];
  words: Packed;
  blockOutputs: Packed[];
  out: Packed;
};
const restatedWeights = new Map(Object.entries(restated.weights).map(([name, v]) => [name, tensor(v)]));

Deno.test("textDiTForward equals the PyTorch restatement: each encoder layer, the words, each block, [ε̂ | v]", () => {
  const dit = textDiTParameters(restatedWeights, restated.architecture);
  const inside = textDiTForward(dit, tensor(restated.x), restated.t, restated.ids);
  restated.encoderLayers.forEach((want, i) =>
    assertRelativeError(inside.text.layers[i].output, tensor(want), CONCEPT_TOLERANCE, `encoder layer ${i}`)
  );
  assertRelativeError(inside.words, tensor(restated.words), CONCEPT_TOLERANCE, "words");
  restated.blockOutputs.forEach((want, i) =>
    assertRelativeError(inside.blocks[i].output, tensor(want), CONCEPT_TOLERANCE, `block ${i}`)
  );
  assertRelativeError(inside.out, tensor(restated.out), CONCEPT_TOLERANCE, "[ε̂ | v]");
  // the third prompt is the null caption: one key ([null]), so every patch gives it all of its attention
  const [B, heads, T, L] = inside.blocks[0].crossAttention!.shape;
  assert.deepEqual([B, heads, T, L], [3, 2, 4, 4]);
  for (let i = 0; i < heads * T; i++) {
    assert.deepEqual([
      ...inside.blocks[1].crossAttention!.data.subarray((2 * heads * T + i) * L, (2 * heads * T + i + 1) * L),
    ], [1, 0, 0, 0]);
  }
});

Deno.test("the tiny exported text model: ONNX Runtime equals the recipe's PyTorch (1e-4), the int8 graph is near it", async () => {
  const x = tensor(check.x), ids = check.ids as number[][];
  const feeds = {
    x: toOrtTensor(x),
    t: new ort.Tensor("int64", BigInt64Array.from(check.t.map(BigInt)), [check.t.length]),
    y: new ort.Tensor("int64", BigInt64Array.from(ids.flat().map(BigInt)), [ids.length, ids[0].length]),
  };
  const pytorch = tensor(check.out);
  assert.ok(pytorch.data.some((v) => Math.abs(v) > 0.1), "the random model's output is not ~0");
  for (const [file, max] of [["dit.onnx", 1e-4], ["dit_int8.onnx", 0.05]] as const) {
    const session = await ort.InferenceSession.create(`${FIXTURE}/${file}`);
    const out = fromOrtTensor((await session.run(feeds)).out);
    await session.release();
    const error = maxRelativeDifference(out, pytorch);
    assert.ok(error <= max && (file === "dit.onnx" || error > 0), `${file} vs PyTorch: ${error}`);
  }
});

Deno.test(`the tiny text model's glass box equals ONNX Runtime within ${MAX_RELATIVE_ERROR} (padding, every position, the null caption)`, async () => {
  const box = loadTextGlassBox(FIXTURE);
  await using dit = await loadDiT(FIXTURE);
  const x = tensor(check.x), ids = check.ids as number[][];
  assert.deepEqual(ids.map((row) => row.filter((id) => id === 0).length), [4, 3, 3, 0, 5]); // (what is covered)
  const glass = box.lookInside(x, check.t, ids);
  const onnx = await dit.forward(x, check.t, ids);
  const error = maxRelativeDifference(glass.out, onnx);
  assert.ok(error <= MAX_RELATIVE_ERROR, `glass box vs ONNX Runtime: ${error}`);
  // the prompts as the glass box tokenizes them are the rows the recipe tokenized
  assert.deepEqual(check.prompts.map((p: string) => box.tokenize(p).ids), ids.slice(0, 4));
  assert.deepEqual(box.nullCaption, ids[4]);
});

Deno.test("the padding mask: what sits at a [pad] position changes nothing; what sits at a word's changes the output", () => {
  const box = loadTextGlassBox(FIXTURE);
  const x = tensor(check.x), ids = check.ids as number[][];
  const before = box.forward(x, check.t, ids);
  const p = box.parameters, [L, E] = p.textEncoder.positionalEmbedding.shape;
  // a new learned position for the last slot, and a new [pad] embedding: only rows 0-3 have padding there
  const positions = new Float32Array(p.textEncoder.positionalEmbedding.data);
  for (let e = 0; e < E; e++) positions[(L - 1) * E + e] += 5;
  const table = new Float32Array(p.textEncoder.tokenEmbedding.data);
  for (let e = 0; e < E; e++) table[e] += 5; // row 0: [pad]
  const moved = {
    ...p,
    textEncoder: {
      ...p.textEncoder,
      positionalEmbedding: new Tensor(positions, [L, E]),
      tokenEmbedding: new Tensor(table, p.textEncoder.tokenEmbedding.shape),
    },
  };
  const after = textDiTForward(moved, x, check.t, ids).out;
  const C = after.size / ids.length;
  for (const [b, row] of ids.entries()) {
    const [was, now] = [before, after].map((out) => out.data.subarray(b * C, (b + 1) * C));
    if (row[L - 1] === 0) assert.deepEqual(now, was, `row ${b} ends in [pad]: unchanged`);
    else assert.notDeepEqual(now, was, `row ${b} has a word in the last slot: changed`);
  }
});

Deno.test("per-word maps: each patch's attention over the words sums to 1, [pad] gets none, pooling leaves it out", () => {
  const box = loadTextGlassBox(FIXTURE);
  const x = tensor(check.x), ids = check.ids as number[][];
  const inside = box.lookInside(x, check.t, ids);
  const { inputSize, patchSize, depth } = box.card.architecture;
  const grid = inputSize / patchSize, T = grid * grid, L = ids[0].length;
  assert.deepEqual(inside.wordMaps.shape, [ids.length, L, grid, grid]);
  for (const [b, row] of ids.entries()) {
    for (let i = 0; i < T; i++) {
      let sum = 0;
      for (let l = 0; l < L; l++) {
        const v = inside.wordMaps.data[(b * L + l) * T + i];
        if (row[l] === 0) assert.equal(v, 0, `sample ${b}, word ${l} is [pad]`);
        sum += v;
      }
      assert.ok(Math.abs(sum - 1) < 1e-6, `sample ${b}, patch ${i}: ${sum}`);
    }
  }
  // wordMaps is the mean of the blocks' maps
  const perBlock = inside.blocks.map((b) => wordAttentionMaps(b.crossAttention!, grid));
  const mean = perBlock[0].data.map((_, i) => perBlock.reduce((s, m) => s + m.data[i], 0) / depth);
  assertRelativeError(inside.wordMaps, new Tensor(mean, inside.wordMaps.shape), 1e-6, "mean of the blocks");
  // the pooled words are the mean of the words at the unpadded positions, written out here
  const D = inside.words.shape[2];
  for (const [b, row] of ids.entries()) {
    const kept = row.map((id, l) => (id === 0 ? -1 : l)).filter((l) => l >= 0);
    for (let d = 0; d < D; d++) {
      const want = kept.reduce((s, l) => s + inside.words.data[(b * L + l) * D + d], 0) / kept.length;
      assert.ok(Math.abs(inside.pooledWords.data[b * D + d] - want) < 1e-6);
    }
  }
  assert.deepEqual(poolWords(inside.words, inside.text.mask), inside.pooledWords);
});

Deno.test("the parts called one by one, as a learner would, give the forward pass's intermediates", () => {
  const box = loadTextGlassBox(FIXTURE);
  const p = box.parameters, a = box.card.architecture;
  const x = tensor(check.x), ids = check.ids as number[][];
  const inside = box.lookInside(x, check.t, ids);
  const text = textEncoder(p.textEncoder, ids, a.textEncoder.numHeads);
  assert.deepEqual(text.output, inside.text.output);
  let h = inside.tokens;
  for (const [i, block] of p.blocks.entries()) {
    h = ditBlock("adaLN-Zero", block, h, inside.c, a.numHeads, { tokens: inside.words, mask: text.mask })
      .output;
    assert.deepEqual(h, inside.blocks[i].output, `block ${i}`);
  }
});

Deno.test("word ids and blocks that do not fit are refused in one line naming them", () => {
  const box = loadTextGlassBox(FIXTURE);
  const x = tensor(check.x).shape, p = box.parameters;
  const noise = new SeededRandom(0).randn([1, ...x.slice(1)]);
  const L = box.vocabulary.maxLength, V = box.vocabulary.tokens.length;
  assert.throws(
    () => textDiTForward(p, noise, [1], [[3, 0]]),
    new RegExp(`^Error: textEncoder: ids\\[0\\] has 2 ids; expected ${L} \\(the vocabulary's maxLength\\)$`),
  );
  const row = (first: number) => [first, ...Array(L - 1).fill(0)];
  assert.throws(
    () => textDiTForward(p, noise, [1], [row(V)]),
    new RegExp(`^Error: textEncoder: ids\\[0\\]\\[0\\] is ${V}; expected a token id from 0 to ${V - 1}$`),
  );
  assert.throws(
    () => textDiTForward(p, noise, [1], [row(0)]),
    /^Error: textEncoder: ids\[0\] starts with \[pad\];/,
  );
  assert.throws(
    () => textDiTForward(p, noise, [1], [row(3), row(3)]),
    /^Error: textDiTForward: ids has 2 rows; expected one per sample, B = 1$/,
  );
  const words = { tokens: Tensor.zeros([1, L, a(box).hiddenSize]), mask: Tensor.zeros([1, L]) };
  const tokens = Tensor.zeros([1, 16, a(box).hiddenSize]), c = Tensor.zeros([1, a(box).hiddenSize]);
  assert.throws(
    () => ditBlock("adaLN-Zero", p.blocks[0], tokens, c, 2),
    /^Error: ditBlock: the block has crossAttn, so it reads words \(a text DiT's block\); expected words \{ tokens, mask \}$/,
  );
  assert.throws(
    () => ditBlock("adaLN-Zero", p.blocks[0], tokens, c, 2, words),
    /^Error: crossAttention: keyMask row 0 is all 0; expected at least one key to attend to \(a 1\)$/,
  );
  const { crossAttn: _, ...plain } = p.blocks[0];
  assert.throws(
    () => ditBlock("adaLN-Zero", plain, tokens, c, 2, words),
    /^Error: ditBlock: words were given, but the block has no crossAttn to read them with$/,
  );
  assert.throws(
    () => textDiTParameters(box.weights, { ...a(box), block: "cross-attention" }),
    /^Error: textDiTParameters: architecture\.block is "cross-attention"; a text DiT's blocks are "adaLN-Zero" or "adaLN"/,
  );
  const missing = new Map(box.weights);
  missing.delete("text_encoder.layers.1.mlp.fc2.bias");
  assert.throws(
    () => textDiTParameters(missing, a(box)),
    /^Error: textDiTParameters: weight text_encoder\.layers\.1\.mlp\.fc2\.bias is missing;/,
  );
});

Deno.test(`emoji-text (shipped): its glass box equals ONNX Runtime within ${MAX_RELATIVE_ERROR}, prompts and the null caption; int8 stays near`, async () => {
  const dir = new URL("../models/emoji-text", import.meta.url).pathname;
  const box = loadTextGlassBox(dir);
  const { channels, height, width } = box.card.latent;
  const x = new SeededRandom(5).randn([3, channels, height, width]);
  const ids = [
    box.tokenize("hot pepper").ids,
    box.tokenize("grinning cat face with smiling eyes").ids,
    box.nullCaption,
  ];
  const glass = box.lookInside(x, [999, 500, 20], ids).out;
  const errors = [];
  for (const precision of ["fp32", "int8"] as const) {
    await using dit = await loadDiT(dir, { precision });
    errors.push(maxRelativeDifference(glass, await dit.forward(x, [999, 500, 20], ids)));
  }
  assert.ok(errors[0] <= MAX_RELATIVE_ERROR, `glass box vs ONNX Runtime: ${errors[0]}`);
  assert.ok(errors[1] > 0 && errors[1] < 0.05, `int8 vs the glass box: ${errors[1]}`);
});

const a = (box: ReturnType<typeof loadTextGlassBox>) => box.card.architecture;

Deno.test("sampling from prompts: ONNX Runtime and the glass box, through captionsAsLabels, give the same latents", async () => {
  const box = loadTextGlassBox(FIXTURE);
  await using dit = await loadDiT(FIXTURE);
  const { channels, height, width } = box.card.latent;
  const prompts = ["hot pepper", "light blue heart"];
  const { latents, prompts: read } = await dit.sampleLatents({ prompts, steps: 3, seed: 4, sampler: "ddim" });
  assert.deepEqual(read?.map((p) => p.words), [["hot", "pepper"], ["light", "blue", "heart"]]);
  const glass = await sampleLoop({
    ...captionsAsLabels(box, prompts.map((p) => box.tokenize(p).ids), box.nullCaption),
    diffusion: createDiffusion({ respacing: "3" }),
    latentShape: [channels, height, width],
    random: new SeededRandom(4),
    guidanceScale: 4,
    sampler: "ddim",
  });
  // (as for the class models: DDIM's first step magnifies the engines' 1e-7 differences ~60 times, guidance more)
  assertRelativeError(glass, latents, 5e-4, "glass box vs ONNX Runtime latents");
  // another prompt, another picture
  const other = await dit.sampleLatents({
    prompts: ["penguin", "rocket"],
    steps: 3,
    seed: 4,
    sampler: "ddim",
  });
  assert.ok(maxRelativeDifference(other.latents, latents) > 1e-3); // (random weights: latents ~500, differing by ~4)
});

Deno.test("dit.sample({ prompts }): images, unknown words listed, and one-line errors for what does not fit", async () => {
  await using dit = await loadDiT(FIXTURE);
  const { images, prompts, labels } = await dit.sample({ prompts: ["Penguin, zebra!"], steps: 2 });
  assert.deepEqual(images.shape, [1, 3, 32, 32]);
  assert.equal(labels, undefined);
  assert.deepEqual(prompts?.[0].unknown, ["zebra"]);
  assert.equal(prompts?.[0].ids[1], 1); // [unk]: kept, not dropped
  const L = dit.vocabulary!.maxLength;
  await assert.rejects(
    dit.sample({ prompts: ["hot pepper", " ?! "], steps: 2 }),
    /^Error: sample: prompts\[1\] " \?! " has no words; expected 1 to \d+ words/,
  );
  await assert.rejects(
    dit.sample({ prompts: [Array(L + 1).fill("heart").join(" ")], steps: 2 }),
    new RegExp(`^Error: sample: prompts\\[0\\] ".*"… has ${L + 1} words; expected 1 to ${L} words`),
  );
  await assert.rejects(dit.sample({ prompts: [], steps: 2 }), /^Error: sample: prompts is empty;/);
  await assert.rejects(
    dit.sample({ classes: [1], steps: 2 }),
    /^Error: sample: classes are for a class-conditioned model; text-dit is text-conditioned: give prompts$/,
  );
  assert.throws(() => dit.classId(1), /^Error: text-dit is text-conditioned: it takes prompts, not classes$/);
  await using digits = await loadDiT("digits");
  await assert.rejects(
    digits.sample({ prompts: ["hot pepper"], steps: 2 }),
    /^Error: sample: prompts are for a text-conditioned model; digits is class-conditioned: give classes$/,
  );
  assert.throws(
    () => digits.tokenize("seven"),
    /^Error: digits is class-conditioned: it takes classes, not prompts/,
  );
});

const python = pythonOrSkip("tests/text_dit_test.ts", ["torch", "onnx"], TORCH_INSTALL);

Deno.test({
  name: "the stored tiny text model is what the recipe exports now (weights, card, PyTorch's output)",
  ignore: !python,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dit-text-fixture-" });
    try {
      const script = new URL("./reference/text_dit_fixture.py", import.meta.url).pathname;
      const run = await new Deno.Command(python!, {
        args: [script, `${dir}/model`, `${dir}/check.json`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
      const fresh = loadTextGlassBox(`${dir}/model`), stored = loadTextGlassBox(FIXTURE);
      assert.deepEqual(fresh.card.architecture, stored.card.architecture);
      assert.deepEqual(fresh.vocabulary, stored.vocabulary);
      assert.deepEqual([...fresh.weights.keys()].sort(), [...stored.weights.keys()].sort());
      for (const [name, weight] of stored.weights) assert.deepEqual(fresh.weights.get(name), weight, name);
      const again = JSON.parse(await Deno.readTextFile(`${dir}/check.json`));
      assert.deepEqual(again.ids, check.ids);
      // another PyTorch build may round its float32 arithmetic differently in the last bits
      assertRelativeError(tensor(again.out), tensor(check.out), 1e-6, "PyTorch's output");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
