import assert from "node:assert/strict";
import { patchify, unpatchify } from "../lib/patchify.ts";
import { Tensor } from "../lib/tensor.ts";
import { SeededRandom } from "../lib/random.ts";
import { reference, tensor } from "./fixtures.ts";

Deno.test("unpatchify matches DiT's final-layer einsum and patchify is its inverse (reference fixtures)", () => {
  for (const c of reference.patchify) {
    const tokens = tensor(c.tokens), images = tensor(c.images);
    assert.deepEqual(unpatchify(tokens, c.p, c.channels), images, `p=${c.p}, C=${c.channels}`);
    assert.deepEqual(patchify(images, c.p), tokens, `p=${c.p}, C=${c.channels}`);
  }
});

Deno.test("a token's features are ordered (row in patch, column in patch, channel)", () => {
  // 2 channels, 4×4 image, value = 100·channel + 10·row + column
  const values = Array.from({ length: 32 }, (_, k) => {
    const c = Math.floor(k / 16), row = Math.floor((k % 16) / 4), col = k % 4;
    return 100 * c + 10 * row + col;
  });
  const tokens = patchify(Tensor.from(values, [1, 2, 4, 4]), 2);
  assert.deepEqual(tokens.shape, [1, 4, 8]);
  // token 1 is patch (row 0, column 1): pixels (0,2),(0,3),(1,2),(1,3), each as [channel 0, channel 1]
  assert.deepEqual([...tokens.data.subarray(8, 16)], [2, 102, 3, 103, 12, 112, 13, 113]);
  // token 2 starts the second row of patches
  assert.equal(tokens.at(0, 2, 0), 20);
});

Deno.test("patchify∘unpatchify is the identity on random shapes, square or not", () => {
  const random = new SeededRandom(3);
  const pick = (n: number) => 1 + Math.floor(Math.abs(random.randn([1]).data[0] * 1e4)) % n;
  for (let trial = 0; trial < 25; trial++) {
    const [B, C, p, gridH, gridW] = [pick(3), pick(5), pick(4), pick(4), pick(4)];
    const x = random.randn([B, C, gridH * p, gridW * p]);
    const tokens = patchify(x, p);
    assert.deepEqual(tokens.shape, [B, gridH * gridW, p * p * C]);
    assert.deepEqual(unpatchify(tokens, p, C, gridW), x);
    assert.deepEqual(patchify(unpatchify(tokens, p, C, gridW), p), tokens);
  }
});

Deno.test("patchify and unpatchify reject impossible shapes with the expected value", () => {
  assert.throws(
    () => patchify(Tensor.zeros([1, 4, 30, 32]), 4),
    /H=30, W=32 .* patch size p=4; expected multiples of 4/,
  );
  assert.throws(() => patchify(Tensor.zeros([4, 32, 32]), 2), /patchify: x: expected shape \[B, C, H, W\]/);
  assert.throws(
    () => patchify(Tensor.zeros([1, 4, 8, 8]), 0),
    /patch size p is 0; expected a positive integer/,
  );
  assert.throws(() => unpatchify(Tensor.zeros([1, 16, 16]), 2, 3), /p·p·channels = 12 features; got 16/);
  assert.throws(() => unpatchify(Tensor.zeros([1, 12, 16]), 2, 4), /T=12 tokens is not a square grid/);
  assert.throws(
    () => unpatchify(Tensor.zeros([1, 12, 16]), 2, 4, 5),
    /gridWidth is 5; expected a positive divisor of T=12/,
  );
});
