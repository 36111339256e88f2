/**
 * The DiT toolkit: the concepts of "Scalable Diffusion Models with
 * Transformers" (Peebles & Xie, 2023) as small functions you can call and look
 * inside, numerically the reference implementation's (facebookresearch/DiT).
 *
 * ```ts
 * import { createDiffusion, patchify, SeededRandom } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const noise = new SeededRandom(0).randn([1, 4, 16, 16]); // torch.manual_seed(0); torch.randn(...)
 * assert.deepEqual(patchify(noise, 2).shape, [1, 64, 16]); // 64 tokens of 2·2·4
 * assert.equal(createDiffusion({ respacing: "50" }).numTimesteps, 50);
 * ```
 *
 * @module
 */
export {
  checkTensor,
  concatBatch,
  dims,
  sameShape,
  sliceBatch,
  splitChannels,
  Tensor,
} from "./lib/tensor.ts";
export {
  checkElements,
  checkInteger,
  checkList,
  checkNumber,
  checkShape,
  describeValue,
  MAX_ELEMENTS,
  MAX_EMBED_DIM,
  MAX_TIMESTEPS,
  MAX_TOKENS,
  requireFinite,
} from "./lib/checks.ts";
export { SeededRandom } from "./lib/random.ts";
export { patchify, unpatchify } from "./lib/patchify.ts";
export { sincosPosEmbed1d, sincosPosEmbed2d } from "./lib/positional.ts";
export { timestepEmbedding } from "./lib/timestep.ts";
export { gatedResidual, layerNorm, modulate } from "./lib/adaln.ts";
export { gelu, linear, silu } from "./lib/nn.ts";
export { attention, type AttentionResult } from "./lib/attention.ts";
export { betaSchedule, type ScheduleName, spaceTimesteps } from "./lib/schedule.ts";
export {
  createDiffusion,
  type DiffusionOptions,
  GaussianDiffusion,
  type MeanVariance,
  type StepResult,
} from "./lib/diffusion.ts";
export { dpmSolverStep, type PreviousStep } from "./lib/dpm_solver.ts";
export { eulerStep, type HeunProposal, heunStep, type KarrasSchedule, karrasSchedule } from "./lib/karras.ts";
export { classifierFreeGuidance, guidanceBatch, guidedAt, guideOutput } from "./lib/guidance.ts";
export {
  type DiTModel,
  sampleLoop,
  type SampleLoopOptions,
  type SamplerName,
  SAMPLERS,
  type StepInfo,
} from "./lib/sampler.ts";
export {
  DEFAULT_MODEL,
  DEFAULT_PRECISION,
  defaultSampling,
  DiTPipeline,
  loadDiT,
  type LoadOptions,
  MAX_BATCH_SIZE,
  MAX_GUIDANCE_SCALE,
  MAX_SAMPLES,
  MODELS_DIR,
  type Precision,
  type SampleOptions,
  type SampleResult,
} from "./lib/pipeline.ts";
export { animation, type GridOptions, gridPng, readImage, toPixels, toPng } from "./lib/image.ts";
export {
  type Displayable,
  type Figure,
  JUPYTER_DISPLAY,
  markdown,
  plot,
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
export {
  fromOrtTensor,
  openSession,
  ortMessage,
  type OrtSession,
  type OrtSessionOptions,
  type OrtTensor,
  sessionOptions,
  toOrtTensor,
} from "./lib/model/onnx.ts";
export {
  CARD_LIMITS,
  checkSession,
  type ModelCard,
  type ModelFile,
  readCard,
  type SessionMetadata,
  type ValueMetadata,
  type ValueSpec,
} from "./lib/model/card.ts";
export {
  type CardHashes,
  type FolderFile,
  folderOf,
  isPlainName,
  MAX_CARD_BYTES,
  MAX_MODEL_FILE_BYTES,
  MAX_NAME_LENGTH,
  oneLine,
  onnxExternalFiles,
  readBounded,
  resolveInside,
  verifyModelFile,
  verifyOnnxFile,
} from "./lib/model/folder.ts";
export { readOnnxWeights } from "./lib/model/weights.ts";
export {
  type DiTBlockIntermediates,
  ditForward,
  type DiTIntermediates,
  type GlassBox,
  loadGlassBox,
} from "./lib/model/reference.ts";
export {
  type Accumulator,
  INT16_MAX,
  int8MatMul,
  type Int8MatMulResult,
  quantizeActivations,
  type QuantizedActivations,
  type QuantizedWeights,
  quantizeWeights,
} from "./lib/quantize.ts";
export { CPU_FEATURES, type CpuInfo, cpuInfo, describeCpu } from "./lib/cpu.ts";
