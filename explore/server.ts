/**
 * The explorer's web server: the page, its code and its attention worker's bundled from `lib/` by
 * `deno bundle`, ONNX Runtime Web's WebAssembly build from `node_modules`, the shipped models' cards and the
 * three files the page runs (the DiT graph, its weights, the VAE decoder), each checked against its card's
 * sha256 before it is served, and each DiT's weights as the glass box reads them, for the worker. Nothing else
 * is served: a request for any other path is answered 404.
 *
 * Every response carries the cross-origin isolation headers, so the page may use ONNX Runtime's threads
 * (`SharedArrayBuffer` needs `crossOriginIsolated`).
 *
 * @module
 */
import { isTextCard, type ModelCard, type ModelFile, readAnyCard } from "../lib/model/card.ts";
import { MODELS_DIR, oneLine, verifyModelFile, verifyOnnxFile } from "../lib/model/folder.ts";
import { loadGlassBox } from "../lib/model/glass_box.ts";
import { packWeights } from "./weights_wire.ts";

/** This folder: the page's HTML, CSS and TypeScript entry. */
const PAGE_DIR = new URL("./", import.meta.url).pathname;

/** ONNX Runtime Web's files the page loads: the WebAssembly-only build and its threaded runtime. */
const ORT_DIST = new URL("../node_modules/onnxruntime-web/dist/", import.meta.url).pathname;
const ORT_FILES = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];

/** The card files the page runs: the DiT's float32 graph, its weights, and the VAE decoder. */
export const SERVED_FILES: readonly ModelFile[] = ["dit", "vaeDecoder"];

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json; charset=utf-8",
  wasm: "application/wasm",
};

const HEADERS = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

/**
 * The shipped models the page runs: each folder of `models/` with a card that reads, class-conditioned (the page
 * picks a class; a text model such as `emoji-text` is left out), and a VAE decoder to draw with (the block-design
 * ablation's arms, which model the digits latent and ship no VAE, are left out).
 */
export function shippedModels(): ModelCard[] {
  return [...Deno.readDirSync(MODELS_DIR)]
    .filter((e) => e.isDirectory && e.name !== "recipes")
    .map((e) => e.name)
    .sort()
    .map((name) => readAnyCard(`${MODELS_DIR}${name}`))
    .filter((card): card is ModelCard => !isTextCard(card) && card.files.vaeDecoder !== undefined);
}

/** The page's code and its attention worker, each with what it imports from `lib/`, as browser modules. */
export async function bundlePage(): Promise<Bundle> {
  const [main, worker] = await Promise.all([bundle("main.ts"), bundle("attention_worker.ts")]);
  return { main, worker };
}

/** The bundled code the server hands out: the page's (`/main.js`) and its worker's (`/worker.js`). */
export interface Bundle {
  main: string;
  worker: string;
}

/** One entry of this folder bundled by `deno bundle` for the browser, ONNX Runtime Web left to the page. */
async function bundle(entry: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform=browser",
      "--external=onnxruntime-web",
      `${PAGE_DIR}${entry}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `cannot bundle the page (deno bundle: ${oneLine(new TextDecoder().decode(stderr), 400)})`,
    );
  }
  return new TextDecoder().decode(stdout);
}

/**
 * The request handler: the page, its bundle, ONNX Runtime Web's files, `models.json` (every shipped card) and
 * the files {@link SERVED_FILES} names of each card, after {@link verifyModelFile}; 404 for anything else.
 */
export function explorerHandler(bundle: Bundle): (request: Request) => Promise<Response> {
  const page = (name: string) => Deno.readFile(`${PAGE_DIR}${name}`);
  const routes: Record<string, () => Promise<BodyInit>> = {
    "/": () => page("index.html"),
    "/style.css": () => page("style.css"),
    "/main.js": () => Promise.resolve(bundle.main),
    "/worker.js": () => Promise.resolve(bundle.worker),
    "/models.json": () => Promise.resolve(JSON.stringify(shippedModels())),
  };
  for (const name of ORT_FILES) routes[`/ort/${name}`] = () => Deno.readFile(`${ORT_DIST}${name}`);
  return async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method !== "GET" && request.method !== "HEAD") return reply(405, "only GET and HEAD");
    try {
      const route = routes[pathname];
      if (route) return reply(200, await route(), type(pathname === "/" ? "index.html" : pathname));
      const glassBox = /^\/glass-box\/([^/]+)\.bin$/.exec(pathname);
      const weights = glassBox && glassBoxWeights(decodeURIComponent(glassBox[1]));
      if (weights) return reply(200, weights, "application/octet-stream");
      const file = modelFile(pathname);
      if (file) return reply(200, await Deno.readFile(file), "application/octet-stream");
      return reply(404, `not found: ${oneLine(pathname, 200)}`);
    } catch (error) {
      return reply(500, oneLine(error instanceof Error ? error.message : String(error), 400));
    }
  };
}

/**
 * The real path of `/models/NAME/FILE` when NAME is a shipped model and FILE one its card names among
 * {@link SERVED_FILES} (or the DiT's weights), checked against the card; otherwise null.
 */
function modelFile(pathname: string): string | null {
  const match = /^\/models\/([^/]+)\/([^/]+)$/.exec(pathname);
  if (!match) return null;
  const [, model, name] = match.map(decodeURIComponent);
  const card = shippedModels().find((c) => c.name === model);
  if (!card) return null;
  const dir = `${MODELS_DIR}${card.name}`;
  if (name === card.files.ditWeights) return verifyModelFile(dir, card, name, "the DiT's weights");
  if (!SERVED_FILES.some((role) => card.files[role] === name)) return null;
  return verifyOnnxFile(dir, card, name);
}

const packed = new Map<string, Uint8Array<ArrayBuffer>>();

/**
 * The weights of a shipped DiT for the page's attention worker, read by the glass box (`loadGlassBox`: the card
 * and `dit.onnx` checked as for any use) and packed by {@link packWeights}; null for any other name.
 */
function glassBoxWeights(model: string): Uint8Array<ArrayBuffer> | null {
  const card = shippedModels().find((c) => c.name === model && c.architecture.type === "DiT");
  if (!card) return null;
  if (!packed.has(card.name)) {
    packed.set(card.name, packWeights(loadGlassBox(`${MODELS_DIR}${card.name}`).weights));
  }
  return packed.get(card.name)!;
}

function type(path: string): string {
  return TYPES[path.slice(path.lastIndexOf(".") + 1)] ?? "application/octet-stream";
}

function reply(status: number, body: BodyInit, contentType = "text/plain; charset=utf-8"): Response {
  return new Response(body, { status, headers: { ...HEADERS, "content-type": contentType } });
}

/** A running explorer: its address, and how to stop it. */
export interface Explorer {
  /** `http://127.0.0.1:PORT/`. */
  url: string;
  /** Stops serving; resolves once every connection is closed. */
  shutdown(): Promise<void>;
}

/**
 * Bundles the page and serves it on 127.0.0.1 (never another interface): on `port`, or a free one when it is 0.
 *
 * @example
 * ```ts ignore
 * const explorer = await serveExplorer(0);
 * console.log(explorer.url);
 * await explorer.shutdown();
 * ```
 */
export async function serveExplorer(port = 0): Promise<Explorer> {
  const handler = explorerHandler(await bundlePage());
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, handler);
  } catch (error) {
    throw new Error(
      `cannot serve on 127.0.0.1:${port} (${
        oneLine((error as Error).message)
      }); expected a free port, or no --port for any free one`,
    );
  }
  return { url: `http://127.0.0.1:${server.addr.port}/`, shutdown: () => server.shutdown() };
}
