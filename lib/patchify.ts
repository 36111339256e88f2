/**
 * Patchify: how DiT turns a latent image into a sequence of tokens, and back.
 *
 * A `[B, C, H, W]` latent is cut into non-overlapping `p × p` patches. The
 * patches are read row by row over the patch grid, and each one is flattened to
 * a vector of `p·p·C` numbers ordered (row in patch, column in patch, channel).
 * That is exactly the layout DiT's final layer predicts and its `unpatchify`
 * undoes, so `patchify` here is the inverse of the model's output step.
 *
 * (The model's input step, `x_embedder`, is a strided convolution whose weight
 * is flattened in (channel, row, column) order instead; it is the same linear
 * map on the same patches, only with its weight columns permuted.)
 *
 * @module
 */
import { checkElements, checkInteger, describeValue, MAX_ELEMENTS } from "./checks.ts";
import { dims, Tensor } from "./tensor.ts";

/**
 * Cuts `x` into `p × p` patches: `[B, C, H, W]` → `[B, (H/p)·(W/p), p·p·C]`.
 *
 * Token `gy·(W/p) + gx` holds the patch whose top-left pixel is
 * `(gy·p, gx·p)`; within it, feature `(i·p + j)·C + c` is `x[b, c, gy·p+i, gx·p+j]`.
 *
 * @param x a batch of images or latents, `[B, C, H, W]`.
 * @param p the patch size; must divide both H and W.
 * @throws if `x` is not 4-D, `p` is not a positive integer, or H or W is not a multiple of `p`.
 *
 * @example A 4-channel 8×8 latent becomes 16 tokens of 2·2·4 = 16 numbers
 * ```ts
 * import { patchify, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const latent = Tensor.zeros([1, 4, 8, 8]);
 * assert.deepEqual(patchify(latent, 2).shape, [1, 16, 16]);
 * ```
 */
export function patchify(x: Tensor, p: number): Tensor {
  const [B, C, H, W] = dims(x, 4, "patchify: x", "[B, C, H, W]");
  checkPatchSize(p, "patchify");
  checkElements(p * p * C, `patchify: with p=${p} and C=${C}, one token of p·p·C numbers`);
  if (H % p !== 0 || W % p !== 0) {
    throw new Error(
      `patchify: H=${H}, W=${W} are not both divisible by the patch size p=${p}; expected multiples of ${p}`,
    );
  }
  const order = patchOrder(B, C, H, W, p);
  const out = new Float32Array(x.size);
  for (let k = 0; k < out.length; k++) out[k] = x.data[order[k]];
  return new Tensor(out, [B, (H / p) * (W / p), p * p * C]);
}

/**
 * Reassembles tokens into images: `[B, T, p·p·C]` → `[B, C, H, W]`, the layout
 * of DiT's `unpatchify` (its `einsum('nhwpqc->nchpwq')`).
 *
 * @param tokens one vector of `p·p·channels` numbers per patch, row-major over the patch grid.
 * @param p the patch size.
 * @param channels the channels per pixel, C (DiT's output has 2·C: ε and the variance).
 * @param gridWidth patches per row; defaults to √T, the square grid DiT always uses.
 * @throws if the feature size is not `p·p·channels`, T is not a whole number of rows, or the image would
 *   hold more than `MAX_ELEMENTS` numbers.
 *
 * @example patchify then unpatchify gives the input back
 * ```ts
 * import { patchify, Tensor, unpatchify } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const x = Tensor.from(Array.from({ length: 32 }, (_, i) => i), [1, 2, 4, 4]);
 * assert.deepEqual(unpatchify(patchify(x, 2), 2, 2).data, x.data);
 * ```
 */
export function unpatchify(
  tokens: Tensor,
  p: number,
  channels: number,
  gridWidth?: number,
): Tensor {
  const [B, T, D] = dims(tokens, 3, "unpatchify: tokens", "[B, T, p·p·C]");
  checkPatchSize(p, "unpatchify");
  checkInteger(channels, "unpatchify: channels", 1, MAX_ELEMENTS, "MAX_ELEMENTS");
  if (D !== p * p * channels) {
    throw new Error(
      `unpatchify: channels is ${channels} and p is ${p}, so tokens should have p·p·channels = ${
        p * p * channels
      } features; got ${D}`,
    );
  }
  const side = Math.round(Math.sqrt(T));
  if (gridWidth === undefined && side * side !== T) {
    throw new Error(
      `unpatchify: T=${T} tokens is not a square grid; expected a square number or pass gridWidth`,
    );
  }
  const gridW = gridWidth ?? side;
  // No tokens is an empty grid of any width (0 when not given): patchify of a [B, C, 0, W] image
  const gridH = T === 0 ? 0 : T / gridW;
  if (
    typeof gridW !== "number" || !Number.isInteger(gridW) || gridW < (T === 0 ? 0 : 1) ||
    !Number.isInteger(gridH)
  ) {
    throw new Error(
      `unpatchify: gridWidth is ${describeValue(gridWidth)}; expected a positive divisor of T=${T}`,
    );
  }
  const C = channels, H = gridH * p, W = gridW * p;
  checkElements(W, `unpatchify: with gridWidth=${gridW} and p=${p}, one image row`);
  const order = patchOrder(B, C, H, W, p);
  const out = new Float32Array(tokens.size);
  for (let k = 0; k < out.length; k++) out[order[k]] = tokens.data[k];
  return new Tensor(out, [B, C, H, W]);
}

/**
 * Patchify is only a reordering of the numbers: `order[k]` is the index in the
 * `[B, C, H, W]` image of the k-th number of the `[B, T, p·p·C]` tokens.
 */
function patchOrder(B: number, C: number, H: number, W: number, p: number): Uint32Array {
  const order = new Uint32Array(B * C * H * W);
  let k = 0;
  for (let b = 0; b < B; b++) {
    for (let gy = 0; gy < H / p; gy++) {
      for (let gx = 0; gx < W / p; gx++) {
        for (let i = 0; i < p; i++) {
          for (let j = 0; j < p; j++) {
            for (let c = 0; c < C; c++) {
              order[k++] = ((b * C + c) * H + gy * p + i) * W + gx * p + j;
            }
          }
        }
      }
    }
  }
  return order;
}

function checkPatchSize(p: number, fn: string): void {
  checkInteger(p, `${fn}: patch size p`, 1, MAX_ELEMENTS, "MAX_ELEMENTS");
}
