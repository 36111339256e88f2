import assert from "node:assert/strict";
import { createDiffusion } from "../lib/diffusion.ts";
import { classifierFreeGuidance, guidedAt } from "../lib/guidance.ts";
import { SeededRandom } from "../lib/random.ts";
import {
  type DiTModel,
  sampleLoop,
  type SampleLoopOptions,
  type SamplerName,
  SAMPLERS,
  type StepInfo,
} from "../lib/sampler.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose, assertRelativeError } from "./assert.ts";
import { modelOutput, reference, tensor } from "./fixtures.ts";

const C = 2, H = 2, W = 2, PER = C * H * W;

/** A stand-in network's forward pass whose output depends on x, t and y, so any miswiring shows. */
function toy(x: Tensor, t: number[], y: number[]): Tensor {
  const B = x.shape[0];
  const out = new Float32Array(B * 2 * PER);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < PER; i++) {
      out[b * 2 * PER + i] = 0.5 * x.data[b * PER + i] + 0.01 * y[b] + 0.0001 * t[b]; // ε̂
      out[b * 2 * PER + PER + i] = Math.tanh(0.3 * x.data[b * PER + i] - 0.05 * y[b]); // v
    }
  }
  return new Tensor(out, [B, 2 * C, H, W]);
}
const toyModel: DiTModel = { forward: toy };

/**
 * The same loop written out by hand from the concept functions, one sample at a time: guided where t is in
 * `interval` (every step without one), noise drawn for both halves whenever the scale is not 1.
 */
function byHand(
  labels: number[],
  nullClass: number,
  scale: number,
  sampler: "ddpm" | "ddim",
  steps: number,
  seed: number,
  interval?: [number, number],
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
      const cond = toy(xb, [t], [labels[b]]).data;
      const uncond = toy(xb, [t], [nullClass]).data;
      const eps = !guidedAt(t, interval) ? new Tensor(cond.slice(0, PER), [PER]) : classifierFreeGuidance(
        new Tensor(cond.slice(0, PER), [PER]),
        new Tensor(uncond.slice(0, PER), [PER]),
        scale,
      );
      out.set(eps.data, b * 2 * PER);
      out.set(cond.slice(PER), b * 2 * PER + PER);
    }
    const noise = new Tensor(random.randn([2 * n, C, H, W]).data.slice(0, n * PER), [n, C, H, W]);
    const stepOutput = new Tensor(out, [n, 2 * C, H, W]);
    x = sampler === "ddpm"
      ? diffusion.pSample(stepOutput, x, index, noise).sample
      : diffusion.ddimStep(stepOutput, x, index, 0, noise).sample;
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
    assert.deepEqual(x0.data, byHand(labels, 10, 4, sampler, 12, 5).data);
  });
}

for (const sampler of ["ddpm", "ddim"] as const) {
  Deno.test(`sampleLoop (${sampler}) with a guidance interval: unguided steps outside it, the reference's noise draws kept`, async () => {
    const labels = [3, 0, 7];
    const rows: number[] = [];
    const x0 = await sampleLoop({
      labels,
      nullClass: 10,
      latentShape: [C, H, W],
      guidanceScale: 4,
      guidanceInterval: [300, 700],
      sampler,
      model: { forward: (x, t, y) => (rows.push(x.shape[0]), toy(x, t, y)) },
      diffusion: createDiffusion({ respacing: "12" }),
      random: new SeededRandom(5),
    });
    assert.deepEqual(x0.data, byHand(labels, 10, 4, sampler, 12, 5, [300, 700]).data);
    // t = 999, 908, …, 0 by 90.8: 363, 454, 545, 636 are inside
    assert.deepEqual(rows, [3, 3, 3, 3, 6, 6, 6, 6, 3, 3, 3, 3]);
  });
}

/** The fixtures' stand-in network (toy_eps in dit_reference.py): ε̂ = 0.5·x + t/1000 + y/100 in float32, v = 0. */
const fixtureModel: DiTModel = {
  forward: (x, t, y) => {
    const B = x.shape[0], per = x.size / B;
    const f32 = Math.fround;
    const eps = x.data.map((v, i) => {
      const b = Math.floor(i / per);
      return f32(f32(f32(0.5 * v) + f32(t[b] / 1000)) + f32(y[b] / 100));
    });
    return modelOutput(new Tensor(eps, x.shape));
  },
};

/** The diffusion each sampler is meant for: Karras's levels for Euler and Heun, even respacing otherwise. */
const processFor = (sampler: SamplerName, steps: number) =>
  createDiffusion({
    respacing: sampler === "euler" || sampler === "heun" ? `karras${steps}` : String(steps),
  });

/**
 * A trajectory carries each step's last-bit differences into the next, and at high noise x̂0 = (x_t −
 * σ_t·ε̂)/α_t with α_t ≈ 0.006 is hundreds of times larger than x_t: the reference's float32 rounding of x̂0
 * and of the step's coefficients reaches the next x_t at ~1e-5 of its scale (measured: 5.8e-6).
 */
const TRAJECTORY_TOLERANCE = 1e-5;

Deno.test("sampleLoop with dpm++2m, euler and heun, guided fully or in an interval, equals the PyTorch trajectories (fixtures)", async () => {
  for (const c of reference.samplers.trajectories) {
    const label = `${c.sampler} ${c.steps} steps, scale ${c.guidanceScale}, interval ${c.guidanceInterval}`;
    const diffusion = processFor(c.sampler, c.steps);
    assert.deepEqual([...diffusion.timestepMap], c.timesteps, label);
    const seen: StepInfo[] = [];
    await sampleLoop({
      model: fixtureModel,
      diffusion,
      labels: c.labels,
      nullClass: c.nullClass,
      latentShape: [2, 2, 2],
      // x_T as stored: SeededRandom matches torch.randn to float32 precision, not always to the bit, and a
      // last-bit difference in x_T grows along a trajectory (the ODE samplers draw nothing after it)
      random: { randn: () => tensor(c.xT) } as unknown as SeededRandom,
      guidanceScale: c.guidanceScale,
      guidanceInterval: c.guidanceInterval ?? undefined,
      sampler: c.sampler,
      onStep: (info) => void seen.push(info),
    });
    assert.equal(seen.length, c.samples.length, label);
    seen.forEach((info, k) => {
      assertRelativeError(info.sample, tensor(c.samples[k]), TRAJECTORY_TOLERANCE, `${label} step ${k + 1}`);
      assertRelativeError(
        info.predXstart,
        tensor(c.predXstarts[k]),
        TRAJECTORY_TOLERANCE,
        `${label} x̂0 ${k + 1}`,
      );
    });
    assert.equal(seen.at(-1)!.evaluations, c.evaluations, `${label} network evaluations`);
  }
});

/** Runs `sampler` over 8 steps with `options` on the toy model; returns x_0 and the rows of each network call. */
async function run(sampler: SamplerName, options: Partial<SampleLoopOptions> = {}) {
  const rows: number[] = [];
  const x0 = await sampleLoop({
    model: { forward: (x, t, y) => (rows.push(x.shape[0]), toy(x, t, y)) },
    diffusion: processFor(sampler, 8),
    labels: [1, 2],
    nullClass: 10,
    latentShape: [C, H, W],
    random: new SeededRandom(9),
    guidanceScale: 4,
    sampler,
    ...options,
  });
  return { x0, rows };
}

for (const sampler of SAMPLERS) {
  Deno.test(`${sampler}: guidance interval [0, 999] is full guidance; one that holds no step is guidance scale 1`, async () => {
    const full = await run(sampler);
    assert.deepEqual((await run(sampler, { guidanceInterval: [0, 999] })).x0.data, full.x0.data);
    const empty = await run(sampler, { guidanceInterval: [1000, 1000] });
    assert.ok(empty.rows.every((n) => n === 2), "the conditional model alone, on n rows");
    assert.deepEqual(empty.rows.length, full.rows.length);
    const unguided = await run(sampler, { guidanceScale: 1 });
    if (sampler === "ddpm") {
      // DDPM's noise is drawn for 2n rows while the scale is not 1 (the reference's order), for n rows at scale 1
      assert.notDeepEqual(empty.x0.data, unguided.x0.data);
    } else assert.deepEqual(empty.x0.data, unguided.x0.data);
  });
}

Deno.test("given the true noise at every step, each deterministic sampler lands on x0", async () => {
  const full = createDiffusion();
  const x0 = new SeededRandom(4).randn([2, C, H, W]);
  // ε = (x_t − √ᾱ_t·x0)/√(1−ᾱ_t): what a perfect network would predict for this x0
  const oracle: DiTModel = {
    forward: (x, t) =>
      modelOutput(
        new Tensor(
          x.data.map((v, i) => {
            const ab = full.alphasCumprod[t[Math.floor(i / PER)]];
            return (v - Math.sqrt(ab) * x0.data[i % x0.size]) / Math.sqrt(1 - ab);
          }),
          x.shape,
        ),
      ),
  };
  for (const sampler of ["ddim", "dpm++2m", "euler", "heun"] as const) {
    for (const steps of [1, 4, 25]) {
      const out = await sampleLoop({
        model: oracle,
        diffusion: processFor(sampler, steps),
        labels: [1, 2],
        nullClass: 10,
        latentShape: [C, H, W],
        random: new SeededRandom(steps),
        guidanceScale: 1,
        sampler,
      });
      assertAllClose(out, x0, { rtol: 1e-4, atol: 1e-4, msg: `${sampler} ${steps} steps` });
    }
  }
});

Deno.test("Heun evaluates the network twice per step but the last; the others once; no noise after x_T for the ODE samplers", async () => {
  for (const sampler of SAMPLERS) {
    const counts: number[] = [];
    const { rows } = await run(sampler, {
      guidanceScale: 1,
      onStep: ({ evaluations }) => void counts.push(evaluations),
    });
    const perStep = sampler === "heun" ? [2, 4, 6, 8, 10, 12, 14, 15] : [1, 2, 3, 4, 5, 6, 7, 8];
    assert.deepEqual(counts, perStep, sampler);
    assert.equal(rows.length, perStep.at(-1), sampler);
  }
  // x_T is the first draw of the seed for every sampler
  const random = new SeededRandom(9);
  const xT = random.randn([2, C, H, W]);
  let first: Tensor | undefined;
  await run("euler", { onStep: ({ step, xt }) => void (step === 1 && (first = xt)) });
  assert.deepEqual(first!.data, xT.data);
});

Deno.test("sampleLoop refuses an unknown sampler, a model without a forward pass and a bad guidance interval before any network call", async () => {
  let calls = 0;
  const counting: DiTModel = { forward: (x, t, y) => (calls++, toy(x, t, y)) };
  await assert.rejects(
    run("lms" as SamplerName, { model: counting }),
    /^Error: sampleLoop: sampler is "lms" \(a string\); expected one of ddpm, ddim, dpm\+\+2m, euler, heun$/,
  );
  await assert.rejects(
    run("ddim", { model: toy as unknown as DiTModel }),
    /^Error: sampleLoop: model is function; expected a DiTModel, an object with forward\(x, t, y\)$/,
  );
  await assert.rejects(
    run("heun", { model: counting, guidanceInterval: [700, 300] }),
    /^Error: guidedAt: interval is \[700, 300\]; expected \[lo, hi\], finite numbers with lo <= hi$/,
  );
  assert.equal(calls, 0);
});

Deno.test("guidance scale 1 runs the conditional model alone, on n samples", async () => {
  const batches: number[] = [];
  const model: DiTModel = {
    forward: (x, t, y) => {
      batches.push(x.shape[0]);
      assert.ok(!y.includes(10), "no null class without guidance");
      return toy(x, t, y);
    },
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

/** The network output with the first row's ε̂ set to `value`. */
function withFirstEps(out: Tensor, value: number): Tensor {
  out.data.fill(value, 0, PER);
  return out;
}

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
  const breaksAtThree: DiTModel = {
    forward: (x, t, y) => {
      const out = toy(x, t, y);
      if (++calls === 3) out.data.fill(NaN, 0, 5);
      return out;
    },
  };
  assert.equal(
    await failure(breaksAtThree),
    "step 3 of 10 (t=777): the DiT's output has non-finite values (NaN ×5); its input x_t was finite, so the model's weights are suspect",
  );
  // finite network output, guidance overflows float32
  const huge: DiTModel = { forward: (x, t, y) => withFirstEps(toy(x, t, y), 1e30) };
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
  const large: DiTModel = { forward: (x, t, y) => withFirstEps(toy(x, t, y), 3e38) };
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
  const syncInImmediate: DiTModel = {
    forward: (x, t, y) => new Promise((resolve) => setImmediate(() => (busy(20), resolve(toy(x, t, y))))),
  };
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
    // the signal comes while step killedAt finishes; the next step may still run, and on a loaded machine (tests
    // in parallel on 2 cores) the OS may hand the signal to Deno's signal thread a step later still. The
    // starvation this guards against was 9-28 steps late, or never.
    assert.ok(
      lastStep - killedAt <= 2,
      `trial ${trial}: signalled after step ${killedAt}, stopped after ${lastStep}`,
    );
  }
});
