/**
 * models/recipes/export.py converts a reference-layout checkpoint to the toolkit's ONNX contract: here a
 * random DiT-S/2 (8×8 latent, 10 classes) made and exported by tests/reference/export_check.py, run in
 * ONNX Runtime and compared with PyTorch's float32 output; its int8 graph too, within the quantization error.
 */
import assert from "node:assert/strict";
import { checkSession, readDiTCard } from "../lib/model/card.ts";
import { fromOrtTensor, ort, toOrtTensor } from "../lib/model/onnx.ts";
import { Tensor } from "../lib/tensor.ts";
import { pythonOrSkip, TORCH_INSTALL } from "../cli/python.ts";

const python = pythonOrSkip("tests/export_test.ts", ["torch", "onnx"], TORCH_INSTALL);

Deno.test({
  name: "a reference-layout DiT-S/2 checkpoint converts to ONNX that matches PyTorch within 1e-4",
  ignore: !python,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dit-export-" });
    try {
      const script = new URL("./reference/export_check.py", import.meta.url).pathname;
      const run = await new Deno.Command(python!, { args: [script, dir], stdout: "piped", stderr: "piped" })
        .output();
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
      const check = JSON.parse(await Deno.readTextFile(`${dir}/check.json`));
      const card = readDiTCard(`${dir}/model`);
      assert.equal(card.architecture.hiddenSize, 384);
      assert.equal(card.architecture.depth, 12);
      const session = await ort.InferenceSession.create(`${dir}/model/dit.onnx`);
      checkSession(card, "dit", session);
      const feeds = {
        x: toOrtTensor(Tensor.from(check.x.data, check.x.shape)),
        t: new ort.Tensor("int64", BigInt64Array.from(check.t.map(BigInt)), [check.t.length]),
        y: new ort.Tensor("int64", BigInt64Array.from(check.y.map(BigInt)), [check.y.length]),
      };
      const out = fromOrtTensor((await session.run(feeds)).out);
      assert.deepEqual(out.shape, check.out.shape);
      let maxDiff = 0, maxRef = 0;
      check.out.data.forEach((want: number, i: number) => {
        maxDiff = Math.max(maxDiff, Math.abs(out.data[i] - want));
        maxRef = Math.max(maxRef, Math.abs(want));
      });
      assert.ok(maxRef > 0.1, "the random model's output is not trivially small");
      assert.ok(maxDiff / maxRef <= 1e-4, `ONNX vs PyTorch: max |diff| / max |out| = ${maxDiff / maxRef}`);
      await session.release();
      // the int8 graph over the same weights file: close to PyTorch's float32, not equal to it
      const int8 = await ort.InferenceSession.create(`${dir}/model/${card.files.ditInt8}`);
      checkSession(card, "ditInt8", int8);
      const quantized = fromOrtTensor((await int8.run(feeds)).out);
      const int8Diff = Math.max(
        ...check.out.data.map((want: number, i: number) => Math.abs(quantized.data[i] - want)),
      );
      assert.ok(int8Diff > 0 && int8Diff / maxRef <= 0.05, `int8 vs PyTorch: ${int8Diff / maxRef}`);
      await int8.release();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
