import assert from "node:assert/strict";
import { requireClassCard } from "../lib/model/card.ts";
import { fromOrtTensor, openSession, toOrtTensor } from "../lib/model/onnx.ts";
import { type DiTPipeline, loadDiT, MODELS_DIR } from "../lib/pipeline.ts";
import { Tensor } from "../lib/tensor.ts";

Deno.test("digits: one sample per class, and the shipped classifier reads (almost) every one as asked", async () => {
  const dit = await loadDiT("digits");
  const classes = requireClassCard(dit.card).classes.map((c) => c.name);
  const { images, labels = [] } = await dit.sample({ classes, steps: 25, guidanceScale: 4, seed: 0 });
  const classifier = await openSession(`${dit.dir}/${dit.card.files.classifier}`);
  const logits = fromOrtTensor((await classifier.run({ image: toOrtTensor(images) })).logits);
  const K = classes.length;
  const predicted = labels.map((_, i) => {
    const row = [...logits.data.subarray(i * K, (i + 1) * K)];
    return row.indexOf(Math.max(...row));
  });
  const right = predicted.filter((p, i) => p === labels[i]).length;
  assert.ok(right >= 9, `the classifier read ${right} of 10 digits as asked: ${predicted}`);
  await classifier.release();
  await dit.close();
});

Deno.test("same seed and options, same latents; another seed, other latents; batching splits the work", async () => {
  const dit = await loadDiT("digits");
  const options = { classes: [1, 2, 3], steps: 5, seed: 7 };
  const a = await dit.sampleLatents(options), b = await dit.sampleLatents(options);
  assert.deepEqual(a.latents.data, b.latents.data);
  assert.equal("images" in a, false);
  const c = await dit.sampleLatents({ ...options, seed: 8 });
  assert.notDeepEqual(a.latents.data, c.latents.data);
  const batched: number[] = [];
  await dit.sampleLatents({
    ...options,
    batchSize: 2,
    onStep: (s) => void (s.step === 1 && batched.push(s.xt.shape[0])),
  });
  assert.deepEqual(batched, [2, 1]);
  await dit.close();
});

Deno.test("encode ∘ decode gives back a decoded sample (the VAE round trip)", async () => {
  const dit = await loadDiT("digits");
  const { images } = await dit.sample({ classes: [0, 8], steps: 10, seed: 3 });
  const again = await dit.decode(await dit.encode(images));
  let mse = 0;
  images.data.forEach((v, i) => (mse += ((v - again.data[i]) / 2) ** 2));
  const psnr = 10 * Math.log10(1 / (mse / images.size));
  assert.ok(psnr > 25, `round-trip PSNR ${psnr.toFixed(1)} dB`);
  await dit.close();
});

Deno.test("classes by name or id; unknown classes and bad options are rejected by name", async () => {
  const dit = await loadDiT("emoji");
  assert.equal(dit.classId("Food & Drink"), 3);
  assert.equal(dit.classId(8), 8);
  assert.equal(dit.classId("8"), 8);
  assert.throws(
    () => dit.classId("Cats"),
    /unknown class "Cats" for emoji; expected an id 0-8 or one of: Smileys & Emotion/,
  );
  assert.throws(() => dit.classId(9), /unknown class "9"/);
  await assert.rejects(
    dit.sample({ classes: [0], steps: 0 }),
    /steps is 0; expected an integer from 1 to 1000/,
  );
  await assert.rejects(
    dit.sample({ classes: [0], guidanceScale: -1 }),
    /guidanceScale is -1; expected a number >= 0/,
  );
  await assert.rejects(dit.sample({ classes: [] }), /classes is empty/);
  await dit.close();
});

Deno.test("loadDiT names what is wrong: unknown model, missing or corrupt files, a card that disagrees", async () => {
  await assert.rejects(
    loadDiT("cats"),
    /unknown model "cats"; expected one of digits, digits-adaln, digits-adaln-zero, digits-cross-attention, digits-in-context, digits-unet, emoji, emoji-text or a folder holding card\.json/,
  );
  const dir = await Deno.makeTempDir({ prefix: "dit-model-" });
  try {
    await assert.rejects(loadDiT(dir), /card\.json: cannot read the model card/);
    const card = JSON.parse(await Deno.readTextFile(`${MODELS_DIR}digits/card.json`));
    await Deno.writeTextFile(`${dir}/card.json`, JSON.stringify(card));
    await assert.rejects(loadDiT(dir), /dit\.weights: cannot read the DiT's weights \(No such file/);
    const weights = await Deno.readFile(`${MODELS_DIR}digits/dit.weights`);
    await Deno.writeFile(`${dir}/dit.weights`, weights.subarray(0, 1_000_000));
    await assert.rejects(
      loadDiT(dir),
      /dit\.weights: sha256 does not match the card \(edited or corrupt\?\)$/,
    );
    await Deno.writeFile(`${dir}/dit.weights`, weights);
    await assert.rejects(loadDiT(dir), /dit\.onnx: cannot read the ONNX model \(No such file/);
    const onnx = await Deno.readFile(`${MODELS_DIR}digits/dit.onnx`);
    await Deno.writeFile(`${dir}/dit.onnx`, onnx);
    await assert.rejects(loadDiT(dir, { precision: "int8" }), /dit_int8\.onnx: cannot read the ONNX model/);
    await assert.rejects(
      loadDiT(dir, { precision: "int4" as "int8" }),
      /loadDiT: precision is "int4"; expected "fp32" or "int8"/,
    );
    await Deno.writeFile(`${dir}/dit.onnx`, onnx.subarray(0, onnx.length >> 1));
    await assert.rejects(loadDiT(dir), /dit\.onnx: sha256 does not match the card \(edited or corrupt\?\)$/);
    await Deno.writeFile(`${dir}/dit.onnx`, onnx);
    const { ditInt8: _, ...withoutInt8 } = card.files;
    await Deno.writeTextFile(`${dir}/card.json`, JSON.stringify({ ...card, files: withoutInt8 }));
    await assert.rejects(
      loadDiT(dir, { precision: "int8" }),
      /files\.ditInt8 is missing, so digits has no int8 DiT; expected precision "fp32"/,
    );
    card.onnx["dit.onnx"].outputs[0].name = "eps";
    await Deno.writeTextFile(`${dir}/card.json`, JSON.stringify(card));
    await assert.rejects(loadDiT(dir), /dit\.onnx: outputs are \[out\]; the card expects \[eps\]/);
    await Deno.writeTextFile(`${dir}/card.json`, "{ not json");
    await assert.rejects(loadDiT(dir), /card\.json: cannot read the model card/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ONNX Runtime's 800-character C++ message becomes one line naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dit-model-" });
  try {
    await Deno.copyFile(`${MODELS_DIR}digits/dit.onnx`, `${dir}/dit.onnx`);
    const weights = await Deno.readFile(`${MODELS_DIR}digits/dit.weights`);
    await Deno.writeFile(`${dir}/dit.weights`, weights.subarray(0, 1_000_000)); // no card: only ORT can tell
    await assert.rejects(openSession(`${dir}/dit.onnx`), (e: Error) => {
      assert.match(
        e.message,
        /dit\.onnx: not a valid ONNX model, perhaps truncated or corrupt .*: External initializer/,
      );
      assert.ok(!/\n|onnxruntime_src|std::/.test(e.message) && e.message.length < 400, e.message);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadDiT takes a shipped model by name only: a bare name cannot climb out of models/", async () => {
  for (const name of ["..", ".", "recipes", "", "digits\n"]) {
    await assert.rejects(
      loadDiT(name),
      (e: Error) =>
        /^unknown model ".*"; expected one of digits, digits-adaln, digits-adaln-zero, digits-cross-attention, digits-in-context, digits-unet, emoji, emoji-text or a folder/
          .test(e.message),
      JSON.stringify(name),
    );
  }
  const dit = await loadDiT(`${MODELS_DIR}digits/`); // a path works with or without its trailing slash
  assert.equal(dit.card.name, "digits");
  await dit.close();
});

Deno.test("await using closes the ONNX Runtime sessions at the end of the scope", async () => {
  const x = Tensor.zeros([1, 4, 8, 8]);
  let closed: DiTPipeline;
  {
    await using dit = await loadDiT("digits");
    closed = dit;
    assert.deepEqual((await dit.forward(x, [999], [0])).shape, [1, 8, 8, 8]);
  }
  await assert.rejects(closed.forward(x, [999], [0]), /disposed/);
});

Deno.test("the U-Net arm of the block-design ablation samples through loadDiT, and the digits classifier reads its digits", async () => {
  // the arms model the digits latent and ship no VAE: models/digits decodes and classifies their samples
  await using unet = await loadDiT("digits-unet");
  await using digits = await loadDiT("digits");
  assert.equal(unet.card.architecture.type, "UNet");
  assert.deepEqual(unet.card.latent, digits.card.latent);
  const classes = requireClassCard(unet.card).classes.map((c) => c.name);
  const { latents, labels: asked } = await unet.sampleLatents({
    classes,
    steps: 25,
    guidanceScale: 4,
    seed: 0,
  });
  assert.deepEqual(latents.shape, [10, 4, 8, 8]);
  const images = await digits.decode(latents);
  const classifier = await openSession(`${digits.dir}/${digits.card.files.classifier}`);
  const logits = fromOrtTensor((await classifier.run({ image: toOrtTensor(images) })).logits);
  await classifier.release();
  const labels = asked!; // a class model returns the labels it drew
  const predicted = labels.map((_, i) => {
    const row = [...logits.data.subarray(i * 10, (i + 1) * 10)];
    return row.indexOf(Math.max(...row));
  });
  const right = predicted.filter((p, i) => p === labels[i]).length;
  // its card: 100% at guidance 4 (500 samples, DDIM 50)
  assert.ok(right >= 9, `the classifier read ${right} of 10 of the U-Net's digits as asked: ${predicted}`);
  // it ships no VAE but names the model whose latent it shares (vae.from): it draws with that model's decoder
  assert.equal(unet.card.files.vaeDecoder, undefined);
  assert.deepEqual((await unet.decode(latents)).data, images.data);
});

Deno.test("a model without a decoder of its own draws with its vae.from model's, and refuses one that does not fit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dit-vae-from-" });
  const unet = new URL("../models/digits-unet", import.meta.url).pathname;
  try {
    for (const name of Deno.readDirSync(unet)) {
      Deno.copyFileSync(`${unet}/${name.name}`, `${dir}/${name.name}`);
    }
    const card = JSON.parse(Deno.readTextFileSync(`${unet}/card.json`));
    const refused: [unknown, RegExp][] = [
      [
        undefined,
        /^Error: sample: digits-unet ships no VAE decoder \(card\.json files\.vaeDecoder\) and names no shipped model that decodes its latents \(vae\.from\); call sampleLatents for its latents$/,
      ],
      [
        "emoji",
        /vae\.from "emoji" has the latent 4×16×16 ÷ [\d.]+; this model's is 4×8×8 ÷ [\d.]+: its decoder cannot draw these latents$/,
      ],
      ["../digits", /vae\.from "\.\.\/digits" is a path; expected a shipped model's name$/],
      [
        "cats",
        /vae\.from "cats": unknown model "cats"; expected one of digits, .* or a folder holding card\.json$/,
      ],
      [
        "digits-adaln",
        /vae\.from "digits-adaln" ships no VAE decoder \(its files\.vaeDecoder\); expected one that does$/,
      ],
    ];
    for (const [from, error] of refused) {
      Deno.writeTextFileSync(`${dir}/card.json`, JSON.stringify({ ...card, vae: { ...card.vae, from } }));
      await using model = await loadDiT(dir);
      await assert.rejects(model.sample({ classes: [3], steps: 2 }), error);
    }
    // a decoder recorded by its hash must be that very file
    Deno.writeTextFileSync(
      `${dir}/card.json`,
      JSON.stringify({ ...card, vae: { from: "digits", decoderSha256: "0".repeat(64) } }),
    );
    await using model = await loadDiT(dir);
    await assert.rejects(
      model.sample({ classes: [3], steps: 2 }),
      /is not the decoder this model was trained with/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
