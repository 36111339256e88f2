/**
 * Display objects for the Deno Jupyter kernel: anything with a `Symbol.for("Jupyter.display")` method renders
 * as a rich output when it is a cell's value (or passed to `Deno.jupyter.display`). They are plain objects, so
 * library code that makes them runs outside a notebook too.
 *
 * - {@link plot}: a Plotly figure as `text/html` that draws it with plotly.js, offline, in JupyterLab, Notebook,
 *   VS Code and `nbconvert --to html` exports. (Not also as `application/vnd.plotly.v1+json`: that would store
 *   every figure twice, and only a frontend with a Plotly renderer reads it.)
 * - {@link showImage} / {@link showImages}: pictures as `image/png`, small ones enlarged with crisp pixels.
 * - {@link showAnimation}: a GIF or WebP animation (from `animation()`), with an HTML `<img>` fallback.
 * - {@link markdown}: text as `text/markdown`.
 *
 * {@link show} puts any number of them in a cell's output, in order. It also brings plotly.js (from
 * `npm:plotly.js-dist-min`, 4.6 MB) to the notebook's page the first time it shows a figure, without keeping it
 * in the notebook: the library runs once in the browser, then its output is replaced by an empty one, so no
 * saved output holds it. An HTML export gets it from {@link plotlyScript} (`deno task notebooks` adds it).
 *
 * @module
 */
import { createRequire } from "node:module";
import sharp from "sharp";
import { type GridOptions, gridPng } from "../image.ts";
import type { Tensor } from "../tensor.ts";

/** The symbol the Deno kernel looks for. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** Something a notebook cell can show: it returns a MIME bundle. */
export interface Displayable {
  /** The MIME bundle: MIME type → data. */
  [JUPYTER_DISPLAY](): Record<string, unknown>;
}

/** A Plotly figure: traces, layout, and optionally animation frames (see plotly.js's docs). */
export interface Figure {
  /** The traces. */
  data: Record<string, unknown>[];
  /** The layout: titles, axes, sliders… */
  layout?: Record<string, unknown>;
}

/** Whether this kernel's page has run plotly.js (one kernel runs one notebook). */
let plotlyLoaded = false;
let figureCount = 0;

/**
 * Shows each output now, in order, so that one cell can show several: display objects ({@link plot},
 * {@link showImages}, {@link markdown}, …) or promises of them. In a Jupyter kernel they go to the cell's
 * output; anywhere else (a script, a test) their text is printed.
 *
 * @example
 * ```ts
 * import { lines, markdown, plot, show } from "@dit/toolkit";
 * await show(markdown`**two** outputs`, plot(lines([{ name: "y = x²", x: [0, 1, 2], y: [0, 1, 4] }])));
 * ```
 */
export async function show(...outputs: (Displayable | Promise<Displayable>)[]): Promise<void> {
  const kernel = jupyterKernel();
  for (const output of outputs) {
    const shown = await output, bundle = shown[JUPYTER_DISPLAY]();
    if (!kernel) {
      console.log(bundle["text/plain"]);
      continue;
    }
    if ("figure" in shown && !plotlyLoaded) {
      const display_id = `dit-plotly-${Date.now().toString(36)}`;
      await kernel.display({ "text/html": plotlyScript() }, { raw: true, display_id });
      await kernel.display({ "text/plain": "" }, { raw: true, update: true, display_id });
      plotlyLoaded = true;
    }
    await kernel.display(bundle, { raw: true });
  }
}

/** `Deno.jupyter` inside a Jupyter kernel; elsewhere reading it throws, and this returns undefined. */
function jupyterKernel(): typeof Deno.jupyter | undefined {
  try {
    return Deno.jupyter;
  } catch {
    return undefined;
  }
}

/**
 * A Plotly figure as a notebook output.
 *
 * @example
 * ```ts
 * import { JUPYTER_DISPLAY, plot } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const bundle = plot({ data: [{ type: "scatter", y: [1, 3, 2] }] })[JUPYTER_DISPLAY]();
 * assert.match(bundle["text/html"] as string, /^<div id="dit-plot-/);
 * ```
 */
export function plot(figure: Figure): Displayable & { figure: Figure } {
  return {
    figure,
    [JUPYTER_DISPLAY]() {
      const id = `dit-plot-${Date.now().toString(36)}-${figureCount++}`;
      const json = JSON.stringify({ data: figure.data, layout: figure.layout ?? {} });
      const missing = "plotly.js is not loaded on this page: show figures with show(plot(…))";
      return {
        "text/html": `<div id="${id}"></div><script>(function () { const f = ${json}; ` +
          `if (window.Plotly) Plotly.newPlot("${id}", f.data, f.layout, { responsive: true }); ` +
          `else document.getElementById("${id}").textContent = ${JSON.stringify(missing)}; })();</script>`,
        "text/plain": `Plotly figure: ${figure.data.length} trace(s)`,
      };
    },
  };
}

/**
 * plotly.js as one `<script>` element, for a page that shows {@link plot}'s figures from their HTML: the
 * library defines `window.Plotly` (its AMD and CommonJS loaders hidden, since classic Notebook has RequireJS).
 *
 * @example
 * ```ts
 * import { plotlyScript } from "./jupyter.ts";
 * import assert from "node:assert/strict";
 * const script = plotlyScript();
 * assert.ok(script.startsWith("<script>") && script.endsWith("</script>"));
 * assert.ok(script.length > 1_000_000); // the whole library, inline
 * ```
 */
export function plotlyScript(): string {
  const path = createRequire(import.meta.url).resolve("plotly.js-dist-min/plotly.min.js");
  const library = Deno.readTextFileSync(path).replaceAll("</script>", "<\\/script>");
  return `<script>(function (define, module, exports) {\n${library}\n})();</script>`;
}

/**
 * PNG bytes as a notebook output, enlarged (nearest neighbour, so pixels stay crisp) to at least `minWidth`.
 *
 * @example
 * ```ts
 * import { JUPYTER_DISPLAY, showImage, Tensor, toPng } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const shown = await showImage(await toPng(Tensor.zeros([1, 3, 8, 8]), 0));
 * assert.equal(typeof shown[JUPYTER_DISPLAY]()["image/png"], "string");
 * ```
 */
export async function showImage(png: Uint8Array, minWidth = 256): Promise<Displayable> {
  const { width = 1 } = await sharp(png).metadata();
  const factor = Math.max(1, Math.ceil(minWidth / width));
  const bytes = factor === 1
    ? png
    : await sharp(png).resize({ width: width * factor, kernel: "nearest" }).png().toBuffer();
  const base64 = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  return {
    [JUPYTER_DISPLAY]: () => ({ "image/png": base64, "text/plain": `image ${width * factor} px wide` }),
  };
}

/**
 * A batch of images (`[N, C, H, W]` in [-1, 1]) as one grid output.
 *
 * @example
 * ```ts
 * import { JUPYTER_DISPLAY, SeededRandom, showImages } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const shown = await showImages(new SeededRandom(0).randn([4, 1, 8, 8]), { columns: 4 });
 * assert.ok("image/png" in shown[JUPYTER_DISPLAY]());
 * ```
 */
export async function showImages(
  images: Tensor,
  options: GridOptions & { minWidth?: number } = {},
): Promise<Displayable> {
  return await showImage(await gridPng(images, options), options.minWidth ?? 512);
}

/**
 * Markdown text as a notebook output (`text/markdown`). Call it with a string, or use it as a tagged template
 * (like `Deno.jupyter.md`).
 *
 * @example
 * ```ts
 * import { JUPYTER_DISPLAY, markdown } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const D = 192;
 * assert.equal(markdown`D = **${D}**`[JUPYTER_DISPLAY]()["text/markdown"], "D = **192**");
 * assert.equal(markdown("# title")[JUPYTER_DISPLAY]()["text/markdown"], "# title");
 * ```
 */
export function markdown(text: string | TemplateStringsArray, ...values: unknown[]): Displayable & {
  text: string;
} {
  const joined = typeof text === "string"
    ? text
    : text.reduce((all, part, i) => all + String(values[i - 1]) + part);
  return {
    text: joined,
    [JUPYTER_DISPLAY]: () => ({ "text/markdown": joined, "text/plain": joined }),
  };
}

/**
 * An animation (GIF or WebP bytes, e.g. from `animation()`) as a notebook output, enlarged (nearest
 * neighbour, frame by frame) to at least `minWidth`, as a `text/html` `<img>` (not also as `image/gif`, which
 * `nbconvert`'s HTML export ignores, and which would store the animation twice).
 *
 * @example
 * ```ts
 * import { animation, JUPYTER_DISPLAY, SeededRandom, showAnimation, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const gif = await animation([Tensor.zeros([1, 3, 8, 8]), new SeededRandom(0).randn([1, 3, 8, 8])], "gif");
 * const bundle = (await showAnimation(gif, "gif"))[JUPYTER_DISPLAY]();
 * assert.match(bundle["text/html"] as string, /^<img src="data:image\/gif;base64,/);
 * ```
 */
export async function showAnimation(
  bytes: Uint8Array,
  format: "gif" | "webp",
  options: { minWidth?: number } = {},
): Promise<Displayable> {
  const { width = 1, delay, loop = 0 } = await sharp(bytes).metadata();
  const factor = Math.max(1, Math.ceil((options.minWidth ?? 256) / width));
  let out = bytes;
  if (factor > 1) {
    const resized = sharp(bytes, { animated: true }).resize({ width: width * factor, kernel: "nearest" });
    const encoded = format === "gif"
      ? resized.gif({ delay, loop })
      : resized.webp({ delay, loop, lossless: true });
    out = new Uint8Array(await encoded.toBuffer());
  }
  const base64 = btoa(Array.from(out, (b) => String.fromCharCode(b)).join(""));

  return {
    [JUPYTER_DISPLAY]: () => ({
      "text/html": `<img src="data:image/${format};base64,${base64}" alt="animation">`,
      "text/plain": `${format.toUpperCase()} animation, ${width * factor} px wide`,
    }),
  };
}
