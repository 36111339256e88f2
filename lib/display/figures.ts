/**
 * Plotly figure builders for the notebooks: heatmaps with square cells and a shared colour scale, grids of
 * them, line charts, and sliders that step through frames (timesteps, layers, heads). Each returns a plain
 * {@link Figure}; wrap it in `plot()` to show it.
 *
 * @module
 */
import type { Figure } from "./jupyter.ts";
import { dims, type Tensor } from "../tensor.ts";

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
}

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
 * cells.
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
  const z = panels.map((p) => rows(p.z));
  const range = colourRange(z, options);
  const columns = options.columns ?? Math.min(panels.length, 4);
  const gridRows = Math.ceil(panels.length / columns);
  const size = options.panelSize ?? (columns === 1 ? 420 : 220);
  const layout: Record<string, unknown> = {
    title: options.title ? { text: options.title } : undefined,
    grid: { rows: gridRows, columns, pattern: "independent" },
    width: columns * size + 120,
    height: gridRows * size + 80,
    margin: { t: options.title ? 60 : 30, l: 40, r: 20, b: 30 },
    annotations: [],
  };
  const data = z.map((values, i) => {
    const axis = i === 0 ? "" : String(i + 1);
    layout[`xaxis${axis}`] = { constrain: "domain", showticklabels: columns === 1, title: options.xTitle };
    layout[`yaxis${axis}`] = {
      scaleanchor: `x${axis}`,
      autorange: "reversed",
      showticklabels: columns === 1,
      title: options.yTitle,
    };
    if (panels[i].title) {
      (layout.annotations as unknown[]).push({
        text: panels[i].title,
        xref: `x${axis} domain`,
        yref: `y${axis} domain`,
        x: 0.5,
        y: 1.08,
        showarrow: false,
      });
    }
    return { type: "heatmap", z: values, xaxis: `x${axis}`, yaxis: `y${axis}`, showscale: i === 0, ...range };
  });
  return { data, layout };
}

/**
 * Line charts: one trace per series.
 *
 * @example
 * ```ts
 * import { lines } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const figure = lines([{ name: "β", x: [0, 1], y: [0.1, 0.2] }], { logY: true });
 * assert.equal((figure.layout!.yaxis as { type: string }).type, "log");
 * ```
 */
export function lines(
  series: readonly { name: string; x: ArrayLike<number>; y: ArrayLike<number>; dash?: string }[],
  options: { title?: string; xTitle?: string; yTitle?: string; logY?: boolean } = {},
): Figure {
  return {
    data: series.map((s) => ({
      type: "scatter",
      mode: "lines",
      name: s.name,
      x: Array.from(s.x),
      y: Array.from(s.y),
      line: s.dash ? { dash: s.dash } : undefined,
    })),
    layout: {
      title: options.title ? { text: options.title } : undefined,
      xaxis: { title: { text: options.xTitle } },
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
