import assert from "node:assert/strict";
import {
  add,
  dims,
  maxDifference,
  maxRelativeDifference,
  sameShape,
  splitChannels,
  subtract,
  Tensor,
} from "../lib/tensor.ts";

Deno.test("Tensor stores row-major float32 data and reads elements by index", () => {
  const t = Tensor.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [2, 3, 2]);
  assert.equal(t.size, 12);
  assert.equal(t.at(1, 2, 1), 11);
  assert.equal(t.at(1, 0, 1), 7); // 1·6 + 0·2 + 1
  assert.ok(t.data instanceof Float32Array);
  assert.deepEqual(t.reshape([4, 3]).shape, [4, 3]);
  assert.equal(t.reshape([4, 3]).data, t.data); // a view, not a copy
});

Deno.test("Tensor rejects shapes that do not fit the data and bad indices", () => {
  assert.throws(
    () => new Tensor(new Float32Array(5), [2, 3]),
    /shape \[2,3\] holds 6 elements but data has 5/,
  );
  assert.throws(
    () => new Tensor(new Float32Array(0), [2, -1]),
    /shape\[1\] is -1; expected a non-negative integer/,
  );
  assert.throws(() => Tensor.zeros([2, 2]).at(2, 0), /index\[0\] is 2; expected an integer in \[0, 2\)/);
  assert.throws(() => Tensor.zeros([2, 2]).at(0), /got 1 indices for shape \[2,2\]/);
  assert.throws(() => Tensor.zeros([2, 3]).reshape([4, 2]), /holds 8 elements but data has 6/);
});

Deno.test("Tensor's inspect line summarizes the values", () => {
  const line = Deno.inspect(Tensor.from([1, 3], [2]));
  assert.equal(line, "Tensor [2] mean 2.000 std 1.000 min 1.000 max 3.000");
});

Deno.test("dims and sameShape name the argument and the expected layout", () => {
  assert.deepEqual(dims(Tensor.zeros([1, 2, 3]), 3, "x", "[B, T, D]"), [1, 2, 3]);
  assert.throws(
    () => dims(Tensor.zeros([1, 2]), 3, "x", "[B, T, D]"),
    /x: expected shape \[B, T, D\], got \[1,2\]/,
  );
  assert.throws(
    () => sameShape(Tensor.zeros([1, 2]), "x", Tensor.zeros([2, 1]), "noise"),
    /noise: expected the shape of x \[1,2\], got \[2,1\]/,
  );
});

Deno.test("splitChannels cuts every sample's channels in two, and rejects impossible counts", () => {
  const x = Tensor.from(Array.from({ length: 2 * 3 * 2 }, (_, i) => i), [2, 3, 2]);
  const [first, rest] = splitChannels(x, 2);
  assert.deepEqual(first.shape, [2, 2, 2]);
  assert.deepEqual([...first.data], [0, 1, 2, 3, 6, 7, 8, 9]);
  assert.deepEqual([...rest.data], [4, 5, 10, 11]);
  assert.throws(
    () => splitChannels(x, 4),
    /channels is 4; expected an integer from 0 to K of \[B, K, \.\.\.\] = \[2,3,2\]/,
  );
});

Deno.test("select views the sub-tensor at leading indices, as x[b, c] in PyTorch, and writes through", () => {
  const x = Tensor.from(Array.from({ length: 24 }, (_, i) => i), [2, 3, 2, 2]); // [B, C, H, W]
  const plane = x.select(1, 2);
  assert.deepEqual(plane.shape, [2, 2]);
  assert.deepEqual([...plane.data], [20, 21, 22, 23]); // (1·3 + 2)·4 …
  assert.deepEqual(x.select(1, 2, 1).shape, [2]);
  assert.deepEqual(x.select(0).shape, [3, 2, 2]);
  assert.deepEqual(x.select().shape, [2, 3, 2, 2]);
  assert.equal(x.select(0, 1, 1, 0).at(), x.at(0, 1, 1, 0));
  plane.data[0] = -1; // a view: the write lands in x
  assert.equal(x.at(1, 2, 0, 0), -1);
  assert.throws(
    () => x.select(2),
    /^Error: Tensor.select: index\[0\] is 2; expected an integer in \[0, 2\)$/,
  );
  assert.throws(() => x.select(0, 0, 0, 0, 0), /got 5 indices for shape \[2,3,2,2\]; expected at most 4/);
});

Deno.test("maxDifference is max |a − b|; maxRelativeDifference divides it by max |b|; shapes must match", () => {
  const a = Tensor.from([1, -2, 3], [3]), b = Tensor.from([1, -4, 2], [3]);
  assert.equal(maxDifference(a, b), 2);
  assert.equal(maxRelativeDifference(a, b), 0.5);
  assert.ok(Number.isNaN(maxDifference(Tensor.from([NaN, 0], [2]), Tensor.zeros([2]))));
  assert.throws(
    () => maxDifference(a, Tensor.zeros([1, 3])),
    /maxDifference: b: expected the shape of maxDifference: a/,
  );
});

Deno.test("add and subtract work element by element, repeating b over a's leading dimensions", () => {
  const a = Tensor.from([1, 2, 3, 4, 5, 6], [3, 2]);
  assert.deepEqual([...add(a, Tensor.from([10, 20], [2])).data], [11, 22, 13, 24, 15, 26]);
  assert.deepEqual([...subtract(a, a).data], [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(subtract(a, Tensor.from([1, 1], [2])).shape, [3, 2]);
  assert.throws(
    () => add(a, Tensor.from([1, 2, 3], [3])),
    /add: b has shape \[3\]; expected a's shape \[3,2\]/,
  );
  assert.throws(() => subtract(Tensor.from([1, 2], [2]), a), /subtract: b has shape \[3,2\]/);
});
