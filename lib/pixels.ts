/**
 * Image tensors as 8-bit pixels, with no encoder: what `image.ts` hands to `sharp`, and what the explorer
 * paints on a canvas. Platform-neutral.
 *
 * @module
 */
import { dims, type Tensor } from "./tensor.ts";

/**
 * Image `i` of a batch as 8-bit pixels, height × width × channels.
 *
 * @example
 * ```ts
 * import { Tensor, toPixels } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const images = Tensor.from([-1, 0, 1, 2], [1, 1, 2, 2]);
 * assert.deepEqual([...toPixels(images, 0)], [0, 128, 255, 255]);
 * ```
 */
export function toPixels(images: Tensor, i: number): Uint8Array {
  const [N, C, H, W] = dims(images, 4, "toPixels: images", "[N, C, H, W]");
  if (C !== 1 && C !== 3) {
    throw new Error(`toPixels: images have ${C} channels; expected 1 (grey) or 3 (RGB)`);
  }
  if (!Number.isInteger(i) || i < 0 || i >= N) throw new Error(`toPixels: index ${i}; expected 0 … ${N - 1}`);
  const pixels = new Uint8Array(H * W * C);
  for (let c = 0; c < C; c++) {
    for (let p = 0; p < H * W; p++) {
      // Uint8ClampedArray-style rounding and clipping, written out
      const v = Math.round((images.data[((i * C + c) * H * W) + p] + 1) * 127.5);
      pixels[p * C + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return pixels;
}
