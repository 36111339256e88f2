/**
 * `deno task bench`: how fast the shipped DiTs sample on this machine, against PyTorch on the same CPU and
 * against the machine's own matrix-multiply rate, all measured in this one run (ratios are what count: absolute
 * times drift on shared machines). Prints a table and writes bench/RESULTS.md.
 *
 * Per model: one guided denoising step (one DiT forward at batch 2·n) at n = 1, 8, 32 in ONNX Runtime and in
 * PyTorch (bench/torch_step.py, the recipe's model with the same weights, at its fastest thread setting); the
 * FLOPs of a step counted from the architecture and the rate achieved; the TypeScript time per step outside
 * `session.run`; then for the default model the cold start to the first step, the whole default
 * `deno task sample`, and the peak RSS of sampling n = 1 and n = 32 images.
 *
 * @module
 */
import { findPython, TORCH_INSTALL } from "../cli/python.ts";
import { type ModelCard, readCard } from "../lib/model/card.ts";
import onnxProto from "onnx-proto";
import { ort, sessionOptions } from "../lib/model/onnx.ts";
import { DEFAULT_MODEL, loadDiT, MODELS_DIR } from "../lib/pipeline.ts";
import { SeededRandom } from "../lib/random.ts";

const NS = [1, 8, 32];
const REPEATS = 10;
const ROOT = new URL("../", import.meta.url).pathname;
/** The middle value (the upper of the two middle ones for an even count). */
export const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** FLOPs of one forward pass of one sample (multiply-adds count 2), from the card's architecture. */
export function forwardFlops(card: ModelCard): number {
  const { inputSize, patchSize: p, inChannels: C, hiddenSize: D, depth, mlpRatio, frequencyEmbeddingSize } =
    card.architecture;
  const T = (inputSize / p) ** 2, out = p * p * 2 * C;
  const embed = T * p * p * C * D + frequencyEmbeddingSize * D + D * D;
  const block = 6 * D * D + T * 3 * D * D + 2 * T * T * D + T * D * D + 2 * T * D * mlpRatio * D;
  const final = 2 * D * D + T * D * out;
  return 2 * (embed + depth * block + final);
}

/** Median ms of one DiT forward at batch b in ONNX Runtime, with the toolkit's session options. */
async function ortStepMs(
  dit: Awaited<ReturnType<typeof loadDiT>>,
  b: number,
  repeats: number,
): Promise<number> {
  const { channels, height, width } = dit.card.latent;
  const x = new SeededRandom(b).randn([b, channels, height, width]);
  const t = Array(b).fill(500),
    y = Array.from({ length: b }, (_, i) => (i < b / 2 ? 0 : dit.card.nullClassId));
  for (let i = 0; i < 2; i++) await dit.forward(x, t, y);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await dit.forward(x, t, y);
    times.push(performance.now() - start);
  }
  return median(times);
}

/** The TypeScript share of a sampling step: wall time per step minus the time inside the DiT's `run`. */
async function typescriptOverheadMs(dit: Awaited<ReturnType<typeof loadDiT>>, n: number, steps: number) {
  let inside = 0;
  const forward = dit.forward.bind(dit);
  dit.forward = async (x, t, y) => {
    const start = performance.now();
    const out = await forward(x, t, y);
    inside += performance.now() - start;
    return out;
  };
  const start = performance.now();
  await dit.sample({ classes: Array(n).fill(0), steps, decode: false });
  const wall = performance.now() - start;
  dit.forward = forward;
  return { perStepMs: (wall - inside) / steps, share: (wall - inside) / wall };
}

/** An ONNX model of `count` chained [1024×256]·[256×1024] and [1024×1024]·[1024×256] products. */
async function matmulModel(count: number): Promise<{ session: ort.InferenceSession; flops: number }> {
  const { onnx } = onnxProto; // (a CommonJS module: its namespace comes as the default export)
  const random = new SeededRandom(9);
  const weight = (name: string, dims: number[]) =>
    onnx.TensorProto.create({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(random.randn(dims).data.map((v) => v * 0.05).buffer),
    });
  const nodes = [], initializer = [];
  let input = "x";
  for (let i = 0; i < count; i++) {
    initializer.push(weight(`w${i}a`, [256, 1024]), weight(`w${i}b`, [1024, 256]));
    nodes.push(onnx.NodeProto.create({ opType: "MatMul", input: [input, `w${i}a`], output: [`h${i}`] }));
    nodes.push(onnx.NodeProto.create({ opType: "MatMul", input: [`h${i}`, `w${i}b`], output: [`y${i}`] }));
    input = `y${i}`;
  }
  const value = (name: string) =>
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: { dim: [{ dimValue: 1024 }, { dimValue: 256 }] },
        },
      },
    });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: { name: "matmul-chain", node: nodes, initializer, input: [value("x")], output: [value(input)] },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  return {
    session: await ort.InferenceSession.create(bytes, sessionOptions()),
    flops: count * 2 * 2 * 1024 * 256 * 1024,
  };
}

async function ortMatmulGflops(): Promise<number> {
  const { session, flops } = await matmulModel(4);
  const x = new ort.Tensor("float32", new SeededRandom(1).randn([1024, 256]).data, [1024, 256]);
  for (let i = 0; i < 2; i++) await session.run({ x });
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = performance.now();
    await session.run({ x });
    times.push(performance.now() - start);
  }
  await session.release();
  return flops / median(times) / 1e6;
}

interface TorchRun {
  setting: string;
  stepMs: Record<string, number>;
  matmulGflops: number;
  torch: string;
}

/** bench/torch_step.py under each thread setting; PyTorch's best is the fastest of them. */
async function torchRuns(python: string, modelDir: string): Promise<TorchRun[]> {
  const settings: [string, Record<string, string>][] = [
    ["1 thread, OpenBLAS 1", { DIT_TORCH_THREADS: "1", OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1" }],
    ["2 threads, OpenBLAS 2", { DIT_TORCH_THREADS: "2", OPENBLAS_NUM_THREADS: "2", OMP_NUM_THREADS: "2" }],
    ["torch 2 threads, OpenBLAS default", { DIT_TORCH_THREADS: "2" }],
    ["torch 1 thread, OpenBLAS 2", {
      DIT_TORCH_THREADS: "1",
      OPENBLAS_NUM_THREADS: "2",
      OMP_NUM_THREADS: "1",
    }],
  ];
  const runs: TorchRun[] = [];
  for (const [setting, env] of settings) {
    const args = [
      `${ROOT}bench/torch_step.py`,
      modelDir,
      "--n",
      ...NS.map(String),
      "--repeats",
      String(REPEATS),
    ];
    const clean = { ...Deno.env.toObject() };
    delete clean.OPENBLAS_NUM_THREADS; // each setting says what it wants; nothing leaks in from our environment
    delete clean.OMP_NUM_THREADS;
    const out = await new Deno.Command(python, {
      args,
      env: { ...clean, ...env },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    if (!out.success) {
      throw new Error(`torch_step.py (${setting}) failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    runs.push({ setting, ...JSON.parse(new TextDecoder().decode(out.stdout)) });
  }
  return runs;
}

/** Wall seconds and peak RSS (MiB) of a command, through GNU time. */
async function timed(args: string[]): Promise<{ seconds: number; rssMiB: number }> {
  const start = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-v", ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - start) / 1000;
  const text = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${args.join(" ")} failed:\n${text.slice(-2000)}`);
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1]);
  return { seconds, rssMiB: kb / 1024 };
}

/** Process start → the first denoising step done, as a separate Deno process reports it. */
async function coldStartSeconds(model: string): Promise<number> {
  const script = `import { loadDiT } from "${ROOT}lib/pipeline.ts";
const dit = await loadDiT("${model}");
await dit.sample({ classes: [0], steps: 1, decode: false });
console.log(performance.now());`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: ROOT,
    stdout: "piped",
  })
    .output();
  return Number(new TextDecoder().decode(out.stdout).trim()) / 1000; // performance.now() counts from process start
}

function cpuDescription(): { model: string; flags: string } {
  const info = Deno.readTextFileSync("/proc/cpuinfo");
  const model = /model name\s*:\s*(.*)/.exec(info)?.[1] ?? "unknown";
  const flags = (/flags\s*:\s*(.*)/.exec(info)?.[1] ?? "").split(" ");
  const wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"];
  return { model, flags: wanted.filter((f) => flags.includes(f)).join(" ") };
}

if (import.meta.main) {
  const python = findPython(["torch", "onnx"]);
  if (!python) {
    console.error(`bench: no python3 with PyTorch; the PyTorch column is skipped. Install: ${TORCH_INSTALL}`);
  }
  const cpu = cpuDescription();
  const lines: string[] = [];
  const say = (line = "") => {
    console.log(line);
    lines.push(line);
  };
  const ortPeak = await ortMatmulGflops();
  say(`# Benchmark\n`);
  say(
    `${
      new Date().toISOString().slice(0, 10)
    } · ${cpu.model} · ${navigator.hardwareConcurrency} cores · ${cpu.flags}`,
  );
  say(`Deno ${Deno.version.deno} · onnxruntime-node ${ort.env.versions.node}\n`);
  const rows: string[][] = [];
  let torchPeak = 0;
  for (const name of ["digits", "emoji"]) {
    const dir = `${MODELS_DIR}${name}`;
    const card = readCard(dir);
    const dit = await loadDiT(name);
    const torch = python ? await torchRuns(python, dir) : [];
    torchPeak = Math.max(torchPeak, ...torch.map((r) => r.matmulGflops));
    const flops = forwardFlops(card);
    for (const n of NS) {
      const ms = await ortStepMs(dit, 2 * n, n === 32 ? 5 : REPEATS);
      const best = torch.length ? torch.reduce((a, b) => (a.stepMs[n] <= b.stepMs[n] ? a : b)) : undefined;
      const gflops = (flops * 2 * n) / ms / 1e6;
      rows.push([
        name,
        String(n),
        ms.toFixed(1),
        (ms / n).toFixed(2),
        best ? best.stepMs[n].toFixed(1) : "-",
        best ? (ms / best.stepMs[n]).toFixed(2) : "-",
        best?.setting ?? "-",
        ((flops * 2 * n) / 1e9).toFixed(2),
        gflops.toFixed(0),
      ]);
    }
    const overhead = await typescriptOverheadMs(dit, 8, 10);
    rows.push([
      name,
      "8, in a sampling loop",
      "",
      "",
      "",
      "",
      `TS outside session.run: ${overhead.perStepMs.toFixed(2)} ms/step (${
        (overhead.share * 100).toFixed(1)
      }%)`,
      "",
      "",
    ]);
    await dit.close();
  }
  const peak = Math.max(ortPeak, torchPeak);
  say(
    `Measured fp32 matrix-multiply peak: ${ortPeak.toFixed(0)} GFLOP/s (ONNX Runtime MatMul), ${
      torchPeak ? torchPeak.toFixed(0) : "-"
    } GFLOP/s (PyTorch/OpenBLAS, best setting); the larger, ${peak.toFixed(0)}, is the reference below.\n`,
  );
  say(
    "| model | n | ORT step (ms) | per image (ms) | PyTorch best (ms) | ORT / PyTorch | PyTorch setting | GFLOP per step | ORT GFLOP/s |",
  );
  say("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) say(`| ${r.join(" | ")} |`);
  const emojiN8 = rows.find((r) => r[0] === "emoji" && r[1] === "8")!;
  say(`\nemoji at n = 8 reaches ${(Number(emojiN8[8]) / peak * 100).toFixed(0)}% of the measured peak.\n`);

  const cold = await coldStartSeconds(DEFAULT_MODEL);
  const tmp = await Deno.makeTempDir({ prefix: "dit-bench-" });
  const sampleArgs = [Deno.execPath(), "run", "-A", `${ROOT}cli/sample.ts`];
  const whole = await timed([...sampleArgs, "--out", `${tmp}/default`]);
  const n1 = await timed([...sampleArgs, "--n", "1", "--steps", "10", "--out", `${tmp}/n1`]);
  const n32 = await timed([...sampleArgs, "--n", "32", "--steps", "10", "--out", `${tmp}/n32`]);
  await Deno.remove(tmp, { recursive: true });
  say(`| default model (${DEFAULT_MODEL}) | |`);
  say("| --- | --- |");
  say(`| cold start: process start → first step done | ${cold.toFixed(2)} s |`);
  say(`| the whole default \`deno task sample\` | ${whole.seconds.toFixed(1)} s |`);
  say(`| peak RSS, n = 1 | ${n1.rssMiB.toFixed(0)} MiB |`);
  say(`| peak RSS, n = 32 | ${n32.rssMiB.toFixed(0)} MiB |`);
  say(
    `\nMeasured by \`deno task bench\` (bench/bench.ts); PyTorch ${
      python ? "via bench/torch_step.py" : "not installed"
    }.`,
  );
  Deno.writeTextFileSync(`${ROOT}bench/RESULTS.md`, lines.join("\n") + "\n");
}
