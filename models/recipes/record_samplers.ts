/**
 * Quality against steps into the card, and the default sampler chosen from it:
 * `deno run -A models/recipes/record_samplers.ts NAME FILE...` (each FILE from evaluate_samplers.py, on the
 * same model, seed and samples; several files are one table, e.g. subsets measured apart on a CPU). With
 * `--keep-card-rows` the card's rows that no FILE measures again stay in the table (e.g. after one sampler
 * changed, only its rows are measured again), their commands and hardware kept beside the new ones'.
 *
 * For every sampler and step count in FILE it times sampling here, on this CPU, through ONNX Runtime exactly as
 * `deno task sample` runs (int8, guidance 4, 8 images, no decoding), and writes `quality.bySampler` (the
 * measured rows, with the CPU named) into the card. Then it picks `sampling`, the default: the fewest network
 * evaluations whose classifier accuracy is within {@link ACCURACY_POINTS} point and whose Fréchet distance is
 * within {@link FRECHET_RATIO} of DDIM at 50 steps, at guidance 4 and at 1 (ties: the lower Fréchet distance at
 * guidance 4).
 *
 * @module
 */
import { cpuInfo, describeCpu } from "../../lib/cpu.ts";
import { requireClassCard } from "../../lib/model/card.ts";
import { loadDiT, MODELS_DIR } from "../../lib/pipeline.ts";
import type { SamplerName } from "../../lib/sampler.ts";

/** How far below DDIM-50's accuracy (in points) and above its Fréchet distance (as a ratio) a default may be. */
export const ACCURACY_POINTS = 1, FRECHET_RATIO = 1.1;
const TIMED_IMAGES = 8;

/** One sampler at one step count, as evaluate_samplers.py measured it. */
interface Row {
  sampler: SamplerName;
  steps: number;
  networkEvaluations: number;
  cpuSecondsPerImage?: number;
  /** Where a row was not measured by evaluate_samplers.py: what measured it. */
  source?: string;
  [guidance: string]: unknown;
}
type Measured = { accuracy: number; frechetDistance: number };

/** The default by the rule above, and the sentence that says why. */
export function chooseDefault(rows: Row[]): { row: Row; chosenBy: string } {
  const base = rows.find((r) => r.sampler === "ddim" && r.steps === 50);
  if (!base) throw new Error("the measurements hold no DDIM at 50 steps to compare with");
  const scales = ["4.0", "1.0"];
  const fits = (r: Row) =>
    scales.every((g) => {
      const [m, b] = [r[g] as Measured, base[g] as Measured];
      return m.accuracy >= b.accuracy - ACCURACY_POINTS / 100 &&
        m.frechetDistance <= b.frechetDistance * FRECHET_RATIO;
    });
  const row = rows.filter(fits).sort((a, b) =>
    a.networkEvaluations - b.networkEvaluations ||
    (a["4.0"] as Measured).frechetDistance - (b["4.0"] as Measured).frechetDistance
  )[0];
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const at = (r: Row, g: string) =>
    `${pct((r[g] as Measured).accuracy)}, Fréchet distance ${(r[g] as Measured).frechetDistance}`;
  return {
    row,
    chosenBy:
      `the fewest network evaluations per image (${row.networkEvaluations}, against 50) whose classifier ` +
      `accuracy is within ${ACCURACY_POINTS} point and Fréchet distance within ${
        Math.round((FRECHET_RATIO - 1) * 100)
      }% of DDIM at 50 steps at guidance 4 and 1: ${row.sampler} ${row.steps} steps reads ${
        at(row, "4.0")
      } at guidance 4 and ${at(row, "1.0")} at 1; DDIM 50 reads ${at(base, "4.0")} and ${at(base, "1.0")}` +
      ` (quality.bySampler)`,
  };
}

/** evaluate.py's DDIM-50 measurement (the card's `quality.byGuidanceScale`) as a row of the sampler table. */
export function ddim50FromCard(quality: Record<string, unknown>): Row {
  const measured = quality.byGuidanceScale as Record<string, Measured>;
  // evaluate.py names its sampler in words: "DDIM, eta 0, guidance on all ε channels"
  const ddim = typeof quality.sampler === "string" && /^DDIM, eta 0\b/.test(quality.sampler);
  if (!ddim || quality.samplingSteps !== 50 || !measured?.["4.0"] || !measured?.["1.0"]) {
    throw new Error("the card's quality is not a DDIM-50 measurement at guidance 4 and 1 (run evaluate.py)");
  }
  const pick = ({ accuracy, frechetDistance }: Measured) => ({ accuracy, frechetDistance });
  return {
    sampler: "ddim",
    steps: 50,
    networkEvaluations: 50,
    "4.0": pick(measured["4.0"]),
    "1.0": pick(measured["1.0"]),
    source: `${quality.command} on ${quality.hardware} (the card's quality.byGuidanceScale)`,
  };
}

/**
 * The card's measured table less the rows that `fresh` measures again (and its DDIM-50 row, which comes from
 * the card's quality anew), as one more part for the table; null where nothing is left.
 */
export function keptCardRows(
  bySampler: { results: Row[]; command: string; hardware: string } & Record<string, unknown>,
  fresh: Row[],
): typeof bySampler | null {
  const measuredAgain = (r: Row) =>
    (r.sampler === "ddim" && r.steps === 50) ||
    fresh.some((f) => f.sampler === r.sampler && f.steps === r.steps);
  const results = bySampler.results.filter((r) => !measuredAgain(r))
    .map(({ cpuSecondsPerImage: _, ...r }) => r);
  if (!results.length) return null;
  const earlier = (what: string) =>
    what.startsWith("the card's earlier rows") ? what : `the card's earlier rows: ${what}`;
  return {
    ...bySampler,
    results,
    command: earlier(bySampler.command),
    hardware: earlier(bySampler.hardware),
  };
}

if (import.meta.main) {
  const keep = Deno.args.includes("--keep-card-rows");
  const [name, ...files] = Deno.args.filter((a) => a !== "--keep-card-rows");
  if (!name || !files.length) {
    console.error(
      "usage: deno run -A models/recipes/record_samplers.ts NAME [--keep-card-rows] FILE... (from evaluate_samplers.py)",
    );
    Deno.exit(2);
  }
  const parts = await Promise.all(files.map(async (f) => JSON.parse(await Deno.readTextFile(f))));
  const path = `${MODELS_DIR}${name}/card.json`;
  const card = JSON.parse(await Deno.readTextFile(path));
  if (keep && !card.quality?.bySampler?.results) {
    throw new Error(`--keep-card-rows: ${path} holds no quality.bySampler to keep rows from`);
  }
  const kept = keep && keptCardRows(card.quality.bySampler, parts.flatMap((p) => p.results as Row[]));
  if (kept) parts.push(kept);
  for (const part of parts.slice(1)) {
    for (const key of ["model", "samples", "seed"]) {
      if (part[key] !== parts[0][key]) {
        throw new Error(`the files differ in ${key}: ${part[key]}, ${parts[0][key]}`);
      }
    }
  }
  const measured = {
    ...parts[0],
    command: parts.map((p) => p.command).join("; "),
    hardware: [...new Set(parts.map((p) => p.hardware))].join("; "),
    results: parts.flatMap((p) => p.results as Row[]),
  };
  if (!measured.results.some((r: Row) => r.sampler === "ddim" && r.steps === 50)) {
    measured.results.push(ddim50FromCard(card.quality));
  }
  const dit = await loadDiT(name, { precision: "int8" });
  const classes = Array.from(
    { length: TIMED_IMAGES },
    (_, i) => i % requireClassCard(dit.card).classes.length,
  );
  await dit.sampleLatents({ classes, steps: 2, sampler: "ddim" }); // warm-up
  for (const row of measured.results as Row[]) {
    const start = performance.now();
    await dit.sampleLatents({ classes, steps: row.steps, sampler: row.sampler });
    row.cpuSecondsPerImage = Math.round((performance.now() - start) / TIMED_IMAGES) / 1000;
    console.error(`${name} ${row.sampler} ${row.steps}: ${row.cpuSecondsPerImage} s per image`);
  }
  await dit.close();
  const { row, chosenBy } = chooseDefault(measured.results);
  card.quality.bySampler = {
    ...measured,
    timing:
      `cpuSecondsPerImage: ${TIMED_IMAGES} images at guidance 4, int8, no decoding, on ${describeCpu()}`,
    cpu: cpuInfo(),
  };
  card.sampling = { sampler: row.sampler, steps: row.steps, chosenBy };
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(card, null, 2) + "\n");
  await Deno.rename(`${path}.tmp`, path);
  console.log(`${name}: default ${row.sampler} ${row.steps} steps: ${chosenBy}`);
}
