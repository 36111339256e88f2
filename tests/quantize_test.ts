import assert from "node:assert/strict";
import { INT16_MAX, int8MatMul, quantizeActivations, quantizeWeights } from "../lib/quantize.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose } from "./assert.ts";

Deno.test("quantizeWeights: each row's largest |w| becomes ±levels, every weight within half a step", () => {
  const w = new SeededRandom(0).randn([6, 9]);
  for (const levels of [63, 127]) {
    const q = quantizeWeights(w, levels);
    for (let o = 0; o < 6; o++) {
      const row = [...q.values.subarray(o * 9, (o + 1) * 9)];
      assert.equal(Math.max(...row.map(Math.abs)), levels, `row ${o}`);
      row.forEach((v, k) => {
        assert.ok(Math.abs(v * q.scales[o] - w.at(o, k)) <= q.scales[o] / 2 + 1e-7, `row ${o}, column ${k}`);
      });
    }
  }
});

Deno.test("quantizeActivations spreads [min(x, 0), max(x, 0)] over 0…255 with 0.0 exactly representable", () => {
  const x = new SeededRandom(1).randn([4, 10]);
  const a = quantizeActivations(x);
  const low = Math.min(0, ...x.data), high = Math.max(0, ...x.data);
  assert.ok(Math.abs(a.scale - (high - low) / 255) < 1e-6);
  assert.equal(Math.min(...a.values), 0);
  assert.equal(Math.max(...a.values), 255);
  x.data.forEach((v, i) =>
    assert.ok(Math.abs(a.scale * (a.values[i] - a.zeroPoint) - v) <= a.scale / 2 + 1e-6)
  );
  const positive = quantizeActivations(Tensor.from([0.2, 1], [1, 2])); // all ≥ 0: the zero point is 0
  assert.equal(positive.zeroPoint, 0);
  assert.deepEqual([...positive.values], [51, 255]); // 0.2 · 255, 1 · 255
});

Deno.test("int8MatMul with a 32-bit sum is the product of the dequantized values", () => {
  const random = new SeededRandom(2);
  const [rows, inner, out] = [3, 7, 5]; // an odd inner size: the last product has no pair
  const a = quantizeActivations(random.randn([rows, inner]));
  const w = quantizeWeights(random.randn([out, inner]), 127);
  const expected = new Float32Array(rows * out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let sum = 0;
      for (let k = 0; k < inner; k++) {
        sum += a.scale * (a.values[r * inner + k] - a.zeroPoint) * w.scales[o] * w.values[o * inner + k];
      }
      expected[r * out + o] = sum;
    }
  }
  const result = int8MatMul(a, w, "int32");
  assert.deepEqual(result.out.shape, [rows, out]);
  assertAllClose(result.out, new Tensor(expected, [rows, out]), { rtol: 1e-5, atol: 1e-6 });
  assert.equal(result.pairs, rows * out * 4);
});

Deno.test("16-bit pair sums change nothing for 7-bit weights and cut the large pairs of 8-bit ones", () => {
  // inputs spread over the whole uint8 range, as after a LayerNorm
  const x = new SeededRandom(3).randn([16, 64]);
  const w = new SeededRandom(4).randn([8, 64]);
  const a = quantizeActivations(x);
  const seven = quantizeWeights(w, 63);
  assert.deepEqual(int8MatMul(a, seven, "int16-pairs"), int8MatMul(a, seven, "int32"));
  assert.equal(int8MatMul(a, seven, "int32").saturatedPairs, 0);
  // a row of large weights against large inputs: 8 bits overflow the pair sum, and the result moves
  const big = quantizeActivations(
    Tensor.from(Array.from({ length: 64 }, (_, k) => (k % 2 ? 1 : 0.9)), [1, 64]),
  );
  const eight = quantizeWeights(Tensor.from(Array.from({ length: 64 }, () => 1), [1, 64]), 127);
  const exact = int8MatMul(big, eight, "int32"), avx2 = int8MatMul(big, eight, "int16-pairs");
  assert.equal(exact.saturatedPairs, 32);
  assert.ok(Math.abs(exact.out.data[0] - 60.8) < 0.3, `${exact.out.data[0]}`); // 32 · (0.9 + 1)
  assert.ok(
    Math.abs(avx2.out.data[0] - 32 * INT16_MAX * big.scale * eight.scales[0]) < 1e-3,
    `every pair cut to 32767: ${avx2.out.data[0]}`,
  );
});

Deno.test("bad arguments are one-line errors naming what was wrong", () => {
  const w = Tensor.from([1, 2], [1, 2]);
  assert.throws(
    () => quantizeWeights(w, 0),
    /quantizeWeights: levels is 0; expected an integer from 1 to 127/,
  );
  assert.throws(() => quantizeWeights(w, 128), /levels is 128/);
  assert.throws(() => quantizeWeights(Tensor.from([1], [1]), 63), /quantizeWeights: weight/);
  assert.throws(
    () => quantizeActivations(Tensor.from([1, NaN], [1, 2])),
    /quantizeActivations: x holds NaN; expected finite values/,
  );
  const a = quantizeActivations(Tensor.from([1, 2, 3], [1, 3]));
  assert.throws(() => int8MatMul(a, quantizeWeights(w, 63), "int32"), /int8MatMul: activations are \[1,3\]/);
  assert.throws(
    () => int8MatMul(a, quantizeWeights(Tensor.from([1, 2, 3], [1, 3])), "int12" as "int32"),
    /accumulator is "int12"; expected "int32" or "int16-pairs"/,
  );
});
