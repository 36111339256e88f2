/**
 * The fixed 2-D sine-cosine positional embedding DiT adds to its patch tokens
 * (`pos_embed`, taken from MAE). It is not learned: each token's position on the
 * patch grid is written into its vector as sines and cosines of many frequencies.
 *
 * Which half encodes which axis matters, because a trained model's weights
 * depend on it. In the reference, the first half of each vector encodes the
 * token's **column** (x) and the second half its **row** (y), each half laid out
 * as `[sin(pos·ω_k) | cos(pos·ω_k)]` with `ω_k = 10000^(−k/(D/4))`.
 *
 * The reference computes this in float64 and rounds to float32 once, when the
 * table is copied into the model; so do we.
 *
 * @module
 */
import {
  checkElements,
  checkInteger,
  checkList,
  describeValue,
  MAX_EMBED_DIM,
  MAX_TOKENS,
} from "./checks.ts";
import { Tensor } from "./tensor.ts";

/**
 * The 1-D sin-cos embedding of arbitrary positions: `[M]` → `[M, embedDim]`,
 * row m being `[sin(pos_m·ω_0..ω_{D/2-1}) | cos(pos_m·ω_0..ω_{D/2-1})]` with
 * `ω_k = 10000^(−k/(D/2))`.
 *
 * @param embedDim the vector size D; must be even, at most {@link MAX_EMBED_DIM}.
 * @param positions the positions to encode (any finite numbers).
 * @throws if `embedDim` is not such an integer, a position is not a finite number, or the table would hold
 *   more than `MAX_ELEMENTS` numbers.
 *
 * @example Position 0 is all sines 0, all cosines 1
 * ```ts
 * import { sincosPosEmbed1d } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const e = sincosPosEmbed1d(4, [0, 1]);
 * assert.deepEqual([...e.data.subarray(0, 4)], [0, 0, 1, 1]);
 * assert.equal(e.at(1, 0), Math.fround(Math.sin(1)));
 * ```
 */
export function sincosPosEmbed1d(embedDim: number, positions: ArrayLike<number>): Tensor {
  checkInteger(embedDim, "sincosPosEmbed1d: embedDim", 2, MAX_EMBED_DIM, "MAX_EMBED_DIM", 2);
  checkList(positions, "sincosPosEmbed1d: positions");
  checkElements(positions.length * embedDim, "sincosPosEmbed1d: the table [M, embedDim]");
  for (let m = 0; m < positions.length; m++) {
    // sin and cos of a finite angle are finite; of ±Infinity or NaN they are NaN
    if (typeof positions[m] !== "number" || !Number.isFinite(positions[m])) {
      throw new Error(
        `sincosPosEmbed1d: positions[${m}] is ${describeValue(positions[m])}; expected a finite number`,
      );
    }
  }
  const half = embedDim / 2;
  const omega = Float64Array.from({ length: half }, (_, k) => 1 / 10000 ** (k / half));
  const out = new Float32Array(positions.length * embedDim);
  for (let m = 0; m < positions.length; m++) {
    for (let k = 0; k < half; k++) {
      const angle = positions[m] * omega[k];
      out[m * embedDim + k] = Math.sin(angle);
      out[m * embedDim + half + k] = Math.cos(angle);
    }
  }
  return new Tensor(out, [positions.length, embedDim]);
}

/**
 * DiT's fixed positional embedding for a `gridSize × gridSize` patch grid:
 * `[gridSize², embedDim]`, one row per token in row-major grid order.
 *
 * Token `row·gridSize + col` gets `[1-D embedding of col | 1-D embedding of row]`,
 * each of size `embedDim/2` (see {@link sincosPosEmbed1d}).
 *
 * @param embedDim the hidden size D; the reference requires a multiple of 4. At most {@link MAX_EMBED_DIM}.
 * @param gridSize patches per side (input size / patch size); at most 256, so that the grid has at most
 *   {@link MAX_TOKENS} tokens.
 * @throws if `embedDim` is not a positive multiple of 4, `gridSize` is not a positive integer, either is
 *   above its limit, or the table would hold more than `MAX_ELEMENTS` numbers.
 *
 * @example The table for an 8×8 grid of 384-wide tokens (DiT-S/2 on a 16×16 latent)
 * ```ts
 * import { sincosPosEmbed2d } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const pos = sincosPosEmbed2d(384, 8);
 * assert.deepEqual(pos.shape, [64, 384]);
 * // token 1 is row 0, column 1: its first half moves, its second half is row 0's
 * assert.equal(pos.at(1, 0), Math.fround(Math.sin(1)));
 * assert.equal(pos.at(1, 192), 0);
 * ```
 */
export function sincosPosEmbed2d(embedDim: number, gridSize: number): Tensor {
  // a multiple of 4: two halves, one per axis, each of sines and cosines
  checkInteger(embedDim, "sincosPosEmbed2d: embedDim", 4, MAX_EMBED_DIM, "MAX_EMBED_DIM", 4);
  checkInteger(gridSize, "sincosPosEmbed2d: gridSize", 1, Math.sqrt(MAX_TOKENS), "√MAX_TOKENS");
  checkElements(gridSize * gridSize * embedDim, "sincosPosEmbed2d: the table [gridSize², embedDim]");
  const tokens = gridSize * gridSize;
  const cols = Float64Array.from({ length: tokens }, (_, m) => m % gridSize);
  const rows = Float64Array.from({ length: tokens }, (_, m) => Math.floor(m / gridSize));
  const half = embedDim / 2;
  const byCol = sincosPosEmbed1d(half, cols).data;
  const byRow = sincosPosEmbed1d(half, rows).data;
  const out = new Float32Array(tokens * embedDim);
  for (let m = 0; m < tokens; m++) {
    out.set(byCol.subarray(m * half, (m + 1) * half), m * embedDim);
    out.set(byRow.subarray(m * half, (m + 1) * half), m * embedDim + half);
  }
  return new Tensor(out, [tokens, embedDim]);
}
