/**
 * Which ONNX Runtime session options sample fastest on this machine? Times one guided DiT step (batch 2·8)
 * of each shipped model under each candidate, one session at a time in rounds, and prints the median per
 * candidate and its ratio to the library's default (`sessionOptions()` in lib/model/onnx.ts).
 *
 * Run: deno run -A bench/session_options.ts
 *
 * @module
 */
import { median } from "./bench.ts";
import { describeCpu } from "../lib/cpu.ts";
import { ort, sessionOptions } from "../lib/model/onnx.ts";
import { readCard } from "../lib/model/card.ts";
import { SeededRandom } from "../lib/random.ts";

const REPEATS = 10;
const ROUNDS = 3;
const candidates: Record<string, ort.InferenceSession.SessionOptions> = {
  "library default": sessionOptions(),
  "1 thread": { ...sessionOptions(), intraOpNumThreads: 1 },
  "spinning off": { ...sessionOptions(), extra: { session: { intra_op: { allow_spinning: "0" } } } },
  "basic graph optimization": { ...sessionOptions(), graphOptimizationLevel: "basic" },
  "onnxruntime defaults": {},
};

for (const name of ["digits", "emoji"]) {
  const dir = new URL(`../models/${name}`, import.meta.url).pathname;
  const card = readCard(dir);
  const n = 8, { channels: c, height: h, width: w } = card.latent;
  const feeds = {
    x: new ort.Tensor("float32", new SeededRandom(0).randn([2 * n, c, h, w]).data, [2 * n, c, h, w]),
    t: new ort.Tensor("int64", new BigInt64Array(2 * n).fill(500n), [2 * n]),
    y: new ort.Tensor("int64", new BigInt64Array(2 * n).fill(0n), [2 * n]),
  };
  // one candidate at a time, in rounds: a spinning session's idle threads would otherwise steal the cores of
  // whichever session runs next
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(candidates).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, options] of Object.entries(candidates)) {
      const session = await ort.InferenceSession.create(`${dir}/${card.files.dit}`, options);
      for (let i = 0; i < 3; i++) await session.run(feeds); // warm up
      for (let r = 0; r < REPEATS; r++) {
        const start = performance.now();
        await session.run(feeds);
        times[label].push(performance.now() - start);
      }
      await session.release();
    }
  }
  const base = median(times["library default"]);
  console.log(
    `\n${name}: one guided step, batch ${2 * n}, median of ${ROUNDS} × ${REPEATS}, on ${describeCpu()}`,
  );
  for (const [label, v] of Object.entries(times)) {
    console.log(
      `  ${label.padEnd(26)} ${median(v).toFixed(1).padStart(7)} ms  ×${(median(v) / base).toFixed(2)}`,
    );
  }
}
