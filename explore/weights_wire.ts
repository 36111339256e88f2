/**
 * A DiT's weights on the wire, from the explorer's server (which reads them out of `dit.onnx` with the glass
 * box's reader) to the page's attention worker (which runs `lib/dit.ts` on them): a little-endian uint32 length,
 * that many bytes of JSON listing each tensor's name and shape, padding to a multiple of 4, then every tensor's
 * float32 values in the listed order.
 *
 * @module
 */
import { Tensor } from "../lib/tensor.ts";

/**
 * Packs named tensors into one buffer.
 *
 * @example
 * ```ts
 * import { packWeights, unpackWeights } from "./weights_wire.ts";
 * import { Tensor } from "../lib/tensor.ts";
 * import assert from "node:assert/strict";
 * const weights = new Map([["w", Tensor.from([1, 2, 3, 4, 5, 6], [2, 3])], ["b", Tensor.from([7], [1])]]);
 * assert.deepEqual(unpackWeights(packWeights(weights)), weights);
 * ```
 */
export function packWeights(weights: ReadonlyMap<string, Tensor>): Uint8Array<ArrayBuffer> {
  const entries = [...weights];
  const header = new TextEncoder().encode(JSON.stringify(entries.map(([name, t]) => [name, t.shape])));
  const start = 4 + Math.ceil(header.length / 4) * 4;
  const values = entries.reduce((n, [, t]) => n + t.data.length, 0);
  const bytes = new Uint8Array(start + 4 * values);
  new DataView(bytes.buffer).setUint32(0, header.length, true);
  bytes.set(header, 4);
  const floats = new Float32Array(bytes.buffer, start);
  let at = 0;
  for (const [, t] of entries) {
    floats.set(t.data, at);
    at += t.data.length;
  }
  return bytes;
}

/**
 * The named tensors of a buffer {@link packWeights} made (little-endian machines, as every browser's is).
 * @throws an `Error` saying what is wrong with a buffer that is not one.
 */
export function unpackWeights(bytes: Uint8Array): Map<string, Tensor> {
  const fail = (what: string): never => {
    throw new Error(`the weights from the server are not what packWeights makes (${what})`);
  };
  if (bytes.length < 4) fail(`${bytes.length} bytes`);
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  const start = 4 + Math.ceil(length / 4) * 4;
  if (start > bytes.length) fail(`a header of ${length} bytes in ${bytes.length}`);
  const list: [string, number[]][] = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
  const floats = new Float32Array(bytes.slice(start).buffer);
  const weights = new Map<string, Tensor>();
  let at = 0;
  for (const [name, shape] of list) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (at + size > floats.length) fail(`${name} runs past the end`);
    weights.set(name, new Tensor(floats.slice(at, at + size), shape));
    at += size;
  }
  if (at !== floats.length) fail(`${floats.length - at} values left over`);
  return weights;
}
