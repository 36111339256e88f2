import assert from "node:assert/strict";
import { attention, crossAttention } from "../lib/attention.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose, assertRelativeError } from "./assert.ts";
import { CONCEPT_TOLERANCE, reference, tensor } from "./fixtures.ts";

/** Random weights for attention over D features. */
function weights(random: SeededRandom, D: number) {
  return {
    qkvWeight: random.randn([3 * D, D]),
    qkvBias: random.randn([3 * D]),
    projWeight: random.randn([D, D]),
    projBias: random.randn([D]),
  };
}

/**
 * timm's Attention.forward restated with nested arrays in float64, step for step:
 * qkv = x·Wᵀ + b; reshape(B, T, 3, H, hd); permute(2, 0, 3, 1, 4); (q·scale)·kᵀ; softmax; ·v;
 * transpose(1, 2); reshape(B, T, D); proj.
 */
function naiveAttention(
  x: Tensor,
  w: ReturnType<typeof weights>,
  H: number,
): { output: number[]; probabilities: number[] } {
  const [B, T, D] = x.shape, hd = D / H;
  const lin = (v: number[], W: Tensor, b: Tensor) => {
    const [outF, inF] = W.shape;
    return Array.from(
      { length: outF },
      (_, o) => v.reduce((s, vi, i) => s + vi * W.data[o * inF + i], b.data[o]),
    );
  };
  const token = (b: number, t: number) => Array.from(x.data.subarray((b * T + t) * D, (b * T + t + 1) * D));
  // qkv[b][t] reshaped to [3][H][hd]
  const qkv = Array.from({ length: B }, (_, b) =>
    Array.from({ length: T }, (_, t) => {
      const flat = lin(token(b, t), w.qkvWeight, w.qkvBias);
      return [0, 1, 2].map((s) =>
        Array.from({ length: H }, (_, h) => flat.slice((s * H + h) * hd, (s * H + h + 1) * hd))
      );
    }));
  const probabilities: number[] = [];
  const heads: number[][][] = Array.from({ length: B }, () => Array.from({ length: T }, () => []));
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const q = qkv[b][i][0][h];
        const logits = Array.from(
          { length: T },
          (_, j) => q.reduce((s, qe, e) => s + qe * hd ** -0.5 * qkv[b][j][1][h][e], 0),
        );
        const exps = logits.map((l) => Math.exp(l));
        const total = exps.reduce((a, c) => a + c);
        const p = exps.map((e) => e / total);
        probabilities.push(...p);
        const mixed = Array.from(
          { length: hd },
          (_, e) => p.reduce((s, pj, j) => s + pj * qkv[b][j][2][h][e], 0),
        );
        heads[b][i].push(...mixed); // transpose(1, 2).reshape: head h's features at h·hd
      }
    }
  }
  const output = heads.flatMap((row) => row.flatMap((v) => lin(v, w.projWeight, w.projBias)));
  return { output, probabilities };
}

Deno.test("attention equals timm's Attention re-derived step by step (B=2, T=3, D=4, 2 heads)", () => {
  const random = new SeededRandom(21);
  const x = random.randn([2, 3, 4]), w = weights(random, 4);
  const { output, probabilities } = attention(x, w.qkvWeight, w.qkvBias, w.projWeight, w.projBias, 2);
  const naive = naiveAttention(x, w, 2);
  assert.deepEqual(output.shape, [2, 3, 4]);
  assert.deepEqual(probabilities.shape, [2, 2, 3, 3]);
  assertAllClose(probabilities, naive.probabilities, { rtol: 1e-6, atol: 1e-7, msg: "probabilities" });
  assertAllClose(output, naive.output, { rtol: 1e-5, atol: 1e-6, msg: "output" });
});

Deno.test("each row of attention probabilities is a distribution, even with huge logits", () => {
  const random = new SeededRandom(4);
  for (const scale of [1, 1000]) {
    const x = random.randn([2, 16, 12]);
    for (let i = 0; i < x.size; i++) x.data[i] *= scale; // logits ~ scale²: exp would overflow without the max shift
    const w = weights(random, 12);
    const { output, probabilities } = attention(x, w.qkvWeight, w.qkvBias, w.projWeight, w.projBias, 3);
    assert.ok(output.data.every(Number.isFinite), `output finite at scale ${scale}`);
    for (let row = 0; row < 2 * 3 * 16; row++) {
      const p = probabilities.data.subarray(row * 16, (row + 1) * 16);
      assert.ok(p.every((v) => v >= 0 && v <= 1), `row ${row}`);
      assert.ok(
        Math.abs(p.reduce((a, b) => a + b) - 1) < 1e-6,
        `row ${row} sums to ${p.reduce((a, b) => a + b)}`,
      );
    }
  }
});

Deno.test("the heads are independent: qkv features are laid out [3, heads, headDim]", () => {
  // head 0 sees q = k = 0 (uniform attention); head 1's q·k strongly prefers the token itself
  const D = 2, T = 3;
  const qkvWeight = Tensor.from([
    0,
    0, // q, head 0
    0,
    20, // q, head 1: 20·x1
    0,
    0, // k, head 0
    0,
    20, // k, head 1
    1,
    0, // v, head 0: x0
    0,
    1, // v, head 1: x1
  ], [3 * D, D]);
  const identity = Tensor.from([1, 0, 0, 1], [D, D]);
  const x = Tensor.from([1, -1, 2, 0, 3, 1], [1, T, D]);
  const { output, probabilities } = attention(
    x,
    qkvWeight,
    Tensor.zeros([3 * D]),
    identity,
    Tensor.zeros([D]),
    2,
  );
  assertAllClose(probabilities.data.subarray(0, 9), Array(9).fill(1 / 3), { rtol: 1e-6 });
  // head 1, token 0 (x1 = −1): q·k_j = (20·−1)·(20·x1_j) = −400·x1_j, largest for token 0 itself
  assert.ok(probabilities.at(0, 1, 0, 0) > 0.999);
  assertAllClose([output.at(0, 0, 0), output.at(0, 1, 0), output.at(0, 2, 0)], [2, 2, 2], { rtol: 1e-6 }); // mean of x0
  assert.ok(Math.abs(output.at(0, 0, 1) - -1) < 1e-3); // its own x1
});

Deno.test("attention rejects what does not fit, naming the argument", () => {
  const random = new SeededRandom(0);
  const x = random.randn([1, 4, 6]), w = weights(random, 6);
  assert.throws(
    () => attention(x, w.qkvWeight, w.qkvBias, w.projWeight, w.projBias, 4),
    /attention: numHeads is 4; expected a positive divisor of D = 6/,
  );
  assert.throws(
    () => attention(x, random.randn([6, 6]), w.qkvBias, w.projWeight, w.projBias, 2),
    /attention: qkvWeight: expected shape \[3D, D\] = \[18, 6\], got \[6,6\]/,
  );
  assert.throws(
    () => attention(Tensor.zeros([4, 6]), w.qkvWeight, w.qkvBias, w.projWeight, w.projBias, 2),
    /attention: x: expected shape \[B, T, D\]/,
  );
  assert.throws(
    () => attention(x, w.qkvWeight, w.qkvBias, w.projWeight, Tensor.zeros([5]), 2),
    /linear: bias/,
  );
});

Deno.test("crossAttention equals the PyTorch restatement (fixtures: B=2, T=5 image tokens, S=2 context tokens, 2 heads)", () => {
  const r = reference.crossAttention;
  const { output, probabilities } = crossAttention(
    tensor(r.x),
    tensor(r.context),
    tensor(r["q.weight"]),
    tensor(r["q.bias"]),
    tensor(r["kv.weight"]),
    tensor(r["kv.bias"]),
    tensor(r["proj.weight"]),
    tensor(r["proj.bias"]),
    r.numHeads,
  );
  assert.deepEqual(probabilities.shape, [2, 2, 5, 2]); // [B, heads, T, S]
  assertRelativeError(probabilities, tensor(r.probabilities), CONCEPT_TOLERANCE, "probabilities");
  assertRelativeError(output, tensor(r.output), CONCEPT_TOLERANCE, "output");
});

Deno.test("crossAttention with the tokens as their own context is self-attention with qkv = [q; kv]", () => {
  const random = new SeededRandom(9);
  const x = random.randn([2, 4, 6]), w = weights(random, 6);
  const self = attention(x, w.qkvWeight, w.qkvBias, w.projWeight, w.projBias, 3);
  // qkv's rows are q's, then k's and v's: the same numbers split into cross-attention's q and kv
  const D = 6,
    rows = (t: Tensor, from: number, to: number) =>
      new Tensor(t.data.slice(from * D, to * D), [to - from, D]);
  const cross = crossAttention(
    x,
    x,
    rows(w.qkvWeight, 0, D),
    new Tensor(w.qkvBias.data.slice(0, D), [D]),
    rows(w.qkvWeight, D, 3 * D),
    new Tensor(w.qkvBias.data.slice(D), [2 * D]),
    w.projWeight,
    w.projBias,
    3,
  );
  assert.deepEqual(cross.probabilities, self.probabilities);
  assert.deepEqual(cross.output, self.output);
});

Deno.test("crossAttention rejects what does not fit, naming the argument", () => {
  const random = new SeededRandom(0);
  const x = random.randn([1, 4, 6]), context = random.randn([1, 2, 6]);
  const q = random.randn([6, 6]), kv = random.randn([12, 6]), bias = (n: number) => Tensor.zeros([n]);
  const call = (over: Partial<Record<"x" | "context" | "q" | "kv", Tensor>>, heads = 2) =>
    crossAttention(
      over.x ?? x,
      over.context ?? context,
      over.q ?? q,
      bias(6),
      over.kv ?? kv,
      bias(12),
      q,
      bias(6),
      heads,
    );
  assert.deepEqual(call({}).probabilities.shape, [1, 2, 4, 2]);
  assert.throws(
    () => call({ context: random.randn([2, 2, 6]) }),
    /^Error: crossAttention: context: expected shape \[B, S, D\] = \[1, S, 6\] \(x's batch and width\), got \[2,2,6\]$/,
  );
  assert.throws(
    () => call({ context: random.randn([1, 6]) }),
    /^Error: crossAttention: context: expected shape \[B, S, D\] = \[1, S, 6\]/,
  );
  assert.throws(
    () => call({ kv: random.randn([6, 6]) }),
    /^Error: crossAttention: kvWeight: expected shape \[2D, D\] = \[12, 6\], got \[6,6\]$/,
  );
  assert.throws(
    () => call({ q: random.randn([6, 4]) }),
    /^Error: crossAttention: qWeight: expected shape \[D, D\] = \[6, 6\], got \[6,4\]$/,
  );
  assert.throws(
    () => call({}, 4),
    /^Error: crossAttention: numHeads is 4; expected a positive divisor of D = 6$/,
  );
});

Deno.test("a key mask: masked keys get probability 0, and the rest is attention over the kept keys alone", () => {
  const random = new SeededRandom(11);
  const D = 6, x = random.randn([2, 3, D]), context = random.randn([2, 4, D]), w = weights(random, D);
  const q = new Tensor(w.qkvWeight.data.slice(0, D * D), [D, D]),
    qBias = new Tensor(w.qkvBias.data.slice(0, D), [D]);
  const kv = new Tensor(w.qkvWeight.data.slice(D * D), [2 * D, D]),
    kvBias = new Tensor(w.qkvBias.data.slice(D), [2 * D]);
  const mask = Tensor.from([1, 1, 0, 0, 1, 0, 1, 1], [2, 4]); // sample 0 keeps keys 0, 1; sample 1 keeps 0, 2, 3
  const masked = crossAttention(x, context, q, qBias, kv, kvBias, w.projWeight, w.projBias, 2, mask);
  for (const [b, kept] of [[0, [0, 1]], [1, [0, 2, 3]]] as const) {
    // the same sample with only its kept context tokens, and no mask
    const only = new Float32Array(kept.length * D);
    kept.forEach((j, i) => only.set(context.data.subarray((b * 4 + j) * D, (b * 4 + j + 1) * D), i * D));
    const alone = crossAttention(
      new Tensor(x.data.slice(b * 3 * D, (b + 1) * 3 * D), [1, 3, D]),
      new Tensor(only, [1, kept.length, D]),
      q,
      qBias,
      kv,
      kvBias,
      w.projWeight,
      w.projBias,
      2,
    );
    assertAllClose(masked.output.data.subarray(b * 3 * D, (b + 1) * 3 * D), alone.output.data, {
      rtol: 1e-6,
      atol: 1e-6,
    });
    for (let row = 0; row < 2 * 3; row++) {
      const p = masked.probabilities.data.subarray((b * 6 + row) * 4, (b * 6 + row + 1) * 4);
      for (let j = 0; j < 4; j++) if (!(kept as readonly number[]).includes(j)) assert.equal(p[j], 0);
      assertAllClose(
        (kept as readonly number[]).map((j) => p[j]),
        alone.probabilities.data.subarray(row * kept.length, (row + 1) * kept.length),
        { rtol: 1e-6, atol: 1e-7 },
      );
    }
  }
  // self-attention takes the same mask over its own tokens
  const selfMasked = attention(context, w.qkvWeight, w.qkvBias, w.projWeight, w.projBias, 3, mask);
  assert.equal(selfMasked.probabilities.at(0, 1, 3, 2), 0);
  assert.ok(selfMasked.probabilities.at(0, 1, 3, 1) > 0);
});

Deno.test("a key mask that does not fit is refused in one line", () => {
  const random = new SeededRandom(12);
  const x = random.randn([1, 3, 4]), w = weights(random, 4);
  const call = (mask: Tensor) => attention(x, w.qkvWeight, w.qkvBias, w.projWeight, w.projBias, 2, mask);
  assert.throws(
    () => call(Tensor.from([1, 1], [1, 2])),
    /^Error: attention: keyMask: expected shape \[B, S\] = \[1, 3\], got \[1,2\]$/,
  );
  assert.throws(
    () => call(Tensor.from([1, 0.5, 0], [1, 3])),
    /^Error: attention: keyMask\[0, 1\] is 0\.5; expected 1 \(attend\) or 0 \(padding\)$/,
  );
  assert.throws(
    () => call(Tensor.from([0, 0, 0], [1, 3])),
    /^Error: attention: keyMask row 0 is all 0; expected at least one key to attend to \(a 1\)$/,
  );
});
