import assert from "node:assert/strict";
import { fromOrtTensor, ort, toOrtTensor } from "../lib/model/onnx.ts";
import { Tensor } from "../lib/tensor.ts";

Deno.test("Tensor ⇄ ort.Tensor share memory and keep the shape", () => {
  const x = Tensor.from([1, 2, 3, 4, 5, 6], [1, 2, 3]);
  const feed = toOrtTensor(x);
  assert.ok(feed instanceof ort.Tensor);
  assert.equal(feed.type, "float32");
  assert.deepEqual(feed.dims, [1, 2, 3]);
  const back = fromOrtTensor(feed);
  assert.equal(back.data, x.data);
  assert.deepEqual(back.shape, [1, 2, 3]);
});

Deno.test("fromOrtTensor rejects non-float32 tensors", () => {
  const labels = new ort.Tensor("int64", new BigInt64Array([1n, 2n]), [2]);
  assert.throws(() => fromOrtTensor(labels), /tensor type is int64; expected float32/);
});

Deno.test("ONNX Runtime loads with telemetry disabled", () => {
  assert.equal(Deno.env.get("ORT_DISABLE_TELEMETRY"), "1");
  assert.match(ort.env.versions.node ?? "", /^1\.30\./);
});
