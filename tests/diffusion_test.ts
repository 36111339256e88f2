import assert from "node:assert/strict";
import { createDiffusion, type GaussianDiffusion } from "../lib/diffusion.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose, assertRelativeError } from "./assert.ts";
import { CONCEPT_TOLERANCE, reference, tensor } from "./fixtures.ts";

const TABLES = [
  "timestepMap",
  "betas",
  "alphasCumprod",
  "alphasCumprodPrev",
  "posteriorVariance",
  "posteriorLogVarianceClipped",
  "posteriorMeanCoef1",
  "posteriorMeanCoef2",
] as const;

Deno.test("createDiffusion's tables equal the reference's SpacedDiffusion after respacing (fixtures, float64)", () => {
  for (const c of reference.diffusion) {
    const diffusion = createDiffusion({ respacing: c.respacing, schedule: c.schedule });
    for (const name of TABLES) {
      assertAllClose(diffusion[name], c.tables[name], {
        rtol: 1e-12,
        atol: 0,
        msg: `${c.schedule} "${c.respacing}" ${name}`,
      });
    }
  }
});

/**
 * DDIM with η > 0 adds σ·noise, and the reference computes σ's factor √(1 − ᾱ_t/ᾱ_{t−1}) in float32: at the
 * first steps of the full process (β_t ≈ 1e-4) that subtraction cancels all but four digits, so its σ is off
 * by up to 1.3e-4 of itself (ours, in float64, is not). With σ ≈ 0.007 and noise up to ~3 that is ~3e-6 of
 * a sample whose largest value is ~2 (measured: 1.9e-6).
 */
const DDIM_NOISE_TOLERANCE = 5e-6;

Deno.test("pMeanVariance, pSample and ddimStep equal the reference's p_mean_variance, p_sample, ddim_sample (fixtures)", () => {
  for (const c of reference.steps) {
    const diffusion = createDiffusion({ respacing: c.respacing, learnSigma: c.learnSigma });
    const [x, out, noise] = [tensor(c.x), tensor(c.modelOutput), tensor(c.noise)];
    const label = `"${c.respacing}" learnSigma=${c.learnSigma} index ${c.index}`;
    const mv = diffusion.pMeanVariance(out, x, c.index);
    for (const key of ["mean", "logVariance", "predXstart"] as const) {
      assertRelativeError(mv[key], tensor(c.pMeanVariance[key]), CONCEPT_TOLERANCE, `${label} ${key}`);
    }
    // Σ = exp(log Σ): the error the log is allowed, 1e-6 of |log Σ| (about 10), is that relative error in Σ
    const logScale = Math.max(...c.pMeanVariance.logVariance.data.map(Math.abs));
    assertRelativeError(
      mv.variance,
      tensor(c.pMeanVariance.variance),
      CONCEPT_TOLERANCE * Math.max(1, logScale),
      `${label} variance`,
    );
    const step = diffusion.pSample(out, x, c.index, noise);
    assertRelativeError(step.sample, tensor(c.pSample.sample), CONCEPT_TOLERANCE, `${label} pSample`);
    for (const ddim of c.ddim) {
      const result = diffusion.ddimStep(out, x, c.index, ddim.eta, noise);
      const tolerance = ddim.eta > 0 ? DDIM_NOISE_TOLERANCE : CONCEPT_TOLERANCE;
      assertRelativeError(result.sample, tensor(ddim.sample), tolerance, `${label} ddim eta=${ddim.eta}`);
      assertRelativeError(result.predXstart, tensor(ddim.predXstart), CONCEPT_TOLERANCE, `${label} ddim x̂0`);
    }
  }
});

Deno.test("qSample equals the reference's q_sample (fixtures)", () => {
  const c = reference.qSample;
  const xt = createDiffusion().qSample(tensor(c.x0), c.t, tensor(c.noise));
  assertRelativeError(xt, tensor(c.xt), CONCEPT_TOLERANCE);
});

Deno.test("respaced tables keep ᾱ at the kept steps and stay consistent with their definitions", () => {
  const base = createDiffusion();
  for (const respacing of ["25", "ddim50", [10, 20, 5], ""] as const) {
    const d = createDiffusion({ respacing: typeof respacing === "string" ? respacing : [...respacing] });
    for (let i = 0; i < d.numTimesteps; i++) {
      const t = d.timestepMap[i];
      close(d.alphasCumprod[i], base.alphasCumprod[t], `ᾱ at t=${t}`);
      close(d.alphasCumprodPrev[i], i === 0 ? 1 : base.alphasCumprod[d.timestepMap[i - 1]], "ᾱ_prev");
      close(d.alphasCumprod[i], d.alphasCumprodPrev[i] * (1 - d.betas[i]), "ᾱ = ᾱ_prev·(1−β)");
      close(
        d.posteriorVariance[i],
        d.betas[i] * (1 - d.alphasCumprodPrev[i]) / (1 - d.alphasCumprod[i]),
        "β̃",
      );
      // the posterior mean coefficients reproduce x0 when x_t is noise-free: coef1·x0 + coef2·√ᾱ_t·x0 = √ᾱ_{t-1}·x0
      close(
        d.posteriorMeanCoef1[i] + d.posteriorMeanCoef2[i] * Math.sqrt(d.alphasCumprod[i]),
        Math.sqrt(d.alphasCumprodPrev[i]),
        "posterior mean of a clean sample",
      );
    }
    // even sections end on the noisiest step; DDIM's stride starts at 0 instead (ddim50: 0, 20, …, 980)
    assert.equal(d.timestepMap.at(-1), respacing === "ddim50" ? 980 : 999);
  }
});

function close(actual: number, expected: number, what: string) {
  assert.ok(
    Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs ${expected}`,
  );
}

Deno.test("with the true noise as ε̂, x̂0 is x0 and a deterministic DDIM step lands on q(x_{t-1} | x0) with the same noise", () => {
  const random = new SeededRandom(21);
  const d: GaussianDiffusion = createDiffusion({ respacing: "ddim20" });
  const x0 = random.randn([2, 4, 4, 4]), eps = random.randn([2, 4, 4, 4]);
  for (const index of [19, 10, 1]) {
    const xt = d.qSample(x0, [index, index], eps);
    const out = new Tensor(
      new Float32Array([
        ...eps.data.subarray(0, 64),
        ...new Float32Array(64),
        ...eps.data.subarray(64),
        ...new Float32Array(64),
      ]),
      [2, 8, 4, 4],
    );
    const { sample, predXstart } = d.ddimStep(out, xt, index);
    assertAllClose(predXstart, x0, { rtol: 1e-3, atol: 2e-3, msg: `x̂0 at ${index}` });
    assertAllClose(sample, d.qSample(x0, [index - 1, index - 1], eps), {
      rtol: 1e-3,
      atol: 1e-3,
      msg: `x_{t-1} at ${index}`,
    });
  }
});

Deno.test("learned variance interpolates log β̃_t (v = −1) to log β_t (v = +1); index 0 adds no noise", () => {
  const d = createDiffusion({ respacing: "50" });
  const x = Tensor.zeros([1, 1, 1, 2]);
  const out = Tensor.from([0, 0, -1, 1], [1, 2, 1, 2]); // ε̂ = 0; v = −1, +1
  const { logVariance } = d.pMeanVariance(out, x, 30);
  assert.equal(logVariance.data[0], Math.fround(d.posteriorLogVarianceClipped[30]));
  assert.equal(logVariance.data[1], Math.fround(Math.log(d.betas[30])));
  const mean = d.pMeanVariance(out, x, 0).mean;
  assert.deepEqual(d.pSample(out, x, 0).sample, mean);
});

Deno.test("learnSigma: false uses the fixed large variance and expects C output channels", () => {
  const d = createDiffusion({ respacing: "10", learnSigma: false });
  const x = Tensor.zeros([1, 2, 1, 1]);
  const { variance } = d.pMeanVariance(Tensor.zeros([1, 2, 1, 1]), x, 5);
  assert.equal(variance.data[0], Math.fround(d.betas[5]));
  assert.equal(
    d.pMeanVariance(Tensor.zeros([1, 2, 1, 1]), x, 0).variance.data[0],
    Math.fround(d.posteriorVariance[1]),
  );
  assert.throws(
    () => d.pMeanVariance(Tensor.zeros([1, 4, 1, 1]), x, 5),
    /expected shape \[1,2,1,1\] \(ε̂: the shape of x\)/,
  );
});

Deno.test("a one-step process works for DDIM (the reference cannot even build its variance table)", () => {
  const d = createDiffusion({ respacing: "1" });
  assert.equal(d.posteriorLogVarianceClipped.length, 0);
  const x = new SeededRandom(2).randn([1, 4, 2, 2]);
  const { sample, predXstart } = d.ddimStep(Tensor.zeros([1, 8, 2, 2]), x, 0);
  assert.deepEqual(sample, predXstart); // ᾱ_prev = 1 at the last step: x_{t-1} = x̂0
  assert.throws(
    () => d.pMeanVariance(Tensor.zeros([1, 8, 2, 2]), x, 0),
    /one-step process .* expected numTimesteps >= 2/,
  );
});

Deno.test("diffusion methods reject bad indices, shapes, eta and missing noise", () => {
  const d = createDiffusion({ respacing: "10" });
  const x = Tensor.zeros([2, 4, 2, 2]), out = Tensor.zeros([2, 8, 2, 2]);
  assert.throws(
    () => d.pMeanVariance(out, x, 10),
    /pMeanVariance: index is 10; expected an integer in \[0, 10\)/,
  );
  assert.throws(() => d.ddimStep(out, x, -1), /ddimStep: index is -1/);
  assert.throws(
    () => d.pMeanVariance(Tensor.zeros([2, 4, 2, 2]), x, 3),
    /modelOutput: expected shape \[2,8,2,2\] \(ε̂ and v/,
  );
  assert.throws(
    () => d.pSample(out, x, 3),
    /pSample: noise is missing; expected a standard normal tensor \[2,4,2,2\]/,
  );
  assert.throws(
    () => d.pSample(out, x, 3, Tensor.zeros([2, 4, 4])),
    /pSample: noise: expected the shape of pSample: x/,
  );
  assert.throws(() => d.ddimStep(out, x, 3, 0.5), /ddimStep \(eta > 0\): noise is missing/);
  assert.throws(() => d.ddimStep(out, x, 3, -1), /eta is -1; expected a number >= 0/);
  assert.throws(() => d.qSample(x, [0], x), /t has 1 entries; expected one per batch element \(2\)/);
  assert.throws(() => d.qSample(x, [0, 11], x), /qSample: t\[1\] is 11; expected an integer in \[0, 10\)/);
});

Deno.test("createDiffusion rejects impossible schedules and respacings", () => {
  assert.throws(
    () => createDiffusion({ numTimesteps: 10 }),
    /beta\[\d+\] = .*; expected every beta in \(0, 1\]/,
  );
  assert.throws(() => createDiffusion({ respacing: "ddim333" }), /no integer stride takes exactly 333 steps/);
  assert.throws(
    () => createDiffusion({ respacing: 1001 }),
    /cannot be divided into 1001; expected at most 1000/,
  );
  assert.equal(createDiffusion({ respacing: 25 }).numTimesteps, 25);
});
