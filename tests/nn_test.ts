import assert from "node:assert/strict";
import { gelu, linear, silu } from "../lib/nn.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose } from "./assert.ts";

Deno.test("linear computes x·Wᵀ + b with W in PyTorch's [out, in] layout", () => {
  // 3 rows and 3 outputs: odd counts on both sides of the 2×2 blocking
  const x = Tensor.from([1, 2, 3, 4, 5, 6], [3, 2]);
  const weight = Tensor.from([1, 0, 0, 1, 1, 1], [3, 2]); // out 0 = x0, out 1 = x1, out 2 = x0 + x1
  const y = linear(x, weight, Tensor.from([0.5, -1, 0], [3]));
  assert.deepEqual(y.shape, [3, 3]);
  assert.deepEqual([...y.data], [1.5, 1, 3, 3.5, 3, 7, 5.5, 5, 11]);
  assert.deepEqual([...linear(x, weight).data], [1, 2, 3, 3, 4, 7, 5, 6, 11]); // no bias
});

Deno.test("linear maps the last dimension of any leading shape", () => {
  const x = Tensor.from([1, 2, 3, 4, 5, 6], [2, 1, 3]);
  const y = linear(x, Tensor.from([1, 1, 1], [1, 3]), Tensor.from([0.25], [1]));
  assert.deepEqual(y.shape, [2, 1, 1]);
  assert.deepEqual([...y.data], [6.25, 15.25]);
  // a single row, and a one-feature input
  assert.deepEqual([...linear(Tensor.from([2], [1]), Tensor.from([3, -4], [2, 1])).data], [6, -8]);
});

Deno.test("linear equals the textbook triple loop on random sizes", () => {
  const random = new SeededRandom(11);
  for (const [rows, inFeatures, outFeatures] of [[1, 7, 5], [6, 16, 9], [5, 33, 2]]) {
    const x = random.randn([rows, inFeatures]), w = random.randn([outFeatures, inFeatures]);
    const b = random.randn([outFeatures]);
    const expected = new Float64Array(rows * outFeatures);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < outFeatures; o++) {
        let sum = 0;
        for (let i = 0; i < inFeatures; i++) sum += x.at(r, i) * w.at(o, i);
        expected[r * outFeatures + o] = sum + b.data[o];
      }
    }
    assertAllClose(linear(x, w, b).data, expected, {
      rtol: 1e-6,
      atol: 1e-6,
      msg: `${rows}×${inFeatures}→${outFeatures}`,
    });
  }
});

Deno.test("linear rejects shapes that do not fit, naming the argument and the expected shape", () => {
  const x = Tensor.zeros([2, 3]);
  assert.throws(() => linear(x, Tensor.zeros([6])), /linear: weight: expected shape \[out, in\], got \[6\]/);
  assert.throws(
    () => linear(x, Tensor.zeros([4, 5])),
    /linear: x: expected shape \[\.\.\., in\] = \[\.\.\., 5\], got \[2,3\]/,
  );
  assert.throws(
    () => linear(x, Tensor.zeros([4, 3]), Tensor.zeros([3])),
    /linear: bias: expected shape \[out\] = \[4\], got \[3\]/,
  );
});

Deno.test("silu is x·σ(x), rounded to float32", () => {
  const y = silu(Tensor.from([0, 1, -1, 2, 100], [5]));
  // x / (1 + e^−x), computed by hand: σ(1) = 0.7310585786300049, σ(2) = 0.8807970779778823
  assert.deepEqual(
    [...y.data],
    [0, 0.7310585786300049, -0.2689414213699951, 1.7615941559557646, 100].map(Math.fround),
  );
  // e^1000 overflows to Infinity, and x / Infinity is a clean (negative) zero, not NaN
  assert.equal(silu(Tensor.from([-1000], [1])).data[0], -0);
});

Deno.test("gelu is the tanh approximation, as DiT's MLP (nn.GELU(approximate='tanh'))", () => {
  const y = gelu(Tensor.from([0, 1, -1, 2, 0.5, 10, -10], [7, 1]));
  assert.deepEqual(y.shape, [7, 1]);
  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), in float64 by hand
  const expected = [
    0,
    0.8411919906082768,
    -0.15880800939172324,
    1.954597694087775,
    0.34571400982514394,
    10,
    0,
  ];
  assertAllClose(y.data, expected.map(Math.fround), { rtol: 0, atol: 1e-7 });
  // the tanh form differs from the exact erf GELU: GELU_erf(1) = 0.8413447460685429
  assert.ok(Math.abs(y.data[1] - 0.8413447460685429) > 1e-4);
});
