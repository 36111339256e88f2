/**
 * models/recipes/export.py converts a reference-layout checkpoint to the toolkit's ONNX contract: here a
 * random DiT-S/2 (8×8 latent, 10 classes) made and exported by tests/reference/export_check.py, run in
 * ONNX Runtime and compared with PyTorch's float32 output; its int8 graph too, within the quantization error.
 * And the block-design ablation's networks as it ships them (tests/reference/designs_check.py): a small random
 * DiT of each design and a U-Net, ONNX Runtime against PyTorch, the glass box against ONNX Runtime.
 */
import assert from "node:assert/strict";
import { checkSession, type DiTCardArchitecture, readDiTCard } from "../lib/model/card.ts";
import { fromOrtTensor, ort, toOrtTensor } from "../lib/model/onnx.ts";
import { BLOCK_DESIGNS } from "../lib/dit.ts";
import { loadGlassBox } from "../lib/model/glass_box.ts";
import { loadDiT } from "../lib/pipeline.ts";
import { maxRelativeDifference, Tensor } from "../lib/tensor.ts";
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

Deno.test({
  name:
    "every block design and the U-Net export to ONNX that matches PyTorch within 1e-4; the glass box equals ONNX Runtime within 1e-6 for every design",
  ignore: !python,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dit-designs-" });
    try {
      const script = new URL("./reference/designs_check.py", import.meta.url).pathname;
      const run = await new Deno.Command(python!, { args: [script, dir], stdout: "piped", stderr: "piped" })
        .output();
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
      const check = JSON.parse(await Deno.readTextFile(`${dir}/check.json`));
      const x = Tensor.from(check.x.data, check.x.shape);
      for (const name of [...BLOCK_DESIGNS, "UNet"]) {
        const folder = `${dir}/${name}`;
        await using model = await loadDiT(folder); // ONNX Runtime, through the pipeline the sampler uses
        assert.equal(model.card.architecture.type, name === "UNet" ? "UNet" : "DiT");
        const out = await model.forward(x, check.t, check.y);
        const pytorch = Tensor.from(check.out[name].data, check.out[name].shape);
        assert.ok(
          pytorch.data.some((v) => Math.abs(v) > 0.1),
          `${name}: the random network's output is not ~0`,
        );
        const error = maxRelativeDifference(out, pytorch);
        assert.ok(error <= 1e-4, `${name}: ONNX Runtime vs PyTorch, max |diff| / max |out| = ${error}`);
        if (name === "UNet") {
          assert.throws(
            () => loadGlassBox(folder),
            /card\.json: architecture\.type is "UNet"; expected "DiT" here \(the glass box and the DiT tools read a DiT's shape; sample any network with loadDiT\)$/,
          );
          const { latents } = await model.sampleLatents({ classes: ["3"], steps: 2, guidanceScale: 4 });
          assert.deepEqual(latents.shape, [1, 4, 8, 8]);
          continue;
        }
        const box = loadGlassBox(folder);
        assert.equal(box.parameters.design, name);
        const gflops = box.card.architecture.gflops!, counted = multiplyAdds(box.card.architecture) / 1e9;
        assert.ok(
          Math.abs(gflops - counted) <= 1e-5 * counted,
          `${name}: the card's ${gflops} Gflops, counted ${counted}`,
        );
        const glass = box.forward(x, check.t, check.y);
        const glassError = maxRelativeDifference(glass, out);
        assert.ok(glassError <= 1e-6, `${name}: glass box vs ONNX Runtime, ${glassError}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * Multiply-adds of one forward pass of one sample of a DiT, written out from the paper's description of each
 * design: the matrix multiplies and convolutions (as the paper counts Gflops), nothing else.
 */
function multiplyAdds(a: DiTCardArchitecture): number {
  const {
    inputSize,
    patchSize: p,
    inChannels: C,
    hiddenSize: D,
    depth,
    mlpRatio,
    frequencyEmbeddingSize: F,
  } = a;
  const T = (inputSize / p) ** 2, M = mlpRatio * D;
  const S = a.block === "in-context" ? T + 2 : T; // the tokens the blocks see
  const adaptive = a.block === "adaLN-Zero" || a.block === "adaLN";
  const embed = T * p * p * C * D + F * D + D * D; // x_embedder, t_embedder's two Linears
  let block = S * 3 * D * D + 2 * S * S * D + S * D * D + 2 * S * D * M; // qkv, q·kᵀ and A·v, proj, MLP
  if (a.block === "adaLN-Zero") block += 6 * D * D;
  if (a.block === "adaLN") block += 4 * D * D;
  if (a.block === "cross-attention") block += T * D * D + 2 * 2 * D * D + 2 * T * 2 * D + T * D * D; // q, kv, attention, proj
  const final = (adaptive ? 2 * D * D : 0) + T * D * p * p * 2 * C;
  return embed + depth * block + final;
}
