/**
 * The shipped models: their files match the sha256 in their cards, each ONNX file loads in ONNX Runtime with
 * exactly the inputs and outputs its card records and runs, the quality the cards record meets the bar set for
 * it, and everything fits the size budget.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { checkSession, type ModelCard, type ModelFile, readCard, readDiTCard } from "../lib/model/card.ts";
import { fromOrtTensor, ort, toOrtTensor } from "../lib/model/onnx.ts";
import { readOnnxWeights } from "../lib/model/weights.ts";
import { INT16_MAX, quantizeWeights } from "../lib/quantize.ts";
import { SeededRandom } from "../lib/random.ts";

const MODELS = new URL("../models/", import.meta.url).pathname;
const SHIPPED = ["digits", "emoji"];
const BUDGET_BYTES = 40e6;

Deno.test("models/ ships the digits and emoji models, within 40 MB", () => {
  const found = [...Deno.readDirSync(MODELS)].filter((e) => e.isDirectory && e.name !== "recipes").map((e) =>
    e.name
  );
  assert.deepEqual(found.sort(), SHIPPED);
  let bytes = 0;
  for (const name of SHIPPED) {
    for (const file of Object.values(readCard(`${MODELS}${name}`).files)) {
      bytes += Deno.statSync(`${MODELS}${name}/${file}`).size;
    }
  }
  assert.ok(bytes <= BUDGET_BYTES, `${bytes} bytes in models/`);
});

for (const name of SHIPPED) {
  const dir = `${MODELS}${name}`;

  Deno.test(`${name}: every file matches the sha256 in its card`, () => {
    const card = readCard(dir);
    assert.deepEqual(Object.keys(card.sha256).sort(), Object.values(card.files).sort());
    for (const [file, expected] of Object.entries(card.sha256)) {
      const actual = createHash("sha256").update(Deno.readFileSync(`${dir}/${file}`)).digest("hex");
      assert.equal(actual, expected, file);
    }
  });

  Deno.test(`${name}: each ONNX file loads with the inputs and outputs its card records, and runs`, async () => {
    const card = readCard(dir);
    const random = new SeededRandom(0);
    const { channels: C, height: H, width: W } = card.image!;
    const { channels: c, height: h, width: w } = card.latent;
    const session = async (file: ModelFile) => {
      const s = await ort.InferenceSession.create(`${dir}/${card.files[file]}`);
      checkSession(card, file, s);
      return s;
    };
    const batch = 3;
    const labels = (values: number[]) =>
      new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), [values.length]);

    const dit = await session("dit");
    const eps = fromOrtTensor(
      (await dit.run({
        x: toOrtTensor(random.randn([batch, c, h, w])),
        t: labels([999, 500, 0]),
        y: labels([0, 1, card.nullClassId]),
      })).out,
    );
    assert.deepEqual(eps.shape, [batch, 2 * c, h, w]);
    assert.ok(eps.data.every(Number.isFinite));

    const encoder = await session("vaeEncoder"), decoder = await session("vaeDecoder");
    const images = random.randn([batch, C, H, W]);
    const { mean } = await encoder.run({ image: toOrtTensor(images) });
    assert.deepEqual(mean.dims, [batch, c, h, w]);
    const decoded = fromOrtTensor((await decoder.run({ latent: mean })).image);
    assert.deepEqual(decoded.shape, [batch, C, H, W]);

    const classifier = await session("classifier");
    const { logits, features } = await classifier.run({ image: toOrtTensor(images) });
    assert.deepEqual(logits.dims, [batch, card.classes.length]);
    assert.equal(features.dims[0], batch);
    for (const s of [dit, encoder, decoder, classifier]) await s.release();
  });

  Deno.test(`${name}: the card records measured quality that meets the bar`, () => {
    const card: ModelCard = readCard(dir);
    const quality = card.quality as {
      classifierAccuracyOnHeldoutReal: number;
      byGuidanceScale: Record<
        string,
        { accuracy: number; samples: number; frechetDistance: number; nearCopies: number }
      >;
    };
    const [g4, g1] = [quality.byGuidanceScale["4.0"], quality.byGuidanceScale["1.0"]];
    for (const g of [g4, g1]) {
      assert.ok(g.samples >= 500, "at least 500 samples");
      assert.ok(Number.isFinite(g.frechetDistance) && Number.isInteger(g.nearCopies));
    }
    // digits: ≥ 99% read as the class asked for at guidance 4; emoji: at least the classifier's accuracy on real images
    const bar = name === "digits" ? 0.99 : quality.classifierAccuracyOnHeldoutReal;
    assert.ok(g4.accuracy >= bar, `accuracy at guidance 4 is ${g4.accuracy}, below ${bar}`);
  });

  Deno.test(`${name}: the int8 DiT shares the float32 DiT's weights and stays close to it`, async () => {
    const card = readCard(dir);
    // the int8 graph holds no weights of its own: both graphs read files.ditWeights
    assert.ok(
      Deno.statSync(`${dir}/${card.files.ditInt8}`).size < 1e6,
      "dit_int8.onnx is a graph, not weights",
    );
    const graph = new TextDecoder("latin1").decode(Deno.readFileSync(`${dir}/${card.files.ditInt8}`));
    assert.ok(graph.includes("DynamicQuantizeMatMul") && graph.includes(card.files.ditWeights!));
    const { channels: c, height: h, width: w } = card.latent;
    const x = new SeededRandom(1).randn([2, c, h, w]);
    const feeds = {
      x: toOrtTensor(x),
      t: new ort.Tensor("int64", BigInt64Array.from([700n, 100n]), [2]),
      y: new ort.Tensor("int64", BigInt64Array.from([1n, BigInt(card.nullClassId)]), [2]),
    };
    const outputs = [];
    for (const file of ["dit", "ditInt8"] as const) {
      const session = await ort.InferenceSession.create(`${dir}/${card.files[file]}`);
      checkSession(card, file, session);
      outputs.push(fromOrtTensor((await session.run(feeds)).out).data);
      await session.release();
    }
    const [fp32, int8] = outputs;
    let maxDiff = 0, maxRef = 0;
    fp32.forEach((v, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - int8[i]));
      maxRef = Math.max(maxRef, Math.abs(v));
    });
    assert.ok(maxDiff > 0, "int8 computes differently from fp32");
    assert.ok(maxDiff / maxRef < 0.05, `int8 vs fp32: max |diff| / max |out| = ${maxDiff / maxRef}`);
  });

  Deno.test(`${name}: the int8 weights are 7-bit, so no CPU's 16-bit pair sum can overflow`, () => {
    const card = readDiTCard(dir);
    const graph = readOnnxWeights(`${dir}/${card.files.ditInt8}`); // its scales, and the shared weights
    // the layers DynamicQuantizeMatMul computes, each with a zero point (an int8-stored model also keeps the
    // timestep MLP and adaLN weights as int8, computed in float32)
    const layers = [...graph.keys()].filter((k) => k.endsWith("/zero_point")).map((k) =>
      k.slice(0, -"/zero_point".length)
    );
    assert.equal(
      layers.length,
      4 * card.architecture.depth + 1,
      "qkv, proj, fc1, fc2 per block, final linear",
    );
    // the largest |a·q + a'·q'| a pair of uint8 inputs (≤ 255) can make with a row's neighbouring weights
    const worstPair = (values: Int8Array, inner: number) => {
      let worst = 0;
      for (let i = 0; i < values.length; i += 2) {
        const next = (i + 1) % inner === 0 ? 0 : Math.abs(values[i + 1]); // an odd row's last weight is alone
        worst = Math.max(worst, 255 * (Math.abs(values[i]) + next));
      }
      return worst;
    };
    let worstAt8Bits = 0;
    for (const layer of layers) {
      const weight = graph.get(layer)!; // [out, in], float (or stored int8 read back as q · scale)
      const scale = graph.get(`${layer}/scale`)!.data;
      // the integers the int8 kernel multiplies: round(w / scale), whichever way the weights are stored
      const [rows, inner] = weight.shape;
      const q = Int8Array.from(weight.data, (w, i) => Math.round(w / scale[Math.floor(i / inner)]));
      const expected = quantizeWeights(weight, 63).scales;
      for (let r = 0; r < rows; r++) {
        assert.ok(
          Math.abs(scale[r] - expected[r]) <= 1e-6 * expected[r],
          `${layer} row ${r}: scale = max |w| / 63`,
        );
      }
      assert.ok(q.every((v) => Math.abs(v) <= 63), `${layer}: levels within ±63`);
      assert.ok(worstPair(q, inner) <= INT16_MAX, layer);
      worstAt8Bits = Math.max(worstAt8Bits, worstPair(quantizeWeights(weight, 127).values, inner));
    }
    // the same weights at ONNX Runtime's default 8 bits could overflow: the bound above is what keeps AVX2 right
    assert.ok(worstAt8Bits > INT16_MAX, `8-bit worst pair ${worstAt8Bits}`);
  });

  Deno.test(`${name}: the default sampler is the cheapest measured one as good as DDIM at 50 steps`, () => {
    const card = readCard(dir);
    type Measured = { accuracy: number; frechetDistance: number };
    type Row = { sampler: string; steps: number; networkEvaluations: number } & Record<string, Measured>;
    const rows = (card.quality as { bySampler: { samples: number; results: Row[] } }).bySampler;
    assert.ok(rows.samples >= 500, "at least 500 samples per measurement");
    const ddim50 = rows.results.find((r) => r.sampler === "ddim" && r.steps === 50)!;
    // within 1 point of accuracy and 10% of Fréchet distance, at guidance 4 and at 1 (the rule)
    const asGood = (r: Row) =>
      ["4.0", "1.0"].every((g) =>
        r[g].accuracy >= ddim50[g].accuracy - 0.01 && r[g].frechetDistance <= 1.1 * ddim50[g].frechetDistance
      );
    const chosen = rows.results.find((r) =>
      r.sampler === card.sampling!.sampler && r.steps === card.sampling!.steps
    );
    assert.ok(
      chosen && asGood(chosen),
      `${card.sampling!.sampler} ${card.sampling!.steps} is measured and as good`,
    );
    for (const r of rows.results.filter(asGood)) {
      assert.ok(r.networkEvaluations >= chosen.networkEvaluations, `${r.sampler} ${r.steps} is cheaper`);
    }
    assert.ok(
      chosen.networkEvaluations < ddim50.networkEvaluations,
      "fewer evaluations than DDIM at 50 steps",
    );
  });

  Deno.test(`${name}: int8 keeps the quality: classifier accuracy at guidance 4 within the allowed points of fp32`, () => {
    const card = readCard(dir);
    const measured = (card.quality as {
      byPrecision: { samples: number; fp32: { accuracy: number }; int8: { accuracy: number } };
    }).byPrecision;
    assert.ok(measured.samples >= 500, "at least 500 samples");
    const allowedPoints = name === "digits" ? 1 : 2;
    const drop = 100 * (measured.fp32.accuracy - measured.int8.accuracy);
    assert.ok(
      drop <= allowedPoints,
      `int8 is ${drop.toFixed(1)} points below fp32; allowed ${allowedPoints}`,
    );
  });
}
