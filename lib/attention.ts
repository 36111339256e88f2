/**
 * Multi-head self-attention, the way every DiT block mixes information between
 * tokens (timm's `Attention`, as DiT uses it), returning the attention
 * probabilities too, so you can see which patches each patch looks at.
 *
 * ```
 * q, k, v = split(x·W_qkvᵀ + b_qkv)                  one (q, k, v) per head
 * A_h     = softmax(q_h·k_hᵀ / √headDim)            [T, T], each row sums to 1
 * out     = concat_h(A_h·v_h)·W_projᵀ + b_proj
 * ```
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
  /** The attention probabilities `[B, heads, T, T]`: row i is how much token i takes from each token. */
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
 * @throws if `numHeads` does not divide D, a weight's shape does not fit, or the probabilities would hold
 *   more than `MAX_ELEMENTS` numbers, naming the argument; if a result is not finite (an argument holding a
 *   value that is not finite, or an overflow; `linear: ...` when it happens in a projection).
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
 * ```
 */
export function attention(
  x: Tensor,
  qkvWeight: Tensor,
  qkvBias: Tensor,
  projWeight: Tensor,
  projBias: Tensor,
  numHeads: number,
): AttentionResult {
  const [B, T, D] = dims(x, 3, "attention: x", "[B, T, D]");
  // (with D = 0 every count divides D: one head, then, so the probabilities' shape stays small)
  if (
    typeof numHeads !== "number" || !Number.isInteger(numHeads) || numHeads <= 0 ||
    numHeads > Math.max(D, 1) ||
    D % numHeads !== 0
  ) {
    throw new Error(
      `attention: numHeads is ${describeValue(numHeads)}; expected a positive divisor of D = ${D}`,
    );
  }
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
  const qkv = linear(x, qkvWeight, qkvBias).data; // [B, T, 3D]; linear checks the rest of the shapes
  const headDim = D / numHeads;
  const scale = headDim ** -0.5; // timm scales q by headDim^(−1/2) before q·kᵀ
  const probabilities = new Float32Array(B * numHeads * T * T);
  const heads = new Float32Array(B * T * D); // [B, T, heads·headDim]: the heads side by side
  const q = new Float32Array(headDim);
  const scores = new Float64Array(T);
  const mixed = new Float64Array(headDim);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < numHeads; h++) {
      // where head h's q, k and v start within a token's 3D features
      const qAt = h * headDim, kAt = D + h * headDim, vAt = 2 * D + h * headDim;
      for (let i = 0; i < T; i++) {
        const qRow = (b * T + i) * 3 * D + qAt;
        for (let e = 0; e < headDim; e++) q[e] = qkv[qRow + e] * scale; // (rounded to float32, as torch's q·scale)
        let max = -Infinity;
        for (let j = 0; j < T; j++) {
          const kRow = (b * T + j) * 3 * D + kAt;
          let dot = 0;
          for (let e = 0; e < headDim; e++) dot += q[e] * qkv[kRow + e];
          scores[j] = dot;
          if (dot > max) max = dot;
        }
        // softmax, shifted by the row's max so exp cannot overflow
        let sum = 0;
        for (let j = 0; j < T; j++) sum += scores[j] = Math.exp(scores[j] - max);
        const pRow = ((b * numHeads + h) * T + i) * T;
        for (let j = 0; j < T; j++) probabilities[pRow + j] = scores[j] / sum;
        // A_h·v_h: token i's share of every token's v
        mixed.fill(0);
        for (let j = 0; j < T; j++) {
          const p = probabilities[pRow + j], vRow = (b * T + j) * 3 * D + vAt;
          for (let e = 0; e < headDim; e++) mixed[e] += p * qkv[vRow + e];
        }
        heads.set(mixed, (b * T + i) * D + h * headDim);
      }
    }
  }
  // q, k and v are finite (linear checked them), so scores are, softmax's shift keeps exp finite, and each
  // head's mix is a convex combination of v; this only guards that reasoning
  requireFinite("attention", probabilities, "softmax(q·kᵀ/√headDim)", { x: x.data });
  return {
    output: linear(new Tensor(heads, [B, T, D]), projWeight, projBias),
    probabilities: new Tensor(probabilities, [B, numHeads, T, T]),
  };
}
