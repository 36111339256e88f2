/// <reference lib="dom" />
/**
 * The explorer's glass box, in a Web Worker so the page stays responsive: the DiT's forward pass by the parts of
 * `lib/dit.ts` (`ditForward`) on the model's weights, answering which tokens one patch attends to in a chosen
 * block and head. The last forward pass is kept, so another layer, head or patch of the same step is instant.
 *
 * Messages in: {@link AttentionRequest}; out: {@link AttentionReply}.
 *
 * @module
 */
import {
  type DiTArchitecture,
  ditForward,
  type DiTIntermediates,
  type DiTParameters,
  ditParameters,
} from "../lib/dit.ts";
import { Tensor } from "../lib/tensor.ts";
import { unpackWeights } from "./weights_wire.ts";

/** Where token `token` of the latent x_t (at timestep t, label y) looks in block `layer`, head `head`. */
export interface AttentionRequest {
  /** The model, as the server names it; its weights are fetched on first use. */
  model: string;
  /** Its architecture, from the card. */
  architecture: DiTArchitecture;
  /** x_t of one sample, `[1, C, H, W]`, as values and shape. */
  x: Float32Array;
  shape: readonly number[];
  t: number;
  y: number;
  layer: number;
  head: number;
  token: number;
}

/**
 * Sent before any click, so that the first click finds the work done: when a run starts, the model alone (fetch
 * its weights while the page samples); when it ends, with the step on show (run its forward pass). No reply.
 */
export type PrepareRequest =
  & Pick<AttentionRequest, "model" | "architecture">
  & Partial<Pick<AttentionRequest, "x" | "shape" | "t" | "y">>
  & { prepare: true };

/** The adaLN-Zero vectors a block computes from the conditioning c, in the order its `adaLN_modulation` gives them. */
export const MODULATIONS = ["shiftMsa", "scaleMsa", "gateMsa", "shiftMlp", "scaleMlp", "gateMlp"] as const;

/**
 * The attention row (one value per token, summing to 1); per block, the mean |value| of each of its
 * {@link MODULATIONS} (empty for a design without them); and how long the worker took. Or an error.
 */
export type AttentionReply = { row: Float32Array; modulation: number[][]; ms: number } | { error: string };

let loaded: { model: string; parameters: Promise<DiTParameters> } | undefined;
let last: { key: string; inside: DiTIntermediates } | undefined;

async function parametersOf(model: string, architecture: DiTArchitecture): Promise<DiTParameters> {
  if (loaded?.model !== model) {
    const parameters = (async () => {
      const response = await fetch(`/glass-box/${encodeURIComponent(model)}.bin`);
      if (!response.ok) throw new Error(`${model}: the server answered ${response.status} for its weights`);
      return ditParameters(unpackWeights(new Uint8Array(await response.arrayBuffer())), architecture);
    })();
    loaded = { model, parameters };
    last = undefined;
  }
  return await loaded.parameters;
}

/** The forward pass of one step's x_t, kept for the next request of the same step. */
async function lookInside(r: AttentionRequest): Promise<DiTIntermediates> {
  const parameters = await parametersOf(r.model, r.architecture);
  const key = `${r.model} ${r.t} ${r.y} ${r.x.join(",")}`;
  if (last?.key !== key) {
    last = { key, inside: ditForward(parameters, new Tensor(r.x, r.shape), [r.t], [r.y]) };
  }
  return last.inside;
}

self.onmessage = async (event: MessageEvent<AttentionRequest | PrepareRequest>) => {
  const started = performance.now();
  const r = event.data;
  if ("prepare" in r) {
    // a failure here shows when a click asks again, with the click's own error
    const { x, shape, t, y } = r;
    const work = x && shape && t !== undefined && y !== undefined
      ? lookInside({ ...r, x, shape, t, y, layer: 0, head: 0, token: 0 })
      : parametersOf(r.model, r.architecture);
    await work.catch(() => loaded = undefined);
    return;
  }
  try {
    const inside = await lookInside(r);
    const probabilities = inside.blocks[r.layer].attention; // [1, heads, T, T]
    const T = probabilities.shape[3];
    const from = (r.head * T + r.token) * T;
    const row = probabilities.data.slice(from, from + T);
    const meanAbs = (v: Float32Array) => v.reduce((s, x) => s + Math.abs(x), 0) / v.length;
    const modulation = inside.blocks.map((block) =>
      MODULATIONS.flatMap((name) => block[name] ? [meanAbs(block[name].data)] : [])
    );
    self.postMessage({ row, modulation, ms: performance.now() - started } satisfies AttentionReply);
  } catch (error) {
    loaded = undefined;
    self.postMessage({ error: (error as Error).message } satisfies AttentionReply);
  }
};
