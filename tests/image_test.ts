import assert from "node:assert/strict";
import sharp from "sharp";
import { animation, gridPng, heatOverlay, readImage, toPixels, toPng } from "../lib/image.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";

Deno.test("toPixels maps [-1, 1] to 0…255 with rounding and clipping, channels last", () => {
  const red = [-2, -1, -0.5, 0, 0.5, 1, 3, 0.001];
  const images = Tensor.from([...red, ...Array(16).fill(1)], [1, 3, 2, 4]);
  const px = toPixels(images, 0);
  assert.deepEqual([...px.filter((_, i) => i % 3 === 0)], [0, 0, 64, 128, 191, 255, 255, 128]);
  assert.ok(px.filter((_, i) => i % 3 !== 0).every((v) => v === 255));
  assert.throws(
    () => toPixels(Tensor.zeros([1, 2, 4, 4]), 0),
    /2 channels; expected 1 \(grey\) or 3 \(RGB\)/,
  );
  assert.throws(() => toPixels(Tensor.zeros([1, 3, 4, 4]), 1), /index 1; expected 0 … 0/);
});

Deno.test("PNG bytes decode back to the same pixels, grey stays grey, and encoding is deterministic", async () => {
  const images = new SeededRandom(2).randn([2, 3, 6, 5]);
  const png = await toPng(images, 1);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [5, 6, 3]);
  assert.deepEqual(new Uint8Array(data), toPixels(images, 1));
  assert.deepEqual(await toPng(images, 1), png);
  const grey = await sharp(await toPng(Tensor.zeros([1, 1, 4, 4]), 0)).metadata();
  assert.equal(grey.channels, 1);
});

Deno.test("gridPng lays images out in rows with padding", async () => {
  const images = Tensor.from(Array.from({ length: 5 * 4 }, (_, i) => (Math.floor(i / 4) % 2 ? 1 : -1)), [
    5,
    1,
    2,
    2,
  ]);
  const png = await gridPng(images, { columns: 2, padding: 1, background: 100 });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [5, 8]); // 2 columns, 3 rows of 2×2 with 1-pixel gaps
  const at = (x: number, y: number) => data[(y * info.width + x) * info.channels];
  assert.deepEqual([at(0, 0), at(2, 0), at(3, 0), at(0, 2), at(0, 3), at(3, 6)], [0, 100, 255, 100, 0, 100]);
  await assert.rejects(gridPng(images, { columns: 0 }), /columns is 0/);
});

Deno.test("animation writes one frame per tensor, as GIF or WebP", async () => {
  const frames = [0, 1, 2].map((s) => new SeededRandom(s).randn([2, 3, 8, 8]));
  for (const format of ["gif", "webp"] as const) {
    const meta = await sharp(await animation(frames, format)).metadata();
    assert.equal(meta.format, format);
    assert.equal(meta.pages, 3);
    assert.equal(meta.delay?.at(-1), 1000);
  }
  await assert.rejects(animation([], "gif"), /frames is empty/);
});

Deno.test("readImage gives back what toPng wrote, and names undecodable input", async () => {
  const images = new SeededRandom(4).randn([1, 3, 5, 7]);
  const back = await readImage(await toPng(images, 0), 3);
  assert.deepEqual(back.shape, [1, 3, 5, 7]);
  assert.deepEqual(toPixels(back, 0), toPixels(images, 0));
  await assert.rejects(readImage(new Uint8Array([1, 2, 3]), 3), /readImage: cannot decode the bytes/);
});

Deno.test("heatOverlay lays a coarse map over an image in red, greys the image, and tints one cell blue", () => {
  const image = Tensor.from([...Array(8).fill(1), ...Array(8).fill(-1)], [1, 1, 4, 4]); // white top, black bottom
  const heat = Tensor.from([0, 2, 1, 0], [2, 2]); // cells of 2×2 pixels
  const out = heatOverlay(image, heat, 3);
  assert.deepEqual(out.shape, [1, 3, 4, 4]);
  const rgb = (y: number, x: number) => [0, 1, 2].map((c) => +out.at(0, c, y, x).toFixed(6));
  assert.deepEqual(rgb(0, 0), [-0.2, -0.2, -0.2]); // white at 0.4, no heat: 2·0.4 − 1
  assert.deepEqual(rgb(0, 3), [1, -0.2, -0.2]); // the hottest cell: 0.4 + 0.6
  assert.deepEqual(rgb(3, 0), [-0.4, -1, -1]); // black, half the heat: 2·0.3 − 1
  assert.deepEqual(rgb(3, 3), [-1, -1, 1]); // cell 3 marked blue
  assert.throws(
    () => heatOverlay(image, Tensor.zeros([3, 3])),
    /heatOverlay: image \[1,1,4,4\] and heat \[3,3\]; expected/,
  );
});
