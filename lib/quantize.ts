/**
 * int8 matrix multiplies as ONNX Runtime's `DynamicQuantizeMatMul` computes them on a CPU, written out so a
 * learner can see where the speed comes from and where it can go wrong.
 *
 * ```
 * weights  W [out, in] ─► per output row: scale = max |w| / levels, q = round(w / scale)   (int8, once)
 * inputs   x [rows, in] ─► per tensor:    scale, zero point, a = round(x / scale) + zp    (uint8, every call)
 * y[r, o] = scaleₓ · scale_W[o] · (Σ_k a[r, k] · q[o, k] − zp · Σ_k q[o, k])
 * ```
 *
 * The integer sum Σ a·q is where CPUs differ. With VNNI (AVX-512 VNNI, AVX-VNNI) one instruction multiplies
 * four uint8 × int8 pairs and adds them into 32 bits: exact. Without it (AVX2 only), `vpmaddubsw` adds the
 * products of two neighbouring inputs into a 16-bit integer that saturates at ±32767, and only then widens
 * to 32 bits: a pair of 255 · 127 products (64770) is silently cut to 32767. {@link int8MatMul} computes
 * either way, so the difference can be measured on real weights. Weights quantized to 7 bits (levels 63)
 * can never saturate: 255 · 63 · 2 = 32130.
 *
 * @module
 */
import { roundHalfEven } from "./float32.ts";
import { dims, Tensor } from "./tensor.ts";

/** The largest value a 16-bit signed integer holds, where `vpmaddubsw`'s pair sums saturate. */
export const INT16_MAX = 32767;

/** A weight matrix quantized per output row (symmetric: no zero point). */
export interface QuantizedWeights {
  /** The integer weights, `[out, in]` row-major, each in [−levels, levels]. */
  values: Int8Array;
  /** One scale per output row: w ≈ scale · q. */
  scales: Float32Array;
  /** `[out, in]`. */
  shape: readonly [number, number];
}

/** Activations quantized per tensor to uint8, as ONNX's `DynamicQuantizeLinear` does. */
export interface QuantizedActivations {
  /** The integers, `[rows, in]` row-major, in [0, 255]. */
  values: Uint8Array;
  /** x ≈ scale · (a − zeroPoint). */
  scale: number;
  /** The integer that stands for 0.0. */
  zeroPoint: number;
  /** `[rows, in]`: every dimension but the last flattened into rows. */
  shape: readonly [number, number];
}

/** How the integer products are summed: exactly in 32 bits (VNNI), or in 16-bit saturating pairs (AVX2). */
export type Accumulator = "int32" | "int16-pairs";

/** What {@link int8MatMul} returns. */
export interface Int8MatMulResult {
  /** y = x·Wᵀ computed from the integers, `[rows, out]`. */
  out: Tensor;
  /** How many pair sums did not fit 16 bits (and were cut, with `"int16-pairs"`). */
  saturatedPairs: number;
  /** How many pair sums there were: rows · out · ⌈in / 2⌉. */
  pairs: number;
}

/**
 * Quantizes a weight matrix per output row: scale = max |w| / levels, q = round(w / scale) (in float32,
 * halves to even, as ONNX's QuantizeLinear). ONNX Runtime's
 * default uses levels 127 (8 bits); the toolkit's int8 graphs use 63 (7 bits), which no CPU can overflow.
 *
 * @param weight `[out, in]`, PyTorch's `nn.Linear` layout.
 * @param levels the largest |q|, 1–127.
 * @throws an `Error` naming the argument that does not fit.
 *
 * @example A row whose largest weight becomes ±levels
 * ```ts
 * import { quantizeWeights, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const q = quantizeWeights(Tensor.from([0.4, -1, 0.2], [1, 3]), 63);
 * assert.deepEqual([...q.values], [25, -63, 13]); // 0.4 · 63 = 25.2, 0.2 · 63 = 12.6
 * assert.equal(q.scales[0], Math.fround(1 / 63));
 * ```
 */
export function quantizeWeights(weight: Tensor, levels = 127): QuantizedWeights {
  const [rows, columns] = dims(weight, 2, "quantizeWeights: weight", "[out, in]");
  if (!Number.isInteger(levels) || levels < 1 || levels > 127) {
    throw new Error(`quantizeWeights: levels is ${levels}; expected an integer from 1 to 127`);
  }
  const values = new Int8Array(rows * columns), scales = new Float32Array(rows);
  for (let o = 0; o < rows; o++) {
    const row = weight.data.subarray(o * columns, (o + 1) * columns);
    const largest = row.reduce((m, w) => Math.max(m, Math.abs(w)), 0);
    scales[o] = largest > 0 ? largest / levels : 1; // an all-zero row stays zero whatever its scale
    for (let k = 0; k < columns; k++) {
      values[o * columns + k] = Math.max(
        -levels,
        Math.min(levels, roundHalfEven(Math.fround(row[k] / scales[o]))),
      );
    }
  }
  return { values, scales, shape: [rows, columns] };
}

/**
 * Quantizes activations to uint8 over the whole tensor, as ONNX's `DynamicQuantizeLinear` (which
 * `DynamicQuantizeMatMul` runs on its input at every call): the range [min(x, 0), max(x, 0)] is spread over
 * 0…255, and the zero point is the integer that stands for 0.
 *
 * @param x any tensor; its last dimension is the one a matrix multiply sums over.
 * @throws if `x` holds a non-finite value.
 *
 * @example Three values on a scale of 0.01
 * ```ts
 * import { quantizeActivations, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const a = quantizeActivations(Tensor.from([-1, 0, 1.55], [1, 3]));
 * assert.ok(Math.abs(a.scale - 0.01) < 1e-9); // (1.55 − (−1)) / 255
 * assert.equal(a.zeroPoint, 100); // 0.0 ↦ 100
 * assert.deepEqual([...a.values], [0, 100, 255]);
 * ```
 */
export function quantizeActivations(x: Tensor): QuantizedActivations {
  if (x.shape.length === 0) throw new Error("quantizeActivations: x is a scalar; expected [..., in]");
  const columns = x.shape[x.shape.length - 1];
  const rows = columns === 0 ? 0 : x.size / columns;
  let low = 0, high = 0;
  for (const v of x.data) {
    if (!Number.isFinite(v)) throw new Error(`quantizeActivations: x holds ${v}; expected finite values`);
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  const scale = Math.fround((high - low) / 255) || 1; // all zeros: any scale will do
  const zeroPoint = Math.max(0, Math.min(255, roundHalfEven(-low / scale)));
  const values = new Uint8Array(x.size);
  for (let i = 0; i < x.size; i++) {
    values[i] = Math.max(0, Math.min(255, roundHalfEven(Math.fround(x.data[i] / scale)) + zeroPoint));
  }
  return { values, scale, zeroPoint, shape: [rows, columns] };
}

/**
 * y = x·Wᵀ from quantized activations and weights, summing the integer products the way a CPU does:
 * `"int32"` exactly (VNNI), or `"int16-pairs"` as AVX2's `vpmaddubsw` does, each pair of neighbouring
 * products saturated to ±32767 before it is added up. Either way it counts the pairs that do not fit 16 bits.
 *
 * @param a activations from {@link quantizeActivations}, `[rows, in]`.
 * @param w weights from {@link quantizeWeights}, `[out, in]`.
 * @param accumulator `"int32"` or `"int16-pairs"`.
 * @throws if the two inner dimensions differ or the accumulator is unknown.
 *
 * @example One pair that overflows 16 bits: 255·127 + 255·127 = 64770
 * ```ts
 * import { int8MatMul, quantizeActivations, quantizeWeights, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const a = quantizeActivations(Tensor.from([1, 1], [1, 2])); // both 255, zero point 0
 * const w = quantizeWeights(Tensor.from([1, 1], [1, 2]), 127); // both 127
 * const exact = int8MatMul(a, w, "int32"), avx2 = int8MatMul(a, w, "int16-pairs");
 * assert.equal(exact.saturatedPairs, 1);
 * assert.ok(Math.abs(exact.out.data[0] - 2) < 1e-6); // 1·1 + 1·1
 * assert.ok(Math.abs(avx2.out.data[0] - 2 * 32767 / 64770) < 1e-6); // cut to 32767: about 1.01
 * ```
 */
export function int8MatMul(
  a: QuantizedActivations,
  w: QuantizedWeights,
  accumulator: Accumulator,
): Int8MatMulResult {
  const [rows, inner] = a.shape, [outFeatures, wInner] = w.shape;
  if (inner !== wInner) {
    throw new Error(
      `int8MatMul: activations are [${a.shape}] and weights [${w.shape}]; expected the same inner size`,
    );
  }
  if (accumulator !== "int32" && accumulator !== "int16-pairs") {
    throw new Error(`int8MatMul: accumulator is "${accumulator}"; expected "int32" or "int16-pairs"`);
  }
  const saturate = accumulator === "int16-pairs";
  const out = new Float32Array(rows * outFeatures);
  let saturatedPairs = 0;
  for (let o = 0; o < outFeatures; o++) {
    const q = w.values.subarray(o * inner, (o + 1) * inner);
    const weightSum = q.reduce((s, v) => s + v, 0); // the zero point's share: zp · Σ q, subtracted at the end
    for (let r = 0; r < rows; r++) {
      const x = a.values.subarray(r * inner, (r + 1) * inner);
      let sum = 0;
      for (let k = 0; k < inner; k += 2) {
        let pair = x[k] * q[k] + (k + 1 < inner ? x[k + 1] * q[k + 1] : 0);
        if (pair > INT16_MAX || pair < -INT16_MAX - 1) {
          saturatedPairs++;
          if (saturate) pair = Math.max(-INT16_MAX - 1, Math.min(INT16_MAX, pair));
        }
        sum += pair;
      }
      out[r * outFeatures + o] = a.scale * w.scales[o] * (sum - a.zeroPoint * weightSum);
    }
  }
  return {
    out: new Tensor(out, [rows, outFeatures]),
    saturatedPairs,
    pairs: rows * outFeatures * Math.ceil(inner / 2),
  };
}
