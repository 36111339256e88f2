/**
 * adaLN-Zero, the conditioning mechanism of DiT blocks, as three small pieces.
 *
 * Each block computes six vectors from the conditioning c = t-embedding +
 * label-embedding (`adaLN_modulation`: SiLU then Linear to 6·D), and uses them as
 *
 * ```
 * x = x + gate_msa · Attention(modulate(layerNorm(x), shift_msa, scale_msa))
 * x = x + gate_mlp · MLP(modulate(layerNorm(x), shift_mlp, scale_mlp))
 * ```
 *
 * "Zero": that Linear starts at zero, so every gate starts at 0 and each block
 * begins life as the identity. The LayerNorm has no learned affine parameters:
 * the shift and scale come from the conditioning instead.
 *
 * Each result is computed in float64 and stored as float32, as the formulas read.
 *
 * @module
 */
import { checkTensor, dims, Tensor } from "./tensor.ts";
import { checkNumber, requireFinite } from "./checks.ts";

/**
 * LayerNorm over the last dimension without affine parameters:
 * `(x − mean) / √(var + eps)`, with the biased variance, as `nn.LayerNorm(D,
 * elementwise_affine=False, eps=1e-6)` in DiT's `norm1`, `norm2` and `norm_final`.
 *
 * @param x any tensor; normalized over its last dimension.
 * @param eps added to the variance; DiT uses 1e-6. With 0, a constant row normalizes to 0 (not 0/0).
 * @throws if `x` is not a tensor of at least one dimension, `eps` is negative or not finite, or `x` holds a
 *   value that is not finite.
 *
 * @example Each row ends with mean 0 and variance ≈ 1
 * ```ts
 * import { layerNorm, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const y = layerNorm(Tensor.from([1, 2, 3, 4], [1, 4]));
 * assert.ok(Math.abs(y.data.reduce((a, b) => a + b)) < 1e-6);
 * assert.ok(Math.abs(y.at(0, 3) - 3 / Math.sqrt(5)) < 1e-5); // (4 − 2.5)/√1.25
 * ```
 */
export function layerNorm(x: Tensor, eps = 1e-6): Tensor {
  checkTensor(x, "layerNorm: x", "[..., D]");
  if (x.shape.length === 0) throw new Error("layerNorm: x is a scalar; expected at least 1 dimension");
  checkNumber(eps, "layerNorm: eps", (v) => v >= 0 && Number.isFinite(v), "a non-negative number, finite");
  const D = x.shape[x.shape.length - 1];
  const out = new Float32Array(x.size);
  if (D === 0) return new Tensor(out, x.shape); // (no rows to normalize; a row loop would never advance)
  for (let row = 0; row < x.size; row += D) {
    let sum = 0;
    for (let i = row; i < row + D; i++) sum += x.data[i];
    const mean = sum / D;
    let sq = 0;
    for (let i = row; i < row + D; i++) sq += (x.data[i] - mean) ** 2;
    // A variance of 0 (a constant row, eps 0) means x − mean = 0 throughout: leave the row 0, not 0·∞ = NaN
    const variance = sq / D + eps;
    const rstd = variance > 0 ? 1 / Math.sqrt(variance) : 0;
    for (let i = row; i < row + D; i++) out[i] = (x.data[i] - mean) * rstd;
  }
  requireFinite("layerNorm", out, "(x − mean)/√(var + eps)", { x: x.data });
  return new Tensor(out, x.shape);
}

/**
 * The modulation at the heart of adaLN: `x·(1 + scale) + shift`, with one shift
 * and scale vector per batch element broadcast over the tokens.
 *
 * @param x tokens, `[B, T, D]`.
 * @param shift `[B, D]`.
 * @param scale `[B, D]`; 0 leaves x unscaled (hence the `1 +`).
 * @throws if the shapes do not match, or a result is not finite (naming the argument that is not, or the
 *   overflow).
 *
 * @example Zero shift and scale are the identity; this is how a fresh adaLN-Zero block starts
 * ```ts
 * import { modulate, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const x = Tensor.from([1, 2, 3, 4], [1, 2, 2]);
 * assert.deepEqual(modulate(x, Tensor.zeros([1, 2]), Tensor.zeros([1, 2])).data, x.data);
 * const y = modulate(x, Tensor.from([10, 0], [1, 2]), Tensor.from([1, 0], [1, 2]));
 * assert.deepEqual([...y.data], [12, 2, 16, 4]); // channel 0: 2·x + 10
 * ```
 */
export function modulate(x: Tensor, shift: Tensor, scale: Tensor): Tensor {
  const [B, T, D] = dims(x, 3, "modulate: x", "[B, T, D]");
  checkPerSample(shift, "modulate: shift", B, D);
  checkPerSample(scale, "modulate: scale", B, D);
  const out = new Float32Array(x.size);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let d = 0; d < D; d++) {
        const i = (b * T + t) * D + d;
        out[i] = x.data[i] * (1 + scale.data[b * D + d]) + shift.data[b * D + d];
      }
    }
  }
  requireFinite("modulate", out, "x·(1 + scale) + shift", {
    x: x.data,
    shift: shift.data,
    scale: scale.data,
  });
  return new Tensor(out, [B, T, D]);
}

/**
 * The gated residual of adaLN-Zero: `x + gate · y`, one gate vector per batch
 * element broadcast over the tokens. With the gate at zero the branch `y` is
 * switched off and the block is the identity.
 *
 * @param x the residual stream, `[B, T, D]`.
 * @param gate `[B, D]` (DiT's `gate_msa` or `gate_mlp`).
 * @param y the branch output (attention or MLP), `[B, T, D]`.
 * @throws if the shapes do not match, or a result is not finite (naming the argument that is not, or the
 *   overflow).
 *
 * @example
 * ```ts
 * import { gatedResidual, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const x = Tensor.from([1, 1], [1, 1, 2]);
 * const y = Tensor.from([5, 5], [1, 1, 2]);
 * assert.deepEqual([...gatedResidual(x, Tensor.from([0, 0.5], [1, 2]), y).data], [1, 3.5]);
 * ```
 */
export function gatedResidual(x: Tensor, gate: Tensor, y: Tensor): Tensor {
  const [B, T, D] = dims(x, 3, "gatedResidual: x", "[B, T, D]");
  checkPerSample(gate, "gatedResidual: gate", B, D);
  const [yB, yT, yD] = dims(y, 3, "gatedResidual: y", "[B, T, D]");
  if (yB !== B || yT !== T || yD !== D) {
    throw new Error(`gatedResidual: y: expected the shape of x [${x.shape}], got [${y.shape}]`);
  }
  const out = new Float32Array(x.size);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let d = 0; d < D; d++) {
        const i = (b * T + t) * D + d;
        out[i] = x.data[i] + gate.data[b * D + d] * y.data[i];
      }
    }
  }
  requireFinite("gatedResidual", out, "x + gate·y", { x: x.data, gate: gate.data, y: y.data });
  return new Tensor(out, [B, T, D]);
}

function checkPerSample(v: Tensor, name: string, B: number, D: number): void {
  const [vB, vD] = dims(v, 2, name, `[B, D] = [${B}, ${D}]`);
  if (vB !== B || vD !== D) {
    throw new Error(`${name}: expected shape [B, D] = [${B}, ${D}], got [${v.shape}]`);
  }
}
