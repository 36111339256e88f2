/**
 * The assertions the tests need beyond `node:assert/strict` (JSR's `@std/assert`
 * is not reachable from our machines): float arrays equal within tolerances,
 * elementwise the way numpy's `allclose` means it, or relative to the values'
 * scale.
 *
 * @module
 */
import { Tensor } from "../lib/tensor.ts";

/** Tolerances of {@link assertAllClose}: |actual − expected| ≤ atol + rtol·|expected| elementwise. */
export interface Tolerance {
  rtol?: number;
  atol?: number;
  /** Prefixed to the failure message. */
  msg?: string;
}

/**
 * Throws unless `actual` and `expected` have the same length (and shape, for
 * tensors) and every element is within `atol + rtol·|expected|`. NaN never
 * passes. The message names the worst element and the largest errors.
 */
export function assertAllClose(
  actual: ArrayLike<number> | Tensor,
  expected: ArrayLike<number> | Tensor,
  { rtol = 1e-5, atol = 1e-8, msg = "" }: Tolerance = {},
): void {
  const prefix = msg ? `${msg}: ` : "";
  if (actual instanceof Tensor && expected instanceof Tensor) {
    if (actual.shape.join() !== expected.shape.join()) {
      throw new Error(`${prefix}shape [${actual.shape}] != expected [${expected.shape}]`);
    }
  }
  const a = actual instanceof Tensor ? actual.data : actual;
  const e = expected instanceof Tensor ? expected.data : expected;
  if (a.length !== e.length) throw new Error(`${prefix}length ${a.length} != expected ${e.length}`);
  let failures = 0, worst = -1, worstExcess = -Infinity, maxAbs = 0, maxRel = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i] - e[i]);
    const excess = Number.isNaN(diff) ? Infinity : diff - (atol + rtol * Math.abs(e[i]));
    if (excess > 0) failures++;
    if (excess > worstExcess) [worst, worstExcess] = [i, excess];
    if (!Number.isNaN(diff)) {
      maxAbs = Math.max(maxAbs, diff);
      if (e[i] !== 0) maxRel = Math.max(maxRel, diff / Math.abs(e[i]));
    }
  }
  if (failures > 0) {
    throw new Error(
      `${prefix}${failures} of ${a.length} elements differ beyond rtol=${rtol}, atol=${atol}; ` +
        `worst at [${worst}]: ${a[worst]} vs expected ${e[worst]} (max abs err ${maxAbs.toExponential(2)}, ` +
        `max rel err ${maxRel.toExponential(2)})`,
    );
  }
}

/**
 * Throws unless `actual` and `expected` have the same length (and shape, for tensors) and
 * max |actual − expected| ≤ `maxRelative` · max |expected|: the error relative to the values' scale, the
 * measure for results computed in different float32 arithmetic (an element near 0 may lose all its relative
 * precision to a cancellation, while the error stays a few ulps of the largest value). NaN never passes.
 */
export function assertRelativeError(
  actual: ArrayLike<number> | Tensor,
  expected: ArrayLike<number> | Tensor,
  maxRelative: number,
  msg = "",
): void {
  const prefix = msg ? `${msg}: ` : "";
  if (actual instanceof Tensor && expected instanceof Tensor) {
    if (actual.shape.join() !== expected.shape.join()) {
      throw new Error(`${prefix}shape [${actual.shape}] != expected [${expected.shape}]`);
    }
  }
  const a = actual instanceof Tensor ? actual.data : actual;
  const e = expected instanceof Tensor ? expected.data : expected;
  if (a.length !== e.length) throw new Error(`${prefix}length ${a.length} != expected ${e.length}`);
  let worst = 0, at = -1, scale = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i] - e[i]);
    if (diff > worst || (Number.isNaN(diff) && !Number.isNaN(worst))) [worst, at] = [diff, i]; // NaN is worst
    scale = Math.max(scale, Math.abs(e[i]));
  }
  if (!(worst <= maxRelative * scale)) {
    throw new Error(
      `${prefix}max |actual − expected| / max |expected| = ${
        (worst / scale).toExponential(2)
      } > ${maxRelative.toExponential()}; ` +
        `worst at [${at}]: ${a[at]} vs expected ${e[at]} (max |expected| ${scale.toPrecision(4)})`,
    );
  }
}
