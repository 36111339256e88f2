/**
 * Environment for ONNX Runtime, set before it loads: imported by `onnx.ts`
 * ahead of `onnxruntime-node`, because ES modules run in import order.
 *
 * @module
 */
Deno.env.set("ORT_DISABLE_TELEMETRY", "1");
