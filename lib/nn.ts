/**
 * The few neural-network layers a DiT needs that are not DiT ideas of their
 * own: the linear map every projection is made of, and the two activations,
 * SiLU (in `t_embedder` and before every `adaLN_modulation`) and GELU (in the
 * blocks' MLPs). They exist so the glass box can run a DiT in plain TypeScript.
 *
 * Each result is rounded to float32 once, where it is stored; sums and the
 * transcendental functions run in float64 on the way, so results agree with
 * PyTorch's float32 kernels to a few units in the last place, not bit for bit.
 *
 * @module
 */
import { checkTensor, dims, Tensor } from "./tensor.ts";
import { checkElements, requireFinite } from "./checks.ts";

/**
 * A linear layer, `y = x·Wᵀ + b`, over the last dimension of `x`:
 * `[..., in]` → `[..., out]`, with the weight in PyTorch's `nn.Linear` layout
 * `[out, in]` (one row per output feature), so a `state_dict` or an ONNX
 * initializer is used as it is stored.
 *
 * @param x any tensor whose last dimension is the input features.
 * @param weight `[out, in]`.
 * @param bias `[out]`, or leave it out for none.
 * @throws an `Error` naming the argument whose shape does not fit, or (when a result is not finite) the
 *   argument holding a value that is not finite, or the overflow.
 *
 * @example Two outputs of a 3-vector: a sum and a difference, plus a bias
 * ```ts
 * import { linear, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const x = Tensor.from([1, 2, 3], [1, 3]);
 * const weight = Tensor.from([1, 1, 1, 1, 0, -1], [2, 3]);
 * const y = linear(x, weight, Tensor.from([10, 0], [2]));
 * assert.deepEqual([...y.data], [16, -2]); // 1+2+3 + 10, 1−3
 * assert.deepEqual(y.shape, [1, 2]);
 * ```
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const [outFeatures, inFeatures] = dims(weight, 2, "linear: weight", "[out, in]");
  checkTensor(x, "linear: x", "[..., in]");
  if (x.shape.length === 0 || x.shape[x.shape.length - 1] !== inFeatures) {
    throw new Error(`linear: x: expected shape [..., in] = [..., ${inFeatures}], got [${x.shape}]`);
  }
  if (bias !== undefined) {
    const [biasFeatures] = dims(bias, 1, "linear: bias", `[out] = [${outFeatures}]`);
    if (biasFeatures !== outFeatures) {
      throw new Error(`linear: bias: expected shape [out] = [${outFeatures}], got [${bias.shape}]`);
    }
  }
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  checkElements(
    rows * outFeatures,
    `linear: the result [..., out] = [${x.shape.slice(0, -1)}, ${outFeatures}]`,
  );
  const out = new Float32Array(rows * outFeatures);
  const xs = x.data, w = weight.data, b = bias?.data;
  // Each output is the dot product of a row of x with a row of W, both contiguous in memory. Two rows of x
  // against two rows of W at once use every number loaded twice, which V8 runs about twice as fast; an odd
  // last row is paired with itself.
  for (let r = 0; r < rows; r += 2) {
    const r1 = Math.min(r + 1, rows - 1);
    const xa = r * inFeatures, xb = r1 * inFeatures;
    for (let o = 0; o < outFeatures; o += 2) {
      const o1 = Math.min(o + 1, outFeatures - 1);
      const wa = o * inFeatures, wb = o1 * inFeatures;
      let aa = 0, ab = 0, ba = 0, bb = 0; // (row of x)(row of W)
      for (let i = 0; i < inFeatures; i++) {
        const xai = xs[xa + i], xbi = xs[xb + i], wai = w[wa + i], wbi = w[wb + i];
        aa += xai * wai;
        ab += xai * wbi;
        ba += xbi * wai;
        bb += xbi * wbi;
      }
      const biasA = b ? b[o] : 0, biasB = b ? b[o1] : 0;
      out[r * outFeatures + o] = aa + biasA;
      out[r * outFeatures + o1] = ab + biasB;
      out[r1 * outFeatures + o] = ba + biasA;
      out[r1 * outFeatures + o1] = bb + biasB;
    }
  }
  requireFinite("linear", out, "x·Wᵀ + b", { x: xs, weight: w, ...(b ? { bias: b } : {}) });
  return new Tensor(out, [...x.shape.slice(0, -1), outFeatures]);
}

/**
 * SiLU (also called swish), `x·σ(x) = x / (1 + e^−x)`, elementwise: DiT's
 * activation inside `t_embedder` and on c before each `adaLN_modulation`.
 *
 * @example Zero stays zero; large inputs pass almost unchanged, negative ones are damped
 * ```ts
 * import { silu, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const y = silu(Tensor.from([0, 1, -20], [3]));
 * assert.equal(y.data[0], 0);
 * assert.equal(y.data[1], Math.fround(1 / (1 + Math.exp(-1))));
 * assert.ok(Math.abs(y.data[2]) < 1e-7);
 * ```
 */
export function silu(x: Tensor): Tensor {
  return elementwise(x, (v) => v / (1 + Math.exp(-v)), "silu");
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * GELU with the tanh approximation, elementwise:
 * `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, the activation of DiT's MLPs
 * (`nn.GELU(approximate="tanh")`).
 *
 * @example
 * ```ts
 * import { gelu, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const y = gelu(Tensor.from([0, 1, -1], [3]));
 * assert.equal(y.data[0], 0);
 * assert.ok(Math.abs(y.data[1] - 0.8411920) < 1e-6); // torch.nn.functional.gelu(1, approximate="tanh")
 * assert.ok(Math.abs(y.data[2] - -0.1588080) < 1e-6);
 * ```
 */
export function gelu(x: Tensor): Tensor {
  return elementwise(
    x,
    (v) => 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))),
    "gelu",
  );
}

/** `f` on every element; finite in, finite out (both activations are at most |x|), else an error naming x. */
function elementwise(x: Tensor, f: (v: number) => number, fn: string): Tensor {
  checkTensor(x, `${fn}: x`);
  const out = new Float32Array(x.size);
  for (let i = 0; i < out.length; i++) out[i] = f(x.data[i]);
  requireFinite(fn, out, `${fn}(x)`, { x: x.data });
  return new Tensor(out, x.shape);
}
