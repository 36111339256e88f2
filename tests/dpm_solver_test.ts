import assert from "node:assert/strict";
import { createDiffusion, type GaussianDiffusion } from "../lib/diffusion.ts";
import { dpmSolverStep, type PreviousStep } from "../lib/dpm_solver.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose, assertRelativeError } from "./assert.ts";
import { CONCEPT_TOLERANCE, modelOutput, reference, tensor } from "./fixtures.ts";

Deno.test("dpmSolverStep equals the PyTorch restatement of DPM-Solver++(2M), first and second order (fixtures)", () => {
  for (const c of reference.samplers.dpmSolver) {
    const diffusion = createDiffusion({ respacing: c.respacing });
    const previous = c.previous
      ? { predXstart: tensor(c.previous.predXstart), index: c.previous.index }
      : undefined;
    const label = `"${c.respacing}" index ${c.index}${previous ? ` after ${previous.index}` : ""}`;
    const step = dpmSolverStep(diffusion, tensor(c.modelOutput), tensor(c.x), c.index, previous);
    assertRelativeError(step.sample, tensor(c.sample), CONCEPT_TOLERANCE, `${label} sample`);
    assertRelativeError(step.predXstart, tensor(c.predXstart), CONCEPT_TOLERANCE, `${label} x̂0`);
  }
});

Deno.test("first-order DPM-Solver++ is deterministic DDIM (to float32 rounding)", () => {
  const random = new SeededRandom(3);
  for (const respacing of ["10", "50", "ddim25"]) {
    const diffusion = createDiffusion({ respacing });
    for (const index of [diffusion.numTimesteps - 1, 7, 1, 0]) {
      const x = random.randn([2, 4, 4, 4]), output = random.randn([2, 8, 4, 4]);
      const dpm = dpmSolverStep(diffusion, output, x, index), ddim = diffusion.ddimStep(output, x, index);
      const msg = `"${respacing}" index ${index}`;
      assertAllClose(dpm.sample, ddim.sample, { rtol: 1e-5, atol: 1e-5, msg });
      assertAllClose(dpm.predXstart, ddim.predXstart, { rtol: 1e-5, atol: 1e-5, msg });
    }
  }
});

Deno.test("the step onto t = 0 is first order even after a previous step: there the extrapolation would amplify x̂0's last change", () => {
  const random = new SeededRandom(5);
  for (const respacing of ["10", "15", "50"]) {
    const diffusion = createDiffusion({ respacing });
    const x = random.randn([2, 4, 4, 4]), output = random.randn([2, 8, 4, 4]);
    const previous = { predXstart: random.randn([2, 4, 4, 4]), index: 2 };
    const dpm = dpmSolverStep(diffusion, output, x, 1, previous), ddim = diffusion.ddimStep(output, x, 1);
    assertAllClose(dpm.sample, ddim.sample, { rtol: 1e-5, atol: 1e-5, msg: `"${respacing}" index 1` });
    // one step earlier the previous x̂0 still counts
    const second = dpmSolverStep(diffusion, output, x, 2, { ...previous, index: 3 });
    assert.ok(
      second.sample.data.some((v, i) => Math.abs(v - diffusion.ddimStep(output, x, 2).sample.data[i]) > 1e-3),
      `"${respacing}" index 2 is second order`,
    );
  }
});

/** Runs every step of `diffusion` from x_T = qSample(x0, T, ε) with the true ε as the model's ε̂. */
function withTrueNoise(diffusion: GaussianDiffusion, x0: Tensor, eps: Tensor): Tensor[] {
  const B = x0.shape[0], last = diffusion.numTimesteps - 1;
  const output = modelOutput(eps);
  let x = diffusion.qSample(x0, new Array(B).fill(last), eps);
  let previous: PreviousStep | undefined;
  const samples: Tensor[] = [];
  for (let index = last; index >= 0; index--) {
    const step = dpmSolverStep(diffusion, output, x, index, previous);
    previous = { predXstart: step.predXstart, index };
    samples.push(x = step.sample);
  }
  return samples;
}

Deno.test("given the true noise, every second-order step stays on q(x_t | x0) and the last lands on x0", () => {
  const random = new SeededRandom(8);
  const x0 = random.randn([2, 4, 4, 4]), eps = random.randn([2, 4, 4, 4]);
  for (const respacing of ["5", "20"]) {
    const diffusion = createDiffusion({ respacing });
    const samples = withTrueNoise(diffusion, x0, eps);
    samples.slice(0, -1).forEach((sample, k) => {
      const index = diffusion.numTimesteps - 2 - k;
      assertAllClose(sample, diffusion.qSample(x0, [index, index], eps), {
        rtol: 1e-4,
        atol: 1e-4,
        msg: `"${respacing}" x at index ${index}`,
      });
    });
    assertAllClose(samples.at(-1)!, x0, { rtol: 1e-4, atol: 1e-4, msg: `"${respacing}" x0` });
  }
});

Deno.test("dpmSolverStep refuses a bad index, a previous step that is not noisier, and mismatched shapes, in one line", () => {
  const d = createDiffusion({ respacing: "10" });
  const x = Tensor.zeros([1, 2, 2, 2]), out = Tensor.zeros([1, 4, 2, 2]);
  const cases: [() => unknown, RegExp][] = [
    [
      () => dpmSolverStep(d, out, x, 10),
      /^dpmSolverStep: index is 10; expected a non-negative integer, at most 9$/,
    ],
    [() => dpmSolverStep(d, out, x, 1.5), /^dpmSolverStep: index is 1\.5/],
    [
      () => dpmSolverStep(d, out, x, 4, { predXstart: x, index: 4 }),
      /^dpmSolverStep: previous\.index is 4; expected an integer >= 5, at most 9$/,
    ],
    [
      () => dpmSolverStep(d, out, x, 9, { predXstart: x, index: 10 }),
      /^dpmSolverStep: previous is given at index 9, the noisiest step; expected none there$/,
    ],
    [
      () => dpmSolverStep(d, out, x, 4, { predXstart: Tensor.zeros([1, 2, 2]), index: 5 }),
      /^dpmSolverStep: previous\.predXstart: expected the shape of/,
    ],
    [() => dpmSolverStep(d, x, x, 4), /^dpmSolverStep: modelOutput: expected shape \[1,4,2,2\]/],
    [() => dpmSolverStep({} as GaussianDiffusion, out, x, 4), /^dpmSolverStep: diffusion is an object/],
  ];
  for (const [call, message] of cases) {
    assert.throws(call, (error: Error) => (assert.match(error.message, message), true));
  }
  const huge = new Tensor(new Float32Array(8).fill(3e38), [1, 2, 2, 2]);
  assert.throws(
    () => dpmSolverStep(d, modelOutput(huge, huge), x, 9),
    /dpmSolverStep: x̂0 = \(x − σ_t·ε̂\)\/α_t overflows float32/,
  );
});
