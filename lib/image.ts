/**
 * From image tensors to files: PNG images, grids and animations, encoded by `sharp`.
 *
 * Images are `[N, C, H, W]` tensors with values in [-1, 1] (what the VAE decodes), C = 1 (grey) or 3 (RGB);
 * a pixel becomes `round((v + 1)·127.5)`, clipped to 0…255, as torchvision's `save_image` does for the reference.
 *
 * @module
 */
import sharp from "sharp";
import { dims, Tensor } from "./tensor.ts";
import { toPixels } from "./pixels.ts";

export { toPixels };

/** Options of {@link gridPng}. */
export interface GridOptions {
  /** Images per row (default: the smallest count that makes the grid at least as wide as tall). */
  columns?: number;
  /** Pixels between images (default 2). */
  padding?: number;
  /** The padding's grey level, 0…255 (default 255, white). */
  background?: number;
}

/**
 * Image `i` of a batch as PNG bytes.
 *
 * @example
 * ```ts
 * import { Tensor, toPng } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const png = await toPng(Tensor.zeros([1, 3, 8, 8]), 0);
 * assert.deepEqual([...png.subarray(1, 4)], [80, 78, 71]); // "PNG"
 * ```
 */
export async function toPng(images: Tensor, i: number): Promise<Uint8Array> {
  const [, C, H, W] = images.shape;
  return await encodePng(toPixels(images, i), W, H, C);
}

/**
 * All images of a batch side by side in one PNG.
 *
 * @example
 * ```ts
 * import { gridPng, Tensor } from "@dit/toolkit";
 * import sharp from "sharp";
 * import assert from "node:assert/strict";
 * const png = await gridPng(Tensor.zeros([6, 1, 8, 8]), { columns: 3, padding: 1 });
 * const { width, height } = await sharp(png).metadata();
 * assert.deepEqual([width, height], [3 * 8 + 2, 2 * 8 + 1]);
 * ```
 */
export async function gridPng(images: Tensor, options: GridOptions = {}): Promise<Uint8Array> {
  const grid = gridPixels(images, options);
  return await encodePng(grid.pixels, grid.width, grid.height, grid.channels);
}

/** The pixels of a grid of the batch: height × width × channels bytes. */
function gridPixels(images: Tensor, options: GridOptions) {
  const [N, C, H, W] = dims(images, 4, "grid: images", "[N, C, H, W]");
  const columns = options.columns ?? Math.ceil(Math.sqrt(N));
  const { padding = 2, background = 255 } = options;
  if (!Number.isInteger(columns) || columns < 1) {
    throw new Error(`grid: columns is ${columns}; expected an integer >= 1`);
  }
  const rows = Math.ceil(N / columns);
  const width = columns * W + (columns - 1) * padding, height = rows * H + (rows - 1) * padding;
  const pixels = new Uint8Array(width * height * C).fill(background);
  for (let i = 0; i < N; i++) {
    const image = toPixels(images, i);
    const top = Math.floor(i / columns) * (H + padding), left = (i % columns) * (W + padding);
    for (let y = 0; y < H; y++) {
      pixels.set(image.subarray(y * W * C, (y + 1) * W * C), ((top + y) * width + left) * C);
    }
  }
  return { pixels, width, height, channels: C };
}

/**
 * An image with a heat map over it, for where-does-it-look pictures: the image in grey, each cell of a coarse
 * `[rows, columns]` map laid over its block of pixels in red (its largest value the reddest), and optionally
 * one cell (`mark`, numbered row-major like patchify's tokens) tinted blue. `[1, C, H, W]` in [-1, 1] →
 * `[1, 3, H, W]` in [-1, 1].
 *
 * @param image one image, `[1, C, H, W]` in [-1, 1].
 * @param heat non-negative values, `[rows, columns]`, rows dividing H and columns dividing W.
 * @param mark a cell to tint blue, e.g. the token whose attention the heat map shows.
 * @throws if the shapes do not fit.
 *
 * @example Attention of token 0 on a 2×2 grid, all on token 3
 * ```ts
 * import { heatOverlay, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const picture = heatOverlay(Tensor.zeros([1, 1, 4, 4]), Tensor.from([0, 0, 0, 1], [2, 2]), 0);
 * assert.deepEqual(picture.shape, [1, 3, 4, 4]);
 * assert.ok(picture.at(0, 0, 3, 3) > picture.at(0, 0, 0, 3)); // red where the heat is
 * assert.ok(picture.at(0, 2, 0, 0) > picture.at(0, 2, 3, 3)); // blue on the marked cell
 * ```
 */
export function heatOverlay(image: Tensor, heat: Tensor, mark?: number): Tensor {
  const [N, C, H, W] = dims(image, 4, "heatOverlay: image", "[1, C, H, W]");
  const [rows, columns] = dims(heat, 2, "heatOverlay: heat", "[rows, columns]");
  if (N !== 1 || rows === 0 || columns === 0 || H % rows !== 0 || W % columns !== 0) {
    throw new Error(
      `heatOverlay: image [${image.shape}] and heat [${heat.shape}]; expected one image [1, C, H, W] and a map [rows, columns] whose rows divide H and columns divide W`,
    );
  }
  const top = Math.max(...heat.data) || 1;
  const out = Tensor.zeros([1, 3, H, W]);
  const [red, green, blue] = [0, 1, 2].map((c) => out.select(0, c).data);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let grey = 0; // 0…1
      for (let c = 0; c < C; c++) grey += (image.at(0, c, y, x) + 1) / 2 / C;
      const row = Math.floor((y * rows) / H), column = Math.floor((x * columns) / W);
      const hot = heat.at(row, column) / top, marked = row * columns + column === mark;
      const p = y * W + x;
      // [0, 1] → [-1, 1]
      red[p] = 2 * (0.4 * grey + 0.6 * hot) - 1;
      green[p] = 2 * (0.4 * grey) - 1;
      blue[p] = 2 * (marked ? 1 : 0.4 * grey) - 1;
    }
  }
  return out;
}

/**
 * An animation from frames (e.g. x̂0 at every sampling step, each frame a grid of the batch), as GIF or WebP.
 *
 * @param frames one `[N, C, H, W]` tensor per frame, all of one shape.
 * @param format `"gif"` or `"webp"`.
 * @param delayMs how long each frame shows; the last one is held 1 s.
 *
 * @example
 * ```ts
 * import { animation, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const gif = await animation([Tensor.zeros([2, 3, 8, 8]), Tensor.zeros([2, 3, 8, 8])], "gif");
 * assert.equal(new TextDecoder().decode(gif.subarray(0, 3)), "GIF");
 * ```
 */
export async function animation(
  frames: readonly Tensor[],
  format: "gif" | "webp",
  options: GridOptions & { delayMs?: number } = {},
): Promise<Uint8Array> {
  if (frames.length === 0) throw new Error("animation: frames is empty; expected at least one frame");
  const grids = frames.map((frame) => gridPixels(frame, options));
  const { width, height, channels } = grids[0];
  const stacked = new Uint8Array(grids.reduce((n, g) => n + g.pixels.length, 0));
  grids.forEach((g, i) => stacked.set(g.pixels, i * g.pixels.length));
  const delay = frames.map((_, i) => (i === frames.length - 1 ? 1000 : options.delayMs ?? 80));
  // animated output takes the frames stacked vertically, one page each
  const image = sharp(stacked, {
    raw: { width, height: height * frames.length, channels: channels as 1 | 3, pageHeight: height },
  });
  const out = format === "gif"
    ? image.gif({ delay, loop: 0 })
    : image.webp({ delay, loop: 0, lossless: true });
  return new Uint8Array(await out.toBuffer());
}

/**
 * Reads an image (PNG, JPEG, … anything sharp decodes; bytes or a path) as a `[1, C, H, W]` tensor in
 * [-1, 1], with C = 1 (grey) or 3 (RGB, alpha composited on white).
 *
 * @example
 * ```ts
 * import { readImage } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const seven = await readImage(new URL("../notebooks/assets/digits-7.png", import.meta.url).pathname, 1);
 * assert.deepEqual(seven.shape, [1, 1, 32, 32]);
 * ```
 */
export async function readImage(input: string | Uint8Array, channels: 1 | 3): Promise<Tensor> {
  let image = sharp(input).flatten({ background: "#ffffff" });
  image = channels === 1 ? image.toColourspace("b-w") : image.toColourspace("srgb");
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true }).catch((error) => {
    throw new Error(
      `readImage: cannot decode ${typeof input === "string" ? input : "the bytes"} (${error.message})`,
    );
  });
  const { width: W, height: H } = info;
  const out = new Float32Array(channels * H * W);
  for (let p = 0; p < H * W; p++) {
    for (let c = 0; c < channels; c++) out[c * H * W + p] = data[p * info.channels + c] / 127.5 - 1;
  }
  return new Tensor(out, [1, channels, H, W]);
}

async function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
): Promise<Uint8Array> {
  const image = sharp(pixels, { raw: { width, height, channels: channels as 1 | 3 } });
  const png = await (channels === 1 ? image.toColourspace("b-w") : image)
    .png({ compressionLevel: 9, adaptiveFiltering: false })
    .toBuffer();
  return new Uint8Array(png);
}
