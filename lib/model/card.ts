/**
 * The model card: every fact about a shipped model lives in `models/<name>/card.json`, and the toolkit reads
 * them from there (nothing model-specific is written into `lib/`). This module reads a card, checks that it
 * holds what the sampler needs, and checks an ONNX Runtime session against it.
 *
 * @module
 */
import type { ScheduleName } from "../schedule.ts";

/** One input or output of an ONNX file as the card records it; `"B"` marks the dynamic batch. */
export interface ValueSpec {
  /** The value's name in the graph. */
  name: string;
  /** Its element type, as onnxruntime's JavaScript API names it (`"float32"`, `"int64"`). */
  type: string;
  /** Its dimensions; a string is a symbolic (dynamic) one. */
  shape: (number | string)[];
}

/**
 * The ONNX files a card can name, by role: the DiT in float32 (`dit`) and with int8 matrix multiplies
 * (`ditInt8`, optional), both reading the weights in `files.ditWeights`; the VAE's two halves; the classifier
 * the quality is measured with.
 */
export type ModelFile = "dit" | "ditInt8" | "vaeEncoder" | "vaeDecoder" | "classifier";

/** What `card.json` holds (recipes/export.py writes it; recipes/evaluate.py adds `quality`). */
export interface ModelCard {
  /** The model's name (its folder under `models/`). */
  name: string;
  /** What the model draws, in a sentence. */
  description: string;
  /** File names by role, relative to the card's folder. */
  files: Partial<Record<ModelFile, string>> & Record<string, string>;
  /** sha256 (hex) of every file in `files`. */
  sha256: Record<string, string>;
  /** The DiT's configuration, in the reference's terms (camelCased). */
  architecture: {
    type: "DiT";
    inputSize: number;
    patchSize: number;
    inChannels: number;
    hiddenSize: number;
    depth: number;
    numHeads: number;
    mlpRatio: number;
    learnSigma: boolean;
    classDropoutProb: number;
    frequencyEmbeddingSize: number;
    numClasses: number;
    parameters: number;
  };
  /** The class ids and names the DiT was trained on. */
  classes: { id: number; name: string }[];
  /** The label of the null class (classifier-free guidance's unconditional half). */
  nullClassId: number;
  /** The diffusion process the DiT was trained with. */
  diffusion: {
    schedule: ScheduleName;
    numTimesteps: number;
    prediction: "epsilon";
    variance: "learned-range";
  };
  /** The images the VAE encodes and decodes. */
  image?: { channels: number; height: number; width: number; range: [number, number]; layout: "NCHW" };
  /** The latent the DiT models; latents are VAE latents × scaleFactor. */
  latent: { channels: number; height: number; width: number; scaleFactor: number };
  /** The ONNX files' contract: opset, weight storage, and each file's inputs and outputs. */
  onnx: { opset: number } & Record<string, unknown>;
  /** Measured quality (recipes/evaluate.py). */
  quality?: Record<string, unknown>;
}

/**
 * Reads and checks `<folder>/card.json`.
 *
 * @throws an `Error` naming the card and the field that is missing or wrong.
 *
 * @example
 * ```ts
 * import { readCard } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const card = readCard(new URL("../../models/digits", import.meta.url).pathname);
 * assert.equal(card.classes.length, card.architecture.numClasses);
 * ```
 */
export function readCard(folder: string): ModelCard {
  const path = `${folder}/card.json`;
  let card: ModelCard;
  try {
    card = JSON.parse(Deno.readTextFileSync(path));
  } catch (error) {
    throw new Error(`${path}: cannot read the model card (${(error as Error).message})`);
  }
  const fail = (field: string, expected: string, got: unknown) => {
    throw new Error(`${path}: ${field} is ${JSON.stringify(got)}; expected ${expected}`);
  };
  const positive = (field: string, value: unknown) => {
    if (!Number.isInteger(value) || (value as number) <= 0) fail(field, "a positive integer", value);
  };
  if (typeof card.files?.dit !== "string") fail("files.dit", "the DiT's ONNX file name", card.files?.dit);
  const a = card.architecture ?? {};
  for (
    const key of ["inputSize", "patchSize", "inChannels", "hiddenSize", "depth", "numHeads", "numClasses"]
  ) {
    positive(`architecture.${key}`, (a as Record<string, unknown>)[key]);
  }
  if (a.inputSize % a.patchSize !== 0) {
    fail("architecture.patchSize", `a divisor of inputSize ${a.inputSize}`, a.patchSize);
  }
  if (!Array.isArray(card.classes) || card.classes.length !== a.numClasses) {
    fail("classes", `${a.numClasses} classes (architecture.numClasses)`, card.classes?.length);
  }
  card.classes.forEach((c, i) => {
    if (c.id !== i || typeof c.name !== "string") fail(`classes[${i}]`, `{ id: ${i}, name: string }`, c);
  });
  if (card.nullClassId !== a.numClasses) {
    fail("nullClassId", `${a.numClasses} (the row after the classes)`, card.nullClassId);
  }
  const l = card.latent ?? {};
  if (l.channels !== a.inChannels || l.height !== a.inputSize || l.width !== a.inputSize) {
    fail("latent", `channels ${a.inChannels}, height and width ${a.inputSize} (the DiT's input)`, l);
  }
  if (!(l.scaleFactor > 0)) fail("latent.scaleFactor", "a positive number", l.scaleFactor);
  if (!["linear", "squaredcos_cap_v2"].includes(card.diffusion?.schedule)) {
    fail("diffusion.schedule", '"linear" or "squaredcos_cap_v2"', card.diffusion?.schedule);
  }
  positive("diffusion.numTimesteps", card.diffusion?.numTimesteps);
  return card;
}

/** One input or output as an ONNX Runtime session describes it. */
export interface ValueMetadata {
  /** Its name in the graph. */
  name: string;
  /** Whether it is a tensor (all of the toolkit's are). */
  isTensor: boolean;
  /** Its element type, e.g. `"float32"`. */
  type?: string;
  /** Its dimensions; a string is a symbolic one. */
  shape?: readonly (number | string)[];
}

/** The parts of an ONNX Runtime session that {@link checkSession} reads. */
export interface SessionMetadata {
  /** The session's inputs, in order. */
  inputMetadata: readonly ValueMetadata[];
  /** The session's outputs, in order. */
  outputMetadata: readonly ValueMetadata[];
}

/**
 * Checks a session's inputs and outputs against what the card records for that file: names, types and
 * shapes, with any symbolic dimension standing for the batch.
 *
 * @throws an `Error` naming the file, the value and what differs.
 */
export function checkSession(card: ModelCard, file: ModelFile, session: SessionMetadata): void {
  const filename = card.files[file];
  const spec = (card.onnx as Record<string, { inputs: ValueSpec[]; outputs: ValueSpec[] }>)[filename ?? ""];
  if (!filename || !spec) {
    throw new Error(`card ${card.name}: onnx["${filename}"] is missing; expected its inputs and outputs`);
  }
  for (
    const [kind, expected, actual] of [
      ["input", spec.inputs, session.inputMetadata],
      ["output", spec.outputs, session.outputMetadata],
    ] as const
  ) {
    const names = actual.map((v) => v.name).join(", ");
    if (names !== expected.map((v) => v.name).join(", ")) {
      throw new Error(
        `${filename}: ${kind}s are [${names}]; the card expects [${expected.map((v) => v.name).join(", ")}]`,
      );
    }
    for (const [i, want] of expected.entries()) {
      const got = actual[i];
      const shape = (got.shape ?? []).map((d) => (typeof d === "string" ? "B" : d));
      const wantShape = want.shape.map((d) => (typeof d === "string" ? "B" : d));
      if (!got.isTensor || got.type !== want.type || shape.join() !== wantShape.join()) {
        throw new Error(
          `${filename}: ${kind} ${want.name} is ${got.type} [${shape}]; the card expects ${want.type} [${wantShape}]`,
        );
      }
    }
  }
}
