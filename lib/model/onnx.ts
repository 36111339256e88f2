/**
 * The toolkit's one door to ONNX Runtime: every other module that runs a model
 * goes through here, so `onnxruntime-node` is imported in exactly one place.
 *
 * @module
 */
import "./ort_env.ts";
import * as ort from "onnxruntime-node";
import { Tensor } from "../tensor.ts";

/** The ONNX Runtime module itself, for the toolkit's model code. */
export { ort };

/** ONNX Runtime's tensor class, what `session.run` takes and returns. */
export type OrtTensor = ort.Tensor;

/**
 * Wraps a {@link Tensor} as an `ort.Tensor` for `session.run` (no copy: both
 * share the same `Float32Array`).
 *
 * @example
 * ```ts
 * import { Tensor, toOrtTensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const x = Tensor.zeros([1, 4, 8, 8]);
 * const feed = toOrtTensor(x);
 * assert.deepEqual(feed.dims, [1, 4, 8, 8]);
 * assert.equal(feed.data, x.data); // the same memory
 * ```
 */
export function toOrtTensor(tensor: Tensor): OrtTensor {
  return new ort.Tensor("float32", tensor.data, tensor.shape);
}

/**
 * Wraps a float32 `ort.Tensor` (e.g. a session output) as a {@link Tensor}, no copy.
 *
 * @throws if the ONNX tensor is not float32.
 *
 * @example
 * ```ts
 * import { fromOrtTensor } from "@dit/toolkit";
 * import * as ort from "onnxruntime-node";
 * import assert from "node:assert/strict";
 * const t = fromOrtTensor(new ort.Tensor("float32", new Float32Array(6), [2, 3]));
 * assert.deepEqual(t.shape, [2, 3]);
 * ```
 */
export function fromOrtTensor(value: OrtTensor): Tensor {
  if (value.type !== "float32") {
    throw new Error(`fromOrtTensor: tensor type is ${value.type}; expected float32`);
  }
  return new Tensor(value.data as Float32Array, value.dims);
}
