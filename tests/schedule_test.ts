import assert from "node:assert/strict";
import { betaSchedule, type ScheduleName, spaceTimesteps } from "../lib/schedule.ts";
import { SeededRandom } from "../lib/random.ts";
import { assertAllClose } from "./assert.ts";
import { reference } from "./fixtures.ts";

Deno.test("betaSchedule equals get_named_beta_schedule (fixtures, float64)", () => {
  for (const c of reference.betaSchedule) {
    // float64 to ~1e-14: V8's Math.cos and C's cos may differ in the last bit
    assertAllClose(betaSchedule(c.name, c.numTimesteps), c.betas, {
      rtol: 1e-12,
      atol: 0,
      msg: `${c.name}, T=${c.numTimesteps}`,
    });
  }
});

Deno.test("linear: 1e-4 to 0.02 over 1000 steps, endpoints scaled by 1000/T, evenly spaced", () => {
  const b = betaSchedule("linear", 1000);
  assert.equal(b[0], 1e-4);
  assert.equal(b[999], 0.02);
  assert.ok(Math.abs(b[500] - (1e-4 + 500 * (0.02 - 1e-4) / 999)) < 1e-17);
  const b250 = betaSchedule("linear", 250);
  assert.ok(Math.abs(b250[0] - 4e-4) < 1e-18 && b250[249] === 0.08);
});

Deno.test("schedules are increasing, in (0, 1), and cosine's ᾱ follows cos²((t+s)/(1+s)·π/2)", () => {
  for (const name of ["linear", "squaredcos_cap_v2"] as ScheduleName[]) {
    const b = betaSchedule(name, 1000);
    for (let i = 1; i < b.length; i++) assert.ok(b[i] >= b[i - 1], `${name} beta[${i}] decreases`);
    assert.ok(b.every((v) => v > 0 && v < 1), name);
  }
  const cosine = betaSchedule("squaredcos_cap_v2", 1000);
  let alphaBar = 1;
  const f = (t: number) => Math.cos((t + 0.008) / 1.008 * Math.PI / 2) ** 2;
  for (let i = 0; i < 500; i++) alphaBar *= 1 - cosine[i];
  assert.ok(Math.abs(alphaBar - f(0.5) / f(0)) < 1e-12);
  assert.equal(cosine[999], 0.999); // the cap
});

Deno.test("betaSchedule rejects unknown names and step counts", () => {
  assert.throws(
    () => betaSchedule("cosine" as ScheduleName, 1000),
    /unknown schedule name "cosine"; expected "linear" or "squaredcos_cap_v2"/,
  );
  assert.throws(() => betaSchedule("linear", 0), /numTimesteps is 0; expected a positive integer/);
});

Deno.test("spaceTimesteps equals the reference's space_timesteps, errors included (fixtures)", () => {
  for (const c of reference.spaceTimesteps) {
    const label = `${c.numTimesteps}, ${JSON.stringify(c.sections)}`;
    if (c.error) assert.throws(() => spaceTimesteps(c.numTimesteps, c.sections), /spaceTimesteps: /, label);
    else assert.deepEqual(spaceTimesteps(c.numTimesteps, c.sections), c.steps, label);
  }
});

Deno.test("spaceTimesteps rounds halves to even like Python's round", () => {
  // 4 steps into 3: stride 1.5 → positions 0, 1.5, 3.0 → round(1.5) = 2
  assert.deepEqual(spaceTimesteps(4, "3"), [0, 2, 3]);
  // 6 steps into 5: stride 1.25 → 0, 1.25, 2.5, 3.75, 5 → 0, 1, 2, 4, 5 (round(2.5) = 2)
  assert.deepEqual(spaceTimesteps(6, "5"), [0, 1, 2, 4, 5]);
});

Deno.test("respaced steps are sorted, unique, in range, and as many as asked for", () => {
  const random = new SeededRandom(17);
  const pick = (n: number) => Math.floor(Math.abs(random.randn([1]).data[0] * 1e4)) % n;
  for (let trial = 0; trial < 200; trial++) {
    const T = 1 + pick(2000);
    const parts = 1 + pick(Math.min(5, T));
    const size = Math.floor(T / parts); // the smallest section
    const sections = Array.from({ length: parts }, () => pick(size + 1));
    const steps = spaceTimesteps(T, sections);
    assert.equal(steps.length, sections.reduce((a, b) => a + b), `T=${T} [${sections}]`);
    steps.forEach((t, i) => {
      assert.ok(Number.isInteger(t) && t >= 0 && t < T);
      if (i > 0) assert.ok(t > steps[i - 1]);
    });
  }
});

Deno.test("spaceTimesteps errors name the request and what is possible", () => {
  assert.throws(
    () => spaceTimesteps(10, "11"),
    /section 0 has 10 steps and cannot be divided into 11; expected at most 10/,
  );
  assert.throws(
    () => spaceTimesteps(1000, "ddim333"),
    /no integer stride takes exactly 333 steps from 1000 \("ddim333"\); expected a count some stride gives, such as "ddim334" or "ddim250"/,
  );
  assert.throws(() => spaceTimesteps(1000, "ddimx"), /the count "x"; expected non-negative integers/);
  assert.throws(() => spaceTimesteps(1000, "10,a"), /the count "a"/);
  assert.throws(() => spaceTimesteps(1000, [-1]), /the count "-1"/);
  assert.throws(() => spaceTimesteps(1000, []), /sections is empty/);
  assert.throws(() => spaceTimesteps(0, "10"), /numTimesteps is 0/);
});
