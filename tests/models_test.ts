/**
 * The shipped models: their files match the sha256 in their cards, each ONNX file loads in ONNX Runtime with
 * exactly the inputs and outputs its card records and runs, the quality the cards record meets the bar set for
 * it (the ablation's arms: is the measurement results.json holds), and everything that travels to the GPU
 * machine fits its budget.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  checkSession,
  type ModelCard,
  type ModelFile,
  readAnyCard,
  readCard,
  readDiTCard,
} from "../lib/model/card.ts";
import { fromOrtTensor, ort, toOrtTensor } from "../lib/model/onnx.ts";
import { readOnnxWeights } from "../lib/model/weights.ts";
import { INT16_MAX, quantizeWeights } from "../lib/quantize.ts";
import { SeededRandom } from "../lib/random.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MODELS = `${ROOT}models/`;
/** The models with a VAE and a classifier, measured by recipes/evaluate.py. */
const SHIPPED = ["digits", "emoji"];
/**
 * The block-design ablation's arms (issue 15, recipes/ablation.py), by the arm's name in results.json: a
 * denoising network each (four DiTs, one U-Net) on the digits latent, which models/digits' VAE decodes.
 */
const ARMS: Record<string, string> = {
  "adaLN-Zero": "digits-adaln-zero",
  "adaLN": "digits-adaln",
  "cross-attention": "digits-cross-attention",
  "in-context": "digits-in-context",
  "UNet": "digits-unet",
};
const RESULTS = `${MODELS}recipes/ablation/results.json`;
/** The text-conditioned model (issue 16), measured by recipes/evaluate_text.py; its VAE decoder is the emoji one's. */
const TEXT = "emoji-text";

/**
 * What a command on the GPU machine may carry: every tracked file, and the emoji data `data.ts emoji --fluent`
 * packs into `.cache/data/emoji` (carried to train on it), together at most 60 MiB (the device tool takes 64
 * MiB and the training checkpoints travel beside them).
 */
const TRAVEL_BUDGET_BYTES = 60 * 2 ** 20;
/** `.cache/data/emoji` as data.ts packs it (images.u8.xz, meta.json, captions.json, vocab.json), 2026-12-02. */
const PACKED_EMOJI_BYTES = 9_338_140;
/** The folders that never travel (.gitignore's), for a copy of the repository that is not a git checkout. */
const IGNORED = new Set([".git", "node_modules", "out", ".cache", "runs", "__pycache__"]);

/** The bytes of every tracked file (`git ls-files`), or of every file but the ignored ones without git. */
function repositoryBytes(): { bytes: number; files: number; how: string } {
  let names: string[];
  let how = "git ls-files";
  try {
    const out = new Deno.Command("git", {
      args: ["ls-files", "-z"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "null",
    })
      .outputSync();
    if (!out.success) throw new Error("not a git checkout");
    names = new TextDecoder().decode(out.stdout).split("\0").filter((n) => n);
  } catch {
    how = "every file outside .gitignore's folders (no git checkout)";
    names = [];
    const walk = (dir: string) => {
      for (const e of Deno.readDirSync(`${ROOT}${dir}`)) {
        if (IGNORED.has(e.name)) continue;
        if (e.isDirectory) walk(`${dir}${e.name}/`);
        else if (e.isFile) names.push(`${dir}${e.name}`);
      }
    };
    walk("");
  }
  let bytes = 0, files = 0;
  for (const name of names) {
    try {
      bytes += Deno.statSync(`${ROOT}${name}`).size;
      files++;
    } catch { /* tracked but deleted in this working tree */ }
  }
  return { bytes, files, how };
}

/** The packed emoji data's bytes: the real folder's where data.ts has made it here, else as measured. */
function packedEmojiBytes(): { bytes: number; how: string } {
  try {
    let bytes = 0;
    for (const e of Deno.readDirSync(`${ROOT}.cache/data/emoji`)) {
      if (e.isFile) bytes += Deno.statSync(`${ROOT}.cache/data/emoji/${e.name}`).size;
    }
    return { bytes, how: ".cache/data/emoji" };
  } catch {
    return { bytes: PACKED_EMOJI_BYTES, how: "as packed on 2026-12-02" };
  }
}

const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

Deno.test("models/ ships digits, emoji, emoji-text and the ablation's five arms; with the packed emoji data, what travels to the GPU machine fits 60 MiB", () => {
  const found = [...Deno.readDirSync(MODELS)].filter((e) => e.isDirectory && e.name !== "recipes").map((e) =>
    e.name
  );
  assert.deepEqual(found.sort(), [...SHIPPED, TEXT, ...Object.values(ARMS)].sort());
  const tracked = repositoryBytes(), data = packedEmojiBytes(), total = tracked.bytes + data.bytes;
  assert.ok(
    total <= TRAVEL_BUDGET_BYTES,
    `${tracked.files} tracked files (${tracked.how}) hold ${
      MiB(tracked.bytes)
    } and the packed emoji data (${data.how}) ${MiB(data.bytes)}: ${
      MiB(total)
    } would travel to the GPU machine, over the ${
      MiB(TRAVEL_BUDGET_BYTES)
    } budget; store weights smaller or ship less`,
  );
});

for (const name of [...SHIPPED, TEXT, ...Object.values(ARMS)]) {
  Deno.test(`${name}: every file matches the sha256 in its card`, () => {
    const dir = `${MODELS}${name}`;
    const card = readAnyCard(dir);
    assert.deepEqual(Object.keys(card.sha256).sort(), Object.values(card.files).sort());
    for (const [file, expected] of Object.entries(card.sha256)) {
      const actual = createHash("sha256").update(Deno.readFileSync(`${dir}/${file}`)).digest("hex");
      assert.equal(actual, expected, file);
    }
  });
}

/** What results.json holds of one arm (recipes/ablation.py's summarize). */
interface ArmResult {
  architecture: ModelCard["architecture"];
  final: Record<string, Record<string, { mean: number; seeds: number[] }>>;
  runs: { seed: number; steps: number; curve: { step: number }[]; final: Record<string, unknown> }[];
}

for (const [arm, name] of Object.entries(ARMS)) {
  const dir = `${MODELS}${name}`;

  Deno.test(`${name}: its card records the ablation's measurement of it (results.json), and its Gflops; it loads and runs`, async () => {
    const results = JSON.parse(Deno.readTextFileSync(RESULTS));
    const result: ArmResult = results.arms[arm];
    const card = readCard(dir), digits = readCard(`${MODELS}digits`);
    assert.equal(card.name, name);
    // its network, size and cost are what the recipe built and counted
    assert.deepEqual(card.architecture, result.architecture);
    assert.equal(card.architecture.type, arm === "UNet" ? "UNet" : "DiT");
    assert.ok(card.architecture.gflops! > 0 && card.architecture.parameters > 0);
    if (card.architecture.type === "DiT") assert.equal(card.architecture.block, arm);
    // the quality of the model shipped (seed 0), at both guidance scales, and every seed's with their mean
    const quality = card.quality as {
      samplesPerClass: number;
      seed: number;
      byGuidanceScale: Record<string, { accuracy: number; frechetDistance: number }>;
      everySeed: { seeds: number[]; byGuidanceScale: ArmResult["final"] };
    };
    const run = result.runs.find((r) => r.seed === quality.seed)!;
    assert.deepEqual(quality.byGuidanceScale, run.final);
    assert.deepEqual(Object.keys(quality.byGuidanceScale).sort(), ["1.0", "4.0"]);
    assert.ok(quality.samplesPerClass * card.classes.length >= 500, "at least 500 samples");
    assert.deepEqual(quality.everySeed.byGuidanceScale, result.final);
    assert.ok(quality.everySeed.seeds.length >= 2, "at least two seeds, so that the noise shows");
    // every run trained the same steps, measured along the way
    assert.ok(
      result.runs.every((r) => r.steps === results.training.steps && r.curve.at(-1)!.step === r.steps),
    );
    // the arms model the digits latent, decoded by models/digits' VAE: no VAE of their own
    assert.deepEqual(card.latent, digits.latent);
    assert.equal(card.files.vaeDecoder, undefined);
    assert.deepEqual(Object.keys(card.files).sort(), arm === "UNet" ? ["dit"] : ["dit", "ditWeights"]);
    // ONNX Runtime opens it with the inputs and outputs the card records, and it computes [ε̂ | v]
    const session = await ort.InferenceSession.create(`${dir}/${card.files.dit}`);
    checkSession(card, "dit", session);
    const { channels: c, height: h, width: w } = card.latent;
    const out = fromOrtTensor(
      (await session.run({
        x: toOrtTensor(new SeededRandom(0).randn([2, c, h, w])),
        t: new ort.Tensor("int64", BigInt64Array.from([999n, 10n]), [2]),
        y: new ort.Tensor("int64", BigInt64Array.from([3n, BigInt(card.nullClassId)]), [2]),
      })).out,
    );
    await session.release();
    assert.deepEqual(out.shape, [2, 2 * c, h, w]);
    assert.ok(out.data.every(Number.isFinite) && out.data.some((v) => Math.abs(v) > 0.1));
  });
}

for (const name of SHIPPED) {
  const dir = `${MODELS}${name}`;

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

/** One row of a text card's fidelity (evaluate_text.py): how often the sample's nearest real emoji is the one named. */
interface Fidelity {
  top1: number;
  top5: number;
  category: number;
  prompts: number;
}

Deno.test(`${TEXT}: the card holds the fidelity measured at guidance 1 and 4, for training and held-out names, above chance`, () => {
  const card = readAnyCard(`${MODELS}${TEXT}`);
  const quality = card.quality as {
    chance: Omit<Fidelity, "prompts">;
    byGuidanceScale: Record<string, Record<string, Fidelity>>;
    everyday: { lookedAt: string };
  };
  // chance: one emoji of the 1906, five of them, one category of nine
  assert.ok(
    Math.abs(quality.chance.top1 - 1 / 1906) < 1e-5 && Math.abs(quality.chance.category - 1 / 9) < 1e-4,
  );
  assert.deepEqual(Object.keys(quality.byGuidanceScale).sort(), ["1.0", "4.0"]);
  for (const [guidance, rows] of Object.entries(quality.byGuidanceScale)) {
    for (const set of ["trainingNames", "heldoutNames"]) {
      const row = rows[set];
      assert.ok(row.prompts >= 300, `${guidance} ${set}: at least 300 prompts`);
      for (const key of ["top1", "top5", "category"] as const) {
        assert.ok(row[key] >= 0 && row[key] <= 1, `${guidance} ${set} ${key} is a fraction`);
      }
    }
  }
  // the bar this model is held to (issue 16's targets are higher, and not met: models/emoji-text/README.md):
  // under guidance the words steer it, the category right at least four times as often as chance
  const g4 = quality.byGuidanceScale["4.0"];
  for (const set of ["trainingNames", "heldoutNames"]) {
    assert.ok(g4[set].category >= 4 * quality.chance.category, `${set}: category ${g4[set].category}`);
    assert.ok(g4[set].top5 > 5 * quality.chance.top5, `${set}: top-5 ${g4[set].top5}`);
  }
  assert.ok(!quality.everyday.lookedAt.startsWith("not yet"), "a person looked at everyday.png");
  // beside them, what the retrieval features can tell apart: a real image finding its emoji's other styles
  const another =
    (card.quality as { anotherStyle: Record<string, Fidelity & { images: number }> }).anotherStyle;
  assert.deepEqual(another.trainingImages.images + another.heldoutImages.images, 5406, "every real image");
  for (const set of ["trainingImages", "heldoutImages"]) {
    const { top1, top5 } = another[set];
    assert.ok(top1 > 10 * quality.chance.top1 && top1 <= top5 && top5 <= 1, `${set}: ${top1}, ${top5}`);
  }
});
