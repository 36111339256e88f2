/**
 * Float32 arithmetic the way the reference's PyTorch code does it on a CPU, so
 * our results can agree with it to the last bit.
 *
 * JavaScript computes in float64. Rounding one `+ − × ÷ √` of float32 inputs
 * to float32 with `Math.fround` gives exactly the float32 operation's result
 * (float64 has more than twice the precision), so `f32(a * b)` *is* a float32
 * multiply. Transcendental functions are another matter: PyTorch's CPU
 * `torch.exp` is SLEEF's `expf` (max error 1 ulp), which differs from the
 * correctly rounded value in about one input in ten. One ulp of a frequency
 * becomes ~3e-5 in `cos(t·f)` at t ≈ 1000, so {@link expf} reproduces SLEEF's
 * algorithm step by step instead.
 *
 * @module
 */

/** Rounds to the nearest float32: one float32 operation when applied to `a ∘ b`. */
export const f32: (x: number) => number = Math.fround;

const LOG2E = f32(1.442695040888963407359924681001892137426645954152985934135449406931);
const LN2_HIGH = f32(0.693145751953125); // ln 2 split in two so q·LN2_HIGH is exact
const LN2_LOW = f32(1.428606765330187045e-06);
const POLY = [
  0.000198527617612853646278381,
  0.00139304355252534151077271,
  0.00833336077630519866943359,
  0.0416664853692054748535156,
  0.166666671633720397949219,
  0.5,
].map(f32);

/**
 * A float32 fused multiply-add `a·b + c` with one rounding. The product of two
 * float32 values is exact in float64; the sum's own float64 rounding could only
 * matter for a sum lying exactly halfway between two float32 values.
 */
function fma(a: number, b: number, c: number): number {
  return f32(a * b + c);
}

/**
 * `exp` of a float32, bit for bit as PyTorch's CPU kernel computes it (SLEEF
 * `expf_u10`): x = q·ln2 + s with |s| ≤ ln2/2, a degree-7 polynomial for e^s,
 * then a scaling by 2^q.
 *
 * @example
 * ```ts
 * import { expf } from "./float32.ts";
 * import assert from "node:assert/strict";
 * assert.equal(expf(0), 1);
 * assert.ok(Math.abs(expf(1) - Math.E) < 3e-7);
 * ```
 */
export function expf(x: number): number {
  if (x < -104) return 0;
  if (x > 104) return Infinity;
  const q = roundHalfEven(f32(x * LOG2E));
  const s = fma(q, -LN2_LOW, fma(q, -LN2_HIGH, x));
  let u = POLY[0];
  for (let i = 1; i < POLY.length; i++) u = fma(u, s, POLY[i]);
  return f32(f32(1 + fma(f32(s * s), u, s)) * 2 ** q);
}

/** Rounds to the nearest integer, halves to even, as the CPU's default rounding mode. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff !== 0.5) return diff < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}
