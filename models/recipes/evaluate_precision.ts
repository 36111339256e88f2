/**
 * The quality of what ships, per precision: `deno run -A models/recipes/evaluate_precision.ts NAME`.
 *
 * Samples the same images (same seed, same classes, same 50 DDIM steps at guidance 4) with the float32 DiT
 * and with the int8 one, both through ONNX Runtime exactly as `loadDiT` runs them, and reports how often the
 * shipped classifier reads each as the class asked for. The samples per class match evaluate.py's. Also counts
 * how often the two precisions' samples get the same label from the classifier: int8 changes the numbers a
 * little, and a DDIM trajectory can carry a small change to another picture of the same class, or another
 * class. Writes `quality.byPrecision` into the card (the rest of the card is kept).
 *
 * @module
 */
import { cpuInfo, describeCpu } from "../../lib/cpu.ts";
import { requireClassCard } from "../../lib/model/card.ts";
import { fromOrtTensor, openSession, toOrtTensor } from "../../lib/model/onnx.ts";
import { loadDiT, MODELS_DIR, type Precision } from "../../lib/pipeline.ts";
import { sliceBatch } from "../../lib/tensor.ts";

const SAMPLES_PER_CLASS: Record<string, number> = { digits: 50, emoji: 56 }; // as evaluate.py
const GUIDANCE_SCALE = 4, STEPS = 50, SEED = 0, BATCH = 32;

/** The classifier's label for every image of every class, sampled at `precision`. */
async function labelsAt(name: string, precision: Precision): Promise<{ asked: number[]; read: number[] }> {
  const dit = await loadDiT(name, { precision });
  const classifier = await openSession(`${dit.dir}/${dit.card.files.classifier}`);
  const K = requireClassCard(dit.card).classes.length;
  const asked = Array.from({ length: K * SAMPLES_PER_CLASS[name] }, (_, i) => i % K);
  const read: number[] = [];
  const started = performance.now();
  const { images } = await dit.sample({
    classes: asked,
    guidanceScale: GUIDANCE_SCALE,
    steps: STEPS,
    seed: SEED,
    batchSize: BATCH,
    onStep: ({ step, steps, batch, batches }) => {
      if (step === steps) {
        const seconds = (performance.now() - started) / 1000;
        console.error(`${name} ${precision}: batch ${batch + 1}/${batches} done, ${seconds.toFixed(0)} s`);
      }
    },
  });
  for (let i = 0; i < asked.length; i += BATCH) {
    const batch = sliceBatch(images, i, Math.min(i + BATCH, asked.length));
    const logits = fromOrtTensor((await classifier.run({ image: toOrtTensor(batch) })).logits);
    for (let j = 0; j < batch.shape[0]; j++) {
      const row = [...logits.data.subarray(j * K, (j + 1) * K)];
      read.push(row.indexOf(Math.max(...row)));
    }
  }
  await classifier.release();
  await dit.close();
  return { asked, read };
}

if (import.meta.main) {
  const name = Deno.args[0];
  if (!(name in SAMPLES_PER_CLASS)) {
    console.error(
      `evaluate_precision: model is "${name}"; expected one of ${Object.keys(SAMPLES_PER_CLASS)}`,
    );
    Deno.exit(2);
  }
  const fp32 = await labelsAt(name, "fp32");
  const int8 = await labelsAt(name, "int8");
  const accuracy = ({ asked, read }: typeof fp32) =>
    Math.round((10_000 * read.filter((r, i) => r === asked[i]).length) / asked.length) / 10_000;
  const agree = fp32.read.filter((r, i) => r === int8.read[i]).length / fp32.read.length;
  const result = {
    command: `deno run -A models/recipes/evaluate_precision.ts ${name}`,
    machine: `${describeCpu()}; ONNX Runtime (onnxruntime-node), the toolkit's session options`,
    cpu: cpuInfo(),
    samples: fp32.asked.length,
    guidanceScale: GUIDANCE_SCALE,
    samplingSteps: STEPS,
    seed: SEED,
    fp32: { accuracy: accuracy(fp32) },
    int8: { accuracy: accuracy(int8) },
    int8MinusFp32Points: Math.round(1000 * (accuracy(int8) - accuracy(fp32)) * 100) / 1000,
    sameLabelFp32AndInt8: Math.round(10_000 * agree) / 10_000,
  };
  console.log(JSON.stringify(result, null, 2));
  const path = `${MODELS_DIR}${name}/card.json`;
  const card = JSON.parse(await Deno.readTextFile(path));
  card.quality = { ...card.quality, byPrecision: result };
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(card, null, 2) + "\n");
  await Deno.rename(`${path}.tmp`, path);
  console.error(`wrote quality.byPrecision into ${path}`);
}
