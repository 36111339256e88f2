/// <reference lib="dom" />
/**
 * The shipped models in the browser: a {@link DiTModel} (what `sampleLoop` takes) and a VAE decoder on ONNX
 * Runtime Web's WebAssembly backend, loaded from the explorer's server. The page's counterpart of
 * `lib/pipeline.ts`'s `DiTPipeline.forward` and `decode`: the same graphs, inputs and outputs.
 *
 * @module
 */
import * as ort from "onnxruntime-web";
import type { ModelCard } from "../lib/model/card.ts";
import type { DiTModel } from "../lib/sampler.ts";
import { Tensor } from "../lib/tensor.ts";

/** Where the page finds ONNX Runtime Web's `.wasm` and its loader (served by `server.ts`). */
ort.env.wasm.wasmPaths = new URL("/ort/", location.href).href;
// threads need cross-origin isolation, which the server's headers give; one per core
ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? navigator.hardwareConcurrency : 1;

/** The session creation in progress, if any (see {@link createSession}). */
let creating: Promise<unknown> = Promise.resolve();

/**
 * `ort.InferenceSession.create`, one at a time: ONNX Runtime Web mounts external data for the whole module and
 * unmounts it when any session's creation ends, so a decoder opened alongside a DiT could take the DiT's weights
 * away mid-load ("Module.MountedFiles is not available").
 */
function createSession(graph: Uint8Array, options: ort.InferenceSession.SessionOptions) {
  const session = creating.then(() => ort.InferenceSession.create(graph, options));
  creating = session.catch(() => undefined);
  return session;
}

/** A shipped model loaded in the page: the DiT for the sampler, and the VAE decoder. */
export class WebDiT implements DiTModel {
  /** The model's card, as the server read and checked it. */
  readonly card: ModelCard;
  readonly #dit: ort.InferenceSession;
  readonly #decoder: ort.InferenceSession;

  private constructor(card: ModelCard, dit: ort.InferenceSession, decoder: ort.InferenceSession) {
    this.card = card;
    this.#dit = dit;
    this.#decoder = decoder;
  }

  /**
   * Fetches the model's DiT graph, its weights and the VAE decoder from the server and opens them.
   * @throws an `Error` naming the file that could not be fetched or opened.
   */
  static async load(card: ModelCard): Promise<WebDiT> {
    const base = new URL(`/models/${encodeURIComponent(card.name)}/`, location.href);
    const fetchBytes = async (name: string) => {
      const response = await fetch(new URL(encodeURIComponent(name), base));
      if (!response.ok) {
        throw new Error(
          `${card.name}/${name}: the server answered ${response.status} (${await response.text()})`,
        );
      }
      return new Uint8Array(await response.arrayBuffer());
    };
    const open = async (name: string, external?: string) => {
      const [graph, weights] = await Promise.all([
        fetchBytes(name),
        external ? fetchBytes(external) : undefined,
      ]);
      try {
        return await createSession(graph, {
          executionProviders: ["wasm"],
          graphOptimizationLevel: "all",
          externalData: external && weights ? [{ path: external, data: weights }] : undefined,
        });
      } catch (error) {
        throw new Error(
          `${card.name}/${name}: ONNX Runtime Web cannot open it (${(error as Error).message})`,
        );
      }
    };
    const decoderName = card.files.vaeDecoder;
    if (!decoderName) {
      throw new Error(`${card.name}: its card names no vaeDecoder; expected one to draw images`);
    }
    const [dit, decoder] = await Promise.all([
      open(card.files.dit, card.files.ditWeights),
      open(decoderName),
    ]);
    return new WebDiT(card, dit, decoder);
  }

  /** One DiT forward pass: x_t `[B, C, h, w]`, timesteps and labels → `[B, 2C, h, w]` (ε̂ then v). */
  async forward(x: Tensor, t: readonly number[], y: readonly number[]): Promise<Tensor> {
    const int64 = (v: readonly number[]) =>
      new ort.Tensor("int64", BigInt64Array.from(v, BigInt), [v.length]);
    const result = await this.#dit.run({
      x: new ort.Tensor("float32", x.data, x.shape),
      t: int64(t),
      y: int64(y),
    });
    return fromOrt(result.out);
  }

  /** DiT latents → images in [-1, 1]: the VAE decoder applied to latents ÷ the card's scale factor. */
  async decode(latents: Tensor): Promise<Tensor> {
    const scale = Math.fround(1 / this.card.latent.scaleFactor);
    const latent = new ort.Tensor("float32", latents.data.map((v) => v * scale), latents.shape);
    return fromOrt((await this.#decoder.run({ latent })).image);
  }
}

function fromOrt(value: ort.Tensor): Tensor {
  return new Tensor(value.data as Float32Array, [...value.dims]);
}
