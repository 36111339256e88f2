/** The display builders: figures (heatmaps, lines, images, sliders) and notebook outputs (markdown, animations). */
import assert from "node:assert/strict";
import sharp from "sharp";
import {
  animation,
  heatmap,
  heatmapGrid,
  imageFigure,
  JUPYTER_DISPLAY,
  lines,
  markdown,
  plot,
  SeededRandom,
  show,
  showAnimation,
  slider,
  Tensor,
} from "../mod.ts";

type Layout = Record<string, Record<string, unknown>>;

Deno.test("heatmap keeps square cells and hidden names by default", () => {
  const figure = heatmap([[1, 2, 3], [4, 5, 6]]);
  const layout = figure.layout as Layout;
  assert.equal(layout.yaxis.scaleanchor, "x");
  assert.equal(figure.data[0].x, undefined);
  assert.equal(layout.xaxis.type, undefined);
  assert.equal(layout.shapes, undefined);
  assert.deepEqual(
    heatmapGrid([{ title: "a", z: [[0]] }, { title: "b", z: [[1]] }]).layout!.width,
    2 * 220 + 120,
  );
});

Deno.test("heatmap names rows and columns, and frees the cells with width and height", () => {
  const figure = heatmap([[1, 2, 3], [4, 5, 6]], {
    x: ["a", "b", "c"],
    y: [10, 20],
    width: 900,
    height: 300,
  });
  const layout = figure.layout as Layout;
  assert.deepEqual([figure.data[0].x, figure.data[0].y], [["a", "b", "c"], ["10", "20"]]);
  assert.equal(layout.xaxis.type, "category");
  assert.equal(layout.yaxis.type, "category");
  assert.equal(layout.yaxis.scaleanchor, undefined);
  assert.deepEqual([layout.width, layout.height], [900, 300]);
  assert.equal(layout.xaxis.showticklabels, true);
  const grid = heatmapGrid([{ title: "a", z: [[0, 1]] }, { title: "b", z: [[2, 3]] }], { x: ["p", "q"] });
  assert.equal((grid.layout as Layout).xaxis2.showticklabels, true);
  assert.equal((grid.layout as Layout).yaxis2.showticklabels, false);
  assert.ok((grid.layout!.margin as { b: number }).b > 30);
});

Deno.test("heatmap draws a patch grid with token ids, and column sections", () => {
  const z = Array.from({ length: 4 }, () => [0, 1, 2, 3, 4, 5]);
  const figure = heatmap(z, { grid: 2, gridLabels: true });
  const shapes = figure.layout!.shapes as { x0: number; y0: number }[];
  assert.equal(shapes.length, 4 + 3); // 4 vertical lines (x = -0.5, 1.5, 3.5, 5.5), 3 horizontal
  assert.deepEqual(shapes.slice(0, 4).map((s) => s.x0), [-0.5, 1.5, 3.5, 5.5]);
  const ids = figure.layout!.annotations as { text: string; x: number; y: number }[];
  assert.deepEqual(ids.map((a) => a.text), ["0", "1", "2", "3", "4", "5"]);
  assert.deepEqual([ids[4].x, ids[4].y], [2.5, 2.5]);
  const sections = heatmap(z, {
    columnSections: [{ label: "left", from: 0, to: 2 }, { label: "right", from: 3, to: 5 }],
  });
  assert.deepEqual((sections.layout!.shapes as { x0: number }[]).map((s) => s.x0), [2.5]);
  assert.deepEqual(
    (sections.layout!.annotations as { text: string; x: number }[]).map((a) => [a.text, a.x]),
    [
      ["left", 1],
      ["right", 4],
    ],
  );
});

Deno.test("lines takes a mode and colour per series, and reverses x on request", () => {
  const figure = lines([
    { name: "a", x: [0, 1], y: [1, 2] },
    { name: "b", x: [1], y: [2], mode: "markers", color: "black", markerSize: 8, dash: "dot" },
  ], { reverseX: true });
  assert.deepEqual(figure.data.map((t) => t.mode), ["lines", "markers"]);
  assert.equal(figure.data[0].line, undefined);
  assert.equal(figure.data[0].marker, undefined);
  assert.deepEqual(figure.data[1].line, { dash: "dot", color: "black" });
  assert.deepEqual(figure.data[1].marker, { color: "black", size: 8 });
  assert.equal((figure.layout as Layout).xaxis.autorange, "reversed");
  assert.equal((lines([{ name: "a", x: [0], y: [0] }]).layout as Layout).xaxis.autorange, undefined);
  const logLog = lines([{ name: "a", x: [1, 64], y: [1, 50] }], { logX: true, logY: true }).layout as Layout;
  assert.deepEqual([logLog.xaxis.type, logLog.yaxis.type], ["log", "log"]);
  assert.equal((figure.layout as Layout).xaxis.type, "linear");
});

Deno.test("imageFigure: one image trace per picture, patch grid, token ids, titles; works in a slider", async () => {
  const images = new SeededRandom(0).randn([2, 3, 8, 12]);
  const figure = await imageFigure(images, { grid: 4, labels: true, titles: ["first", "second"] });
  assert.deepEqual(figure.data.map((t) => [t.type, t.xaxis, t.yaxis]), [["image", "x", "y"], [
    "image",
    "x2",
    "y2",
  ]]);
  const png = Uint8Array.from(atob((figure.data[1].source as string).split(",")[1]), (c) => c.charCodeAt(0));
  assert.deepEqual(await sharp(png).metadata().then((m) => [m.width, m.height]), [12, 8]);
  const texts = (figure.layout!.annotations as { text: string }[]).map((a) => a.text);
  assert.deepEqual(texts, ["first", "0", "1", "2", "3", "4", "5", "second", "0", "1", "2", "3", "4", "5"]);
  assert.equal((figure.layout!.shapes as unknown[]).length, 2 * (4 + 3));
  const plain = await imageFigure(images);
  assert.equal(plain.layout!.annotations, undefined);
  assert.equal(plain.layout!.shapes, undefined);
  await assert.rejects(imageFigure(images, { titles: ["one"] }), /2 images/);
  const stepped = slider([{ label: "a", figure }, { label: "b", figure: plain }]);
  assert.deepEqual(stepped.data.map((t) => t.visible), [true, true, false, false]);
});

Deno.test("markdown: a string or a tagged template", () => {
  const n = 3;
  assert.equal(markdown`**${n}** blocks`[JUPYTER_DISPLAY]()["text/markdown"], "**3** blocks");
  assert.equal(markdown("plain")[JUPYTER_DISPLAY]()["text/markdown"], "plain");
});

Deno.test("showAnimation: GIF and WebP, enlarged, as one <img> (stored once)", async () => {
  const frames = [Tensor.zeros([1, 3, 8, 8]), new SeededRandom(1).randn([1, 3, 8, 8])];
  for (const format of ["gif", "webp"] as const) {
    const bundle = (await showAnimation(await animation(frames, format), format))[JUPYTER_DISPLAY]();
    assert.deepEqual(Object.keys(bundle).sort(), ["text/html", "text/plain"]);
    const html = bundle["text/html"] as string;
    const base64 =
      html.match(new RegExp(`^<img src="data:image/${format};base64,([^"]+)" alt="animation">$`))![1];
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const meta = await sharp(bytes, { animated: true }).metadata();
    assert.deepEqual([meta.format, meta.width, meta.pages], [format, 256, 2]);
  }
});

Deno.test("show prints each output's text outside a notebook, in order, promises awaited", async () => {
  const printed: string[] = [];
  const log = console.log;
  console.log = (...values: unknown[]) => void printed.push(values.join(" "));
  try {
    await show(markdown`one`, Promise.resolve(markdown`two`), heatmapOutput());
  } finally {
    console.log = log;
  }
  assert.deepEqual(printed, ["one", "two", "Plotly figure: 1 trace(s)"]);
});

/** A plotted heatmap, as a notebook would show it. */
function heatmapOutput() {
  return plot(heatmap([[0, 1]]));
}

Deno.test("heatmaps keep three significant digits of the largest value, in every panel", () => {
  const figure = heatmap([[1.23456789, -0.000123456789], [0.5, -7e-3]]);
  assert.deepEqual(figure.data[0].z, [[1.23, 0], [0.5, -0.01]]);
  const grid = heatmapGrid([{ title: "a", z: [[0.0123456]] }, { title: "b", z: [[98765.4321]] }]);
  assert.deepEqual(grid.data.map((trace) => trace.z), [[[0]], [[98765]]]);
});
