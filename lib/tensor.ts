/**
 * A minimal float32 tensor: a flat row-major `Float32Array` plus a shape.
 *
 * Everything in this toolkit passes `Tensor`s around, so a learner can look at
 * any intermediate with `.shape` and `.data`. It deliberately has no math
 * methods: each concept module writes its own loop, in the open.
 *
 * @module
 */
import { checkElements, checkShape, describeValue } from "./checks.ts";

/**
 * A row-major float32 tensor.
 *
 * @example Build one, read its shape and an element
 * ```ts
 * import { Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const x = new Tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
 * assert.deepEqual(x.shape, [2, 3]);
 * assert.equal(x.at(1, 2), 6); // row 1, column 2
 * ```
 */
export class Tensor {
  /** The elements in row-major (C) order: the last index varies fastest. */
  readonly data: Float32Array;
  /** The size of each dimension. */
  readonly shape: readonly number[];

  /**
   * Wraps `data` (no copy) as a tensor of `shape`.
   * @throws if `data` is not a `Float32Array`, a dimension is not a non-negative integer, the sizes disagree,
   *   or there are more than `MAX_ELEMENTS` elements.
   */
  constructor(data: Float32Array, shape: readonly number[]) {
    if (!(data instanceof Float32Array)) {
      throw new Error(`Tensor: data is ${describeValue(data)}; expected a Float32Array`);
    }
    const size = checkShape(shape, "Tensor: shape");
    if (size !== data.length) {
      throw new Error(
        `Tensor: shape [${shape}] holds ${size} elements but data has ${data.length}; expected them to match`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
  }

  /**
   * A tensor of zeros.
   *
   * @throws before allocating, if `shape` is not an array of non-negative integers holding at most
   *   `MAX_ELEMENTS` elements.
   *
   * @example
   * ```ts
   * import { Tensor } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * assert.deepEqual([...Tensor.zeros([2, 2]).data], [0, 0, 0, 0]);
   * assert.throws(() => Tensor.zeros([-1]), /Tensor.zeros: shape\[0\] is -1; expected a non-negative integer/);
   * ```
   */
  static zeros(shape: readonly number[]): Tensor {
    return new Tensor(new Float32Array(checkShape(shape, "Tensor.zeros: shape")), shape);
  }

  /**
   * A tensor from plain numbers (rounded to float32), e.g. typed in a notebook.
   *
   * @throws if `shape` is not a valid shape, `values` is not an array of that many numbers.
   *
   * @example
   * ```ts
   * import { Tensor } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const t = Tensor.from([0.1, 1.5], [1, 2]);
   * assert.equal(t.at(0, 0), Math.fround(0.1)); // stored as float32
   * ```
   */
  static from(values: ArrayLike<number>, shape: readonly number[]): Tensor {
    const size = checkShape(shape, "Tensor.from: shape");
    const isList = Array.isArray(values) || (ArrayBuffer.isView(values) && !(values instanceof DataView));
    if (!isList || (values as ArrayLike<number>).length !== size) {
      const length = isList ? ` of ${values.length} entries` : "";
      throw new Error(
        `Tensor.from: values is ${
          describeValue(values)
        }${length}; expected an array of ${size} numbers for shape [${shape}]`,
      );
    }
    // Float32Array.from would turn a string or undefined into NaN without a word
    for (let i = 0; i < size; i++) {
      if (typeof values[i] !== "number") {
        throw new Error(`Tensor.from: values[${i}] is ${describeValue(values[i])}; expected a number`);
      }
    }
    return new Tensor(Float32Array.from(values), shape);
  }

  /** The number of elements. */
  get size(): number {
    return this.data.length;
  }

  /**
   * The element at a full index, one integer per dimension.
   * @throws if the index has the wrong length or is out of range.
   */
  at(...index: number[]): number {
    checkTensor(this, "Tensor.at: this");
    if (index.length !== this.shape.length) {
      throw new Error(
        `Tensor.at: got ${index.length} indices for shape [${this.shape}]; expected ${this.shape.length}`,
      );
    }
    let offset = 0;
    for (const [axis, i] of index.entries()) {
      const n = this.shape[axis];
      if (!Number.isInteger(i) || i < 0 || i >= n) {
        throw new Error(`Tensor.at: index[${axis}] is ${i}; expected an integer in [0, ${n})`);
      }
      offset = offset * n + i;
    }
    return this.data[offset];
  }

  /**
   * The sub-tensor at the first indices, as a view (no copy): for x `[B, C, H, W]`, `x.select(b)` is sample b
   * `[C, H, W]` and `x.select(b, c)` its channel c `[H, W]`, as `x[b, c]` in PyTorch.
   *
   * @throws if there are more indices than dimensions, or one is out of range.
   *
   * @example Channel 1 of sample 0, then one attention row
   * ```ts
   * import { Tensor } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * const x = Tensor.from([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
   * assert.deepEqual(x.select(0, 1).shape, [2, 2]);
   * assert.deepEqual([...x.select(0, 1).data], [5, 6, 7, 8]);
   * assert.deepEqual([...x.select(0, 1, 0).data], [5, 6]);
   * ```
   */
  select(...index: number[]): Tensor {
    checkTensor(this, "Tensor.select: this");
    if (index.length > this.shape.length) {
      throw new Error(
        `Tensor.select: got ${index.length} indices for shape [${this.shape}]; expected at most ${this.shape.length}`,
      );
    }
    let offset = 0;
    for (const [axis, i] of index.entries()) {
      const n = this.shape[axis];
      if (!Number.isInteger(i) || i < 0 || i >= n) {
        throw new Error(
          `Tensor.select: index[${axis}] is ${describeValue(i)}; expected an integer in [0, ${n})`,
        );
      }
      offset = offset * n + i;
    }
    const shape = this.shape.slice(index.length);
    const size = shape.reduce((a, b) => a * b, 1);
    return new Tensor(this.data.subarray(offset * size, (offset + 1) * size), shape);
  }

  /**
   * The same data seen with another shape of the same size (no copy).
   *
   * @example
   * ```ts
   * import { Tensor } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * assert.deepEqual(Tensor.zeros([2, 3]).reshape([3, 2]).shape, [3, 2]);
   * ```
   */
  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.data, shape);
  }

  /** A one-line summary for `console.log` and notebooks: shape, mean, std, range. */
  [Symbol.for("Deno.customInspect")](): string {
    return `Tensor [${this.shape}] ${summarize(this.data)}`;
  }
}

function summarize(data: Float32Array): string {
  if (data.length === 0) return "(empty)";
  let sum = 0, sumSq = 0, min = Infinity, max = -Infinity;
  for (const v of data) {
    sum += v;
    sumSq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / data.length;
  const std = Math.sqrt(Math.max(0, sumSq / data.length - mean * mean));
  const f = (v: number) => v.toPrecision(4);
  return `mean ${f(mean)} std ${f(std)} min ${f(min)} max ${f(max)}`;
}

/**
 * Checks that `tensor` has `rank` dimensions and returns them, so callers can
 * destructure: `const [B, C, H, W] = dims(x, 4, "x", "[B, C, H, W]")`.
 *
 * @param name the argument's name, used in the error message.
 * @param layout how the dimensions are read, e.g. `"[B, T, D]"`.
 * @throws an `Error` naming the argument, the expected layout and the shape found.
 *
 * @example
 * ```ts
 * import { dims, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const [B, T, D] = dims(Tensor.zeros([2, 4, 8]), 3, "x", "[B, T, D]");
 * assert.deepEqual([B, T, D], [2, 4, 8]);
 * assert.throws(() => dims(Tensor.zeros([2, 4]), 3, "x", "[B, T, D]"), /x: expected shape \[B, T, D\]/);
 * ```
 */
export function dims(
  tensor: Tensor,
  rank: number,
  name: string,
  layout: string,
): number[] {
  checkTensor(tensor, name, layout);
  if (tensor.shape.length !== rank) {
    throw new Error(`${name}: expected shape ${layout}, got [${tensor.shape}]`);
  }
  return [...tensor.shape];
}

/**
 * Checks that `value` is a `Tensor` whose invariants hold (a `Float32Array` of exactly as many elements as
 * its shape of non-negative integers holds, at most `MAX_ELEMENTS`), and returns it. The constructor
 * keeps them, but an object made around it (`Object.create(Tensor.prototype)`, a subclass, a reassigned
 * field) need not: a last dimension of 0 or −1 would send a row loop round forever.
 *
 * @param name the argument's name, used in the error message.
 * @param layout how the dimensions are read, e.g. `"[B, T, D]"`, for the message.
 *
 * @example
 * ```ts
 * import { checkTensor, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * checkTensor(Tensor.zeros([2, 3]), "x");
 * const forged = Object.assign(Object.create(Tensor.prototype), { data: new Float32Array(4), shape: [4, -1] });
 * assert.throws(() => checkTensor(forged, "x"), /x: shape\[1\] is -1; expected a non-negative integer/);
 * assert.throws(() => checkTensor([1, 2], "x"), /x: expected a Tensor, got an array/);
 * ```
 */
export function checkTensor(value: unknown, name: string, layout?: string): Tensor {
  if (!(value instanceof Tensor)) {
    throw new Error(`${name}: expected a Tensor${layout ? ` ${layout}` : ""}, got ${describeValue(value)}`);
  }
  if (!(value.data instanceof Float32Array)) {
    throw new Error(`${name}: data is ${describeValue(value.data)}; expected a Float32Array`);
  }
  const size = checkShape(value.shape, `${name}: shape`);
  if (size !== value.data.length) {
    throw new Error(
      `${name}: shape [${value.shape}] holds ${size} elements but data has ${value.data.length}; expected them to match`,
    );
  }
  return value;
}

/**
 * Checks that two tensors have the same shape.
 * @throws an `Error` naming both arguments and their shapes.
 *
 * @example
 * ```ts
 * import { sameShape, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * sameShape(Tensor.zeros([2, 3]), "x", Tensor.zeros([2, 3]), "noise"); // passes
 * assert.throws(() => sameShape(Tensor.zeros([2, 3]), "x", Tensor.zeros([3, 2]), "noise"), /noise/);
 * ```
 */
export function sameShape(a: Tensor, aName: string, b: Tensor, bName: string): void {
  checkTensor(a, aName);
  checkTensor(b, bName);
  if (a.shape.length !== b.shape.length || a.shape.some((n, i) => n !== b.shape[i])) {
    throw new Error(`${bName}: expected the shape of ${aName} [${a.shape}], got [${b.shape}]`);
  }
}

/**
 * The largest elementwise difference, max |a − b|, of two tensors of one shape: how far apart two
 * computations of the same thing are (NaN if either holds a NaN).
 *
 * @throws if the shapes differ.
 *
 * @example
 * ```ts
 * import { maxDifference, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(maxDifference(Tensor.from([1, 2, 3], [3]), Tensor.from([1, 2.5, 2], [3])), 1);
 * ```
 */
export function maxDifference(a: Tensor, b: Tensor): number {
  sameShape(a, "maxDifference: a", b, "maxDifference: b");
  let worst = 0;
  for (let i = 0; i < a.size; i++) {
    const diff = Math.abs(a.data[i] - b.data[i]);
    if (Number.isNaN(diff)) return NaN;
    worst = Math.max(worst, diff);
  }
  return worst;
}

/**
 * max |a − b| / max |b|: the difference of a from b relative to b's scale, the measure the glass box is tested
 * with against ONNX Runtime (an element of b near 0 does not make it blow up).
 *
 * @throws if the shapes differ.
 *
 * @example
 * ```ts
 * import { maxRelativeDifference, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(maxRelativeDifference(Tensor.from([1, 0.5], [2]), Tensor.from([1, 0], [2])), 0.5);
 * ```
 */
export function maxRelativeDifference(a: Tensor, b: Tensor): number {
  const diff = maxDifference(a, b);
  let scale = 0;
  for (const v of b.data) scale = Math.max(scale, Math.abs(v));
  return diff / scale;
}

/**
 * a + b, element by element. b may also be a's trailing dimensions, repeated over its leading ones (as
 * `pos_embed` `[T, D]` is added to every sample's tokens `[B, T, D]`).
 *
 * @throws if b's shape is neither a's nor a's trailing dimensions.
 *
 * @example Positions added to two samples' tokens
 * ```ts
 * import { add, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const tokens = Tensor.from([1, 2, 3, 4], [2, 1, 2]); // [B, T, D]
 * assert.deepEqual([...add(tokens, Tensor.from([10, 20], [1, 2])).data], [11, 22, 13, 24]);
 * ```
 */
export function add(a: Tensor, b: Tensor): Tensor {
  return elementwise(a, b, "add", (x, y) => x + y);
}

/**
 * a − b, element by element, with b repeated over a's leading dimensions as in {@link add}: e.g. what one
 * step changed, or how far two computations of the same tensor are apart.
 *
 * @throws if b's shape is neither a's nor a's trailing dimensions.
 *
 * @example
 * ```ts
 * import { subtract, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...subtract(Tensor.from([5, 7], [2]), Tensor.from([1, 2], [2])).data], [4, 5]);
 * ```
 */
export function subtract(a: Tensor, b: Tensor): Tensor {
  return elementwise(a, b, "subtract", (x, y) => x - y);
}

function elementwise(a: Tensor, b: Tensor, name: string, op: (x: number, y: number) => number): Tensor {
  const trailing = a.shape.slice(a.shape.length - b.shape.length);
  if (b.shape.length > a.shape.length || trailing.join() !== b.shape.join()) {
    throw new Error(
      `${name}: b has shape [${b.shape}]; expected a's shape [${a.shape}] or its trailing dimensions`,
    );
  }
  const out = new Float32Array(a.size);
  for (let i = 0; i < a.size; i++) out[i] = op(a.data[i], b.data[i % b.size]);
  return new Tensor(out, a.shape);
}

/**
 * Stacks tensors of the same trailing shape along the first (batch) axis.
 *
 * @throws if the tensors disagree on any dimension but the first.
 *
 * @example
 * ```ts
 * import { concatBatch, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const both = concatBatch([Tensor.from([1, 2], [1, 2]), Tensor.from([3, 4, 5, 6], [2, 2])]);
 * assert.deepEqual(both.shape, [3, 2]);
 * ```
 */
export function concatBatch(tensors: readonly Tensor[]): Tensor {
  if (!Array.isArray(tensors as unknown) || tensors.length === 0) {
    throw new Error(
      `concatBatch: tensors is ${describeValue(tensors)}; expected a non-empty array of tensors`,
    );
  }
  const first = checkTensor(tensors[0], "concatBatch: tensors[0]");
  if (first.shape.length === 0) {
    throw new Error("concatBatch: tensors[0] is a scalar; expected a batch axis [N, ...]");
  }
  const rest = first.shape.slice(1);
  let batch = 0;
  for (const [i, t] of tensors.entries()) {
    checkTensor(t, `concatBatch: tensors[${i}]`);
    if (t.shape.length !== rest.length + 1 || t.shape.slice(1).some((n, d) => n !== rest[d])) {
      throw new Error(`concatBatch: tensors[${i}] has shape [${t.shape}]; expected [N, ${rest}]`);
    }
    batch += t.shape[0];
  }
  checkElements(tensors.reduce((n, t) => n + t.size, 0), "concatBatch: the result");
  const out = new Float32Array(tensors.reduce((n, t) => n + t.size, 0));
  let offset = 0;
  for (const t of tensors) {
    out.set(t.data, offset);
    offset += t.size;
  }
  return new Tensor(out, [batch, ...rest]);
}

/**
 * Items `start` (inclusive) to `end` (exclusive) of the first axis, as a view (no copy).
 *
 * @example
 * ```ts
 * import { sliceBatch, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...sliceBatch(Tensor.from([1, 2, 3, 4], [4, 1]), 1, 3).data], [2, 3]);
 * ```
 */
export function sliceBatch(tensor: Tensor, start: number, end: number): Tensor {
  const [n] = checkTensor(tensor, "sliceBatch: tensor", "[N, ...]").shape;
  if (tensor.shape.length === 0) {
    throw new Error("sliceBatch: tensor is a scalar; expected a batch axis [N, ...]");
  }
  if (
    typeof start !== "number" || typeof end !== "number" || !Number.isInteger(start) ||
    !Number.isInteger(end) ||
    start < 0 || end > n || start > end
  ) {
    throw new Error(
      `sliceBatch: range [${start}, ${end}) is outside the batch of ${n}; expected 0 <= start <= end <= ${n}`,
    );
  }
  const per = n === 0 ? 0 : tensor.size / n;
  return new Tensor(tensor.data.subarray(start * per, end * per), [end - start, ...tensor.shape.slice(1)]);
}

/**
 * Splits a `[B, K, ...]` tensor along its channel axis into the first `channels` channels and the rest, as
 * DiT's output `[ε̂ | v]` is split (the reference's `torch.split(out, C, dim=1)`). Both parts are copies.
 *
 * @throws if the tensor has fewer than two dimensions or `channels` is not in 0…K.
 *
 * @example
 * ```ts
 * import { splitChannels, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const [eps, v] = splitChannels(Tensor.from([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]), 1);
 * assert.deepEqual([...eps.data, ...v.data], [1, 5, 2, 3, 4, 6, 7, 8]);
 * ```
 */
export function splitChannels(tensor: Tensor, channels: number): [Tensor, Tensor] {
  const [B, K, ...rest] = checkTensor(tensor, "splitChannels: tensor", "[B, K, ...]").shape;
  if (
    tensor.shape.length < 2 || typeof channels !== "number" || !Number.isInteger(channels) || channels < 0 ||
    channels > K
  ) {
    throw new Error(
      `splitChannels: channels is ${channels}; expected an integer from 0 to K of [B, K, ...] = [${tensor.shape}]`,
    );
  }
  const block = B === 0 ? 0 : tensor.size / B, first = (block / K) * channels, second = block - first;
  const a = new Float32Array(B * first), b = new Float32Array(B * second);
  for (let i = 0; i < B; i++) {
    a.set(tensor.data.subarray(i * block, i * block + first), i * first);
    b.set(tensor.data.subarray(i * block + first, (i + 1) * block), i * second);
  }
  return [new Tensor(a, [B, channels, ...rest]), new Tensor(b, [B, K - channels, ...rest])];
}
