/**
 * Plotly figure builders for the notebooks: heatmaps with square cells and a shared colour scale, grids of
 * them, line charts, and sliders that step through frames (timesteps, layers, heads). Each returns a plain
 * {@link Figure}; wrap it in `plot()` to show it.
 *
 * @module
 */
import type { Figure } from "./jupyter.ts";
import { dims, type Tensor } from "../tensor.ts";
import { toPng } from "../image.ts";

/** A 2-D array of numbers, or a 2-D tensor. */
export type Matrix = readonly (readonly number[])[] | Tensor;

/** Options shared by the heatmap builders. */
export interface HeatmapOptions {
  /** The figure's title. */
  title?: string;
  /** A Plotly colour scale name (default "RdBu", blue to red, for signed data, "Viridis" otherwise). */
  colorscale?: string;
  /** The colour range; defaults to the data's, symmetric around 0 when the data has both signs. */
  zmin?: number;
  /** See `zmin`. */
  zmax?: number;
  /** Axis titles. */
  xTitle?: string;
  /** See `xTitle`. */
  yTitle?: string;
  /**
   * Names of the columns (left to right), shown as tick labels and on hover; the axis becomes a category axis
   * and the margin grows to fit the names. Applies to every panel of a grid.
   */
  x?: readonly (string | number)[];
  /** Names of the rows (top to bottom); see `x`. */
  y?: readonly (string | number)[];
  /** Show tick labels (default: only for a single heatmap, or on the axes named by `x` / `y`). */
  showTickLabels?: boolean;
  /**
   * The figure's width in pixels. Setting `width` or `height` frees the cells from being square, so a wide
   * matrix (e.g. 64 tokens × 192 features) fills the figure.
   */
  width?: number;
  /** See `width`. */
  height?: number;
  /** Draw a grid of lines every `grid` cells (e.g. the patches of a latent), on every panel. */
  grid?: number;
  /** With `grid`: write each grid cell's token id (row-major, 0 at top left) at its centre. */
  gridLabels?: boolean;
  /**
   * Column sections: a line between consecutive sections and each section's label above it, e.g.
   * `[{ label: "x half", from: 0, to: 127 }, { label: "y half", from: 128, to: 255 }]` (column indices,
   * inclusive).
   */
  columnSections?: readonly { label: string; from: number; to: number }[];
}

/**
 * Heatmap values keep this many significant digits of the figure's largest |value|: plenty for colours and
 * hover text, while values far below it, which no colour tells from 0, become 0. A notebook stores every value
 * as text, so this makes a figure several times smaller.
 */
const SIGNIFICANT_DIGITS = 3;

/** Rows of numbers from a matrix or a 2-D tensor. */
export function rows(matrix: Matrix): number[][] {
  if (Array.isArray(matrix)) return matrix.map((r) => [...r]);
  const tensor = matrix as Tensor;
  const [R, C] = dims(tensor, 2, "rows: matrix", "[rows, columns]");
  return Array.from({ length: R }, (_, r) => [...tensor.data.subarray(r * C, (r + 1) * C)]);
}

function colourRange(all: number[][][], options: HeatmapOptions) {
  let min = Infinity, max = -Infinity;
  for (const m of all) {
    for (const r of m) for (const v of r) [min, max] = [Math.min(min, v), Math.max(max, v)];
  }
  const signed = min < 0 && max > 0;
  const bound = Math.max(Math.abs(min), Math.abs(max));
  return {
    zmin: options.zmin ?? (signed ? -bound : min),
    zmax: options.zmax ?? (signed ? bound : max),
    colorscale: options.colorscale ?? (signed ? "RdBu" : "Viridis"), // plotly's RdBu: negative blue, positive red
  };
}

/**
 * One heatmap, row 0 at the top, square cells.
 *
 * @example
 * ```ts
 * import { heatmap } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const figure = heatmap([[1, 2], [3, 4]], { title: "a 2×2" });
 * assert.equal(figure.data[0].type, "heatmap");
 * ```
 */
export function heatmap(matrix: Matrix, options: HeatmapOptions = {}): Figure {
  return heatmapGrid([{ z: matrix, title: "" }], { ...options, columns: 1 });
}

/**
 * Several heatmaps side by side with one shared colour scale (so colours compare across panels) and square
 * cells. Values are kept to three significant digits of the largest.
 *
 * @example
 * ```ts
 * import { heatmapGrid } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const figure = heatmapGrid([{ title: "a", z: [[0, 1]] }, { title: "b", z: [[2, 3]] }]);
 * assert.equal(figure.data.length, 2);
 * assert.equal(figure.data[1].zmax, 3);
 * ```
 */
export function heatmapGrid(
  panels: readonly { title: string; z: Matrix }[],
  options: HeatmapOptions & { columns?: number; panelSize?: number } = {},
): Figure {
  const values = panels.map((p) => rows(p.z));
  let largest = 0;
  for (const m of values) for (const r of m) for (const v of r) largest = Math.max(largest, Math.abs(v));
  const decimals = largest > 0 ? Math.max(0, SIGNIFICANT_DIGITS - 1 - Math.floor(Math.log10(largest))) : 0;
  const z = values.map((m) => m.map((r) => r.map((v) => +v.toFixed(decimals) || 0))); // (|| 0: no −0)
  const range = colourRange(z, options);
  const columns = options.columns ?? Math.min(panels.length, 4);
  const gridRows = Math.ceil(panels.length / columns);
  const size = options.panelSize ?? (columns === 1 ? 420 : 220);
  const longest = (names?: readonly (string | number)[]) =>
    Math.max(0, ...(names ?? []).map((n) => String(n).length));
  const [left, bottom] = [options.y ? 7 * longest(options.y) : 0, options.x ? 5 * longest(options.x) : 0];
  const free = options.width !== undefined || options.height !== undefined; // cells need not be square
  const layout: Record<string, unknown> = {
    title: options.title ? { text: options.title } : undefined,
    grid: { rows: gridRows, columns, pattern: "independent" },
    width: options.width ?? columns * size + 120 + left,
    height: options.height ?? gridRows * size + 80 + bottom,
    margin: { t: options.title || options.columnSections ? 60 : 30, l: 40 + left, r: 20, b: 30 + bottom },
    annotations: [],
  };
  const annotations = layout.annotations as unknown[];
  const shapes: unknown[] = [];
  const data = z.map((values, i) => {
    const axis = i === 0 ? "" : String(i + 1);
    const [R, C] = [values.length, values[0]?.length ?? 0];
    const [xref, yref] = [`x${axis}`, `y${axis}`];
    const ticks = (names?: readonly unknown[]) =>
      options.showTickLabels ?? (columns === 1 || names !== undefined);
    layout[`xaxis${axis}`] = {
      constrain: "domain",
      showticklabels: ticks(options.x),
      title: options.xTitle,
      ...(options.x ? { type: "category", showgrid: false } : {}),
    };
    layout[`yaxis${axis}`] = {
      ...(free ? {} : { scaleanchor: xref }),
      autorange: "reversed",
      showticklabels: ticks(options.y),
      title: options.yTitle,
      ...(options.y ? { type: "category", showgrid: false } : {}),
    };
    if (panels[i].title) {
      annotations.push({
        text: panels[i].title,
        xref: `${xref} domain`,
        yref: `${yref} domain`,
        x: 0.5,
        y: 1.08,
        showarrow: false,
      });
    }
    // shapes and labels in cell coordinates (on a category axis, category k sits at k as well)
    const fx = (c: number) => c - 0.5, fy = (r: number) => r - 0.5;
    if (options.grid) {
      drawPatchGrid(shapes, annotations, {
        xref,
        yref,
        rows: R,
        columns: C,
        step: options.grid,
        line: { width: 2, color: "black" },
        labels: options.gridLabels ?? false,
      });
    }
    for (const [k, section] of (options.columnSections ?? []).entries()) {
      if (k > 0) {
        const at = fx(section.from), line = { width: 3, color: "black" };
        shapes.push({ type: "line", xref, yref, x0: at, x1: at, y0: fy(0), y1: fy(R), line });
      }
      annotations.push({
        xref,
        yref,
        x: fx((section.from + section.to + 1) / 2),
        y: fy(0),
        yanchor: "bottom",
        text: section.label,
        showarrow: false,
        font: { size: 14 },
      });
    }
    return {
      type: "heatmap",
      z: values,
      ...(options.x ? { x: options.x.map(String) } : {}),
      ...(options.y ? { y: options.y.map(String) } : {}),
      xaxis: xref,
      yaxis: yref,
      showscale: i === 0,
      ...range,
    };
  });
  if (shapes.length) layout.shapes = shapes;
  return { data, layout };
}

/** One series of {@link lines}. */
export interface LineSeries {
  /** The legend entry. */
  name: string;
  /** The x values. */
  x: ArrayLike<number>;
  /** The y values. */
  y: ArrayLike<number>;
  /** A Plotly dash style: "dash", "dot", "dashdot"… (default solid). */
  dash?: string;
  /** How the points are drawn (default "lines"). */
  mode?: "lines" | "markers" | "lines+markers";
  /** A CSS colour for the line and markers (default: Plotly's colour cycle). */
  color?: string;
  /** Marker size in pixels, for the "markers" modes (default Plotly's, 6). */
  markerSize?: number;
}

/** Options of {@link lines}. */
export interface LinesOptions {
  /** The figure's title. */
  title?: string;
  /** Axis titles. */
  xTitle?: string;
  /** See `xTitle`. */
  yTitle?: string;
  /** A logarithmic y axis. */
  logY?: boolean;
  /** A logarithmic x axis. */
  logX?: boolean;
  /** Run the x axis from right to left (e.g. timesteps counting down as sampling goes on). */
  reverseX?: boolean;
}

/**
 * Line charts: one trace per series.
 *
 * @example
 * ```ts
 * import { lines } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const figure = lines([
 *   { name: "β", x: [0, 1], y: [0.1, 0.2] },
 *   { name: "visited", x: [1], y: [0.2], mode: "markers", color: "black" },
 * ], { logY: true, reverseX: true });
 * assert.equal((figure.layout!.yaxis as { type: string }).type, "log");
 * assert.equal(figure.data[1].mode, "markers");
 * ```
 */
export function lines(series: readonly LineSeries[], options: LinesOptions = {}): Figure {
  return {
    data: series.map((s) => {
      const line = { ...(s.dash ? { dash: s.dash } : {}), ...(s.color ? { color: s.color } : {}) };
      const marker = {
        ...(s.color ? { color: s.color } : {}),
        ...(s.markerSize ? { size: s.markerSize } : {}),
      };
      return {
        type: "scatter",
        mode: s.mode ?? "lines",
        name: s.name,
        x: Array.from(s.x),
        y: Array.from(s.y),
        line: Object.keys(line).length ? line : undefined,
        ...(Object.keys(marker).length ? { marker } : {}),
      };
    }),
    layout: {
      title: options.title ? { text: options.title } : undefined,
      xaxis: {
        title: { text: options.xTitle },
        type: options.logX ? "log" : "linear",
        ...(options.reverseX ? { autorange: "reversed" } : {}),
      },
      yaxis: { title: { text: options.yTitle }, type: options.logY ? "log" : "linear" },
      height: 380,
      margin: { t: options.title ? 50 : 20 },
    },
  };
}

/**
 * A slider over figures that share one layout (e.g. one heatmap grid per timestep, layer or head): every
 * frame's traces are in the figure, and the slider shows one frame's at a time. Works in a static HTML export.
 *
 * @example
 * ```ts
 * import { heatmap, slider } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const figure = slider([{ label: "t=999", figure: heatmap([[1]]) }, { label: "t=0", figure: heatmap([[2]]) }]);
 * assert.equal(figure.data.length, 2);
 * assert.equal((figure.layout!.sliders as unknown[]).length, 1);
 * ```
 */
export function slider(frames: readonly { label: string; figure: Figure }[], prefix = ""): Figure {
  if (frames.length === 0) throw new Error("slider: frames is empty; expected at least one frame");
  const perFrame = frames[0].figure.data.length;
  const data = frames.flatMap((f, i) => f.figure.data.map((trace) => ({ ...trace, visible: i === 0 })));
  const steps = frames.map((f, i) => ({
    label: f.label,
    method: "restyle",
    args: ["visible", data.map((_, j) => Math.floor(j / perFrame) === i)],
  }));
  const layout = { ...frames[0].figure.layout };
  layout.sliders = [{ active: 0, steps, currentvalue: { prefix }, pad: { t: 30 } }];
  layout.height = ((layout.height as number) ?? 400) + 80;
  return { data, layout };
}

/** Options of {@link imageFigure}. */
export interface ImageFigureOptions {
  /** The figure's title. */
  title?: string;
  /** One title per image, shown above it. */
  titles?: readonly string[];
  /** Images per row (default: all in one row). */
  columns?: number;
  /** Each panel's size in pixels (default 300, or 480 for a single image). */
  panelSize?: number;
  /** Draw a grid of lines every `grid` pixels (e.g. the pixels one token covers). */
  grid?: number;
  /** With `grid`: write each grid cell's token id (row-major, 0 at top left) at its centre. */
  labels?: boolean;
  /** The labels' colour (default a strong blue). */
  labelColor?: string;
  /** The grid lines' colour (default a translucent red). */
  gridColor?: string;
}

/**
 * Pictures as a Plotly figure: one `image` trace per image of a `[N, C, H, W]` batch in [-1, 1] (C = 1 or 3),
 * side by side, optionally with a grid every `grid` pixels and token ids at the grid cells' centres. Being a
 * figure, it can go into {@link slider} to step through pictures.
 *
 * @example
 * ```ts
 * import { imageFigure, Tensor } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const figure = await imageFigure(Tensor.zeros([2, 3, 8, 8]), { grid: 4, labels: true, titles: ["a", "b"] });
 * assert.deepEqual(figure.data.map((t) => t.type), ["image", "image"]);
 * const ids = (figure.layout!.annotations as { text: string }[]).map((a) => a.text);
 * assert.deepEqual(ids, ["a", "0", "1", "2", "3", "b", "0", "1", "2", "3"]);
 * ```
 */
export async function imageFigure(images: Tensor, options: ImageFigureOptions = {}): Promise<Figure> {
  const [N, , H, W] = dims(images, 4, "imageFigure: images", "[N, C, H, W]");
  if (options.titles && options.titles.length !== N) {
    throw new Error(`imageFigure: ${options.titles.length} titles for ${N} images; expected one per image`);
  }
  const columns = options.columns ?? N;
  const gridRows = Math.ceil(N / columns);
  const size = options.panelSize ?? (N === 1 ? 480 : 300);
  const annotations: unknown[] = [], shapes: unknown[] = [], data: Record<string, unknown>[] = [];
  const layout: Record<string, unknown> = {
    title: options.title ? { text: options.title } : undefined,
    grid: { rows: gridRows, columns, pattern: "independent" },
    width: columns * size + 40,
    height: gridRows * (size + (options.titles ? 30 : 0)) + (options.title ? 60 : 20),
    margin: { t: options.title ? 60 : options.titles ? 40 : 20, l: 20, r: 20, b: 20 },
  };
  for (let i = 0; i < N; i++) {
    const axis = i === 0 ? "" : String(i + 1);
    const png = await toPng(images, i);
    const base64 = btoa(Array.from(png, (b) => String.fromCharCode(b)).join(""));
    data.push({
      type: "image",
      source: `data:image/png;base64,${base64}`,
      xaxis: `x${axis}`,
      yaxis: `y${axis}`,
    });
    layout[`xaxis${axis}`] = { showticklabels: false, ticks: "", showgrid: false, zeroline: false };
    layout[`yaxis${axis}`] = {
      showticklabels: false,
      ticks: "",
      showgrid: false,
      zeroline: false,
      scaleanchor: `x${axis}`,
    };
    if (options.titles) {
      annotations.push({
        text: options.titles[i],
        xref: `x${axis} domain`,
        yref: `y${axis} domain`,
        x: 0.5,
        y: 1,
        yanchor: "bottom",
        showarrow: false,
      });
    }
    if (options.grid) {
      drawPatchGrid(shapes, annotations, {
        xref: `x${axis}`,
        yref: `y${axis}`,
        rows: H,
        columns: W,
        step: options.grid,
        line: { color: options.gridColor ?? "rgba(230, 30, 30, 0.8)", width: 1 },
        labels: options.labels ?? false,
        font: { size: 10, color: options.labelColor ?? "rgb(0, 90, 255)" },
      });
    }
  }
  if (annotations.length) layout.annotations = annotations;
  if (shapes.length) layout.shapes = shapes;
  return { data, layout };
}

/**
 * The patch grid over a `rows × columns` panel whose cell (r, c) is centred at (c, r): a line every `step` cells
 * and, with `labels`, each patch's token id (row-major over the patch grid, as patchify numbers them) at its
 * centre.
 */
function drawPatchGrid(
  shapes: unknown[],
  annotations: unknown[],
  grid: {
    xref: string;
    yref: string;
    rows: number;
    columns: number;
    step: number;
    line: Record<string, unknown>;
    labels: boolean;
    font?: Record<string, unknown>;
  },
): void {
  const { xref, yref, rows: R, columns: C, step: g, line } = grid;
  const edge = (k: number) => k - 0.5;
  for (let c = 0; c <= C; c += g) {
    shapes.push({ type: "line", xref, yref, x0: edge(c), x1: edge(c), y0: edge(0), y1: edge(R), line });
  }
  for (let r = 0; r <= R; r += g) {
    shapes.push({ type: "line", xref, yref, y0: edge(r), y1: edge(r), x0: edge(0), x1: edge(C), line });
  }
  if (!grid.labels) return;
  const across = Math.ceil(C / g);
  for (let r = 0; r < R; r += g) {
    for (let c = 0; c < C; c += g) {
      annotations.push({
        xref,
        yref,
        x: edge(c + Math.min(g, C - c) / 2),
        y: edge(r + Math.min(g, R - r) / 2),
        text: String((r / g) * across + c / g),
        showarrow: false,
        ...(grid.font ? { font: grid.font } : {}),
      });
    }
  }
}
