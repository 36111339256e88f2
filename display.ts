/**
 * Pictures and notebook outputs: tensors to PNG images, grids and animations (`sharp`), Plotly figure
 * builders (heatmaps, lines, sliders), and the Jupyter display objects with {@link show}, which puts any
 * number of them in a cell's output.
 *
 * ```ts
 * import { heatmap, markdown, plot, show } from "@dit/toolkit/display";
 * await show(markdown`a **2×2** map`, plot(heatmap([[0, 1], [1, 0]])));
 * ```
 *
 * @module
 */
export {
  animation,
  type GridOptions,
  gridPng,
  heatOverlay,
  readImage,
  toPixels,
  toPng,
} from "./lib/image.ts";
export {
  type Displayable,
  type Figure,
  JUPYTER_DISPLAY,
  markdown,
  plot,
  show,
  showAnimation,
  showImage,
  showImages,
} from "./lib/display/jupyter.ts";
export {
  heatmap,
  heatmapGrid,
  type HeatmapOptions,
  imageFigure,
  type ImageFigureOptions,
  lines,
  type LineSeries,
  type LinesOptions,
  type Matrix,
  rows,
  slider,
} from "./lib/display/figures.ts";
