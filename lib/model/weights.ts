/**
 * The weights inside an ONNX file, read without ONNX Runtime: every
 * initializer of the graph, by name, as a float32 {@link Tensor}.
 *
 * Our `dit.onnx` files are exported so that each initializer keeps its PyTorch
 * parameter name (`blocks.3.attn.qkv.weight`), which is what lets the glass box
 * (`loadGlassBox`) find them. To halve the files, large weights are stored as
 * float16 and cast back to float32 inside the graph; float16 → float32 is
 * exact, so the tensors read here are exactly the numbers ONNX Runtime computes with.
 * A model may store its Linear weights (and a U-Net its convolution kernels) as int8 instead, one float32
 * scale an output channel (`<name>/scale`; for a DiT the same 7-bit integers `dit_int8.onnx` computes with);
 * they are read here as the graph dequantizes them, q · scale.
 * The large initializers live outside the graph, in `dit.weights` beside it (ONNX
 * "external data": each initializer names a file, an offset and a length), so
 * that `dit.onnx` and `dit_int8.onnx` share one copy.
 *
 * @module
 */
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { Tensor } from "../tensor.ts";
import {
  decodeOnnx,
  folderOf,
  MAX_MODEL_FILE_BYTES,
  oneLine,
  onnxExternalFiles,
  readBounded,
} from "./folder.ts";

const { onnx } = onnxProto; // (a CommonJS module: its namespace comes as the default export)

/** ONNX `TensorProto.DataType` codes of the element types we read. */
const FLOAT = 1, INT8 = 3, FLOAT16 = 10;

/**
 * Reads every initializer of an ONNX model as a float32 tensor, keyed by its
 * name in the graph, with its stored shape.
 *
 * The model and every weights file it names are read only if they are regular files of bounded size, and the
 * weights files only if they resolve inside the model's folder (see `folder.ts`); a folder with a card is
 * checked against its hashes first by `loadGlassBox`.
 *
 * @param path the `.onnx` file.
 * @throws `"<path>: cannot read the ONNX model (…)"` if the file cannot be read or is not a regular file;
 *   `"<folder>/<name>: …"` if a weights file it names is outside its folder, not a regular file or missing;
 *   `"<path>: not a valid ONNX model (…)"` if it does not decode (corrupt,
 *   truncated) or holds an initializer that is not float32, float16 or int8.
 *
 * @example The digits DiT's weights, by their PyTorch names
 * ```ts
 * import { readOnnxWeights } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const weights = readOnnxWeights(new URL("../../models/digits/dit.onnx", import.meta.url).pathname);
 * assert.deepEqual(weights.get("blocks.0.attn.qkv.weight")?.shape, [576, 192]); // [3·D, D]
 * assert.deepEqual(weights.get("pos_embed")?.shape, [1, 64, 192]); // 8×8 tokens of D = 192
 * ```
 */
export function readOnnxWeights(path: string): Map<string, Tensor> {
  const model = decodeOnnx(readBounded(path, MAX_MODEL_FILE_BYTES, "the ONNX model"), path);
  // every weights file the graph names is checked to lie inside the model's folder, then read once
  const external = new Map<string, Uint8Array>();
  for (const location of onnxExternalFiles(path)) {
    const file = `${folderOf(path)}/${location}`;
    external.set(location, readBounded(file, MAX_MODEL_FILE_BYTES, "the weights file"));
  }
  try {
    const initializers = model.graph!.initializer ?? [];
    const weights = new Map(initializers.map((init) => [init.name ?? "", toTensor(init, external)]));
    for (const init of initializers) {
      const scale = weights.get(`${init.name}/scale`);
      if (init.dataType === INT8 && scale) {
        weights.set(init.name!, dequantizeRows(weights.get(init.name!)!, scale));
      }
    }
    return weights;
  } catch (error) {
    throw new Error(`${path}: not a valid ONNX model (${oneLine((error as Error).message)})`);
  }
}

/**
 * An int8-stored weight as the graph computes with it: output channel i of q (a Linear's row `[out, in]`, a
 * convolution's kernel `[out, in, kh, kw]`) times scale[i], in float32 (the graph's `Cast` and `Mul`, one
 * correctly rounded product per weight).
 */
function dequantizeRows(q: Tensor, scale: Tensor): Tensor {
  const rows = q.shape[0], columns = q.size / rows;
  if (q.shape.length < 2 || scale.data.length !== rows) {
    throw new Error(
      `an int8 weight [${q.shape}] needs one scale an output channel; its scale has ${scale.data.length}`,
    );
  }
  const values = new Float32Array(q.data.length);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < columns; j++) values[i * columns + j] = q.data[i * columns + j] * scale.data[i];
  }
  return new Tensor(values, q.shape);
}

/** The bytes of an initializer stored in an external file: its `location`, `offset` and `length` entries. */
function externalBytes(init: OnnxTypes.ITensorProto, files: Map<string, Uint8Array>): Uint8Array {
  const entry = (key: string) => init.externalData?.find((e) => e.key === key)?.value ?? undefined;
  const location = entry("location") ?? "";
  const bytes = files.get(location);
  if (!bytes) throw new Error(`initializer ${init.name} is external but names no weights file`);
  const offset = Number(entry("offset") ?? 0);
  const length = Number(entry("length") ?? bytes.length - offset);
  if (
    !(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0) ||
    offset + length > bytes.length
  ) {
    throw new Error(
      `initializer ${init.name} reads bytes ${offset}…${
        offset + length
      } of ${location}, which has ${bytes.length}`,
    );
  }
  return bytes.subarray(offset, offset + length);
}

/** One initializer's values as float32, from whichever field the writer filled. */
function toTensor(init: OnnxTypes.ITensorProto, files: Map<string, Uint8Array>): Tensor {
  const shape = (init.dims ?? []).map((d) => (typeof d === "number" ? d : d.toNumber()));
  const size = shape.reduce((a, b) => a * b, 1);
  const raw = init.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL
    ? externalBytes(init, files)
    : init.rawData ?? new Uint8Array(); // little-endian, whatever the machine
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const fromRaw = (bytesPerValue: number, read: (offset: number) => number) => {
    if (raw.length !== size * bytesPerValue) {
      throw new Error(
        `initializer ${init.name} has ${raw.length} bytes; its shape [${shape}] needs ${
          size * bytesPerValue
        }`,
      );
    }
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = read(i * bytesPerValue);
    return values;
  };
  let values: Float32Array;
  if (init.dataType === FLOAT) {
    values = raw.length > 0
      ? fromRaw(4, (at) => view.getFloat32(at, true))
      : Float32Array.from(init.floatData ?? []);
  } else if (init.dataType === FLOAT16) {
    // float16 comes as raw bytes or as its bit patterns, one per int32_data entry; every float16 is exactly a
    // float32, so this conversion loses nothing
    values = raw.length > 0
      ? fromRaw(2, (at) => view.getFloat16(at, true))
      : Float32Array.from(new Float16Array(Uint16Array.from(init.int32Data ?? []).buffer));
  } else if (init.dataType === INT8) {
    // e.g. the zero points of dit_int8.onnx's QuantizeLinear; small integers, exact in float32
    values = raw.length > 0 ? fromRaw(1, (at) => view.getInt8(at)) : Float32Array.from(init.int32Data ?? []);
  } else {
    throw new Error(
      `initializer ${init.name} has data type ${init.dataType}; expected float32 (${FLOAT}), float16 (${FLOAT16}) or int8 (${INT8})`,
    );
  }
  if (values.length !== size) {
    throw new Error(
      `initializer ${init.name} holds ${values.length} values; its shape [${shape}] needs ${size}`,
    );
  }
  return new Tensor(values, shape);
}
