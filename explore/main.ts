/// <reference lib="dom" />
/**
 * The explorer page: reads the controls, runs the toolkit's own sampling loop (`sampleLoop` on the model in
 * `ort_web.ts`), and draws every step. It holds no maths of its own: the diffusion, the samplers and guidance
 * are the concept functions of `lib/`, bundled for the browser by `server.ts`.
 *
 * The page reports its state on `<body data-state>` (`loading`, `ready`, `running`, `done` or `error`) and its
 * timings on `<body data-timings>`, for people and for the browser test.
 *
 * @module
 */
import { createDiffusion, type GaussianDiffusion } from "../lib/diffusion.ts";
import type { ModelCard } from "../lib/model/card.ts";
import { toPixels } from "../lib/pixels.ts";
import { SeededRandom } from "../lib/random.ts";
import { respacingFor, sampleLoop, type SamplerName, SAMPLERS } from "../lib/sampler.ts";
import { concatBatch, sliceBatch, splitChannels, type Tensor } from "../lib/tensor.ts";
import {
  type AttentionReply,
  type AttentionRequest,
  MODULATIONS,
  type PrepareRequest,
} from "./attention_worker.ts";
import { WebDiT } from "./ort_web.ts";

/**
 * One step as drawn: its timestep and label, the latent x_t, the decoded x_t and x̂0, and the first latent
 * channel of ε_cond, ε_uncond (null when the step ran unguided) and the guided ε̂.
 */
interface Frame {
  t: number;
  y: number;
  latent: Tensor;
  xt: ImageData;
  x0: ImageData;
  eps: { cond: ImageData; uncond: ImageData | null; guided: ImageData };
}

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const controls = {
  form: element<HTMLFormElement>("controls"),
  model: element<HTMLSelectElement>("model"),
  class: element<HTMLSelectElement>("class"),
  seed: element<HTMLInputElement>("seed"),
  steps: element<HTMLInputElement>("steps"),
  sampler: element<HTMLSelectElement>("sampler"),
  guidance: element<HTMLInputElement>("guidance"),
  generate: element<HTMLButtonElement>("generate"),
  compare: element<HTMLButtonElement>("compare"),
  timeline: element<HTMLInputElement>("timeline"),
  layer: element<HTMLSelectElement>("layer"),
  head: element<HTMLSelectElement>("head"),
};
const status = element("status"), errorBox = element("error"), at = element<HTMLOutputElement>("at");

let cards: ModelCard[] = [];
const loaded = new Map<string, Promise<WebDiT>>();
let frames: Frame[] = [];
let diffusion: GaussianDiffusion | undefined;
let patch: number | undefined;

const worker = new Worker("/worker.js", { type: "module" });
const replies: ((reply: AttentionReply) => void)[] = [];
worker.onmessage = (event: MessageEvent<AttentionReply>) => replies.shift()?.(event.data);
worker.onerror = (event) => showError(`the attention worker failed: ${event.message}`);

function setState(state: string, text: string) {
  document.body.dataset.state = state;
  status.textContent = text;
}

/** Shows an error in the page (and on the console, where a test sees it). */
function showError(error: unknown) {
  const message = error instanceof Error ? error.message : String(error);
  errorBox.textContent = message;
  errorBox.hidden = false;
  setState("error", "Stopped by an error.");
  controls.generate.disabled = cards.length === 0;
  controls.compare.disabled = frames.length === 0;
  console.error(`explorer: ${message}`);
}
addEventListener("error", (event) => showError(event.error ?? event.message));
addEventListener("unhandledrejection", (event) => showError(event.reason));

function option(value: string, text = value) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

function card(): ModelCard {
  return cards.find((c) => c.name === controls.model.value)!;
}

/** Fills the class list and the card's default sampling when the model changes. */
function chooseModel() {
  const c = card();
  controls.class.replaceChildren(...c.classes.map((k) => option(String(k.id), k.name)));
  controls.steps.max = String(c.diffusion.numTimesteps);
  const a = c.architecture.type === "DiT" ? c.architecture : undefined;
  const numbered = (n: number) => Array.from({ length: n }, (_, i) => option(String(i)));
  controls.layer.replaceChildren(...numbered(a?.depth ?? 0));
  controls.head.replaceChildren(...numbered(a?.numHeads ?? 0));
  if (c.sampling) {
    controls.steps.value = String(c.sampling.steps);
    controls.sampler.value = c.sampling.sampler;
  }
  drawSchedule();
}

/** The controls' values, checked: a one-line error names the one that is wrong and what is accepted. */
function readControls() {
  const c = card();
  const integer = (input: HTMLInputElement, name: string, min: number, max: number) => {
    const value = Number(input.value);
    if (input.value.trim() === "" || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(`${name} is "${input.value}"; expected an integer from ${min} to ${max}`);
    }
    return value;
  };
  const sampler = controls.sampler.value as SamplerName;
  const steps = integer(controls.steps, "steps", sampler === "ddpm" ? 2 : 1, c.diffusion.numTimesteps);
  const seed = integer(controls.seed, "seed", 0, 2 ** 32 - 1);
  const guidanceScale = Number(controls.guidance.value);
  if (controls.guidance.value.trim() === "" || !(guidanceScale >= 0 && guidanceScale <= 100)) {
    throw new Error(`guidance scale is "${controls.guidance.value}"; expected a number from 0 to 100`);
  }
  return { c, label: Number(controls.class.value), steps, seed, sampler, guidanceScale };
}

function toImageData(images: Tensor, i: number): ImageData {
  const [, channels, height, width] = images.shape;
  const pixels = toPixels(images, i);
  const rgba = new ImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    for (let k = 0; k < 3; k++) rgba.data[4 * p + k] = pixels[p * channels + (channels === 3 ? k : 0)];
    rgba.data[4 * p + 3] = 255;
  }
  return rgba;
}

/**
 * The first channel of noise predictions, grey around 0 and one shared scale (the largest |value| of them all),
 * so that three predictions of one step compare.
 */
function noiseImages(...eps: Tensor[]): ImageData[] {
  const [, , height, width] = eps[0].shape, plane = height * width;
  const largest = eps.reduce(
    (m, e) => e.data.subarray(0, plane).reduce((n, v) => Math.max(n, Math.abs(v)), m),
    0,
  );
  return eps.map((e) => {
    const image = new ImageData(width, height);
    for (let p = 0; p < plane; p++) {
      image.data.fill(Math.round(127.5 + 127.5 * (e.data[p] / (largest || 1))), 4 * p, 4 * p + 3);
      image.data[4 * p + 3] = 255;
    }
    return image;
  });
}

function paint(id: string, image: ImageData) {
  const canvas = element<HTMLCanvasElement>(id);
  const scratch = new OffscreenCanvas(image.width, image.height);
  scratch.getContext("2d")!.putImageData(image, 0, 0);
  const context = canvas.getContext("2d")!;
  context.imageSmoothingEnabled = false;
  context.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}

/** Shows step `step` (1-based) of the run: its pictures, its place on the timeline and on the schedule. */
function show(step: number) {
  const frame = frames[step - 1];
  if (!frame) return;
  paint("xt", frame.xt);
  paint("x0", frame.x0);
  paint("eps-cond", frame.eps.cond);
  paint("eps-guided", frame.eps.guided);
  const uncond = element<HTMLCanvasElement>("eps-uncond");
  if (frame.eps.uncond) paint("eps-uncond", frame.eps.uncond);
  else uncond.getContext("2d")!.clearRect(0, 0, uncond.width, uncond.height);
  at.textContent = `${step} / ${frames.length} · t = ${frame.t}`;
  drawSchedule(frame.t);
  if (patch !== undefined) attend().catch(showError);
}

/** The adaLN-Zero table: one row per block, the mean |value| of each of its modulation vectors at this step. */
function drawModulation(modulation: number[][]) {
  const cell = (tag: string, text: string) => {
    const td = document.createElement(tag);
    td.textContent = text;
    return td;
  };
  const row = (tag: string, cells: string[]) => {
    const tr = document.createElement("tr");
    tr.append(...cells.map((text) => cell(tag, text)));
    return tr;
  };
  element("modulation").replaceChildren(
    row("th", ["block", ...MODULATIONS]),
    ...modulation.filter((m) => m.length > 0).map((m, i) =>
      row("td", [String(i), ...m.map((v) => v.toFixed(3))])
    ),
  );
}

/** The patch under a click on an x_t or x̂0 picture: its token's index in the DiT's row-major patch grid. */
function pickPatch(event: MouseEvent) {
  const a = card().architecture;
  if (a.type !== "DiT" || frames.length === 0) return;
  const grid = a.inputSize / a.patchSize, box = (event.target as HTMLCanvasElement).getBoundingClientRect();
  const column = Math.min(grid - 1, Math.floor(((event.clientX - box.left) / box.width) * grid));
  const row = Math.min(grid - 1, Math.floor(((event.clientY - box.top) / box.height) * grid));
  patch = row * grid + column;
  attend().catch(showError);
}

/**
 * Asks the worker where the chosen patch looks at the step on the timeline, and draws it over x̂0: the
 * patch's row of the attention probabilities in the chosen block and head, brightest where it looks most.
 */
/**
 * Has the worker get ready before anyone clicks: fetch the model's weights (as a run starts), or look inside the
 * step on show (as it ends).
 */
function prepareAttention() {
  const c = card(), a = c.architecture, frame = frames[Number(controls.timeline.value) - 1];
  if (a.type !== "DiT") return;
  const request: PrepareRequest = {
    prepare: true,
    model: c.name,
    architecture: a,
    ...(frame && { x: frame.latent.data, shape: frame.latent.shape, t: frame.t, y: frame.y }),
  };
  worker.postMessage(request);
}

async function attend() {
  const c = card(), a = c.architecture, frame = frames[Number(controls.timeline.value) - 1];
  if (a.type !== "DiT" || patch === undefined || !frame) return;
  document.body.dataset.attention = "running";
  const request: AttentionRequest = {
    model: c.name,
    architecture: a,
    x: frame.latent.data,
    shape: frame.latent.shape,
    t: frame.t,
    y: frame.y,
    layer: Number(controls.layer.value),
    head: Number(controls.head.value),
    token: patch,
  };
  const started = performance.now();
  const reply = await new Promise<AttentionReply>((resolve) => {
    replies.push(resolve);
    worker.postMessage(request);
  });
  if ("error" in reply) throw new Error(reply.error);
  const grid = a.inputSize / a.patchSize, largest = reply.row.reduce((m, v) => Math.max(m, v), 0);
  const canvas = element<HTMLCanvasElement>("attention");
  paint("attention", frame.x0);
  const g = canvas.getContext("2d")!, cell = canvas.width / grid;
  for (let k = 0; k < grid * grid; k++) {
    // dim where the patch does not look: the picture shows through where it does
    g.fillStyle = `rgba(0, 0, 30, ${0.85 * (1 - reply.row[k] / largest)})`;
    g.fillRect((k % grid) * cell, Math.floor(k / grid) * cell, cell, cell);
  }
  g.strokeStyle = "#f33";
  g.lineWidth = 2;
  g.strokeRect((patch % grid) * cell + 1, Math.floor(patch / grid) * cell + 1, cell - 2, cell - 2);
  drawModulation(reply.modulation);
  const ms = Math.round(performance.now() - started);
  element("attention-caption").textContent =
    `patch ${patch}, block ${request.layer}, head ${request.head}, t = ${frame.t}: ${ms} ms`;
  document.body.dataset.attentionMs = String(ms);
  document.body.dataset.attention = "done";
}

/** ᾱ_t over the training timesteps, the run's timesteps as dots, and `current` in red. */
function drawSchedule(current?: number) {
  const c = card();
  const full = createDiffusion({ schedule: c.diffusion.schedule, numTimesteps: c.diffusion.numTimesteps });
  const canvas = element<HTMLCanvasElement>("schedule");
  const g = canvas.getContext("2d")!;
  const pad = 28, w = canvas.width - 2 * pad, h = canvas.height - 2 * pad, T = full.numTimesteps;
  const x = (t: number) => pad + (t / (T - 1)) * w, y = (a: number) => pad + (1 - a) * h;
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.strokeStyle = "#999";
  g.strokeRect(pad, pad, w, h);
  g.fillStyle = "#444";
  g.font = "11px system-ui";
  g.fillText("ᾱ = 1", 2, pad + 4);
  g.fillText("0", 2, pad + h);
  g.fillText("t = 0", pad, canvas.height - 8);
  g.fillText(`${T - 1}`, pad + w - 20, canvas.height - 8);
  g.strokeStyle = "#36c";
  g.beginPath();
  full.alphasCumprod.forEach((a, t) => t === 0 ? g.moveTo(x(t), y(a)) : g.lineTo(x(t), y(a)));
  g.stroke();
  for (const t of diffusion?.timestepMap ?? []) {
    g.fillStyle = t === current ? "#d22" : "#36c";
    g.beginPath();
    g.arc(x(t), y(full.alphasCumprod[t]), t === current ? 5 : 2.5, 0, 2 * Math.PI);
    g.fill();
  }
}

/** The model of a card, loaded once and kept; a load that failed is forgotten, so the next run tries again. */
async function loadModel(c: ModelCard): Promise<WebDiT> {
  if (!loaded.has(c.name)) loaded.set(c.name, WebDiT.load(c));
  try {
    return await loaded.get(c.name)!;
  } catch (error) {
    loaded.delete(c.name);
    throw error;
  }
}

/** The card's diffusion, respaced for this sampler and step count. */
function respacedDiffusion(c: ModelCard, sampler: SamplerName, steps: number): GaussianDiffusion {
  return createDiffusion({
    respacing: respacingFor(sampler, steps),
    schedule: c.diffusion.schedule,
    numTimesteps: c.diffusion.numTimesteps,
  });
}

/** Loads the model (once), runs the sampling loop, and decodes and draws x_t and x̂0 after every step. */
async function generate() {
  errorBox.hidden = true;
  const { c, label, steps, seed, sampler, guidanceScale } = readControls();
  controls.generate.disabled = controls.compare.disabled = true;
  const started = performance.now();
  const timings: Record<string, number> = {};
  setState("running", `Loading ${c.name}…`);
  const model = await loadModel(c);
  timings.loadMs = Math.round(performance.now() - started);
  frames = [];
  prepareAttention();
  patch = undefined; // a new run: the attention shown belonged to the last one
  const attention = element<HTMLCanvasElement>("attention");
  attention.getContext("2d")!.clearRect(0, 0, attention.width, attention.height);
  element("attention-caption").textContent = "click a patch of x_t or x̂0";
  element("modulation").replaceChildren();
  delete document.body.dataset.attention;
  diffusion = respacedDiffusion(c, sampler, steps);
  controls.timeline.disabled = true;
  // the network's last output, kept to show the two halves of a guided step: [ε_cond | ε_uncond] × [ε̂ | v]
  let output: Tensor | undefined;
  const recorded = {
    forward: async (x: Tensor, t: number[], y: number[]) => (output = await model.forward(x, t, y)),
  };
  await sampleLoop({
    model: recorded,
    diffusion,
    labels: [label],
    nullClass: c.nullClassId,
    latentShape: [c.latent.channels, c.latent.height, c.latent.width],
    random: new SeededRandom(seed),
    guidanceScale,
    sampler,
    onStep: async (info) => {
      const images = await model.decode(
        concatBatch([sliceBatch(info.xt, 0, 1), sliceBatch(info.predXstart, 0, 1)]),
      );
      const latent = sliceBatch(info.xt, 0, 1);
      const [eps] = splitChannels(output!, c.latent.channels), guided = eps.shape[0] === 2;
      const [cond, guidedEps, uncond] = noiseImages(
        sliceBatch(eps, 0, 1),
        sliceBatch(info.eps, 0, 1),
        ...(guided ? [sliceBatch(eps, 1, 2)] : []),
      );
      frames.push({
        t: info.t,
        y: label,
        latent,
        xt: toImageData(images, 0),
        x0: toImageData(images, 1),
        eps: { cond, uncond: uncond ?? null, guided: guidedEps },
      });
      if (info.step === 1) timings.firstStepMs = Math.round(performance.now() - started);
      controls.timeline.max = String(info.steps);
      controls.timeline.value = String(info.step);
      show(info.step);
      setState("running", `Step ${info.step} of ${info.steps}…`);
      await new Promise((resolve) => setTimeout(resolve, 0)); // let the page paint
    },
  });
  timings.totalMs = Math.round(performance.now() - started);
  document.body.dataset.timings = JSON.stringify(timings);
  controls.timeline.disabled = false;
  controls.generate.disabled = controls.compare.disabled = false;
  prepareAttention();
  setState("done", `${c.name}, ${c.classes[label].name}: ${steps} ${sampler} steps in ${timings.totalMs} ms`);
}

/** The guidance scales "Compare guidance scales" runs, each drawn on its canvas compare-i. */
const COMPARED_SCALES = [0, 1, 2, 4, 7];

/**
 * What the guidance scale does: the current seed, class, sampler and steps at each of {@link COMPARED_SCALES},
 * every run the library's `sampleLoop` from the same noise, its final latent decoded.
 */
async function compareGuidance() {
  errorBox.hidden = true;
  const { c, label, steps, seed, sampler } = readControls();
  controls.compare.disabled = controls.generate.disabled = true;
  const started = performance.now();
  setState("running", `Comparing guidance scales for ${c.name}…`);
  const model = await loadModel(c);
  const compared = respacedDiffusion(c, sampler, steps);
  for (const [i, guidanceScale] of COMPARED_SCALES.entries()) {
    const latent = await sampleLoop({
      model,
      diffusion: compared,
      labels: [label],
      nullClass: c.nullClassId,
      latentShape: [c.latent.channels, c.latent.height, c.latent.width],
      random: new SeededRandom(seed),
      guidanceScale,
      sampler,
    });
    paint(`compare-${i}`, toImageData(await model.decode(latent), 0));
    await new Promise((resolve) => setTimeout(resolve, 0)); // let the page paint
  }
  controls.compare.disabled = controls.generate.disabled = false;
  const ms = Math.round(performance.now() - started);
  document.body.dataset.compareMs = String(ms);
  setState(
    "done",
    `${c.name}, ${c.classes[label].name}: guidance scales ${COMPARED_SCALES.join(", ")} in ${ms} ms`,
  );
}

/** One canvas per compared scale, captioned with it: the page's figures follow {@link COMPARED_SCALES}. */
function buildComparison() {
  element("compare-row").replaceChildren(...COMPARED_SCALES.map((scale, i) => {
    const figure = document.createElement("figure"), canvas = document.createElement("canvas");
    const caption = document.createElement("figcaption");
    Object.assign(canvas, { id: `compare-${i}`, className: "small", width: 128, height: 128 });
    caption.textContent = `s = ${scale}`;
    figure.append(canvas, caption);
    return figure;
  }));
}

async function start() {
  buildComparison();
  const response = await fetch("/models.json");
  if (!response.ok) throw new Error(`cannot read the model list: the server answered ${response.status}`);
  cards = await response.json();
  if (cards.length === 0) throw new Error("no models are shipped in models/; expected digits and emoji");
  controls.model.replaceChildren(...cards.map((c) => option(c.name)));
  controls.sampler.replaceChildren(...SAMPLERS.map((s) => option(s)));
  controls.model.value = cards.some((c) => c.name === "emoji") ? "emoji" : cards[0].name;
  chooseModel();
  controls.model.addEventListener("change", chooseModel);
  controls.timeline.addEventListener("input", () => show(Number(controls.timeline.value)));
  for (const id of ["xt", "x0"]) element(id).addEventListener("click", pickPatch);
  for (const pick of [controls.layer, controls.head]) {
    pick.addEventListener("change", () => attend().catch(showError));
  }
  controls.form.addEventListener("submit", (event) => {
    event.preventDefault();
    generate().catch(showError);
  });
  controls.compare.addEventListener("click", () => compareGuidance().catch(showError));
  controls.generate.disabled = false;
  setState("ready", "Ready.");
}

start().catch(showError);
