/**
 * The sinusoidal timestep embedding that feeds DiT's `t_embedder`.
 *
 * A diffusion timestep t (0…999, possibly fractional) is written as the
 * cosines and sines of `t·f_k` for `dim/2` frequencies `f_k` falling
 * geometrically from 1 to 1/maxPeriod. `t_embedder` then maps this vector
 * through an MLP (Linear → SiLU → Linear) to the hidden size.
 *
 * Every step is rounded to float32 where the reference's torch code rounds,
 * and the frequencies use torch's own float32 `exp` ({@link expf}). That
 * matters: t·f_k reaches ~1000 radians, where one float32 ulp of the angle
 * moves cos by ~3e-5. (cos and sin themselves may differ from torch's in the
 * last bit.)
 *
 * @module
 */
import { expf, f32 } from "./float32.ts";
import { Tensor } from "./tensor.ts";
import {
  checkElements,
  checkInteger,
  checkList,
  checkNumber,
  describeValue,
  MAX_EMBED_DIM,
} from "./checks.ts";

/**
 * Sinusoidal embeddings of timesteps: `[N]` → `[N, dim]`, laid out as
 * `[cos(t·f_0 … t·f_{h-1}) | sin(t·f_0 … t·f_{h-1})]` with `h = ⌊dim/2⌋` and
 * `f_k = maxPeriod^(−k/h)`; a zero column is appended when `dim` is odd.
 *
 * @param t one timestep per batch element; fractional values are allowed, within float32's range.
 * @param dim the embedding size (DiT uses 256, its `frequency_embedding_size`), at most {@link MAX_EMBED_DIM}.
 * @param maxPeriod sets the lowest frequency, 1/maxPeriod; at least 1, so that no frequency exceeds 1 and no
 *   angle t·f_k leaves float32's range.
 * @throws if `dim` is not an integer from 2 to {@link MAX_EMBED_DIM}, `maxPeriod` is not a finite number ≥ 1,
 *   a t is not a number that float32 holds as a finite value, or the result would hold more than
 *   `MAX_ELEMENTS` numbers.
 *
 * @example t = 0 gives cosines 1 and sines 0
 * ```ts
 * import { timestepEmbedding } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const emb = timestepEmbedding([0, 500], 256);
 * assert.deepEqual(emb.shape, [2, 256]);
 * assert.equal(emb.at(0, 0), 1); // cos(0)
 * assert.equal(emb.at(0, 128), 0); // sin(0)
 * assert.equal(emb.at(1, 128), Math.fround(Math.sin(500))); // f_0 = 1
 * ```
 */
export function timestepEmbedding(
  t: ArrayLike<number>,
  dim: number,
  maxPeriod = 10000,
): Tensor {
  // (the reference returns an empty [N, 0] embedding for dim 1)
  checkInteger(dim, "timestepEmbedding: dim", 2, MAX_EMBED_DIM, "MAX_EMBED_DIM");
  checkNumber(
    maxPeriod,
    "timestepEmbedding: maxPeriod",
    (v) => v >= 1 && Number.isFinite(v),
    "a positive number, finite and >= 1 (the longest period)",
  );
  checkList(t, "timestepEmbedding: t");
  checkElements(t.length * dim, "timestepEmbedding: the embedding [N, dim]");
  for (let n = 0; n < t.length; n++) {
    // t is rounded to float32 first, as torch does: 1e39 would become Infinity, and cos(Infinity) NaN
    if (typeof t[n] !== "number" || !Number.isFinite(f32(t[n]))) {
      throw new Error(
        `timestepEmbedding: t[${n}] is ${
          describeValue(t[n])
        }; expected a finite number (float32: |t| < 3.4e38)`,
      );
    }
  }
  const half = Math.floor(dim / 2);
  // freqs = exp(-ln(maxPeriod) · k / half), each operation in float32 like torch.
  const negLogPeriod = f32(-Math.log(maxPeriod));
  const freqs = Float32Array.from(
    { length: half },
    (_, k) => expf(f32(f32(negLogPeriod * k) / half)),
  );
  const out = new Float32Array(t.length * dim); // an odd dim's last column stays 0
  for (let n = 0; n < t.length; n++) {
    const tn = f32(t[n]);
    for (let k = 0; k < half; k++) {
      const angle = f32(tn * freqs[k]);
      out[n * dim + k] = Math.cos(angle);
      out[n * dim + half + k] = Math.sin(angle);
    }
  }
  return new Tensor(out, [t.length, dim]);
}
