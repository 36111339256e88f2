/**
 * The DiT's parts (`lib/dit.ts`) in each of the paper's four block designs against an independent PyTorch
 * restatement (tests/reference/dit_reference.py: a small random DiT of each design, its every block's output
 * and [ε̂ | v]), and the designs against each other where the paper's descriptions say they must agree.
 */
import assert from "node:assert/strict";
import {
  BLOCK_DESIGNS,
  type BlockDesign,
  type DiTArchitecture,
  ditBlock,
  type DiTBlockParameters,
  ditForward,
  ditParameters,
  embed,
} from "../lib/dit.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertRelativeError } from "./assert.ts";
import { CONCEPT_TOLERANCE, type Packed, reference, tensor } from "./fixtures.ts";

/** One design's fixture: its architecture, inputs, weights, each block's output and [ε̂ | v]. */
interface DesignFixture {
  design: BlockDesign;
  architecture: DiTArchitecture;
  x: Packed;
  t: number[];
  y: number[];
  weights: Record<string, Packed>;
  blockOutputs: Packed[];
  out: Packed;
}
const fixtures: DesignFixture[] = reference.blockDesigns;

/** The fixture's weights, by PyTorch name, as readOnnxWeights would return them. */
const weightsOf = (fixture: DesignFixture) =>
  new Map(Object.entries(fixture.weights).map(([name, v]) => [name, tensor(v)]));

Deno.test("the fixtures hold one small DiT of each block design", () => {
  assert.deepEqual(fixtures.map((f) => f.design).sort(), [...BLOCK_DESIGNS].sort());
});

for (const fixture of fixtures) {
  Deno.test(`${fixture.design}: ditForward equals the PyTorch restatement, block by block`, () => {
    const dit = ditParameters(weightsOf(fixture), fixture.architecture);
    assert.equal(dit.design, fixture.design);
    const inside = ditForward(dit, tensor(fixture.x), fixture.t, fixture.y);
    fixture.blockOutputs.forEach((want, i) =>
      assertRelativeError(inside.blocks[i].output, tensor(want), CONCEPT_TOLERANCE, `block ${i}`)
    );
    assertRelativeError(inside.out, tensor(fixture.out), CONCEPT_TOLERANCE, "[ε̂ | v]");
    // what each design computes, and only that
    const [B, T, D, H] = [2, 4, 8, 2], S = fixture.design === "in-context" ? T + 2 : T;
    assert.deepEqual(inside.tokens.shape, [B, S, D]);
    for (const block of inside.blocks) {
      assert.deepEqual(block.attention.shape, [B, H, S, S]);
      assert.equal(block.gateMsa !== undefined, fixture.design === "adaLN-Zero");
      assert.equal(block.shiftMsa !== undefined, fixture.design.startsWith("adaLN"));
      assert.equal(block.crossAttention !== undefined, fixture.design === "cross-attention");
    }
    assert.equal(inside.finalShift !== undefined, fixture.design.startsWith("adaLN"));
    assert.deepEqual(inside.finalTokens.shape, [B, T, 2 * 2 * 8]);
  });
}

Deno.test("in-context: the two extra tokens are the t and y embeddings, after the image tokens", () => {
  const fixture = fixtures.find((f) => f.design === "in-context")!;
  const dit = ditParameters(weightsOf(fixture), fixture.architecture);
  const { tokens, patchTokens, tEmbedding, yEmbedding, conditioningTokens } = embed(
    dit,
    tensor(fixture.x),
    fixture.t,
    fixture.y,
  );
  const D = 8, T = 4;
  for (let b = 0; b < 2; b++) {
    const row = (i: number) => tokens.data.subarray((b * (T + 2) + i) * D, (b * (T + 2) + i + 1) * D);
    assert.deepEqual(row(T), tEmbedding.data.subarray(b * D, (b + 1) * D));
    assert.deepEqual(row(T + 1), yEmbedding.data.subarray(b * D, (b + 1) * D));
    // the image tokens come first, with their positions
    assert.notDeepEqual(row(0), patchTokens.data.subarray(b * T * D, b * T * D + D));
  }
  assert.deepEqual(conditioningTokens.shape, [2, 2, D]);
});

/** A block's parameters with random weights, each layer optional. */
function randomBlock(
  random: SeededRandom,
  D: number,
  extra: Partial<DiTBlockParameters> = {},
): DiTBlockParameters {
  const dense = (out: number, inp: number) => ({
    weight: random.randn([out, inp]),
    bias: random.randn([out]),
  });
  return {
    attn: { qkv: dense(3 * D, D), proj: dense(D, D) },
    mlp: { fc1: dense(4 * D, D), fc2: dense(D, 4 * D) },
    ...extra,
  };
}

const zeros = (rows: number, D: number) => ({ weight: Tensor.zeros([rows, D]), bias: Tensor.zeros([rows]) });

Deno.test("adaLN with a zero modulation, and cross-attention with a zero output projection, are the plain block", () => {
  const random = new SeededRandom(3), D = 8;
  const block = randomBlock(random, D);
  const x = random.randn([2, 5, D]), c = random.randn([2, D]), tokens = random.randn([2, 2, D]);
  const plain = ditBlock("in-context", block, x, c, 2).output; // the transformer block, no conditioning
  const adaLN = ditBlock("adaLN", { ...block, adaLNModulation: zeros(4 * D, D) }, x, c, 2);
  assert.deepEqual(adaLN.output, plain); // shift 0, scale 0: modulate is the identity, and there are no gates
  const crossAttn = { q: zeros(D, D), kv: zeros(2 * D, D), proj: zeros(D, D) };
  crossAttn.q = { weight: random.randn([D, D]), bias: random.randn([D]) };
  const cross = ditBlock("cross-attention", { ...block, crossAttn }, x, tokens, 2);
  assert.deepEqual(cross.output, plain); // the cross branch adds proj(·) = 0
  // and the designs differ once their conditioning does something
  const live = ditBlock(
    "adaLN",
    { ...block, adaLNModulation: { weight: random.randn([4 * D, D]), bias: random.randn([4 * D]) } },
    x,
    c,
    2,
  );
  assert.notDeepEqual(live.output, plain);
});

Deno.test("cross-attention: each image token splits its attention between the t and the y token", () => {
  const random = new SeededRandom(5), D = 8;
  const dense = (out: number) => ({ weight: random.randn([out, D]), bias: random.randn([out]) });
  const block = randomBlock(random, D, { crossAttn: { q: dense(D), kv: dense(2 * D), proj: dense(D) } });
  const { crossAttention } = ditBlock(
    "cross-attention",
    block,
    random.randn([1, 6, D]),
    random.randn([1, 2, D]),
    4,
  );
  assert.deepEqual(crossAttention!.shape, [1, 4, 6, 2]);
  for (let row = 0; row < 4 * 6; row++) {
    const [pt, py] = crossAttention!.data.subarray(2 * row, 2 * row + 2);
    assert.ok(Math.abs(pt + py - 1) < 1e-6 && pt > 0 && py > 0, `row ${row}: ${pt} + ${py}`);
  }
});
