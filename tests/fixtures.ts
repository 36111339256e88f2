/**
 * The reference numbers in `fixtures/reference.json`, made by
 * `reference/dit_reference.py` (PyTorch/numpy, the reference's arithmetic).
 *
 * @module
 */
import { Tensor } from "../lib/tensor.ts";

/** A float32 tensor as the fixture file stores it. */
export interface Packed {
  shape: number[];
  data: number[];
}

/**
 * Float32 results of the same float32 arithmetic (PyTorch against PyTorch, or our exact float32 restatements
 * of the positional and timestep embeddings) compared elementwise at this tolerance: a few float32 ulps.
 */
export const FLOAT32 = { rtol: 1e-6, atol: 1e-7 };

/**
 * The largest error, relative to the values' scale (`assertRelativeError`), of a concept function against the
 * reference's numbers: our formulas run in float64 and store float32, the reference's in float32 throughout,
 * so they differ by a few float32 ulps of the largest value (measured: at most 6.6e-7), far below the 1e-5
 * we promise.
 */
export const CONCEPT_TOLERANCE = 1e-6;

/** The parsed fixture file. Its fields are typed loosely; each test knows its own part. */
// deno-lint-ignore no-explicit-any
export const reference: Record<string, any> = JSON.parse(
  Deno.readTextFileSync(new URL("./fixtures/reference.json", import.meta.url)),
);

/** A stored tensor as a {@link Tensor}. */
export function tensor(packed: Packed): Tensor {
  return Tensor.from(packed.data, packed.shape);
}

/** A stand-in DiT output `[B, 2C, …]`: ε̂ `[B, C, …]` then the variance values v (0 unless given) per sample. */
export function modelOutput(eps: Tensor, v: Tensor = Tensor.zeros(eps.shape)): Tensor {
  const [B, C, ...rest] = eps.shape, block = eps.size / B;
  const out = new Float32Array(2 * eps.size);
  for (let b = 0; b < B; b++) {
    out.set(eps.data.subarray(b * block, (b + 1) * block), 2 * b * block);
    out.set(v.data.subarray(b * block, (b + 1) * block), (2 * b + 1) * block);
  }
  return new Tensor(out, [B, 2 * C, ...rest]);
}
