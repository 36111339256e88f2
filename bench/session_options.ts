/**
 * Which ONNX Runtime session options sample fastest on this machine? Times one guided DiT step (batch 2·8)
 * of each shipped model under each candidate, interleaved, and prints the median per candidate and its ratio
 * to the library's default (`sessionOptions()` in lib/model/onnx.ts).
 *
 * Run: deno run -A bench/session_options.ts
 *
 * @module
 */
import { ort, sessionOptions } from "../lib/model/onnx.ts";
import { readCard } from "../lib/model/card.ts";
import { SeededRandom } from "../lib/random.ts";

const REPEATS = 15;
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
  const sessions = Object.fromEntries(
    await Promise.all(
      Object.entries(candidates).map(async ([label, options]) =>
        [label, await ort.InferenceSession.create(`${dir}/${card.files.dit}`, options)] as const
      ),
    ),
  );
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(sessions).map((k) => [k, []]));
  for (const session of Object.values(sessions)) await session.run(feeds); // warm up
  for (let r = 0; r < REPEATS; r++) {
    for (const [label, session] of Object.entries(sessions)) {
      const start = performance.now();
      await session.run(feeds);
      times[label].push(performance.now() - start);
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const base = median(times["library default"]);
  console.log(`\n${name}: one guided step, batch ${2 * n}, median of ${REPEATS}`);
  for (const [label, v] of Object.entries(times)) {
    console.log(
      `  ${label.padEnd(26)} ${median(v).toFixed(1).padStart(7)} ms  ×${(median(v) / base).toFixed(2)}`,
    );
  }
  for (const session of Object.values(sessions)) await session.release();
}
