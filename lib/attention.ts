/**
 * Multi-head attention, the way every DiT block mixes information between tokens (timm's `Attention`, as
 * DiT uses it), and the cross-attention a block of the paper's cross-attention design adds, where the image
 * tokens look at other tokens (the timestep and label embeddings). Both return the attention probabilities
 * too, so you can see where each patch looks.
 *
 * ```
 * self-attention:  q, k, v = split(x·W_qkvᵀ + b_qkv)              one (q, k, v) per head, all from x
 * cross-attention: q = x·W_qᵀ + b_q;  k, v = split(context·W_kvᵀ + b_kv)
 * A_h = softmax(q_h·k_hᵀ / √headDim)                              [T, S], each row sums to 1
 * out = concat_h(A_h·v_h)·W_projᵀ + b_proj
 * ```
 *
 * Both take an optional key mask `[B, S]` of 1s and 0s: a key at 0 gets probability 0 (its score is left out
 * of the softmax, as −∞ would), which is how a text DiT's words ignore the `[pad]` after a short prompt.
 *
 * @module
 */
import { linear } from "./nn.ts";
import { dims, Tensor } from "./tensor.ts";
import { checkElements, describeValue, requireFinite } from "./checks.ts";

/** What {@link attention} returns. */
export interface AttentionResult {
  /** The attention layer's output, `[B, T, D]`, after the output projection. */
  output: Tensor;
  /**
   * The attention probabilities `[B, heads, T, S]`: row i is how much token i takes from each of the S tokens
   * it attends to (S = T in self-attention).
   */
  probabilities: Tensor;
}

/**
 * Multi-head self-attention over tokens `[B, T, D]` with timm's weight layout:
 * `qkv` is one linear layer to 3·D features laid out `[3, heads, headDim]`
 * (all of q, then all of k, then all of v; head h's part of each at
 * `h·headDim`), and `proj` maps the concatenated heads back to D.
 *
 * @param x tokens, `[B, T, D]`.
 * @param qkvWeight `[3D, D]` (`attn.qkv.weight`).
 * @param qkvBias `[3D]` (`attn.qkv.bias`).
 * @param projWeight `[D, D]` (`attn.proj.weight`).
 * @param projBias `[D]` (`attn.proj.bias`).
 * @param numHeads the number of heads; must divide D.
 * @param keyMask optional, `[B, T]` of 1 (a token to attend to) and 0 (padding, given probability 0); every row
 *   needs a 1. Without it every token attends to every token.
 * @throws if `numHeads` does not divide D, a weight's shape does not fit, the mask is not `[B, T]` of 0s and
 *   1s with a 1 in every row, or the probabilities would hold more than `MAX_ELEMENTS` numbers, naming the
 *   argument; if a result is not finite (an argument holding a value that is not finite, or an overflow;
 *   `linear: ...` when it happens in a projection).
 *
 * @example With q = k = 0 every token attends to all tokens equally: the output is the mean of v
 * ```ts
 * import { attention, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const D = 2, identity = Tensor.from([1, 0, 0, 1], [D, D]);
 * // qkv keeps only v = x (the q and k rows are zero); proj is the identity
 * const qkvWeight = Tensor.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1], [3 * D, D]);
 * const x = Tensor.from([1, 2, 3, 4, 5, 6], [1, 3, D]); // three tokens
 * const { output, probabilities } = attention(x, qkvWeight, Tensor.zeros([3 * D]), identity, Tensor.zeros([D]), 1);
 * assert.deepEqual(probabilities.shape, [1, 1, 3, 3]);
 * assert.ok(probabilities.data.every((p) => Math.abs(p - 1 / 3) < 1e-7));
 * assert.deepEqual([...output.data], [3, 4, 3, 4, 3, 4]); // every token gets the mean of v
 * // masking out the last token (padding): the others' mean
 * const masked = attention(x, qkvWeight, Tensor.zeros([3 * D]), identity, Tensor.zeros([D]), 1, Tensor.from([1, 1, 0], [1, 3]));
 * assert.deepEqual([...masked.output.data], [2, 3, 2, 3, 2, 3]);
 * ```
 */
export function attention(
  x: Tensor,
  qkvWeight: Tensor,
  qkvBias: Tensor,
  projWeight: Tensor,
  projBias: Tensor,
  numHeads: number,
  keyMask?: Tensor,
): AttentionResult {
  const [B, T, D] = dims(x, 3, "attention: x", "[B, T, D]");
  checkHeads(numHeads, D, "attention");
  const [qkvOut] = dims(qkvWeight, 2, "attention: qkvWeight", `[3D, D] = [${3 * D}, ${D}]`);
  if (qkvOut !== 3 * D) {
    throw new Error(
      `attention: qkvWeight: expected shape [3D, D] = [${3 * D}, ${D}], got [${qkvWeight.shape}]`,
    );
  }
  checkElements(
    B * numHeads * T * T,
    `attention: the probabilities [B, heads, T, T] = [${B}, ${numHeads}, ${T}, ${T}]`,
  );
  const keep = keyMask === undefined ? undefined : checkKeyMask(keyMask, B, T, "attention");
  const qkv = linear(x, qkvWeight, qkvBias); // [B, T, 3D]; linear checks the rest of the shapes
  const parts = { q: { of: qkv, at: 0 }, k: { of: qkv, at: D }, v: { of: qkv, at: 2 * D } };
  return multiHead(parts, x, numHeads, projWeight, projBias, "attention", keep);
}

/**
 * Multi-head cross-attention from tokens x `[B, T, D]` to other tokens, the context `[B, S, D]`: the queries
 * come from x, the keys and values from the context. In the paper's cross-attention block the context is the
 * timestep and label embeddings as two tokens, so each image token chooses how much of each to take. The
 * weights are laid out as {@link attention}'s: `q` maps x to D features (head h's at `h·headDim`), `kv` maps
 * the context to 2·D laid out `[2, heads, headDim]` (all of k, then all of v), `proj` maps the heads back to D.
 *
 * @param x the tokens that ask (queries), `[B, T, D]`.
 * @param context the tokens that answer (keys and values), `[B, S, D]`.
 * @param qWeight `[D, D]` (`cross_attn.q.weight`).
 * @param qBias `[D]` (`cross_attn.q.bias`).
 * @param kvWeight `[2D, D]` (`cross_attn.kv.weight`).
 * @param kvBias `[2D]` (`cross_attn.kv.bias`).
 * @param projWeight `[D, D]` (`cross_attn.proj.weight`).
 * @param projBias `[D]` (`cross_attn.proj.bias`).
 * @param numHeads the number of heads; must divide D.
 * @param keyMask optional, `[B, S]` of 1 (a context token to attend to) and 0 (padding, given probability 0);
 *   every row needs a 1. A text DiT passes its prompt's words as the context and masks the `[pad]` after them.
 * @throws as {@link attention}, naming the argument that does not fit, and if the context's batch or width is
 *   not x's.
 *
 * @example With k = 0 every token takes the mean of the context's values; here two context tokens
 * ```ts
 * import { crossAttention, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const D = 2, identity = Tensor.from([1, 0, 0, 1], [D, D]), zeros = (n: number) => Tensor.zeros([n]);
 * const kvWeight = Tensor.from([0, 0, 0, 0, 1, 0, 0, 1], [2 * D, D]); // k = 0, v = context
 * const x = Tensor.from([1, 2, 3, 4, 5, 6], [1, 3, D]); // three tokens ask
 * const context = Tensor.from([10, 0, 0, 20], [1, 2, D]); // two tokens answer
 * const { output, probabilities } = crossAttention(x, context, identity, zeros(D), kvWeight, zeros(2 * D), identity, zeros(D), 1);
 * assert.deepEqual(probabilities.shape, [1, 1, 3, 2]); // [B, heads, T, S]
 * assert.deepEqual([...output.data], [5, 10, 5, 10, 5, 10]); // each token: the mean of the two values
 * // the second context token masked out (padding): each token takes all of the first
 * const first = crossAttention(x, context, identity, zeros(D), kvWeight, zeros(2 * D), identity, zeros(D), 1, Tensor.from([1, 0], [1, 2]));
 * assert.deepEqual([...first.output.data], [10, 0, 10, 0, 10, 0]);
 * assert.deepEqual([...first.probabilities.data], [1, 0, 1, 0, 1, 0]);
 * ```
 */
export function crossAttention(
  x: Tensor,
  context: Tensor,
  qWeight: Tensor,
  qBias: Tensor,
  kvWeight: Tensor,
  kvBias: Tensor,
  projWeight: Tensor,
  projBias: Tensor,
  numHeads: number,
  keyMask?: Tensor,
): AttentionResult {
  const [B, T, D] = dims(x, 3, "crossAttention: x", "[B, T, D]");
  const [cB, S, cD] = dims(context, 3, "crossAttention: context", `[B, S, D] = [${B}, S, ${D}]`);
  if (cB !== B || cD !== D) {
    throw new Error(
      `crossAttention: context: expected shape [B, S, D] = [${B}, S, ${D}] (x's batch and width), got [${context.shape}]`,
    );
  }
  checkHeads(numHeads, D, "crossAttention");
  for (const [name, weight, rows] of [["qWeight", qWeight, 1], ["kvWeight", kvWeight, 2]] as const) {
    const expected = `[${rows === 1 ? "" : rows}D, D] = [${rows * D}, ${D}]`;
    const [out, inp] = dims(weight, 2, `crossAttention: ${name}`, expected);
    if (out !== rows * D || inp !== D) {
      throw new Error(`crossAttention: ${name}: expected shape ${expected}, got [${weight.shape}]`);
    }
  }
  checkElements(
    B * numHeads * T * S,
    `crossAttention: the probabilities [B, heads, T, S] = [${B}, ${numHeads}, ${T}, ${S}]`,
  );
  const keep = keyMask === undefined ? undefined : checkKeyMask(keyMask, B, S, "crossAttention");
  const q = linear(x, qWeight, qBias); // [B, T, D]
  const kv = linear(context, kvWeight, kvBias); // [B, S, 2D]: all of k, then all of v
  const parts = { q: { of: q, at: 0 }, k: { of: kv, at: 0 }, v: { of: kv, at: D } };
  return multiHead(parts, x, numHeads, projWeight, projBias, "crossAttention", keep);
}

/** The key mask `[B, S]` as its data, after checking it holds only 0s and 1s and a 1 in every row. */
function checkKeyMask(keyMask: Tensor, B: number, S: number, fn: string): Float32Array {
  const layout = `[B, S] = [${B}, ${S}]`;
  const [mB, mS] = dims(keyMask, 2, `${fn}: keyMask`, layout);
  if (mB !== B || mS !== S) {
    throw new Error(`${fn}: keyMask: expected shape ${layout}, got [${keyMask.shape}]`);
  }
  for (let b = 0; b < B; b++) {
    let kept = 0;
    for (let j = 0; j < S; j++) {
      const m = keyMask.data[b * S + j];
      if (m !== 0 && m !== 1) {
        throw new Error(
          `${fn}: keyMask[${b}, ${j}] is ${describeValue(m)}; expected 1 (attend) or 0 (padding)`,
        );
      }
      kept += m;
    }
    if (kept === 0) {
      throw new Error(`${fn}: keyMask row ${b} is all 0; expected at least one key to attend to (a 1)`);
    }
  }
  return keyMask.data;
}

/** Throws unless numHeads is a positive divisor of D (with D = 0: one head, so the probabilities stay small). */
function checkHeads(numHeads: number, D: number, fn: string): void {
  if (
    typeof numHeads !== "number" || !Number.isInteger(numHeads) || numHeads <= 0 ||
    numHeads > Math.max(D, 1) || D % numHeads !== 0
  ) {
    throw new Error(`${fn}: numHeads is ${describeValue(numHeads)}; expected a positive divisor of D = ${D}`);
  }
}

/** D features of every row of a projection `[B, rows, ·]`, from feature `at` on: its q, its k or its v. */
interface Part {
  of: Tensor;
  at: number;
}

/**
 * softmax(q_h·k_hᵀ/√headDim)·v_h for every head, then `proj`: the queries from `parts.q` `[B, T, ·]`, the
 * keys and values from `parts.k` and `parts.v` `[B, S, ·]` (self-attention reads all three from one qkv
 * tensor); head h's part of each starts `h·headDim` after the part's own start. Keys where `keep` `[B, S]` is
 * 0 get probability 0.
 */
function multiHead(
  parts: { q: Part; k: Part; v: Part },
  x: Tensor,
  numHeads: number,
  projWeight: Tensor,
  projBias: Tensor,
  fn: string,
  keep?: Float32Array,
): AttentionResult {
  const { q, k, v } = parts;
  const [B, T, D] = x.shape, S = k.of.shape[1];
  const qRowSize = q.of.shape[2], kRowSize = k.of.shape[2], vRowSize = v.of.shape[2];
  const headDim = D / numHeads;
  const scale = headDim ** -0.5; // timm scales q by headDim^(−1/2) before q·kᵀ
  const probabilities = new Float32Array(B * numHeads * T * S);
  const heads = new Float32Array(B * T * D); // [B, T, heads·headDim]: the heads side by side
  const qh = new Float32Array(headDim);
  const scores = new Float64Array(S);
  const mixed = new Float64Array(headDim);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < numHeads; h++) {
      const hAt = h * headDim;
      for (let i = 0; i < T; i++) {
        const qRow = (b * T + i) * qRowSize + q.at + hAt;
        for (let e = 0; e < headDim; e++) qh[e] = q.of.data[qRow + e] * scale; // (rounded to float32, as torch's q·scale)
        let max = -Infinity;
        for (let j = 0; j < S; j++) {
          if (keep && keep[b * S + j] === 0) continue; // a padded key: no score
          const kRow = (b * S + j) * kRowSize + k.at + hAt;
          let dot = 0;
          for (let e = 0; e < headDim; e++) dot += qh[e] * k.of.data[kRow + e];
          scores[j] = dot;
          if (dot > max) max = dot;
        }
        // softmax, shifted by the row's max so exp cannot overflow; a padded key's share is exp(−∞) = 0
        let sum = 0;
        for (let j = 0; j < S; j++) {
          sum += scores[j] = keep && keep[b * S + j] === 0 ? 0 : Math.exp(scores[j] - max);
        }
        const pRow = ((b * numHeads + h) * T + i) * S;
        for (let j = 0; j < S; j++) probabilities[pRow + j] = scores[j] / sum;
        // A_h·v_h: token i's share of every attended token's v
        mixed.fill(0);
        for (let j = 0; j < S; j++) {
          const p = probabilities[pRow + j], vRow = (b * S + j) * vRowSize + v.at + hAt;
          for (let e = 0; e < headDim; e++) mixed[e] += p * v.of.data[vRow + e];
        }
        heads.set(mixed, (b * T + i) * D + hAt);
      }
    }
  }
  // q, k and v are finite (linear checked them), so scores are, softmax's shift keeps exp finite, and each
  // head's mix is a convex combination of v; this only guards that reasoning
  requireFinite(fn, probabilities, "softmax(q·kᵀ/√headDim)", { x: x.data });
  return {
    output: linear(new Tensor(heads, [B, T, D]), projWeight, projBias),
    probabilities: new Tensor(probabilities, [B, numHeads, T, S]),
  };
}
