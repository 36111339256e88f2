import assert from "node:assert/strict";
import { createDiffusion } from "../lib/diffusion.ts";
import { classifierFreeGuidance } from "../lib/guidance.ts";
import { SeededRandom } from "../lib/random.ts";
import { type DiTModel, sampleLoop, type SamplerName, type StepInfo } from "../lib/sampler.ts";
import { Tensor } from "../lib/tensor.ts";

const C = 2, H = 2, W = 2, PER = C * H * W;

/** A stand-in network whose output depends on x, t and y, so any miswiring shows. */
const toyModel: DiTModel = (x, t, y) => {
  const B = x.shape[0];
  const out = new Float32Array(B * 2 * PER);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < PER; i++) {
      out[b * 2 * PER + i] = 0.5 * x.data[b * PER + i] + 0.01 * y[b] + 0.0001 * t[b]; // ε̂
      out[b * 2 * PER + PER + i] = Math.tanh(0.3 * x.data[b * PER + i] - 0.05 * y[b]); // v
    }
  }
  return Promise.resolve(new Tensor(out, [B, 2 * C, H, W]));
};

/** The same loop written out by hand from the concept functions, one sample at a time. */
async function byHand(
  labels: number[],
  nullClass: number,
  scale: number,
  sampler: SamplerName,
  steps: number,
  seed: number,
) {
  const diffusion = createDiffusion({ respacing: String(steps) });
  const random = new SeededRandom(seed);
  const n = labels.length;
  let x = random.randn([n, C, H, W]);
  for (let index = steps - 1; index >= 0; index--) {
    const t = diffusion.timestepMap[index];
    const out = new Float32Array(n * 2 * PER);
    for (let b = 0; b < n; b++) {
      const xb = new Tensor(x.data.slice(b * PER, (b + 1) * PER), [1, C, H, W]);
      const cond = (await toyModel(xb, [t], [labels[b]])).data;
      const uncond = (await toyModel(xb, [t], [nullClass])).data;
      const eps = classifierFreeGuidance(
        new Tensor(cond.slice(0, PER), [PER]),
        new Tensor(uncond.slice(0, PER), [PER]),
        scale,
      );
      out.set(eps.data, b * 2 * PER);
      out.set(cond.slice(PER), b * 2 * PER + PER);
    }
    const noise = new Tensor(random.randn([2 * n, C, H, W]).data.slice(0, n * PER), [n, C, H, W]);
    const modelOutput = new Tensor(out, [n, 2 * C, H, W]);
    x = sampler === "ddpm"
      ? diffusion.pSample(modelOutput, x, index, noise).sample
      : diffusion.ddimStep(modelOutput, x, index, 0, noise).sample;
  }
  return x;
}

for (const sampler of ["ddpm", "ddim"] as const) {
  Deno.test(`sampleLoop (${sampler}) is the concept functions in the reference's order, noise draws included`, async () => {
    const labels = [3, 0, 7];
    const common = { labels, nullClass: 10, latentShape: [C, H, W], guidanceScale: 4, sampler };
    const x0 = await sampleLoop({
      ...common,
      model: toyModel,
      diffusion: createDiffusion({ respacing: "12" }),
      random: new SeededRandom(5),
    });
    assert.deepEqual(x0.data, (await byHand(labels, 10, 4, sampler, 12, 5)).data);
  });
}

Deno.test("guidance scale 1 runs the conditional model alone, on n samples", async () => {
  const batches: number[] = [];
  const model: DiTModel = (x, t, y) => {
    batches.push(x.shape[0]);
    assert.ok(!y.includes(10), "no null class without guidance");
    return toyModel(x, t, y);
  };
  await sampleLoop({
    model,
    diffusion: createDiffusion({ respacing: "3" }),
    labels: [1, 2],
    nullClass: 10,
    latentShape: [C, H, W],
    random: new SeededRandom(0),
    guidanceScale: 1,
    sampler: "ddpm",
  });
  assert.deepEqual(batches, [2, 2, 2]);
});

Deno.test("onStep sees every step from t = 999 down, and an AbortSignal stops between steps", async () => {
  const seen: StepInfo[] = [];
  const controller = new AbortController();
  const run = sampleLoop({
    model: toyModel,
    diffusion: createDiffusion({ respacing: "10" }),
    labels: [1],
    nullClass: 10,
    latentShape: [C, H, W],
    random: new SeededRandom(0),
    guidanceScale: 4,
    sampler: "ddim",
    onStep: (info) => {
      seen.push(info);
      if (info.step === 3) controller.abort(new Error("stop here"));
    },
    signal: controller.signal,
  });
  await assert.rejects(run, /stop here/);
  assert.deepEqual(seen.map((s) => [s.step, s.index, s.t]), [[1, 9, 999], [2, 8, 888], [3, 7, 777]]);
  assert.deepEqual(seen[0].eps.shape, [1, C, H, W]);
  assert.equal(seen[1].xt, seen[0].sample, "each step starts where the last ended");
});

/** Runs a 10-step DDIM loop with `model`, guided at `scale`; returns the rejection message. */
async function failure(model: DiTModel, scale = 4, options: { eta?: number } = {}): Promise<string> {
  try {
    await sampleLoop({
      model,
      diffusion: createDiffusion({ respacing: "10" }),
      labels: [1, 2],
      nullClass: 10,
      latentShape: [C, H, W],
      random: new SeededRandom(0),
      guidanceScale: scale,
      sampler: "ddim",
      ...options,
    });
  } catch (error) {
    return (error as Error).message;
  }
  return "no error";
}

Deno.test("non-finite values stop the loop at the step where they appear, naming it and the likely cause", async () => {
  // the network breaks at its third call: step 3, t = 777
  let calls = 0;
  const breaksAtThree: DiTModel = async (x, t, y) => {
    const out = await toyModel(x, t, y);
    if (++calls === 3) out.data.fill(NaN, 0, 5);
    return out;
  };
  assert.equal(
    await failure(breaksAtThree),
    "step 3 of 10 (t=777): the DiT's output has non-finite values (NaN ×5); its input x_t was finite, so the model's weights are suspect",
  );
  // finite network output, guidance overflows float32
  const huge: DiTModel = (x, t, y) => toyModel(x, t, y).then((out) => (out.data.fill(1e30, 0, PER), out)); // ε̂ of the first row far off
  assert.match(
    await failure(huge, 1e10),
    /^step 1 of 10 \(t=999\): classifierFreeGuidance: uncond \+ scale·\(cond − uncond\) overflows float32/,
  );
  // unguided: the network's output is checked too
  calls = 0;
  assert.match(
    await failure(breaksAtThree, 1),
    /^step 3 of 10 \(t=777\): the DiT's output has non-finite values/,
  );
  // a finite ε̂ that the step itself turns into Infinity (x̂0 = (x_t − √(1−ᾱ) ε̂) / √ᾱ)
  const large: DiTModel = (x, t, y) => toyModel(x, t, y).then((out) => (out.data.fill(3e38, 0, PER), out));
  assert.match(
    await failure(large, 1),
    /^step 1 of 10 \(t=999\): ddimStep: x̂0 = √\(1\/ᾱ\)·x − √\(1\/ᾱ − 1\)·ε̂ overflows float32/,
  );
});

Deno.test("with a signal, an abort from a signal listener is seen within one step, even when the network is synchronous", async () => {
  // onnxruntime-node computes session.run synchronously inside setImmediate; a loop of those starved Deno's
  // signal listener (seen 9-28 steps late, or never). SIGUSR1 stands in for Ctrl-C: the test runner owns SIGINT.
  const busy = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* the network computing */ }
  };
  const syncInImmediate: DiTModel = (x, t, y) =>
    new Promise((resolve) => setImmediate(() => (busy(10), resolve(toyModel(x, t, y)))));
  for (let trial = 0; trial < 3; trial++) {
    const controller = new AbortController();
    const listener = () => controller.abort(new Error("interrupted"));
    Deno.addSignalListener("SIGUSR1", listener);
    let killedAt = -1, lastStep = 0;
    try {
      await assert.rejects(
        sampleLoop({
          model: syncInImmediate,
          diffusion: createDiffusion({ respacing: "200" }),
          labels: [1],
          nullClass: 10,
          latentShape: [C, H, W],
          random: new SeededRandom(0),
          guidanceScale: 4,
          sampler: "ddim",
          signal: controller.signal,
          onStep: ({ step }) => {
            lastStep = step;
            if (step === 5 + 7 * trial) killedAt = step, Deno.kill(Deno.pid, "SIGUSR1");
          },
        }),
        /interrupted/,
      );
    } finally {
      Deno.removeSignalListener("SIGUSR1", listener);
    }
    // the signal comes while step killedAt finishes; at most the next step may still run
    assert.ok(
      lastStep - killedAt <= 1,
      `trial ${trial}: signalled after step ${killedAt}, stopped after ${lastStep}`,
    );
  }
});
