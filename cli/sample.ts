/**
 * `deno task sample`: turn noise into pictures with a shipped DiT.
 *
 * Parses flags, loads the model by its card, samples with a progress bar on stderr, and writes
 * `DIR/sample-NNN.png` per image plus `DIR/grid.png` (and `DIR/trajectory.gif` with `--gif`). The folder is
 * claimed with a lock for the whole run and files are staged and moved in at the end (see `output.ts`), so two
 * runs never mix their files and an interrupted run leaves nothing; existing outputs are only replaced with
 * `--force`. Ctrl-C stops within a step and exits 130. Same flags, same bytes.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { animation, gridPng, toPng } from "../lib/image.ts";
import {
  DEFAULT_MODEL,
  type DiTPipeline,
  loadDiT,
  MAX_GUIDANCE_SCALE,
  type Precision,
} from "../lib/pipeline.ts";
import { checkpoint, type SamplerName, SAMPLERS, type StepInfo } from "../lib/sampler.ts";
import { isTextCard } from "../lib/model/card.ts";
import { splitWords } from "../lib/tokenizer.ts";
import { claimNextFree, claimOutput, OutputError, type OutputFolder } from "./output.ts";
import type { Tensor } from "../lib/tensor.ts";

/**
 * The CLI samples in int8 unless told otherwise: about twice as fast as fp32 on a CPU with VNNI, and the cards'
 * quality.byPrecision shows no loss (digits 99.6% both, emoji 83.3% vs 82.9%). The library's own default stays
 * fp32, which the glass box and the reference match exactly.
 */
const SAMPLE_PRECISION: Precision = "int8";

/**
 * At most this many images per run: every image is held in memory until the outputs are written (emoji: ~53 KB
 * of pixels each), and a thousand emoji take minutes on two cores. Larger sets: several runs with other seeds.
 */
const MAX_IMAGES = 1000;

const USAGE = `Usage: deno task sample [flags]

Samples images from a DiT shipped in models/ and writes them as PNG files.

  --model NAME|DIR    digits, emoji (default), emoji-text or a folder holding card.json
  --class C           a class name or id; repeat for several (default: every class in turn)
  --prompt TEXT       for a text-conditioned model (emoji-text): what to draw, e.g. "hot pepper"; repeat for
                      several; a word the model never saw is read as [unk] and named in a warning
  --n N               how many images, 1-${MAX_IMAGES} (default: one per class or --class, one per --prompt)
  --cfg S             classifier-free guidance scale, 0-${MAX_GUIDANCE_SCALE}; 1 turns it off (default 4)
  --sampler S         ddim, ddpm (the paper's), dpm++2m (DPM-Solver++), euler or heun (on Karras et al.'s
                      noise levels; heun runs the network twice per step) (default: the card's sampling.sampler,
                      chosen from the model's measured quality against steps)
  --steps K           sampling steps, 1-1000; ddpm needs 2 or more (default: the card's sampling.steps
                      with its sampler, 50 with another)
  --guidance-interval LO,HI
                      guide only at timesteps LO to HI, 0-999 (default: every step); the other steps
                      run the conditional model alone, on half the batch
  --precision P       int8 (default; faster on every CPU measured) or fp32: the DiT's matrix multiplies in int8 or float32
  --seed N            random seed, 0 to 2^32-1 (default 0); same flags and seed, same bytes
  --out DIR           output folder (default: out/MODEL, or out/MODEL-2, -3, ... if taken); one run at a time
  --gif               also write trajectory.gif: the predicted x̂0 of the first batch at each step
  --force             replace existing outputs in --out (without it they are never touched)
  --help              show this text

Examples: deno task sample --model digits --class 3 --n 16 --cfg 4 --steps 50 --seed 0 --out out/threes
          deno task sample --model emoji-text --prompt "hot pepper" --prompt penguin`;

/** A bad flag: reported with the usage hint, exit code 2. */
class UsageError extends Error {}

interface Flags {
  model: string;
  classes?: string[];
  prompts?: string[];
  n?: number;
  cfg: number;
  steps?: number;
  sampler?: SamplerName;
  guidanceInterval?: [number, number];
  precision: Precision;
  seed: number;
  out?: string;
  gif: boolean;
  force: boolean;
}

function parseFlags(args: string[]): Flags | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinNegativeValues(args),
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: "string", default: DEFAULT_MODEL },
        class: { type: "string", multiple: true },
        prompt: { type: "string", multiple: true },
        n: { type: "string" },
        cfg: { type: "string", default: "4" },
        steps: { type: "string" },
        sampler: { type: "string" },
        "guidance-interval": { type: "string" },
        precision: { type: "string", default: SAMPLE_PRECISION },
        seed: { type: "string", default: "0" },
        out: { type: "string" },
        gif: { type: "boolean", default: false },
        force: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split("\n")[0]}; see --help for the accepted flags`);
  }
  if (values.help) return "help";
  const integer = (flag: string, text: string, min: number, max: number) => {
    const v = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(v >= min && v <= max)) {
      throw new UsageError(`--${flag} is "${text}"; expected an integer from ${min} to ${max}`);
    }
    return v;
  };
  const cfg = /^\d+(\.\d+)?$|^\.\d+$/.test(values.cfg) ? Number(values.cfg) : NaN;
  if (!(cfg >= 0 && cfg <= MAX_GUIDANCE_SCALE)) {
    // the paper samples at 1.5-4; far past that images saturate, and near 1e37 ε̂ overflows to NaN
    throw new UsageError(
      `--cfg is "${values.cfg}"; expected a number >= 0 and <= ${MAX_GUIDANCE_SCALE} (1 turns guidance off, 4 is usual)`,
    );
  }
  const sampler = values.sampler === undefined ? undefined : SAMPLERS.find((name) => name === values.sampler);
  if (values.sampler !== undefined && !sampler) {
    throw new UsageError(`--sampler is "${values.sampler}"; expected ${SAMPLERS.join(", ")}`);
  }
  const intervalText = values["guidance-interval"];
  let guidanceInterval: [number, number] | undefined;
  if (intervalText !== undefined) {
    const [lo, hi] = /^\d{1,4},\d{1,4}$/.test(intervalText)
      ? intervalText.split(",").map(Number)
      : [NaN, NaN];
    if (!(lo <= hi && hi <= 999)) {
      throw new UsageError(
        `--guidance-interval is "${intervalText}"; expected LO,HI: integers with 0 <= LO <= HI <= 999, the timesteps guided`,
      );
    }
    guidanceInterval = [lo, hi];
  }
  if (values.precision !== "fp32" && values.precision !== "int8") {
    throw new UsageError(`--precision is "${values.precision}"; expected fp32 or int8`);
  }
  const steps = values.steps === undefined ? undefined : integer("steps", values.steps, 1, 1000);
  if (sampler === "ddpm" && steps !== undefined && steps < 2) {
    throw new UsageError(
      `--sampler ddpm needs --steps 2 or more (its learned variance needs a previous step); use --sampler ddim for 1 step`,
    );
  }
  if (values.class !== undefined && values.prompt !== undefined) {
    throw new UsageError(
      "--class and --prompt go to different models (class- or text-conditioned); give one",
    );
  }
  for (const prompt of values.prompt ?? []) {
    // the vocabulary's maxLength is checked once the model is loaded; no words is wrong for every model
    if (splitWords(prompt).length === 0) {
      throw new UsageError(
        `--prompt ${shown(prompt)} has no words; expected what to draw, e.g. --prompt "hot pepper"`,
      );
    }
  }
  return {
    model: values.model,
    classes: values.class,
    prompts: values.prompt,
    n: values.n === undefined ? undefined : integer("n", values.n, 1, MAX_IMAGES),
    cfg,
    steps,
    sampler,
    guidanceInterval,
    precision: values.precision,
    seed: integer("seed", values.seed, 0, 2 ** 32 - 1),
    out: values.out,
    gif: values.gif,
    force: values.force,
  };
}

/** A prompt as an error message shows it: quoted, at most 40 characters. */
function shown(prompt: string): string {
  return prompt.length > 40 ? `${JSON.stringify(prompt.slice(0, 40))}…` : JSON.stringify(prompt);
}

/** parseArgs reads "--cfg -1" as a flag without its value; join such pairs ("--cfg=-1") so our checks see -1. */
function joinNegativeValues(args: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (/^--[a-z-]+$/.test(args[i]) && /^-\d/.test(args[i + 1] ?? "")) joined.push(`${args[i]}=${args[++i]}`);
    else joined.push(args[i]);
  }
  return joined;
}

/**
 * A progress bar on a terminal, a line per 10% otherwise. The totals come from the steps themselves: a Karras
 * schedule may hold fewer steps than asked for, and Heun runs the network twice per step, so the network
 * evaluations are counted too.
 */
function progressReporter(): (info: StepInfo & { batch: number; batches: number }) => void {
  const tty = Deno.stderr.isTerminal();
  const start = performance.now();
  let lastDecile = -1, batchesDone = -1, evaluationsBefore = 0, evaluationsInBatch = 0;
  return ({ step, steps, batch, batches, evaluations }) => {
    if (batch !== batchesDone) {
      [batchesDone, evaluationsBefore] = [batch, evaluationsBefore + evaluationsInBatch];
    }
    evaluationsInBatch = evaluations;
    const done = batch * steps + step, totalSteps = steps * batches;
    const seconds = (performance.now() - start) / 1000;
    const rate = done / seconds;
    const eta = (totalSteps - done) / rate;
    const text =
      `${done}/${totalSteps} steps · ${evaluationsBefore + evaluations} network evaluations · ${
        rate.toFixed(1)
      } steps/s · ETA ${eta.toFixed(0)} s` + (batches > 1 ? ` · batch ${batch + 1}/${batches}` : "");
    if (tty) {
      const width = 30, filled = Math.round((done / totalSteps) * width);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      Deno.stderr.writeSync(
        new TextEncoder().encode(`\r${bar} ${text}\x1b[K${done === totalSteps ? "\n" : ""}`),
      );
    } else if (Math.floor((done / totalSteps) * 10) > lastDecile) {
      lastDecile = Math.floor((done / totalSteps) * 10);
      console.error(`sample: ${text}`);
    }
  };
}

/**
 * One run. `claim` holds the output folder (given --out, claimed before the model loads, so a second run on
 * the same folder is refused at once); the caller releases it.
 */
async function run(flags: Flags, signal: AbortSignal, claim: { folder?: OutputFolder }): Promise<void> {
  if (flags.out) claim.folder = claimOutput(flags.out, flags.force);
  const dit: DiTPipeline = await loadDiT(flags.model, { precision: flags.precision });
  let open = true;
  const close = async () => {
    if (open) await dit.close();
    open = false;
  };
  try {
    await checkpoint(signal); // loading is synchronous work in ONNX Runtime: a Ctrl-C during it counts
    const conditions = asked(flags, dit);
    const n = flags.n ?? conditions.length; // one of each: the first run stays a few seconds
    const chosen = Array.from({ length: n }, (_, i) => conditions[i % conditions.length]);
    const text = isTextCard(dit.card);
    const classes = text ? undefined : chosen as number[];
    const prompts = text ? chosen as string[] : undefined;
    claim.folder ??= claimNextFree(`out/${dit.card.name}`);
    const folder = claim.folder;
    const names = [...chosen.map((_, i) => `sample-${String(i).padStart(3, "0")}.png`), "grid.png"];
    if (flags.gif) names.push("trajectory.gif");

    const batchSize = 32;
    const report = progressReporter();
    const trajectory: Tensor[] = [];
    // the card's choice (from the model's measured quality against steps) fills in what the flags leave out
    const sampler = flags.sampler ?? dit.defaultSampling.sampler;
    const steps = flags.steps ?? (sampler === dit.defaultSampling.sampler ? dit.defaultSampling.steps : 50);
    const every = Math.max(1, Math.floor(steps / 25)); // at most ~25 frames
    const interval = flags.guidanceInterval ? ` for t in [${flags.guidanceInterval.join(", ")}]` : "";
    const what = prompts ? ` · ${conditions.map((p) => shown(p as string)).join(", ")}` : "";
    console.error(
      `sample: ${n} image(s) of ${dit.card.name} (${dit.precision}) · ${sampler} ${steps} steps · guidance ${flags.cfg}${interval} · seed ${flags.seed}${what}`,
    );
    const { images } = await dit.sample({
      classes,
      prompts,
      guidanceScale: flags.cfg,
      steps,
      sampler,
      guidanceInterval: flags.guidanceInterval,
      seed: flags.seed,
      batchSize,
      signal,
      onStep: (info) => {
        report(info);
        if (flags.gif && info.batch === 0 && (info.step % every === 0 || info.step === info.steps)) {
          trajectory.push(info.predXstart);
        }
      },
    });
    // PNG encoding and writing run in sharp's and Deno's thread pools: a checkpoint per file keeps Ctrl-C prompt
    for (let i = 0; i < n; i++) {
      await folder.write(names[i], await toPng(images, i));
      await checkpoint(signal);
    }
    // a row per round of the classes or prompts; a single prompt's images in rows of 8
    const columns = Math.min(n, conditions.length > 1 || !text ? conditions.length : 8);
    await folder.write("grid.png", await gridPng(images, { columns }));
    await checkpoint(signal);
    if (flags.gif) {
      const frames = [];
      for (const latents of trajectory) {
        frames.push(await dit.decode(latents));
        await checkpoint(signal);
      }
      await folder.write("trajectory.gif", await animation(frames, "gif"));
    }
    await close();
    await checkpoint(signal); // the last chance to stop: from here on the outputs are complete
    const paths = folder.commit(["grid.png", ...names.filter((name) => name !== "grid.png")]);
    console.log(paths.join("\n"));
  } finally {
    await close();
  }
}

/**
 * What the run conditions on, one entry per image of a round: class ids (`--class`, else every class) for a
 * class-conditioned model; the `--prompt`s for a text one, each checked against the model's vocabulary, with a
 * warning line on stderr naming the words it lacks (read as [unk]: shown, never silently dropped).
 */
function asked(flags: Flags, dit: DiTPipeline): number[] | string[] {
  const card = dit.card;
  if (!isTextCard(card)) {
    if (flags.prompts) {
      throw new UsageError(
        `--prompt is for a text-conditioned model (emoji-text); ${card.name} is class-conditioned: give --class C (one of its ${card.classes.length} classes), or none for every class`,
      );
    }
    return (flags.classes ?? card.classes.map((c) => String(c.id))).map((c) => dit.classId(c));
  }
  if (flags.classes) {
    throw new UsageError(
      `--class is for a class-conditioned model; ${card.name} is text-conditioned: give --prompt TEXT, e.g. --prompt "hot pepper"`,
    );
  }
  if (!flags.prompts) {
    throw new UsageError(
      `${card.name} is text-conditioned: give --prompt TEXT (repeatable), e.g. --prompt "hot pepper"`,
    );
  }
  for (const prompt of flags.prompts) {
    let unknown: string[];
    try {
      unknown = dit.tokenize(prompt).unknown;
    } catch (error) {
      throw new UsageError((error as Error).message.replace(/^tokenize: the prompt/, "--prompt"));
    }
    if (unknown.length > 0) {
      console.error(
        `sample: warning: --prompt ${shown(prompt)}: ${card.name} never saw ${
          unknown.map((w) => JSON.stringify(w)).join(", ")
        }; read as [unk]`,
      );
    }
  }
  return flags.prompts;
}

if (import.meta.main) {
  const controller = new AbortController();
  const claim: { folder?: OutputFolder } = {};
  let interrupts = 0;
  const interrupt = () => {
    controller.abort(new Error("interrupted; nothing was written"));
    // a second Ctrl-C does not wait for the step under way
    if (++interrupts > 1) {
      claim.folder?.release();
      console.error("sample: interrupted; nothing was written");
      Deno.exit(130);
    }
  };
  Deno.addSignalListener("SIGINT", interrupt);
  let code = 0;
  try {
    const flags = parseFlags(Deno.args);
    if (flags === "help") console.log(USAGE);
    else await run(flags, controller.signal, claim);
  } catch (error) {
    const interrupted = controller.signal.aborted && !(error instanceof OutputError);
    console.error(`sample: ${interrupted ? "interrupted; nothing was written" : (error as Error).message}`);
    code = error instanceof UsageError ? 2 : interrupted ? 130 : 1;
  } finally {
    claim.folder?.release();
  }
  Deno.removeSignalListener("SIGINT", interrupt);
  Deno.exit(code);
}
