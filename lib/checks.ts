/**
 * The limits every concept function keeps, and the few argument checks they share.
 *
 * A concept function refuses what it cannot honour before it allocates anything, with one line naming the
 * function, the argument, its value and what is accepted: a negative size, a string where a number belongs,
 * a schedule of a billion steps. And it never hands back NaN or ±Infinity computed from finite numbers: a
 * result that leaves float32's range is an error naming the formula, and one that comes from a non-finite
 * argument is an error naming that argument.
 *
 * The limits are generous for real DiTs: DiT-XL/2 at 512 px (a 64×64×4 latent, 1,024 tokens of 1,152, 16
 * heads) needs about 2^24 elements in its largest tensor, the attention probabilities of one sample.
 *
 * @module
 */

/**
 * The most elements one tensor may hold: 2^30, that is 4 GiB of float32. Larger requests are refused before
 * anything is allocated.
 *
 * @example
 * ```ts
 * import { MAX_ELEMENTS, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.throws(() => Tensor.zeros([MAX_ELEMENTS, 2]), /expected at most 1073741824 \(MAX_ELEMENTS\)/);
 * ```
 */
export const MAX_ELEMENTS = 2 ** 30;

/**
 * The most timesteps a diffusion process may have (`betaSchedule`, `spaceTimesteps`, `createDiffusion`):
 * 100,000. DiT trains with 1,000.
 *
 * @example
 * ```ts
 * import { betaSchedule, MAX_TIMESTEPS } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(betaSchedule("linear", MAX_TIMESTEPS).length, 100_000);
 * assert.throws(() => betaSchedule("linear", 1e9), /numTimesteps is 1000000000; expected a positive integer, at most 100000/);
 * ```
 */
export const MAX_TIMESTEPS = 100_000;

/**
 * The widest embedding `sincosPosEmbed1d`, `sincosPosEmbed2d` and `timestepEmbedding` make: 65,536 numbers
 * per position. DiT-XL's hidden size is 1,152 and its frequency embedding 256.
 *
 * @example
 * ```ts
 * import { MAX_EMBED_DIM, timestepEmbedding } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.throws(() => timestepEmbedding([0], 2 * MAX_EMBED_DIM), /dim is 131072; expected an integer >= 2/);
 * ```
 */
export const MAX_EMBED_DIM = 65_536;

/**
 * The most tokens a patch grid may have in `sincosPosEmbed2d`: 65,536, a 256×256 grid (DiT-XL/2 at 512 px
 * has 32×32).
 *
 * @example
 * ```ts
 * import { MAX_TOKENS, sincosPosEmbed2d } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_TOKENS, 256 * 256);
 * assert.throws(() => sincosPosEmbed2d(4, 20000), /gridSize is 20000; expected a positive integer, at most 256/);
 * ```
 */
export const MAX_TOKENS = 65_536;

/**
 * A value as an error message shows it: numbers as they print, strings quoted and cut short (so a message
 * stays one line), anything else by its kind.
 *
 * @example
 * ```ts
 * import { describeValue } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(describeValue(-3), "-3");
 * assert.equal(describeValue("12\n"), '"12\\n" (a string)');
 * assert.equal(describeValue([1, 2]), "an array");
 * ```
 */
export function describeValue(value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (typeof value === "string") {
    const shown = value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
    return `${shown} (a string)`;
  }
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return typeof value === "object"
    ? `an object (${value.constructor?.name ?? "no prototype"})`
    : typeof value;
}

/**
 * Checks that `value` is an integer from `min` to `max` (and a multiple of `multipleOf`) and returns it.
 *
 * @param name the function and argument, e.g. `"betaSchedule: numTimesteps"`.
 * @param limit the name of the constant `max` comes from, shown in the message.
 * @throws `"<name> is <value>; expected a positive integer, at most <max> (<limit>)"` and the like.
 *
 * @example
 * ```ts
 * import { checkInteger } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(checkInteger(8, "f: n", 1, 10), 8);
 * assert.throws(() => checkInteger(0, "f: n", 1, 10), /^Error: f: n is 0; expected a positive integer, at most 10$/);
 * assert.throws(() => checkInteger("8", "f: n", 1, 10), /f: n is "8" \(a string\)/);
 * assert.throws(() => checkInteger(6, "f: d", 4, 64, "LIMIT", 4), /d is 6; expected a positive multiple of 4, at most 64 \(LIMIT\)/);
 * ```
 */
export function checkInteger(
  value: unknown,
  name: string,
  min: number,
  max: number,
  limit?: string,
  multipleOf = 1,
): number {
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < min || value > max ||
    value % multipleOf !== 0
  ) {
    const kind = multipleOf === 2
      ? "a positive even integer"
      : multipleOf > 2
      ? `a positive multiple of ${multipleOf}`
      : min === 1
      ? "a positive integer"
      : min === 0
      ? "a non-negative integer"
      : `an integer >= ${min}`;
    throw new Error(
      `${name} is ${describeValue(value)}; expected ${kind}, at most ${max}${limit ? ` (${limit})` : ""}`,
    );
  }
  return value;
}

/**
 * Checks that `value` is a number with `accepts(value)` true and returns it; `expected` says in words what
 * is accepted. Not-a-number values (strings, `undefined`, …) are refused before `accepts` sees them.
 *
 * @example
 * ```ts
 * import { checkNumber } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const inUnit = (v: number) => v >= 0 && v <= 1;
 * assert.equal(checkNumber(0.5, "f: eta", inUnit, "a number from 0 to 1"), 0.5);
 * assert.throws(() => checkNumber(2, "f: eta", inUnit, "a number from 0 to 1"), /f: eta is 2; expected a number from 0 to 1/);
 * ```
 */
export function checkNumber(
  value: unknown,
  name: string,
  accepts: (value: number) => boolean,
  expected: string,
): number {
  if (typeof value !== "number" || !accepts(value)) {
    throw new Error(`${name} is ${describeValue(value)}; expected ${expected}`);
  }
  return value;
}

/**
 * Checks that `value` is an array or a typed array (of at most `maxLength` entries, when given) and returns
 * it; its entries are the caller's to check.
 *
 * @example
 * ```ts
 * import { checkList } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(checkList([1, 2], "f: t", 10).length, 2);
 * assert.throws(() => checkList(5, "f: t", 10), /f: t is 5; expected an array of at most 10 numbers/);
 * assert.throws(() => checkList("12", "f: t"), /f: t is "12" \(a string\); expected an array of numbers/);
 * ```
 */
export function checkList(value: unknown, name: string, maxLength = Infinity): ArrayLike<unknown> {
  const isList = Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
  if (!isList || (value as ArrayLike<unknown>).length > maxLength) {
    const length = isList ? ` of ${(value as ArrayLike<unknown>).length} entries` : "";
    const expected = maxLength === Infinity
      ? "an array of numbers"
      : `an array of at most ${maxLength} numbers`;
    throw new Error(`${name} is ${describeValue(value)}${length}; expected ${expected}`);
  }
  return value as ArrayLike<unknown>;
}

/**
 * Checks a shape: an array of non-negative integers whose product is at most {@link MAX_ELEMENTS}. Returns
 * that product, the number of elements.
 *
 * @param name the function and argument, e.g. `"SeededRandom.randn: shape"`.
 * @throws naming the entry that is wrong, or the size when there are too many elements.
 *
 * @example
 * ```ts
 * import { checkShape } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(checkShape([2, 3], "f: shape"), 6);
 * assert.throws(() => checkShape([2, -3], "f: shape"), /f: shape\[1\] is -3; expected a non-negative integer/);
 * ```
 */
export function checkShape(shape: unknown, name: string): number {
  if (!Array.isArray(shape)) {
    throw new Error(`${name} is ${describeValue(shape)}; expected an array of non-negative integers`);
  }
  for (const [axis, n] of shape.entries()) {
    checkInteger(n, `${name}[${axis}]`, 0, MAX_ELEMENTS, "MAX_ELEMENTS");
  }
  // (zeros first: a product that overflowed to Infinity times 0 would be NaN)
  const size = shape.includes(0) ? 0 : shape.reduce((a: number, b: number) => a * b, 1);
  checkElements(size, `${name} [${shape}]`);
  return size;
}

/**
 * Checks that a result of `count` elements may be allocated ({@link MAX_ELEMENTS}).
 *
 * @param what what would hold them, e.g. `"attention: the probabilities [B, heads, T, T]"`.
 *
 * @example
 * ```ts
 * import { checkElements } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * checkElements(1024, "f: the result");
 * assert.throws(() => checkElements(2 ** 40, "f: the result"), /f: the result holds 1099511627776 elements/);
 * ```
 */
export function checkElements(count: number, what: string): void {
  if (!(count <= MAX_ELEMENTS)) {
    throw new Error(`${what} holds ${count} elements; expected at most ${MAX_ELEMENTS} (MAX_ELEMENTS)`);
  }
}

/** The index of the first value that is not a finite number, or −1. */
function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/**
 * Throws unless every element of `result` is finite. A non-finite element is blamed on the first argument
 * holding a value that is not finite (named, with its index), or, when every argument is finite, on
 * `formula` overflowing float32: the promise that finite numbers in give finite numbers out, or an error.
 *
 * @param fn the function, e.g. `"modulate"`.
 * @param formula what was computed, in the arguments' names, e.g. `"x·(1 + scale) + shift"`.
 * @param args the arguments, by name: numbers or arrays of numbers.
 *
 * @example
 * ```ts
 * import { requireFinite } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const x = Float32Array.of(3e38), y = Float32Array.of(NaN);
 * requireFinite("f", Float32Array.of(1), "2·x", { x });
 * assert.throws(() => requireFinite("f", Float32Array.of(Infinity), "2·x", { x }), /f: 2·x overflows float32/);
 * assert.throws(() => requireFinite("f", y, "2·y", { y }), /f: y\[0\] is NaN; expected finite numbers/);
 * ```
 */
export function requireFinite(
  fn: string,
  result: ArrayLike<number>,
  formula: string,
  args: Record<string, ArrayLike<number> | number>,
): void {
  const at = firstNonFinite(result);
  if (at < 0) return;
  for (const [name, values] of Object.entries(args)) {
    if (typeof values === "number") {
      if (!Number.isFinite(values)) throw new Error(`${fn}: ${name} is ${values}; expected a finite number`);
      continue;
    }
    const bad = firstNonFinite(values);
    if (bad >= 0) throw new Error(`${fn}: ${name}[${bad}] is ${values[bad]}; expected finite numbers`);
  }
  throw new Error(
    `${fn}: ${formula} overflows float32 (element ${at} is ${
      result[at]
    }); expected arguments whose result stays within ±3.4e38`,
  );
}
