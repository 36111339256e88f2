/**
 * A seeded Gaussian random source that reproduces PyTorch's CPU `torch.randn`.
 *
 * The reference samples with `torch.manual_seed(seed)` and draws its starting
 * noise (and DDPM's per-step noise) with `torch.randn`. This module runs the
 * same algorithm: the Mersenne Twister MT19937 that PyTorch's CPU generator
 * uses, turned into normals by the Box–Muller transform in the same order as
 * PyTorch's kernels. So `new SeededRandom(0).randn([1, 4, 32, 32])` gives the
 * noise of `torch.manual_seed(0); torch.randn(1, 4, 32, 32)`: equal to within a
 * few float32 units in the last place (PyTorch's AVX2 kernel uses approximate
 * log/sin/cos). And it is pure arithmetic in JavaScript, so the same seed gives
 * the same numbers on every run and every machine.
 *
 * @module
 */
import { Tensor } from "./tensor.ts";
import { checkShape, describeValue } from "./checks.ts";
import { f32 } from "./float32.ts";

/**
 * A stateful random source: each call continues where the last one ended,
 * like a `torch.Generator`.
 *
 * @example Same seed, same noise
 * ```ts
 * import { SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const a = new SeededRandom(0).randn([1, 4, 8, 8]);
 * const b = new SeededRandom(0).randn([1, 4, 8, 8]);
 * assert.deepEqual(a.data, b.data);
 * // torch.manual_seed(0); torch.randn(1, 4, 8, 8)[0, 0, 0, 0] is -1.1258398
 * assert.ok(Math.abs(a.at(0, 0, 0, 0) - -1.1258398) < 1e-6);
 * ```
 */
export class SeededRandom {
  readonly #twister: MersenneTwister;
  /** Box–Muller makes normals in pairs; the scalar path keeps the spare one, as PyTorch does. */
  #spareNormal: number | null = null;

  /**
   * A fresh source, as after `torch.manual_seed(seed)`.
   * @param seed an integer in [0, 2³²), the value you would pass to `torch.manual_seed`.
   * @throws if `seed` is not such an integer.
   */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new Error(`SeededRandom: seed is ${describeValue(seed)}; expected an integer in [0, 2^32)`);
    }
    this.#twister = new MersenneTwister(seed);
  }

  /**
   * Standard normal samples of the given shape, as `torch.randn(...shape)`.
   *
   * @throws before drawing anything, if `shape` is not an array of non-negative integers holding at most
   *   `MAX_ELEMENTS` elements.
   *
   * @example
   * ```ts
   * import { SeededRandom } from "@dit/toolkit";
   * import assert from "node:assert/strict";
   * assert.deepEqual(new SeededRandom(0).randn([2, 3]).shape, [2, 3]);
   * assert.throws(() => new SeededRandom(0).randn([2, -3]), /SeededRandom.randn: shape\[1\] is -3; expected a non-negative integer/);
   * ```
   */
  randn(shape: readonly number[]): Tensor {
    const out = new Float32Array(checkShape(shape, "SeededRandom.randn: shape"));
    if (out.length >= 16) this.#fillVectorized(out);
    else for (let i = 0; i < out.length; i++) out[i] = this.#nextScalarNormal();
    return new Tensor(out, shape);
  }

  /** PyTorch's `normal_fill` for float32 tensors of 16 or more elements. */
  #fillVectorized(out: Float32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.#uniform24();
    for (let i = 0; i + 16 <= out.length; i += 16) boxMuller16(out, i);
    if (out.length % 16 !== 0) {
      // The tail is redone as a whole block of the last 16 values, with fresh uniforms.
      const start = out.length - 16;
      for (let i = start; i < out.length; i++) out[i] = this.#uniform24();
      boxMuller16(out, start);
    }
  }

  /** PyTorch's scalar `normal_distribution<double>`, used below 16 elements. */
  #nextScalarNormal(): number {
    if (this.#spareNormal !== null) {
      const spare = this.#spareNormal;
      this.#spareNormal = null;
      return spare;
    }
    const u1 = this.#uniform53();
    const u2 = this.#uniform53();
    const radius = Math.sqrt(-2 * Math.log(1 - u2));
    const theta = 2 * Math.PI * u1;
    this.#spareNormal = radius * Math.sin(theta);
    return radius * Math.cos(theta);
  }

  /** A float in [0, 1) from the low 24 bits of one 32-bit draw. */
  #uniform24(): number {
    return (this.#twister.nextUint32() & 0xffffff) / 2 ** 24;
  }

  /** A double in [0, 1) from the low 53 bits of two 32-bit draws (high word first). */
  #uniform53(): number {
    const high = this.#twister.nextUint32() & 0x1fffff;
    const low = this.#twister.nextUint32();
    return (high * 2 ** 32 + low) / 2 ** 53;
  }
}

/** Box–Muller on one block of 16 uniforms: pairs (j, j+8) become two normals, in float32. */
function boxMuller16(data: Float32Array, start: number): void {
  for (let j = start; j < start + 8; j++) {
    const u1 = 1 - data[j]; // (0, 1], safe for log
    const u2 = data[j + 8];
    const radius = f32(Math.sqrt(f32(-2 * f32(Math.log(u1)))));
    const theta = f32(2 * Math.PI * u2);
    data[j] = radius * f32(Math.cos(theta));
    data[j + 8] = radius * f32(Math.sin(theta));
  }
}

/** MT19937, the 32-bit Mersenne Twister (Matsumoto & Nishimura, 1998). */
class MersenneTwister {
  readonly #state = new Uint32Array(624);
  #index = 624;

  constructor(seed: number) {
    this.#state[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.#state[i - 1] ^ (this.#state[i - 1] >>> 30);
      this.#state[i] = Math.imul(1812433253, prev) + i;
    }
  }

  nextUint32(): number {
    if (this.#index >= 624) this.#twist();
    let y = this.#state[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  #twist(): void {
    const s = this.#state;
    for (let i = 0; i < 624; i++) {
      const y = (s[i] & 0x80000000) | (s[(i + 1) % 624] & 0x7fffffff);
      s[i] = s[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.#index = 0;
  }
}
