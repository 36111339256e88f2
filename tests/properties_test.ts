/**
 * Property tests of the concept functions with fast-check: 1,000 random cases each, over random shapes and
 * sizes (0, negative, fractional, huge, NaN, ±Infinity, strings, null) and random values (ordinary, extreme
 * float32, NaN, ±Infinity). Every case must end one of two ways:
 *
 * - the right result: a real property of the concept holds (patchify round-trips, embeddings lie in
 *   [-1, 1], ᾱ falls in (0, 1), guidance is uncond + s·(cond − uncond), …) and every number is finite;
 * - or a plain `Error` of one line that starts with the function's name and names the argument.
 *
 * Never NaN or ±Infinity from finite numbers, never a TypeError from deep inside, never a hang: where the
 * inputs are valid and finite and the exact result fits float32, the function must not throw at all.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  betaSchedule,
  classifierFreeGuidance,
  createDiffusion,
  dpmSolverStep,
  eulerStep,
  gatedResidual,
  gelu,
  guidedAt,
  heunStep,
  karrasSchedule,
  layerNorm,
  linear,
  MAX_ELEMENTS,
  MAX_TIMESTEPS,
  modulate,
  patchify,
  SeededRandom,
  silu,
  sincosPosEmbed1d,
  sincosPosEmbed2d,
  spaceTimesteps,
  Tensor,
  timestepEmbedding,
  unpatchify,
} from "../mod.ts";
import { attention } from "../lib/attention.ts";

const RUNS = { numRuns: 1000 };
const f32 = Math.fround;

// ---------------------------------------------------------------------------------------------------------
// What the cases are made of

/** Sizes: mostly small valid ones, then every kind of invalid one (all "huge" ones exceed MAX_ELEMENTS). */
const size: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0, max: 4 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(-1, -3, 0.5, 2.5, NaN, Infinity, -Infinity, 2 ** 31, 1e10, 2 ** 53, 1e300),
  },
  { weight: 1, arbitrary: fc.constantFrom("2", null, undefined, true, [2], {}) },
);

/** A shape: usually an array of sizes, sometimes not an array at all. */
const shapeArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 10, arbitrary: fc.array(size, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(5, "2,3", null, undefined, { length: 2 }) },
);

/** float32 values: ordinary, any finite float32 (to ±3.4e38), and a few non-finite ones. */
const value = fc.oneof(
  { weight: 12, arbitrary: fc.float({ min: -10, max: 10, noNaN: true }) },
  { weight: 3, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) },
);

/** A tensor of `shape` with random values. */
function tensorOf(shape: number[]): fc.Arbitrary<Tensor> {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.array(value, { minLength: n, maxLength: n }).map((v) => new Tensor(Float32Array.from(v), shape));
}

/** A tensor of a small random shape of `rank`, each size in [0, max]. */
function tensorArb(rank: number, max = 4): fc.Arbitrary<Tensor> {
  return fc.array(fc.integer({ min: 0, max }), { minLength: rank, maxLength: rank }).chain(tensorOf);
}

/** Objects that only look like tensors: the functions must refuse them, not loop or crash. */
const forgedTensor = fc.constantFrom<unknown>(
  Object.assign(Object.create(Tensor.prototype), { data: new Float32Array(4), shape: [4, 0] }),
  Object.assign(Object.create(Tensor.prototype), { data: new Float32Array(4), shape: [4, -1] }),
  Object.assign(Object.create(Tensor.prototype), { data: new Float32Array(4), shape: [1, 1, 4, -1] }),
  Object.assign(Object.create(Tensor.prototype), { data: [1, 2], shape: [1, 1, 2] }),
  { data: new Float32Array(2), shape: [1, 1, 2] },
  null,
  "tensor",
);

// ---------------------------------------------------------------------------------------------------------
// How a case must end

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

function attempt<T>(f: () => T): Outcome<T> {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** A plain Error of one line, from one of `fns`, naming one of `names`. */
function assertNamedError(error: unknown, fns: string[], names: string[]): void {
  assert.ok(error instanceof Error, `threw a non-Error: ${error}`);
  assert.equal(error.constructor, Error, `threw a ${error.constructor.name}: ${error.message}`);
  assert.ok(!error.message.includes("\n"), `a message of more than one line: ${error.message}`);
  assert.ok(fns.some((fn) => error.message.startsWith(`${fn}: `)), `not from ${fns}: ${error.message}`);
  assert.ok(names.some((name) => error.message.includes(name)), `names none of ${names}: ${error.message}`);
}

/** Either `check` holds of the result, or the error is named; and when `mustWork`, it is the result. */
function expect<T>(
  outcome: Outcome<T>,
  mustWork: boolean,
  fns: string[],
  names: string[],
  check: (value: T) => void,
): void {
  if (outcome.ok) check(outcome.value);
  else {
    assert.ok(!mustWork, `valid, finite input threw: ${(outcome.error as Error)?.message ?? outcome.error}`);
    assertNamedError(outcome.error, fns, names);
  }
}

function assertFinite(values: ArrayLike<number>, what: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) assert.fail(`${what}[${i}] is ${values[i]}`);
  }
}

const allFinite = (...arrays: ArrayLike<number>[]) =>
  arrays.every((a) => Array.from(a).every(Number.isFinite));
const isSize = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0;
const isPositive = (n: unknown): n is number => isSize(n) && n > 0;
/** A tensor that the constructor made: its invariants hold. */
const isTensor = (x: unknown): x is Tensor =>
  x instanceof Tensor && x.data instanceof Float32Array && Array.isArray(x.shape) && x.shape.every(isSize) &&
  x.shape.reduce((a, b) => a * b, 1) === x.data.length;

// ---------------------------------------------------------------------------------------------------------

Deno.test("Tensor's constructors and SeededRandom.randn: a tensor of the shape asked for, or a named error", () => {
  const validShape = (shape: unknown): shape is number[] =>
    Array.isArray(shape) && shape.every((n) => isSize(n) && n <= MAX_ELEMENTS) &&
    shape.reduce((a: number, b: number) => a * b, 1) <= MAX_ELEMENTS;
  const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  // every case goes through all four constructors
  fc.assert(
    fc.property(
      shapeArb,
      fc.integer({ min: -1, max: 1 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      (shape, skew, seed) => {
        const valid = validShape(shape);
        const names = ["shape", "data", "values"];
        const check = (t: Tensor) => {
          assert.ok(valid, `accepted the shape ${JSON.stringify(shape)}`);
          assert.deepEqual(t.shape, shape);
          assert.equal(t.data.length, sizeOf(shape as number[]));
          assertFinite(t.data, "data");
        };
        expect(attempt(() => Tensor.zeros(shape as number[])), valid, ["Tensor.zeros"], names, check);
        const noise = attempt(() => new SeededRandom(seed).randn(shape as number[]));
        expect(noise, valid, ["SeededRandom.randn"], names, (t) => {
          check(t);
          assert.deepEqual(t.data, new SeededRandom(seed).randn(shape as number[]).data); // same seed, same noise
        });
        // data of the wrong length (skew ≠ 0) must be refused too
        const n = valid ? Math.max(0, sizeOf(shape) + skew) : 3;
        const fits = valid && n === sizeOf(shape);
        expect(
          attempt(() => new Tensor(new Float32Array(n), shape as number[])),
          fits,
          ["Tensor"],
          names,
          check,
        );
        expect(
          attempt(() => Tensor.from(new Array(n).fill(1.5), shape as number[])),
          fits,
          ["Tensor.from"],
          names,
          check,
        );
      },
    ),
    RUNS,
  );
  // values that are not numbers are refused, not turned into NaN
  assert.throws(() => Tensor.from(["a", 1] as unknown as number[], [2]), /Tensor.from: values\[0\] is "a"/);
});

Deno.test("patchify and unpatchify: unpatchify(patchify(x)) is x, or a named error", () => {
  const input = fc.oneof(
    { weight: 15, arbitrary: tensorArb(4, 8) },
    { weight: 1, arbitrary: forgedTensor },
    { weight: 1, arbitrary: tensorArb(3) },
  );
  fc.assert(
    fc.property(input, size, (x, p) => {
      const image = isTensor(x) && x.shape.length === 4;
      const [, C, H, W] = image ? x.shape : [0, 0, 0, 0];
      const valid = image && isPositive(p) && p <= MAX_ELEMENTS && H % p === 0 && W % p === 0;
      expect(
        attempt(() => patchify(x as Tensor, p as number)),
        valid,
        ["patchify"],
        ["x", "p", "H="],
        (tokens) => {
          assert.ok(valid);
          const q = p as number;
          const [B] = (x as Tensor).shape;
          assert.deepEqual(tokens.shape, [B, (H / q) * (W / q), q * q * C]);
          // a pure reordering: every number comes back where it was, NaN included
          const back = attempt(() => unpatchify(tokens, q, C, W / q));
          expect(back, C > 0, ["unpatchify"], ["channels"], (image) => {
            // (no tokens say nothing of H: then only the size, 0, comes back)
            if (tokens.shape[1] > 0) assert.deepEqual(image.shape, (x as Tensor).shape);
            assert.ok(image.data.every((v, i) => Object.is(v, (x as Tensor).data[i])));
          });
        },
      );
    }),
    RUNS,
  );
  // unpatchify on its own: random tokens, sizes and grid widths
  fc.assert(
    fc.property(
      fc.oneof(tensorArb(3, 6), forgedTensor),
      size,
      size,
      fc.option(size),
      (tokens, p, channels, gridWidth) => {
        const outcome = attempt(() =>
          unpatchify(tokens as Tensor, p as number, channels as number, (gridWidth ?? undefined) as number)
        );
        expect(outcome, false, ["unpatchify"], ["tokens", "p", "channels", "gridWidth", "T="], (image) => {
          const [B, T, D] = (tokens as Tensor).shape;
          assert.equal(image.data.length, B * T * D);
          assert.equal(image.shape[1], channels);
        });
      },
    ),
    RUNS,
  );
});

Deno.test("sincosPosEmbed2d and sincosPosEmbed1d: finite values in [-1, 1] with cos(0) = 1 at position 0, or a named error", () => {
  const dim = fc.oneof(
    { weight: 10, arbitrary: fc.integer({ min: 0, max: 16 }).map((n) => 2 * n) },
    { weight: 2, arbitrary: fc.constantFrom(3, -4, 4.5, NaN, Infinity, 2 ** 17, 1e9, "8", null) },
  );
  const grid = fc.oneof(
    { weight: 10, arbitrary: fc.integer({ min: 0, max: 6 }) },
    { weight: 2, arbitrary: fc.constantFrom(-1, 1.5, NaN, -Infinity, 257, 20000, 2 ** 40, "4", undefined) },
  );
  fc.assert(
    fc.property(dim, grid, (embedDim, gridSize) => {
      const valid = isPositive(embedDim) && embedDim % 4 === 0 && embedDim <= 65536 && isPositive(gridSize) &&
        gridSize <= 256;
      const outcome = attempt(() => sincosPosEmbed2d(embedDim as number, gridSize as number));
      expect(outcome, valid, ["sincosPosEmbed2d"], ["embedDim", "gridSize"], (pos) => {
        assert.ok(valid);
        const D = embedDim as number, G = gridSize as number;
        assert.deepEqual(pos.shape, [G * G, D]);
        assert.ok(pos.data.every((v) => v >= -1 && v <= 1), "a value outside [-1, 1]");
        for (let k = 0; k < D / 4; k++) assert.equal(pos.at(0, D / 4 + k), 1); // token 0: cos(0·ω) = 1
      });
    }),
    RUNS,
  );
  const position = fc.oneof(
    { weight: 10, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(NaN, Infinity, -Infinity, "1", null) },
  );
  fc.assert(
    fc.property(dim, fc.array(position, { maxLength: 5 }), (embedDim, positions) => {
      const valid = isPositive(embedDim) && embedDim % 2 === 0 && embedDim <= 65536 &&
        positions.every((p) => typeof p === "number" && Number.isFinite(p));
      const outcome = attempt(() => sincosPosEmbed1d(embedDim as number, positions as number[]));
      expect(outcome, valid, ["sincosPosEmbed1d"], ["embedDim", "positions"], (e) => {
        assert.deepEqual(e.shape, [positions.length, embedDim]);
        assert.ok(e.data.every((v) => v >= -1 && v <= 1), "a value outside [-1, 1]");
      });
    }),
    RUNS,
  );
});

Deno.test("timestepEmbedding: finite values in [-1, 1], cos² + sin² = 1 per frequency, or a named error", () => {
  const t = fc.oneof(
    { weight: 10, arbitrary: fc.double({ min: -2000, max: 2000, noNaN: true }) },
    { weight: 3, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) }, // 1e39 and beyond float32
    { weight: 1, arbitrary: fc.constantFrom<unknown>(NaN, Infinity, -Infinity, "5", null) },
  );
  const dim = fc.oneof(
    { weight: 10, arbitrary: fc.integer({ min: 0, max: 17 }) },
    { weight: 2, arbitrary: fc.constantFrom(-2, 2.5, NaN, Infinity, 2 ** 29, 65537, "8", undefined) },
  );
  const maxPeriod = fc.oneof(
    { weight: 4, arbitrary: fc.constant(10000) },
    { weight: 2, arbitrary: fc.double({ min: 1, max: 1e300, noNaN: true }) },
    { weight: 1, arbitrary: fc.constantFrom(0.5, 1e-300, 0, -1, NaN, Infinity, "10000") },
  );
  fc.assert(
    fc.property(fc.array(t, { maxLength: 4 }), dim, maxPeriod, (ts, d, period) => {
      const valid = isSize(d) && d >= 2 && d <= 65536 && typeof period === "number" && period >= 1 &&
        Number.isFinite(period) && ts.every((v) => typeof v === "number" && Number.isFinite(f32(v)));
      const outcome = attempt(() => timestepEmbedding(ts as number[], d as number, period as number));
      expect(outcome, valid, ["timestepEmbedding"], ["t[", "dim", "maxPeriod"], (emb) => {
        const D = d as number, half = Math.floor(D / 2);
        assert.deepEqual(emb.shape, [ts.length, D]);
        assertFinite(emb.data, "embedding");
        for (let n = 0; n < ts.length; n++) {
          for (let k = 0; k < half; k++) {
            const c = emb.at(n, k), s = emb.at(n, half + k);
            assert.ok(Math.abs(c) <= 1 && Math.abs(s) <= 1);
            assert.ok(Math.abs(c * c + s * s - 1) < 1e-6, `cos² + sin² = ${c * c + s * s}`);
          }
          if (D % 2 === 1) assert.equal(emb.at(n, D - 1), 0);
        }
      });
    }),
    RUNS,
  );
});

Deno.test("layerNorm, modulate, gatedResidual, silu and gelu: the formula where float32 holds it, else a named error", () => {
  const eps = fc.oneof(
    { weight: 6, arbitrary: fc.constant(1e-6) },
    { weight: 2, arbitrary: fc.constantFrom(0, 1e300) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(-1, NaN, Infinity, "1e-6") },
  );
  const xArb = fc.oneof({ weight: 15, arbitrary: tensorArb(3) }, { weight: 1, arbitrary: forgedTensor });
  fc.assert(
    fc.property(xArb, eps, (x, e) => {
      const valid = isTensor(x) && typeof e === "number" && e >= 0 && Number.isFinite(e);
      const finiteIn = isTensor(x) && allFinite(x.data);
      const outcome = attempt(() => layerNorm(x as Tensor, e as number));
      expect(outcome, valid && finiteIn, ["layerNorm"], ["x", "eps"], (y) => {
        assertFinite(y.data, "layerNorm");
        const D = y.shape[y.shape.length - 1];
        // each row: mean 0 and |y| ≤ √D (a row's deviations cannot all exceed its standard deviation)
        for (let row = 0; row < y.size; row += D) {
          const r = y.data.subarray(row, row + D);
          assert.ok(r.every((v) => Math.abs(v) <= Math.sqrt(D) + 1e-6));
          assert.ok(Math.abs(r.reduce((a, b) => a + b, 0) / D) < 1e-5);
        }
      });
      for (const [fn, f] of [["silu", silu], ["gelu", gelu]] as const) {
        expect(attempt(() => f(x as Tensor)), finiteIn, [fn], ["x"], (y) => {
          assertFinite(y.data, fn);
          assert.ok(y.data.every((v, i) => Math.abs(v) <= Math.abs((x as Tensor).data[i]) + 1e-6)); // |f(x)| ≤ |x|
        });
      }
    }),
    RUNS,
  );
  const triple = fc.tuple(
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 3 }),
  )
    .chain(([B, T, D]) =>
      fc.tuple(
        tensorOf([B, T, D]),
        fc.oneof({ weight: 8, arbitrary: tensorOf([B, D]) }, { weight: 1, arbitrary: tensorArb(2) }),
        fc.oneof({ weight: 8, arbitrary: tensorOf([B, D]) }, { weight: 1, arbitrary: forgedTensor }),
        fc.oneof({ weight: 8, arbitrary: tensorOf([B, T, D]) }, { weight: 1, arbitrary: tensorArb(3) }),
      )
    );
  fc.assert(
    fc.property(triple, ([x, a, b, y]) => {
      const [B, T, D] = x.shape;
      const perSample = (v: unknown) =>
        v instanceof Tensor && v.shape.length === 2 && v.shape[0] === B && v.shape[1] === D;
      // modulate(x, shift = a, scale = b): x·(1 + scale) + shift, stored as float32, computed here independently
      const shift = a, scale = b as Tensor;
      const expected = new Float64Array(x.size);
      if (perSample(shift) && perSample(scale)) {
        for (let i = 0; i < x.size; i++) {
          const bd = Math.floor(i / (T * D)) * D + (i % D);
          expected[i] = f32(x.data[i] * (1 + scale.data[bd]) + shift.data[bd]);
        }
      }
      const fits = perSample(shift) && perSample(scale) && allFinite(expected);
      expect(attempt(() => modulate(x, shift, scale)), fits, ["modulate"], ["x", "shift", "scale"], (out) => {
        assert.deepEqual(out.shape, [B, T, D]);
        assertFinite(out.data, "modulate");
        assert.deepEqual([...out.data], [...expected]);
      });
      // gatedResidual(x, gate = a, y): x + gate·y
      const sameXY = y.shape.every((n, i) => n === x.shape[i]);
      const residual = new Float64Array(x.size);
      if (perSample(a) && sameXY) {
        for (let i = 0; i < x.size; i++) {
          residual[i] = f32(x.data[i] + a.data[Math.floor(i / (T * D)) * D + (i % D)] * y.data[i]);
        }
      }
      const fitsResidual = perSample(a) && sameXY && allFinite(residual);
      expect(
        attempt(() => gatedResidual(x, a, y)),
        fitsResidual,
        ["gatedResidual"],
        ["x", "gate", "y"],
        (out) => {
          assertFinite(out.data, "gatedResidual");
          assert.deepEqual([...out.data], [...residual]);
        },
      );
    }),
    RUNS,
  );
});

Deno.test("attention and linear: probabilities in [0, 1] summing to 1 per row, finite outputs, or a named error", () => {
  const input = fc.tuple(
    fc.integer({ min: 0, max: 2 }),
    fc.integer({ min: 0, max: 4 }),
    fc.constantFrom(0, 2, 4, 6),
  ).chain(([B, T, D]) =>
    fc.tuple(
      tensorOf([B, T, D]),
      fc.oneof({ weight: 10, arbitrary: tensorOf([3 * D, D]) }, { weight: 1, arbitrary: tensorArb(2) }),
      tensorOf([3 * D]),
      tensorOf([D, D]),
      fc.oneof({ weight: 10, arbitrary: tensorOf([D]) }, { weight: 1, arbitrary: forgedTensor }),
      fc.oneof(
        { weight: 10, arbitrary: fc.integer({ min: 1, max: 3 }) },
        { weight: 1, arbitrary: fc.constantFrom<unknown>(0, -1, 1.5, NaN, 1e12, "2") },
      ),
    )
  );
  fc.assert(
    fc.property(input, ([x, qkvW, qkvB, projW, projB, heads]) => {
      const outcome = attempt(() => attention(x, qkvW, qkvB, projW, projB as Tensor, heads as number));
      const names = ["x", "qkvWeight", "numHeads", "weight", "bias", "overflows", "the probabilities"];
      expect(outcome, false, ["attention", "linear"], names, ({ output, probabilities }) => {
        const [B, T, D] = x.shape;
        assert.deepEqual(output.shape, [B, T, D]);
        assertFinite(output.data, "output");
        assertFinite(probabilities.data, "probabilities");
        for (let row = 0; row < probabilities.size; row += T) {
          const p = probabilities.data.subarray(row, row + T);
          assert.ok(p.every((v) => v >= 0 && v <= 1));
          assert.ok(Math.abs(p.reduce((s, v) => s + v, 0) - 1) < 1e-5);
        }
      });
      // the same weights through linear alone, where inputs of moderate size must work
      const moderate = [x, qkvW, qkvB].every((t) =>
        t instanceof Tensor && t.data.every((v) => Math.abs(v) <= 10)
      );
      const shapesFit = qkvW.shape.length === 2 && qkvW.shape[1] === x.shape[2] &&
        qkvB.shape[0] === qkvW.shape[0];
      expect(attempt(() => linear(x, qkvW, qkvB)), moderate && shapesFit, ["linear"], names, (y) => {
        assertFinite(y.data, "linear");
      });
    }),
    RUNS,
  );
});

/** Whether `spaceTimesteps(T, "ddimN")` has a stride: the reference's own search. */
function ddimPossible(T: number, n: number): boolean {
  for (let stride = 1; stride < T; stride++) if (Math.ceil(T / stride) === n) return true;
  return false;
}

const stepCount = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 1, max: 1200 }) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_TIMESTEPS, 19, 20, 21) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(0, -1, 2.5, NaN, Infinity, MAX_TIMESTEPS + 1, 1e9, "1000", null),
  },
);

Deno.test("betaSchedule: increasing betas in (0, 1] and ᾱ falling from below 1, or a named error", () => {
  const name = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom("linear", "squaredcos_cap_v2") },
    { weight: 1, arbitrary: fc.constantFrom<unknown>("cosine", "", 5, null, undefined) },
  );
  fc.assert(
    fc.property(name, stepCount, (schedule, T) => {
      const knownName = schedule === "linear" || schedule === "squaredcos_cap_v2";
      const valid = knownName && isPositive(T) && T <= MAX_TIMESTEPS &&
        (schedule !== "linear" || T === 1 || T >= 20);
      const outcome = attempt(() => betaSchedule(schedule as "linear", T as number));
      expect(outcome, valid, ["betaSchedule"], ["schedule name", "numTimesteps", "beta["], (betas) => {
        assert.ok(valid, `accepted ${schedule} over ${T}`);
        assert.equal(betas.length, T);
        let alphaBar = 1;
        for (let i = 0; i < betas.length; i++) {
          assert.ok(betas[i] > 0 && betas[i] <= 1, `beta[${i}] = ${betas[i]}`);
          if (i > 0) assert.ok(betas[i] >= betas[i - 1], `beta[${i}] decreases`);
          const next = alphaBar * (1 - betas[i]);
          assert.ok(next < alphaBar || betas[i] === 0, "ᾱ does not fall");
          alphaBar = next;
        }
      });
    }),
    RUNS,
  );
});

Deno.test("spaceTimesteps: sorted unique steps in range, as many as asked for, or a named error", () => {
  const T = fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 1, max: 300 }) }, {
    weight: 1,
    arbitrary: stepCount,
  });
  const count = fc.oneof(
    { weight: 10, arbitrary: fc.integer({ min: 0, max: 120 }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(-1, 2.5, NaN, 1e9, "x", "7", null) },
  );
  const sections = fc.oneof(
    { weight: 4, arbitrary: fc.array(count, { maxLength: 4 }) },
    { weight: 4, arbitrary: fc.array(count, { minLength: 1, maxLength: 3 }).map((c) => c.join(",")) },
    { weight: 3, arbitrary: count.map((n) => `ddim${n}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>("", "abc", "1e3", " 5", "ddim", 50, null, { length: 1 }),
    },
  );
  fc.assert(
    fc.property(T, sections, (numTimesteps, spec) => {
      const outcome = attempt(() => spaceTimesteps(numTimesteps as number, spec as string));
      const names = ["numTimesteps", "section", "count", "stride", "ddim"];
      expect(outcome, false, ["spaceTimesteps"], names, (steps) => {
        const N = numTimesteps as number;
        assert.ok(isPositive(N) && N <= MAX_TIMESTEPS);
        steps.forEach((t, i) => {
          assert.ok(Number.isInteger(t) && t >= 0 && t < N, `step ${t} outside [0, ${N})`);
          if (i > 0) assert.ok(t > steps[i - 1], "not sorted and unique");
        });
        if (typeof spec === "string" && spec.startsWith("ddim")) {
          const n = Number(spec.slice(4));
          assert.equal(steps.length, n);
          assert.ok(ddimPossible(N, n));
        } else {
          const counts = typeof spec === "string"
            ? spec.split(",").map(Number)
            : (spec as number[]).map(Number);
          assert.equal(steps.length, counts.reduce((a, b) => a + b, 0));
        }
      });
      // valid requests must work: a plain count up to T, or a ddim count some stride gives
      if (isPositive(numTimesteps) && numTimesteps <= MAX_TIMESTEPS && typeof spec === "string") {
        const n = Number(spec.startsWith("ddim") ? spec.slice(4) : spec);
        const plain = /^\d+$/.test(spec) && n <= numTimesteps;
        const ddim = /^ddim\d+$/.test(spec) && ddimPossible(numTimesteps, n);
        if (plain || ddim) assert.ok(outcome.ok, `"${spec}" of ${numTimesteps} threw`);
      }
    }),
    RUNS,
  );
});

Deno.test("createDiffusion with qSample, pSample and ddimStep: finite tables and steps, or a named error", () => {
  const options = fc.record({
    schedule: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom("linear", "squaredcos_cap_v2") },
      { weight: 1, arbitrary: fc.constantFrom<unknown>("cosine", 3) },
    ),
    numTimesteps: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(1, 2, 10, 19, 20, 21, 50, 1000) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(0, -5, 2.5, NaN, 1e9, "1000") },
    ),
    respacing: fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constantFrom<unknown>("", "1", "5", "ddim5", "ddim10", "karras5", 3, [2, 0], [0, 1]),
      },
      {
        weight: 2,
        arbitrary: fc.constantFrom<unknown>(
          "0",
          0,
          [0, 0],
          "ddim0",
          "karras0",
          "karras",
          "x",
          -1,
          1e9,
          null,
          {},
        ),
      },
    ),
    learnSigma: fc.oneof({ weight: 6, arbitrary: fc.boolean() }, {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>("yes", 1),
    }),
  }, { requiredKeys: [] });
  const step = fc.record({
    index: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 12 }) }, {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>(-1, 0.5, NaN, "0"),
    }),
    eta: fc.oneof(
      { weight: 8, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(-0.5, 1.5, 2, NaN, Infinity, "0") },
    ),
    B: fc.integer({ min: 0, max: 2 }),
    C: fc.integer({ min: 1, max: 2 }),
    seed: fc.integer({ min: 0, max: 1000 }),
    scale: fc.constantFrom(1, 1, 1, 1e3, 1e20, 3e38), // multiplies the random values: ordinary, large, extreme
  });
  fc.assert(
    fc.property(options, step, (opts, { index, eta, B, C, seed, scale }) => {
      const made = attempt(() => createDiffusion(opts as Parameters<typeof createDiffusion>[0]));
      const names = [
        "schedule",
        "numTimesteps",
        "respacing",
        "learnSigma",
        "beta",
        "alphasCumprod",
        "section",
        "count",
        "stride",
        "options",
        "steps",
      ];
      expect(
        made,
        false,
        ["createDiffusion", "betaSchedule", "spaceTimesteps", "karrasSchedule"],
        names,
        (d) => {
          const linear = (opts.schedule ?? "linear") === "linear";
          const T = (opts.numTimesteps ?? 1000) as number;
          assert.ok(!linear || T === 1 || T >= 21, `linear over ${T} steps accepted`);
          for (
            const table of [
              d.alphasCumprod,
              d.sqrtRecipAlphasCumprod,
              d.posteriorMeanCoef1,
              d.posteriorMeanCoef2,
            ]
          ) {
            assertFinite(table, "table");
          }
          d.alphasCumprod.forEach((a, i) => {
            assert.ok(a > 0 && a < 1, `ᾱ[${i}] = ${a}`);
            if (i > 0) assert.ok(a <= d.alphasCumprod[i - 1], "ᾱ rises");
          });

          const random = new SeededRandom(seed);
          const big = (t: Tensor) => new Tensor(t.data.map((v) => v * scale), t.shape);
          const x = big(random.randn([B, C, 2, 2]));
          const output = big(random.randn([B, d.learnSigma ? 2 * C : C, 2, 2]));
          const noise = random.randn([B, C, 2, 2]);
          const validIndex = isSize(index) && index < d.numTimesteps;
          const stepNames = [
            "index",
            "t[",
            "x0[",
            "eta",
            "overflows",
            "x[",
            "modelOutput",
            "noise",
            "one-step process",
          ];
          const fns = ["qSample", "pMeanVariance", "pSample", "ddimStep"];
          const ordinary = scale === 1;

          // qSample: exactly √ᾱ·x0 + √(1−ᾱ)·noise stored as float32, which must come back whenever it is finite
          const exact = Float64Array.from(
            x.data,
            (x0, k) =>
              validIndex
                ? f32(d.sqrtAlphasCumprod[index] * x0 + d.sqrtOneMinusAlphasCumprod[index] * noise.data[k])
                : 0,
          );
          const xt = attempt(() => d.qSample(x, new Array(B).fill(index), noise));
          expect(xt, validIndex && allFinite(x.data, exact), fns, stepNames, (y) => {
            assertFinite(y.data, "qSample");
            assert.deepEqual([...y.data], [...exact]);
          });
          const ddimOk = validIndex && typeof eta === "number" && eta >= 0 && eta <= 1 && ordinary;
          expect(
            attempt(() => d.ddimStep(output, x, index as number, eta as number, noise)),
            ddimOk,
            fns,
            stepNames,
            (r) => {
              assertFinite(r.sample.data, "ddimStep sample");
              assertFinite(r.predXstart.data, "ddimStep x̂0");
            },
          );
          if (validIndex && (typeof eta !== "number" || !(eta >= 0 && eta <= 1))) {
            // an eta outside [0, 1] is refused as such, not left to make NaN further on
            assert.throws(
              () => d.ddimStep(output, x, index as number, eta as number, noise),
              /ddimStep: eta is/,
            );
          }
          const pOk = validIndex && ordinary && (!d.learnSigma || d.numTimesteps > 1);
          expect(attempt(() => d.pSample(output, x, index as number, noise)), pOk, fns, stepNames, (r) => {
            assertFinite(r.sample.data, "pSample sample");
          });
        },
      );
    }),
    RUNS,
  );
});

Deno.test("classifierFreeGuidance: exactly uncond + s·(cond − uncond), stored as float32, where that is finite, else a named error", () => {
  const pair = tensorArb(2).chain((cond) =>
    fc.tuple(
      fc.constant(cond),
      fc.oneof({ weight: 10, arbitrary: tensorOf([...cond.shape]) }, { weight: 1, arbitrary: tensorArb(2) }),
    )
  );
  const scale = fc.oneof(
    { weight: 8, arbitrary: fc.double({ min: -20, max: 20, noNaN: true }) },
    { weight: 3, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(NaN, Infinity, "4", null) },
  );
  fc.assert(
    fc.property(pair, scale, ([cond, uncond], s) => {
      const same = uncond.shape.every((n, i) => n === cond.shape[i]);
      const expected = new Float64Array(cond.size);
      if (same && typeof s === "number") {
        cond.data.forEach((c, i) => (expected[i] = f32(uncond.data[i] + s * (c - uncond.data[i]))));
      }
      const fits = same && typeof s === "number" && Number.isFinite(f32(s)) && allFinite(expected);
      const outcome = attempt(() => classifierFreeGuidance(cond, uncond, s as number));
      expect(
        outcome,
        fits,
        ["classifierFreeGuidance"],
        ["cond", "uncond", "scale", "overflows"],
        (guided) => {
          assertFinite(guided.data, "guided");
          assert.deepEqual([...guided.data], [...expected]);
        },
      );
    }),
    RUNS,
  );
});

Deno.test("dpmSolverStep, eulerStep and heunStep: finite steps from finite input, or a named error", () => {
  const step = fc.record({
    respacing: fc.constantFrom("1", "2", "10", "karras1", "karras5", "karras20"),
    learnSigma: fc.boolean(),
    index: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 20 }) }, {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>(-1, 0.5, NaN, "0"),
    }),
    previousIndex: fc.option(fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 21 }) }, {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>(-1, 2.5, NaN, "3"),
    })),
    B: fc.integer({ min: 0, max: 2 }),
    C: fc.integer({ min: 1, max: 2 }),
    seed: fc.integer({ min: 0, max: 1000 }),
    scale: fc.constantFrom(1, 1, 1, 1e3, 1e20, 3e38), // multiplies the random values: ordinary, large, extreme
  });
  const names = ["index", "previous", "modelOutput", "x[", "overflows", "proposal"];
  fc.assert(
    fc.property(step, ({ respacing, learnSigma, index, previousIndex, B, C, seed, scale }) => {
      const d = createDiffusion({ respacing, learnSigma });
      const random = new SeededRandom(seed);
      const big = (t: Tensor) => new Tensor(t.data.map((v) => v * scale), t.shape);
      const x = big(random.randn([B, C, 2, 2]));
      const output = big(random.randn([B, learnSigma ? 2 * C : C, 2, 2]));
      const validIndex = isSize(index) && index < d.numTimesteps;
      const ordinary = scale === 1;
      const previous = previousIndex === null
        ? undefined
        : { predXstart: random.randn([B, C, 2, 2]), index: previousIndex as number };
      const validPrevious = previous === undefined ||
        (validIndex && isSize(previousIndex) && previousIndex > index && previousIndex < d.numTimesteps);
      const finite = (what: string) => (r: { sample: Tensor; predXstart: Tensor }) => {
        assertFinite(r.sample.data, `${what} sample`);
        assertFinite(r.predXstart.data, `${what} x̂0`);
      };
      expect(
        attempt(() => dpmSolverStep(d, output, x, index as number, previous)),
        validIndex && validPrevious && ordinary,
        ["dpmSolverStep"],
        names,
        finite("dpmSolverStep"),
      );
      expect(
        attempt(() => eulerStep(d, output, x, index as number)),
        validIndex && ordinary,
        ["eulerStep"],
        names,
        finite("eulerStep"),
      );
      expect(
        attempt(() => heunStep(d, output, x, index as number, { sample: x, modelOutput: output })),
        validIndex && (index as number) > 0 && ordinary,
        ["heunStep"],
        names,
        finite("heunStep"),
      );
    }),
    RUNS,
  );
});

Deno.test("karrasSchedule: falling σ ending at 0 on distinct timesteps, at most N of them, or a named error", () => {
  const args = fc.record({
    schedule: fc.constantFrom("linear", "squaredcos_cap_v2") as fc.Arbitrary<"linear" | "squaredcos_cap_v2">,
    T: fc.constantFrom(1, 21, 100, 1000), // (the linear schedule needs 1 or >= 21)
    steps: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 1000 }) }, {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>(0, -1, 2.5, NaN, 1e9, "5"),
    }),
    rho: fc.oneof({ weight: 8, arbitrary: fc.double({ min: 0.5, max: 20, noNaN: true }) }, {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>(0, -7, NaN, Infinity, "7"),
    }),
  });
  fc.assert(
    fc.property(args, ({ schedule, T, steps, rho }) => {
      const alphasCumprod = createDiffusion({ schedule, numTimesteps: T }).alphasCumprod;
      const valid = isPositive(steps) && steps <= T && typeof rho === "number" && rho > 0 &&
        Number.isFinite(rho);
      expect(
        attempt(() => karrasSchedule(alphasCumprod, steps as number, rho as number)),
        valid,
        ["karrasSchedule"],
        ["steps", "rho"],
        ({ timesteps, sigmas }) => {
          assert.ok(timesteps.length >= 1 && timesteps.length <= (steps as number));
          assert.equal(sigmas.length, timesteps.length + 1);
          assert.equal(sigmas.at(-1), 0);
          assertFinite(sigmas, "σ");
          timesteps.forEach((t, i) => {
            assert.ok(Number.isInteger(t) && t >= 0 && t < T, `timestep ${t}`);
            if (i > 0) assert.ok(t < timesteps[i - 1] && sigmas[i] < sigmas[i - 1], "falling");
          });
        },
      );
    }),
    RUNS,
  );
});

Deno.test("guidedAt: lo <= t <= hi (always without an interval), or a named error", () => {
  const number = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: -5, max: 1005 }) },
    { weight: 2, arbitrary: fc.double({ noNaN: true }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(NaN, Infinity, "5", null) },
  );
  const interval = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(number, number) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, [], [1], [1, 2, 3], "0,9", null, 5) },
  );
  fc.assert(
    fc.property(number, interval, (t, range) => {
      const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
      const pair = Array.isArray(range) && range.length === 2 && finite(range[0]) && finite(range[1]) &&
        range[0] <= range[1];
      const valid = finite(t) && (range === undefined || pair);
      expect(
        attempt(() => guidedAt(t as number, range as [number, number])),
        valid,
        ["guidedAt"],
        ["t is", "interval"],
        (guided) => {
          const [lo, hi] = (range ?? [-Infinity, Infinity]) as [number, number];
          assert.equal(guided, lo <= (t as number) && (t as number) <= hi);
        },
      );
    }),
    RUNS,
  );
});

Deno.test("issue 11's examples: each is one named line, at once", () => {
  const cases: [() => unknown, RegExp][] = [
    [
      () => sincosPosEmbed2d(4, 20000),
      /^sincosPosEmbed2d: gridSize is 20000; expected a positive integer, at most 256/,
    ],
    [
      () => timestepEmbedding([0], 2 ** 29),
      /^timestepEmbedding: dim is 536870912; expected an integer >= 2, at most 65536/,
    ],
    [
      () => betaSchedule("linear", 1e9),
      /^betaSchedule: numTimesteps is 1000000000; expected a positive integer/,
    ],
    [
      () => spaceTimesteps(1e9, "ddim0"),
      /^spaceTimesteps: numTimesteps is 1000000000; expected a positive integer/,
    ],
    [
      () => new SeededRandom(0).randn([2, -3]),
      /^SeededRandom.randn: shape\[1\] is -3; expected a non-negative integer/,
    ],
    [() => Tensor.zeros([-1]), /^Tensor.zeros: shape\[0\] is -1; expected a non-negative integer/],
    [
      () => betaSchedule("linear", 5),
      /^betaSchedule: the linear schedule over numTimesteps=5 has beta\[1\] = 1.015;/,
    ],
    [
      () => createDiffusion({ numTimesteps: 20 }),
      /^createDiffusion: the linear schedule over numTimesteps=20 has alphasCumprod\[19\] = 0;/,
    ],
    [
      () => createDiffusion({ respacing: "0" }),
      /^createDiffusion: respacing "0" keeps no step; expected at least one/,
    ],
    [() => timestepEmbedding([1e39], 4), /^timestepEmbedding: t\[0\] is 1e\+39; expected a finite number/],
    [
      () => classifierFreeGuidance(Tensor.from([3e38], [1]), Tensor.from([-3e38], [1]), 4),
      /^classifierFreeGuidance: uncond \+ scale·\(cond − uncond\) overflows float32/,
    ],
    [
      () =>
        createDiffusion({ respacing: "10" }).ddimStep(
          Tensor.zeros([1, 8, 2, 2]),
          Tensor.zeros([1, 4, 2, 2]),
          5,
          2,
        ),
      /^ddimStep: eta is 2; expected a number >= 0 and <= 1/,
    ],
    [
      () =>
        layerNorm(
          Object.assign(Object.create(Tensor.prototype), { data: new Float32Array(4), shape: [4, 0] }),
        ),
      /^layerNorm: x: shape \[4,0\] holds 0 elements but data has 4/,
    ],
    [
      () => spaceTimesteps("1000" as unknown as number, "10"),
      /^spaceTimesteps: numTimesteps is "1000" \(a string\)/,
    ],
  ];
  for (const [call, message] of cases) {
    const started = performance.now();
    assert.throws(
      call,
      (e: Error) => e.constructor === Error && message.test(e.message) && !e.message.includes("\n"),
    );
    assert.ok(performance.now() - started < 1000, `${message} took ${performance.now() - started} ms`);
  }
  // and the silent ones now say what they did: spaceTimesteps may select no step, createDiffusion refuses it
  assert.deepEqual(spaceTimesteps(1000, "0"), []);
});
