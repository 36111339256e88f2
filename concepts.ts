/**
 * The concepts of "Scalable Diffusion Models with Transformers" as small functions you can call and look
 * inside: tensors, patchify, the positional, timestep and label embeddings, adaLN-Zero, attention, the DiT
 * block and forward pass, noise schedules, the diffusion process, the samplers and classifier-free guidance;
 * and a DiT conditioned on words: the tokenizer, a small text encoder and cross-attention to the words.
 *
 * Pure maths: nothing here reads a file, uses `Deno.*` or `node:`, or loads a native module, so it imports in
 * milliseconds and runs wherever JavaScript does. ONNX Runtime and the model files are in
 * `@dit/toolkit/runtime`, pictures and notebook outputs in `@dit/toolkit/display`.
 *
 * ```ts
 * import { createDiffusion, patchify, SeededRandom } from "@dit/toolkit/concepts";
 * import assert from "node:assert/strict";
 * const noise = new SeededRandom(0).randn([1, 4, 16, 16]); // torch.manual_seed(0); torch.randn(...)
 * assert.deepEqual(patchify(noise, 2).shape, [1, 64, 16]); // 64 tokens of 2·2·4
 * assert.equal(createDiffusion({ respacing: "50" }).numTimesteps, 50);
 * ```
 *
 * @module
 */
export {
  add,
  checkTensor,
  concatBatch,
  dims,
  maxDifference,
  maxRelativeDifference,
  sameShape,
  sliceBatch,
  splitChannels,
  subtract,
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
export { attention, type AttentionResult, crossAttention } from "./lib/attention.ts";
export {
  type BackboneArchitecture,
  type BackboneParameters,
  BLOCK_DESIGNS,
  type BlockDesign,
  type DiTArchitecture,
  ditBlock,
  type DiTBlockIntermediates,
  type DiTBlockParameters,
  ditForward,
  type DiTIntermediates,
  type DiTParameters,
  ditParameters,
  embed,
  type Embedded,
  finalLayer,
  type FinalLayerIntermediates,
  type FinalLayerParameters,
  type LinearParameters,
  type Words,
} from "./lib/dit.ts";
export {
  captionEmbedder,
  captionsAsLabels,
  poolWords,
  type TextDiTArchitecture,
  textDiTForward,
  type TextDiTIntermediates,
  type TextDiTModel,
  type TextDiTParameters,
  textDiTParameters,
  textEncoder,
  type TextEncoderArchitecture,
  type TextEncoderIntermediates,
  type TextEncoderLayerParameters,
  type TextEncoderParameters,
  wordAttentionMaps,
} from "./lib/text_dit.ts";
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
  respacingFor,
  sampleLoop,
  type SampleLoopOptions,
  type SamplerName,
  SAMPLERS,
  type StepInfo,
} from "./lib/sampler.ts";
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
export {
  buildVocabulary,
  checkVocabulary,
  MAX_PROMPT_WORDS,
  nullCaption,
  SPECIAL_TOKENS,
  splitWords,
  tokenize,
  type TokenizedPrompt,
  type Vocabulary,
} from "./lib/tokenizer.ts";
