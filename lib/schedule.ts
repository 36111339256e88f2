/**
 * Noise schedules and respacing: which β_t the forward process uses, and which
 * of its timesteps a faster sampler visits.
 *
 * @module
 */
import { roundHalfEven } from "./float32.ts"; // Python 3's round() also rounds halves to even
import { checkInteger, describeValue, MAX_TIMESTEPS } from "./checks.ts";

/** The names of the reference's beta schedules. */
export type ScheduleName = "linear" | "squaredcos_cap_v2";

/**
 * The reference's named beta schedules (`get_named_beta_schedule`), in float64.
 *
 * - `"linear"`: Ho et al.'s β from 1e-4 to 0.02 over 1000 steps, both endpoints
 *   scaled by 1000/numTimesteps so the process ends at the same noise level for
 *   any number of steps. DiT uses this.
 * - `"squaredcos_cap_v2"`: Nichol & Dhariwal's cosine schedule, defined through
 *   ᾱ(t) = cos²((t + 0.008)/1.008 · π/2) and capped at β = 0.999.
 *
 * @param name `"linear"` or `"squaredcos_cap_v2"`.
 * @param numTimesteps the number of diffusion steps T, at most {@link MAX_TIMESTEPS}.
 * @throws if the name is unknown, `numTimesteps` is not a positive integer up to {@link MAX_TIMESTEPS}, or a
 *   β leaves (0, 1]: the linear schedule's last β is 20/T, so it needs T = 1 or T ≥ 20.
 *
 * @example
 * ```ts
 * import { betaSchedule } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const betas = betaSchedule("linear", 1000);
 * assert.equal(betas[0], 0.0001);
 * assert.equal(betas[999], 0.02);
 * ```
 */
export function betaSchedule(name: ScheduleName, numTimesteps: number): Float64Array {
  if (name !== "linear" && name !== "squaredcos_cap_v2") {
    const given: unknown = name;
    const shown = typeof given === "string" ? JSON.stringify(given.slice(0, 40)) : describeValue(given);
    throw new Error(`betaSchedule: unknown schedule name ${shown}; expected "linear" or "squaredcos_cap_v2"`);
  }
  checkInteger(numTimesteps, "betaSchedule: numTimesteps", 1, MAX_TIMESTEPS, "MAX_TIMESTEPS");
  let betas: Float64Array;
  if (name === "linear") {
    const scale = 1000 / numTimesteps;
    betas = linspace(scale * 0.0001, scale * 0.02, numTimesteps);
  } else {
    const alphaBar = (t: number) => Math.cos((t + 0.008) / 1.008 * Math.PI / 2) ** 2;
    betas = Float64Array.from({ length: numTimesteps }, (_, i) => {
      const t1 = i / numTimesteps, t2 = (i + 1) / numTimesteps;
      return Math.min(1 - alphaBar(t2) / alphaBar(t1), 0.999);
    });
  }
  // β is a variance fraction: above 1, 1 − β (and ᾱ) turns negative and √ᾱ NaN
  const bad = betas.findIndex((b) => !(b > 0 && b <= 1));
  if (bad >= 0) {
    throw new Error(
      `betaSchedule: the ${name} schedule over numTimesteps=${numTimesteps} has beta[${bad}] = ${
        betas[bad]
      }; expected every beta in (0, 1] (the linear schedule needs numTimesteps = 1 or >= 20)`,
    );
  }
  return betas;
}

/** `n` evenly spaced values from `start` to `stop` inclusive, computed as numpy's `linspace`. */
function linspace(start: number, stop: number, n: number): Float64Array {
  if (n === 1) return Float64Array.of(start);
  const step = (stop - start) / (n - 1);
  const out = Float64Array.from({ length: n }, (_, i) => i * step + start);
  out[n - 1] = stop; // numpy pins the endpoint exactly
  return out;
}

/**
 * The reference's timestep respacing (`space_timesteps`): which of the
 * `numTimesteps` original steps a shorter sampler keeps, sorted ascending.
 *
 * `sections` splits the original steps into equal portions (the first ones get
 * one extra step when it does not divide evenly) and takes `sections[i]` evenly
 * strided steps from portion i, rounding half to even as Python's `round` does.
 * As a string it is a comma-separated list (`"10,15,20"`) or `"ddimN"`: the
 * DDIM paper's fixed integer stride giving exactly N steps starting at 0.
 *
 * @param numTimesteps the length of the original process (e.g. 1000), at most {@link MAX_TIMESTEPS}.
 * @param sections step counts per portion, as numbers or a string. Counts adding up to 0 give no steps, as
 *   in the reference; `createDiffusion` refuses such a respacing.
 * @throws if `numTimesteps` is not a positive integer up to {@link MAX_TIMESTEPS}, a portion is asked for
 *   more steps than it has, no integer stride gives N steps for `"ddimN"`, the counts are not non-negative
 *   integers.
 *
 * @example 250 steps (the reference's default sampler), and DDIM's stride
 * ```ts
 * import { spaceTimesteps } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const steps = spaceTimesteps(1000, "250");
 * assert.equal(steps.length, 250);
 * assert.deepEqual(steps.slice(0, 3), [0, 4, 8]);
 * assert.deepEqual(spaceTimesteps(1000, "ddim4"), [0, 250, 500, 750]);
 * ```
 */
export function spaceTimesteps(numTimesteps: number, sections: number[] | string): number[] {
  checkInteger(numTimesteps, "spaceTimesteps: numTimesteps", 1, MAX_TIMESTEPS, "MAX_TIMESTEPS");
  if (typeof sections !== "string" && !Array.isArray(sections)) {
    throw new Error(
      `spaceTimesteps: sections is ${
        describeValue(sections)
      }; expected step counts: an array, or a string like "250", "10,15,20" or "ddim50"`,
    );
  }
  if (typeof sections === "string" && sections.startsWith("ddim")) {
    const wanted = parseCount(sections.slice(4), describeSections(sections));
    for (let stride = 1; stride < numTimesteps; stride++) {
      if (Math.ceil(numTimesteps / stride) === wanted) {
        return Array.from({ length: wanted }, (_, i) => i * stride);
      }
    }
    const possible = Array.from({ length: numTimesteps - 1 }, (_, i) => Math.ceil(numTimesteps / (i + 1)));
    const nearest = [...new Set(possible)].sort((a, b) => Math.abs(a - wanted) - Math.abs(b - wanted));
    throw new Error(
      `spaceTimesteps: no integer stride takes exactly ${wanted} steps from ${numTimesteps} (${
        describeSections(sections)
      }); expected a count some stride gives, such as ${
        nearest.slice(0, 2).map((n) => `"ddim${n}"`).join(" or ") || "none"
      }`,
    );
  }
  const counts = typeof sections === "string"
    ? sections.split(",").map((s) => parseCount(s.trim(), describeSections(sections)))
    : sections.map((n) => parseCount(n, describeSections(sections)));
  if (counts.length === 0) {
    throw new Error("spaceTimesteps: sections is empty; expected at least one step count");
  }
  const sizePer = Math.floor(numTimesteps / counts.length);
  const extra = numTimesteps % counts.length;
  const steps: number[] = [];
  let start = 0;
  for (const [i, count] of counts.entries()) {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) {
      throw new Error(
        `spaceTimesteps: section ${i} has ${size} steps and cannot be divided into ${count}; expected at most ${size}`,
      );
    }
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    let position = 0; // accumulated by repeated addition, as the reference does
    for (let k = 0; k < count; k++) {
      steps.push(start + roundHalfEven(position));
      position += stride;
    }
    start += size;
  }
  return [...new Set(steps)].sort((a, b) => a - b);
}

function parseCount(value: number | string, sections: string): number {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw new Error(
      `spaceTimesteps: sections ${sections} has the count ${
        JSON.stringify(String(value).slice(0, 40))
      }; expected non-negative integers`,
    );
  }
  return n;
}

/** The sections as a message shows them, cut short. */
function describeSections(sections: number[] | string): string {
  const text = typeof sections === "string" ? JSON.stringify(sections) : `[${sections}]`;
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
