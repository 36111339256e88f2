/**
 * A model folder someone sent you, made hostile every way we know: paths that climb out (`..`, absolute),
 * symlinks out of the folder and to `/dev/zero`, FIFOs where files should be, a card of 2 MB or declaring
 * 200 MB, null, wrong-typed, huge or missing fields, hashes that do not match and NaN-filled weights.
 * `loadDiT`, the VAE on first use, `loadGlassBox` and the CLI must each refuse every one with a one-line
 * error naming what is wrong, within seconds and without reading outside the folder or writing anywhere.
 *
 * The loads run in a child process (this file run with `--driver`): a FIFO blocks a synchronous read, which no
 * timer in the same process could interrupt, so a hang here kills the child and fails the test instead of
 * hanging CI.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import onnxProto from "onnx-proto";

const ROOT = new URL("../", import.meta.url).pathname;
const DIGITS = `${ROOT}models/digits`;
/** The files of the digits model a folder needs for every load tried here (about 9.6 MB). */
const FILES = ["card.json", "dit.onnx", "dit.weights", "dit_int8.onnx", "vae_decoder.onnx"];
/** Each load must end this quickly, hostile or not. */
const CASE_SECONDS = 5;
/** And the child that runs them all no slower than this, or it is killed as hung. */
const DRIVER_SECONDS = 120;

/** How a folder is loaded: the fp32 or int8 DiT, the VAE decoder after the DiT, or the glass box. */
type Load = "dit" | "int8" | "decode" | "glass";

// deno-lint-ignore no-explicit-any
type Card = any;

interface Case {
  /** What is hostile about the folder. */
  name: string;
  /** Makes the folder hostile: `dir` is a copy of the digits model, `root` holds it and `root/outside`. */
  setup: (dir: string, root: string) => void | Promise<void>;
  /** The one-line error every load in `loads` must give. */
  error: RegExp;
  /** The loads that read what `setup` broke. */
  loads: Load[];
}

const ALL: Load[] = ["dit", "int8", "decode", "glass"];

function editCard(dir: string, edit: (card: Card) => unknown): void {
  const card = JSON.parse(Deno.readTextFileSync(`${dir}/card.json`));
  const replaced = edit(card);
  Deno.writeTextFileSync(`${dir}/card.json`, JSON.stringify(replaced === undefined ? card : replaced));
}

/** Replaces a file by a new one (never writing through a link into models/). */
function replaceFile(path: string, bytes: Uint8Array): void {
  Deno.removeSync(path);
  Deno.writeFileSync(path, bytes);
}

function replaceBySymlink(path: string, target: string): void {
  Deno.removeSync(path);
  Deno.symlinkSync(target, path);
}

async function replaceByFifo(path: string): Promise<void> {
  Deno.removeSync(path);
  const made = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(made.success, `mkfifo ${path}`);
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** dit.onnx with every external-data location replaced, and a card whose hash matches it (a careful attacker). */
function externalDataAt(dir: string, location: string): void {
  const { onnx } = onnxProto;
  const model = onnx.ModelProto.decode(Deno.readFileSync(`${dir}/dit.onnx`));
  for (const init of model.graph?.initializer ?? []) {
    for (const entry of init.externalData ?? []) if (entry.key === "location") entry.value = location;
  }
  const bytes = onnx.ModelProto.encode(model).finish();
  replaceFile(`${dir}/dit.onnx`, bytes);
  editCard(dir, (c) => void (c.sha256["dit.onnx"] = sha256(bytes)));
}

const CASES: Case[] = [
  {
    name: "card.json of null",
    setup: (d) => editCard(d, () => null),
    error: /card\.json: the card is null/,
    loads: ALL,
  },
  {
    name: "a card that is not JSON",
    setup: (d) => Deno.writeTextFileSync(`${d}/card.json`, '{"name": "x",\n\x1b[31m'),
    error: /card\.json: cannot read the model card \(/,
    loads: ALL,
  },
  {
    name: "a card without name",
    setup: (d) => editCard(d, (c) => void delete c.name),
    error: /card\.json: name is undefined; expected a plain name/,
    loads: ALL,
  },
  {
    name: "a name that climbs out",
    setup: (d) => editCard(d, (c) => void (c.name = "../../escaped")),
    error: /card\.json: name is "\.\.\/.*; expected a plain name/,
    loads: ALL,
  },
  {
    name: "files.dit climbing out (with its onnx entry and hash)",
    setup: (d) =>
      editCard(d, (c) => {
        c.onnx["../outside/dit.onnx"] = c.onnx["dit.onnx"];
        c.sha256["../outside/dit.onnx"] = c.sha256["dit.onnx"];
        c.files.dit = "../outside/dit.onnx";
      }),
    error: /card\.json: files\.dit is "\.\.\/outside\/dit\.onnx"; expected a plain name/,
    loads: ["dit", "glass"],
  },
  {
    name: "files.vaeDecoder naming /etc/passwd",
    setup: (d) => editCard(d, (c) => void (c.files.vaeDecoder = "/etc/passwd")),
    error: /card\.json: files\.vaeDecoder is "\/etc\/passwd"; expected a plain name/,
    loads: ALL,
  },
  {
    name: "dit.weights a symlink out of the folder",
    setup: (d, root) => replaceBySymlink(`${d}/dit.weights`, `${root}/outside/dit.weights`),
    error:
      /dit\.weights: (the DiT's weights|the weights file of dit\.onnx) resolves to .*\/outside\/dit\.weights, outside the model folder/,
    loads: ["dit", "int8", "glass"],
  },
  {
    name: "dit.weights a relative symlink climbing out",
    setup: (d) => replaceBySymlink(`${d}/dit.weights`, "../outside/dit.weights"),
    error: /dit\.weights: .* resolves to .*\/outside\/dit\.weights, outside the model folder/,
    loads: ["dit", "int8", "glass"],
  },
  {
    name: "dit.onnx naming its weights ../outside/dit.weights, hash matching",
    setup: (d) => externalDataAt(d, "../outside/dit.weights"),
    error: /dit\.onnx: its external data names "\.\.\/outside\/dit\.weights"; expected a plain file name/,
    loads: ["dit", "glass"],
  },
  {
    name: "dit.onnx naming its weights by an absolute path, hash matching",
    setup: (d, root) => externalDataAt(d, `${root}/outside/dit.weights`),
    error: /dit\.onnx: its external data names "\/.*"; expected a plain file name/,
    loads: ["dit", "glass"],
  },
  {
    name: "dit.onnx naming a weights file the card does not hash",
    setup: (d) => {
      Deno.copyFileSync(`${d}/dit.weights`, `${d}/other.weights`);
      externalDataAt(d, "other.weights");
    },
    error: /other\.weights: card digits has no sha256 for it/,
    loads: ["dit", "glass"],
  },
  {
    name: "card.json a symlink to /dev/zero",
    setup: (d) => replaceBySymlink(`${d}/card.json`, "/dev/zero"),
    error: /card\.json: the model card resolves to \/dev\/zero, outside the model folder/,
    loads: ALL,
  },
  {
    name: "dit.onnx a symlink to /dev/zero",
    setup: (d) => replaceBySymlink(`${d}/dit.onnx`, "/dev/zero"),
    error: /dit\.onnx: the ONNX model resolves to \/dev\/zero, outside the model folder/,
    loads: ["dit", "glass"],
  },
  {
    name: "dit.weights a symlink to /dev/zero",
    setup: (d) => replaceBySymlink(`${d}/dit.weights`, "/dev/zero"),
    error: /dit\.weights: .* resolves to \/dev\/zero, outside the model folder/,
    loads: ["dit", "int8", "glass"],
  },
  {
    name: "vae_decoder.onnx a symlink to /dev/zero (opened on first decode)",
    setup: (d) => replaceBySymlink(`${d}/vae_decoder.onnx`, "/dev/zero"),
    error: /vae_decoder\.onnx: the ONNX model resolves to \/dev\/zero, outside the model folder/,
    loads: ["decode"],
  },
  {
    name: "card.json a FIFO",
    setup: (d) => replaceByFifo(`${d}/card.json`),
    error: /card\.json: the model card is a FIFO; expected a regular file/,
    loads: ALL,
  },
  {
    name: "dit.onnx a FIFO",
    setup: (d) => replaceByFifo(`${d}/dit.onnx`),
    error: /dit\.onnx: the ONNX model is a FIFO; expected a regular file/,
    loads: ["dit", "glass"],
  },
  {
    name: "dit.weights a FIFO",
    setup: (d) => replaceByFifo(`${d}/dit.weights`),
    error:
      /dit\.weights: (the DiT's weights|the weights file of dit\.onnx) is a FIFO; expected a regular file/,
    loads: ["dit", "int8", "glass"],
  },
  {
    name: "dit.onnx a directory",
    setup: (d) => {
      Deno.removeSync(`${d}/dit.onnx`);
      Deno.mkdirSync(`${d}/dit.onnx`);
    },
    error: /dit\.onnx: the ONNX model is a directory; expected a regular file/,
    loads: ["dit", "glass"],
  },
  {
    name: "a card of 2 MB",
    setup: (d) => {
      const card = Deno.readTextFileSync(`${d}/card.json`);
      replaceFile(`${d}/card.json`, new TextEncoder().encode(card + " ".repeat(2 << 20)));
    },
    error: /card\.json: the model card is \d+ bytes; the limit is 1048576/,
    loads: ALL,
  },
  {
    name: "a card declaring 200 MB (sparse)",
    setup: (d) => Deno.truncateSync(`${d}/card.json`, 200 << 20),
    error: /card\.json: the model card is 209715200 bytes; the limit is 1048576/,
    loads: ALL,
  },
  {
    name: "a latent of 16384",
    setup: (d) =>
      editCard(d, (c) => void (c.architecture.inputSize = c.latent.height = c.latent.width = 16384)),
    error: /card\.json: architecture\.inputSize is 16384; expected a positive integer up to 256/,
    loads: ALL,
  },
  {
    name: "100,000 classes",
    setup: (d) =>
      editCard(d, (c) => {
        c.architecture.numClasses = c.nullClassId = 100_000;
        c.classes = Array.from({ length: 100_000 }, (_, id) => ({ id, name: `${id}` }));
      }),
    error: /card\.json: the model card is \d+ bytes; the limit is 1048576/, // ~2.7 MB of classes
    loads: ALL,
  },
  {
    name: "numTimesteps 1e8",
    setup: (d) => editCard(d, (c) => void (c.diffusion.numTimesteps = 1e8)),
    error: /card\.json: diffusion\.numTimesteps is 100000000; expected a positive integer up to 10000/,
    loads: ALL,
  },
  {
    name: "a string scaleFactor",
    setup: (d) => editCard(d, (c) => void (c.latent.scaleFactor = "1.4")),
    error: /card\.json: latent\.scaleFactor is "1\.4"; expected a number from 0\.001 to 1000/,
    loads: ALL,
  },
  {
    name: "no onnx section",
    setup: (d) => editCard(d, (c) => void delete c.onnx),
    error: /card\.json: onnx is undefined; expected an object/,
    loads: ALL,
  },
  {
    name: "a string shape",
    setup: (d) => editCard(d, (c) => void (c.onnx["dit.onnx"].outputs[0].shape = "B,8,8,8")),
    error: /card\.json: onnx\["dit\.onnx"\]\.outputs\[0\]\.shape is "B,8,8,8"; expected an array/,
    loads: ALL,
  },
  {
    name: "a hash that does not match",
    setup: (d) => editCard(d, (c) => void (c.sha256["dit.weights"] = "0".repeat(64))),
    error: /dit\.weights: sha256 does not match the card \(edited or corrupt\?\)$/,
    loads: ["dit", "int8", "glass"],
  },
  {
    name: "no hash for the DiT",
    setup: (d) => editCard(d, (c) => void delete c.sha256["dit.onnx"]),
    error: /dit\.onnx: card digits has no sha256 for it; expected sha256\["dit\.onnx"\]/,
    loads: ["dit", "glass"],
  },
  {
    name: "NaN-filled weights",
    setup: (d) => {
      const nan = new Uint16Array(Deno.statSync(`${d}/dit.weights`).size / 2).fill(0x7e00); // float16 NaN
      replaceFile(`${d}/dit.weights`, new Uint8Array(nan.buffer));
    },
    error: /dit\.weights: sha256 does not match the card \(edited or corrupt\?\)$/,
    loads: ["dit", "int8", "glass"],
  },
  {
    name: "truncated weights",
    setup: (d) => {
      const weights = Deno.readFileSync(`${d}/dit.weights`);
      replaceFile(`${d}/dit.weights`, weights.subarray(0, weights.length >> 1));
    },
    error: /dit\.weights: sha256 does not match the card \(edited or corrupt\?\)$/,
    loads: ["dit", "int8", "glass"],
  },
  {
    name: "a card whose size record disagrees",
    setup: (d) => editCard(d, (c) => void (c.bytes = { "dit.onnx": 5 })),
    error: /dit\.onnx: is \d+ bytes; the card says 5 \(edited or corrupt\?\)/,
    loads: ["dit", "glass"],
  },
];

/** A fresh copy of the digits model in `root/NAME`, and `root/outside` holding another copy. */
function copyOfDigits(root: string, name: string): string {
  for (const dir of [`${root}/${name}`, `${root}/outside`]) {
    try {
      Deno.mkdirSync(dir);
    } catch {
      continue; // outside is made once
    }
    for (const file of FILES) Deno.copyFileSync(`${DIGITS}/${file}`, `${dir}/${file}`);
  }
  return `${root}/${name}`;
}

/** Every file and folder under `dir`, for "nothing was written". */
function listing(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    out.push(entry.name);
    if (entry.isDirectory) out.push(...listing(`${dir}/${entry.name}`).map((n) => `${entry.name}/${n}`));
  }
  return out.sort();
}

/** One line of the driver's output: a load started, or how it ended. */
interface Report {
  case: number;
  load: Load;
  started?: true;
  error?: string;
  ms?: number;
  rssMB?: number;
}

/** Runs every load of every case in the child; one JSON line before and after each. */
async function driver(plan: string): Promise<void> {
  const { loadDiT } = await import("../lib/pipeline.ts");
  const { loadGlassBox } = await import("../lib/model/glass_box.ts");
  const { Tensor } = await import("../lib/tensor.ts");
  const say = (report: Report) => console.log(JSON.stringify(report));
  for (const [i, dir, load] of JSON.parse(Deno.readTextFileSync(plan)) as [number, string, Load][]) {
    say({ case: i, load, started: true });
    const start = performance.now();
    let error = "";
    try {
      if (load === "glass") loadGlassBox(dir);
      else {
        const dit = await loadDiT(dir, { precision: load === "int8" ? "int8" : "fp32" });
        try {
          if (load === "decode") await dit.decode(Tensor.zeros([1, 4, 8, 8]));
        } finally {
          await dit.close();
        }
      }
    } catch (e) {
      error = (e as Error).message;
    }
    const rssMB = Math.round(Deno.memoryUsage().rss / 2 ** 20);
    say({ case: i, load, error, ms: Math.round(performance.now() - start), rssMB });
  }
}

if (Deno.args[0] === "--driver") await driver(Deno.args[1]);

Deno.test("a hostile model folder gives loadDiT, the VAE and loadGlassBox a one-line error in seconds", async () => {
  const root = await Deno.makeTempDir({ prefix: "dit-hostile-" });
  try {
    const plan: [number, string, Load][] = [];
    for (const [i, c] of CASES.entries()) {
      const dir = copyOfDigits(root, `case-${i}`);
      await c.setup(dir, root);
      for (const load of c.loads) plan.push([i, dir, load]);
    }
    // and an untouched copy loads every way: the guards refuse what they should, not everything
    const good = copyOfDigits(root, "good");
    for (const load of ALL) plan.push([-1, good, load]);
    Deno.writeTextFileSync(`${root}/plan.json`, JSON.stringify(plan));

    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        `${ROOT}deno.json`,
        new URL(import.meta.url).pathname,
        "--driver",
        `${root}/plan.json`,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(DRIVER_SECONDS * 1000),
    }).spawn();
    const { stdout, stderr, code } = await child.output();
    const reports: Report[] = new TextDecoder().decode(stdout).split("\n").filter(Boolean).map((l) =>
      JSON.parse(l)
    );
    const ended = reports.filter((r) => !r.started);
    const hung = reports.filter((r) => r.started).find((s) =>
      !ended.some((e) => e.case === s.case && e.load === s.load)
    );
    assert.ok(
      !hung,
      `hung (killed after ${DRIVER_SECONDS} s): ${hung && CASES[hung.case]?.name} with ${hung?.load}`,
    );
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    // ONNX Runtime prints nothing of its own: every error is the one line thrown
    assert.equal(new TextDecoder().decode(stderr).trim(), "", "the driver wrote to stderr");
    assert.equal(ended.length, plan.length);
    for (const r of ended) {
      const what = r.case < 0 ? `the untouched copy with ${r.load}` : `${CASES[r.case].name} with ${r.load}`;
      assert.ok(r.ms! < CASE_SECONDS * 1000, `${what} took ${r.ms} ms`);
      assert.ok(r.rssMB! < 1024, `${what}: ${r.rssMB} MiB resident`);
      if (r.case < 0) {
        assert.equal(r.error, "", `${what} failed: ${r.error}`);
        continue;
      }
      assert.match(r.error!, CASES[r.case].error, what);
      assert.ok(!/[\n\r]/.test(r.error!) && r.error!.length < 500, `${what}: not one line: ${r.error}`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the CLI on a hostile folder exits non-zero with one line and writes nothing anywhere", async () => {
  const names = [
    "a name that climbs out",
    "files.dit climbing out (with its onnx entry and hash)",
    "dit.weights a symlink to /dev/zero",
    "card.json a FIFO",
    "NaN-filled weights",
    "card.json of null",
  ];
  const root = await Deno.makeTempDir({ prefix: "dit-hostile-cli-" });
  try {
    for (const name of names) {
      const c = CASES.find((c) => c.name === name)!;
      const dir = copyOfDigits(root, "model");
      await c.setup(dir, root);
      const cwd = `${root}/cwd`;
      Deno.mkdirSync(cwd);
      const before = listing(root);
      const start = performance.now();
      const run = await new Deno.Command(Deno.execPath(), {
        // no --out: the output folder would come from the card's name, relative to cwd
        args: [
          "run",
          "-A",
          "--config",
          `${ROOT}deno.json`,
          `${ROOT}cli/sample.ts`,
          "--model",
          dir,
          "--steps",
          "2",
        ],
        cwd,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      const seconds = (performance.now() - start) / 1000;
      const stderr = new TextDecoder().decode(run.stderr).trim();
      assert.notEqual(run.code, 0, `${name}: exit 0`);
      assert.ok(
        run.signal === null,
        `${name}: killed by ${run.signal} after ${seconds.toFixed(1)} s (hung?)`,
      );
      assert.match(stderr, /^sample: /, name);
      assert.ok(!stderr.includes("\n") && stderr.length < 500, `${name}: not one line: ${stderr}`);
      assert.match(stderr.slice("sample: ".length), c.error, name);
      assert.deepEqual(listing(root), before, `${name}: the CLI wrote or removed files`);
      await Deno.remove(`${root}/model`, { recursive: true });
      await Deno.remove(cwd, { recursive: true });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
