import assert from "node:assert/strict";
import { betaSchedule } from "../lib/schedule.ts";
import { createDiffusion, type GaussianDiffusion } from "../lib/diffusion.ts";
import { eulerStep, heunStep, karrasSchedule } from "../lib/karras.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose, assertRelativeError } from "./assert.ts";
import { CONCEPT_TOLERANCE, modelOutput, reference, tensor } from "./fixtures.ts";

const alphasCumprod = (schedule: "linear" | "squaredcos_cap_v2") => {
  let product = 1;
  return betaSchedule(schedule, 1000).map((b) => (product *= 1 - b));
};

Deno.test("karrasSchedule equals the PyTorch restatement: snapped timesteps exactly, σ to float64 rounding (fixtures)", () => {
  for (const c of reference.samplers.karrasSchedule) {
    const msg = `${c.schedule} N=${c.steps} ρ=${c.rho}`;
    const schedule = karrasSchedule(alphasCumprod(c.schedule), c.steps, c.rho);
    assert.deepEqual(schedule.timesteps, c.timesteps, msg);
    assertAllClose(schedule.sigmas, c.sigmas, { rtol: 1e-12, atol: 0, msg: `${msg} σ` });
    assertAllClose(schedule.ideal, c.ideal, { rtol: 1e-12, atol: 0, msg: `${msg} spaced σ` });
  }
});

Deno.test("a Karras schedule falls from σ_max to σ_min, then 0; its levels crowd at low noise; repeats are dropped", () => {
  const ac = alphasCumprod("linear");
  const sigma = (t: number) => Math.sqrt((1 - ac[t]) / ac[t]);
  for (const steps of [1, 2, 7, 20, 100, 1000]) {
    const { timesteps, sigmas, ideal } = karrasSchedule(ac, steps);
    assert.equal(sigmas.length, timesteps.length + 1);
    assert.equal(sigmas.at(-1), 0);
    for (let i = 1; i < sigmas.length; i++) {
      assert.ok(sigmas[i] < sigmas[i - 1], `N=${steps}: σ rises at ${i}`);
    }
    for (let i = 1; i < ideal.length; i++) assert.ok(ideal[i] < ideal[i - 1], `N=${steps}: spaced σ rises`);
    assert.equal(timesteps[0], 999);
    if (steps > 1) assert.equal(timesteps.at(-1), 0);
    timesteps.forEach((t, i) => assert.equal(sigmas[i], sigma(t)));
    assert.ok(timesteps.length <= steps && new Set(timesteps).size === timesteps.length);
  }
  assert.equal(karrasSchedule(ac, 50).timesteps.length, 50, "no repeats at 50 steps");
  assert.equal(
    karrasSchedule(ac, 1000).timesteps.length,
    765,
    "σ_i crowd into the sparse low-noise timesteps",
  );
  // even in σ^{1/7}: a quarter of 20 levels below t = 100, where even respacing puts two
  assert.deepEqual(karrasSchedule(ac, 20).timesteps.filter((t) => t < 100), [88, 41, 16, 4, 0]);
  assert.deepEqual(
    createDiffusion({ respacing: "20" }).timestepMap.filter((t) => t < 100),
    Float64Array.of(0, 53),
  );
});

Deno.test("eulerStep and heunStep equal the PyTorch restatement (fixtures)", () => {
  for (const c of reference.samplers.karrasSteps) {
    const diffusion = createDiffusion({ respacing: c.respacing });
    const label = `"${c.respacing}" index ${c.index}`;
    const [x, out] = [tensor(c.x), tensor(c.modelOutput)];
    const euler = eulerStep(diffusion, out, x, c.index);
    assertRelativeError(euler.sample, tensor(c.euler.sample), CONCEPT_TOLERANCE, `${label} Euler`);
    assertRelativeError(euler.predXstart, tensor(c.euler.predXstart), CONCEPT_TOLERANCE, `${label} Euler x̂0`);
    if (!c.heun) continue;
    const proposal = { sample: tensor(c.euler.sample), modelOutput: tensor(c.heun.proposalOutput) };
    const heun = heunStep(diffusion, out, x, c.index, proposal);
    assertRelativeError(heun.sample, tensor(c.heun.sample), CONCEPT_TOLERANCE, `${label} Heun`);
    assertRelativeError(heun.predXstart, tensor(c.heun.predXstart), CONCEPT_TOLERANCE, `${label} Heun x̂0`);
  }
});

Deno.test("given the true noise, Euler and Heun stay on q(x_t | x0) at every level and land on x0", () => {
  const random = new SeededRandom(13);
  const x0 = random.randn([2, 4, 4, 4]), eps = random.randn([2, 4, 4, 4]);
  const output = modelOutput(eps);
  const at = (d: GaussianDiffusion, index: number) => d.qSample(x0, [index, index], eps);
  for (const respacing of ["karras5", "karras20", "10"]) {
    const d = createDiffusion({ respacing });
    for (const heun of [false, true]) {
      let x = at(d, d.numTimesteps - 1);
      for (let index = d.numTimesteps - 1; index >= 0; index--) {
        const euler = eulerStep(d, output, x, index);
        assertAllClose(euler.predXstart, x0, {
          rtol: 1e-4,
          atol: 1e-4,
          msg: `"${respacing}" x̂0 at ${index}`,
        });
        x = heun && index > 0
          ? heunStep(d, output, x, index, { sample: euler.sample, modelOutput: output }).sample
          : euler.sample;
        const expected = index > 0 ? at(d, index - 1) : x0;
        assertAllClose(x, expected, {
          rtol: 1e-4,
          atol: 1e-4,
          msg: `"${respacing}" heun=${heun} x after ${index}`,
        });
      }
    }
  }
});

Deno.test("Euler's x̂0 is DDIM's; Heun moves off Euler by the slope at its proposal", () => {
  const random = new SeededRandom(2);
  const d = createDiffusion({ respacing: "karras10" });
  const x = random.randn([1, 4, 2, 2]), out = random.randn([1, 8, 2, 2]);
  const euler = eulerStep(d, out, x, 6);
  assertAllClose(euler.predXstart, d.ddimStep(out, x, 6).predXstart, { rtol: 1e-6, atol: 1e-6 });
  const heun = heunStep(d, out, x, 6, { sample: euler.sample, modelOutput: out });
  assert.notDeepEqual(heun.sample, euler.sample, "the proposal's ε̂ is evaluated at its own level");
});

Deno.test("karrasSchedule, eulerStep and heunStep refuse bad arguments in one line naming them", () => {
  const ac = alphasCumprod("linear");
  const d = createDiffusion({ respacing: "karras10" });
  const x = Tensor.zeros([1, 2, 2, 2]), out = Tensor.zeros([1, 4, 2, 2]);
  const cases: [() => unknown, RegExp][] = [
    [() => karrasSchedule(ac, 0), /^karrasSchedule: steps is 0; expected a positive integer, at most 1000$/],
    [
      () => karrasSchedule(ac, 1001),
      /^karrasSchedule: steps is 1001; expected a positive integer, at most 1000$/,
    ],
    [() => karrasSchedule(ac, 10, 0), /^karrasSchedule: rho is 0; expected a finite number > 0/],
    [() => karrasSchedule(ac, 10, NaN), /^karrasSchedule: rho is NaN/],
    [
      () => karrasSchedule([0.9, 0.95], 2),
      /^karrasSchedule: alphasCumprod\[1\] is 0\.95; expected ᾱ in \(0, 1\), falling/,
    ],
    [() => karrasSchedule([1, 0.5], 2), /^karrasSchedule: alphasCumprod\[0\] is 1; expected/],
    [() => karrasSchedule("0.5" as never, 1), /^karrasSchedule: alphasCumprod is "0\.5" \(a string\)/],
    [
      () => createDiffusion({ respacing: "karras" }),
      /^createDiffusion: respacing is "karras" \(a string\); expected "karrasN"/,
    ],
    [() => createDiffusion({ respacing: "karras0" }), /^karrasSchedule: steps is 0/],
    [() => eulerStep(d, out, x, 10), /^eulerStep: index is 10; expected a non-negative integer, at most 9$/],
    [() => eulerStep(d, x, x, 3), /^eulerStep: modelOutput: expected shape \[1,4,2,2\]/],
    [() => heunStep(d, out, x, 0, { sample: x, modelOutput: out }), /^heunStep: index is 0, the last step/],
    [
      () => heunStep(d, out, x, 3, null as never),
      /^heunStep: proposal is null; expected \{ sample, modelOutput \}/,
    ],
    [
      () => heunStep(d, out, x, 3, { sample: x, modelOutput: x }),
      /^heunStep: proposal: modelOutput: expected shape \[1,4,2,2\]/,
    ],
    [
      () => heunStep(d, out, x, 3, { sample: Tensor.zeros([2]), modelOutput: out }),
      /^heunStep: proposal\.sample/,
    ],
  ];
  for (const [call, message] of cases) {
    assert.throws(call, (error: Error) => (assert.match(error.message, message), true));
  }
  const huge = new Tensor(new Float32Array(8).fill(3e38), [1, 2, 2, 2]);
  assert.throws(
    () => eulerStep(d, modelOutput(huge), huge, 9),
    /eulerStep: x̂0 = x·√\(1\+σ²\) − σ·ε̂ overflows float32/,
  );
});
