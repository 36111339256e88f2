/**
 * Running the shipped models: model cards and folders checked as sandboxes, ONNX Runtime sessions, the
 * sampling pipeline (`loadDiT(...).sample(...)`, from classes or, for a text model, from prompts), the glass
 * box (`loadGlassBox`, `loadTextGlassBox`: the DiT in TypeScript over the weights of its `dit.onnx`), and which
 * CPU a number was measured on.
 *
 * This is the part that reads files and loads ONNX Runtime's native library; the maths it runs is
 * `@dit/toolkit/concepts`.
 *
 * ```ts
 * import { loadDiT } from "@dit/toolkit/runtime";
 * import assert from "node:assert/strict";
 * await using dit = await loadDiT("digits");
 * const { images } = await dit.sample({ classes: ["7"], steps: 10 });
 * assert.deepEqual(images.shape, [1, 1, 32, 32]);
 * ```
 *
 * @module
 */
export {
  DEFAULT_MODEL,
  DEFAULT_PRECISION,
  defaultSampling,
  DiTPipeline,
  type LatentsResult,
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
export { type GlassBox, loadGlassBox, loadTextGlassBox, type TextGlassBox } from "./lib/model/glass_box.ts";
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
  type DiTCard,
  type DiTCardArchitecture,
  isTextCard,
  type ModelCard,
  type ModelFile,
  readAnyCard,
  readCard,
  readDiTCard,
  readTextCard,
  readVocabulary,
  requireClassCard,
  type SessionMetadata,
  type TextCard,
  type TextDiTCardArchitecture,
  type TrainedNetwork,
  type UNetArchitecture,
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
export { CPU_FEATURES, type CpuInfo, cpuInfo, describeCpu } from "./lib/cpu.ts";
