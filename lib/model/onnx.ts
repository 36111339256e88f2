/**
 * The toolkit's one door to ONNX Runtime: every other module that runs a model
 * goes through here, so `onnxruntime-node` is imported in exactly one place.
 *
 * @module
 */
import "./ort_env.ts";
import * as ort from "onnxruntime-node";
import { Tensor } from "../tensor.ts";
import { oneLine, onnxExternalFiles } from "./folder.ts";

/** The ONNX Runtime module itself, for the toolkit's model code. */
export { ort };

/**
 * The session options the toolkit runs with, measured fastest on this project's 2-core machine (an AMD EPYC
 * with AVX-512 VNNI) by
 * `deno run -A bench/session_options.ts` (one guided step at batch 16, each candidate alone, medians of 30):
 * one intra-op thread per core (1 thread: 1.9× slower), worker threads that spin while waiting (spinning off:
 * 1.2× slower; between two steps the JavaScript side needs only ~2 ms, less than waking a sleeping thread
 * costs), every graph optimization (basic only: up to 1.15× slower; constant folding turns the float16 weight
 * casts, and in `dit_int8.onnx` the QuantizeLinear that makes the int8 weights, into constants at load time),
 * and sequential execution (a DiT is one chain of ops).
 *
 * @param threads intra-op threads; defaults to the number of CPU cores.
 *
 * @example
 * ```ts
 * import { sessionOptions } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(sessionOptions(1).intraOpNumThreads, 1);
 * ```
 */
export function sessionOptions(threads = navigator.hardwareConcurrency): OrtSessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    extra: { session: { intra_op: { allow_spinning: "1" } } },
    // errors only reach the caller, as one line (openSession): ONNX Runtime would also print them, in colour
    // and with C++ source locations, to stderr
    logSeverityLevel: 4,
  };
}

/**
 * ONNX Runtime's error in one line: its messages carry the C++ source location and function signature
 * (`/onnxruntime_src/…/optimizer_execution_frame.cc:74 onnxruntime::OptimizerExecutionFrame::Info::Info(…)
 * [ONNXRuntimeError] : 1 : FAIL : tensorprotoutils.cc:1763 GetExtDataFromTensorProto External initializer: …`),
 * 800 characters and a line break; what a person needs is the text after the last status code.
 *
 * @example
 * ```ts
 * import { ortMessage } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const raw = "Exception during initialization: /onnxruntime_src/a.cc:74 f(const std::vector<int>&) " +
 *   "[ONNXRuntimeError] : 1 : FAIL : tensorprotoutils.cc:1763 GetExtDataFromTensorProto External initializer: w " +
 *   "offset: 8 size to read: 4 given file_length: 6 are out of bounds or can not be read in full.\n";
 * assert.equal(ortMessage(new Error(raw)), "External initializer: w offset: 8 size to read: 4 given file_length: 6 are out of bounds or can not be read in full.");
 * ```
 */
export function ortMessage(error: unknown): string {
  let text = error instanceof Error ? error.message : String(error);
  const status = text.lastIndexOf("[ONNXRuntimeError]");
  if (status >= 0) text = text.slice(status).replace(/^\[ONNXRuntimeError\] : \d+ : \w+ : /, "");
  // "file.cc:123 FunctionName rest": the source location and the function are for ONNX Runtime's developers
  text = text.replace(/^\S+\.(cc|cpp|h):\d+ \S+ /, "");
  return oneLine(text, 240);
}

/**
 * Opens an ONNX model with {@link sessionOptions}, after checking that it and every weights file it names are
 * regular files of bounded size beside it ({@link onnxExternalFiles}): a FIFO or `/dev/zero` is refused
 * instead of hanging or filling memory inside ONNX Runtime.
 *
 * @throws a one-line `Error` naming the file when it is missing, unreadable, not a regular file or not a valid
 *   model (ONNX Runtime's own message shortened by {@link ortMessage}).
 *
 * @example
 * ```ts
 * import { openSession } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const session = await openSession(new URL("../../models/digits/dit.onnx", import.meta.url).pathname);
 * assert.deepEqual(session.inputNames, ["x", "t", "y"]);
 * await session.release();
 * ```
 */
export async function openSession(path: string): Promise<OrtSession> {
  onnxExternalFiles(path);
  try {
    // by path, not bytes: ONNX Runtime then finds the weights file the graph names (external data) beside it
    return await ort.InferenceSession.create(path, sessionOptions());
  } catch (error) {
    throw new Error(
      `${path}: not a valid ONNX model, perhaps truncated or corrupt (it or its weights file): ${
        ortMessage(error)
      }`,
    );
  }
}

/** ONNX Runtime's tensor class, what `session.run` takes and returns. */
export type OrtTensor = ort.Tensor;

/** An ONNX Runtime session: one loaded model. */
export type OrtSession = ort.InferenceSession;

/** The options an ONNX Runtime session is created with. */
export type OrtSessionOptions = ort.InferenceSession.SessionOptions;

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
