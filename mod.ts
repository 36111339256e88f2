/**
 * The DiT toolkit: the concepts of "Scalable Diffusion Models with Transformers" (Peebles & Xie, 2023) as
 * small functions you can call and look inside, numerically the reference implementation's
 * (facebookresearch/DiT), and the shipped models that run on them.
 *
 * Everything, from one import. Its three parts can be imported alone: `@dit/toolkit/concepts` (pure maths,
 * no native module), `@dit/toolkit/runtime` (model files, ONNX Runtime, the pipeline, the glass box) and
 * `@dit/toolkit/display` (pictures, figures, notebook outputs).
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
export * from "./concepts.ts";
export * from "./runtime.ts";
export * from "./display.ts";
