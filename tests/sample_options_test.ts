/**
 * `DiTPipeline.sample`'s options from a program: every bad one refused in one line naming it, before any
 * sampling; unknown classes listed short and printable however the card names them.
 */
import assert from "node:assert/strict";
import { createDiffusion } from "../lib/diffusion.ts";
import {
  DiTPipeline,
  loadDiT,
  MAX_BATCH_SIZE,
  MAX_GUIDANCE_SCALE,
  MAX_SAMPLES,
  type SampleOptions,
} from "../lib/pipeline.ts";
import { SAMPLERS } from "../lib/sampler.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";

Deno.test("every bad SampleOptions value is refused in one line naming the option and what is accepted", async () => {
  const dit = await loadDiT("digits");
  try {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ eta: 2 }, /^sample: eta is 2; expected a number from 0 \(deterministic DDIM\) to 1/],
      [{ eta: -0.5 }, /^sample: eta is -0\.5; expected a number from 0/],
      [{ eta: NaN }, /^sample: eta is NaN; expected/],
      [{ guidanceScale: 1e38 }, /^sample: guidanceScale is 1e\+38; expected a number >= 0 and <= 100/],
      [{ guidanceScale: Infinity }, /^sample: guidanceScale is Infinity; expected/],
      [{ guidanceScale: NaN }, /^sample: guidanceScale is NaN; expected/],
      [{ guidanceScale: "4" }, /^sample: guidanceScale is 4; expected a number/],
      [{ steps: 1.5 }, /^sample: steps is 1\.5; expected an integer from 1 to 1000$/],
      [{ steps: 1e9 }, /^sample: steps is 1000000000; expected an integer from 1 to 1000$/],
      [{ sampler: "ddpm", steps: 1 }, /^sample: sampler "ddpm" needs steps >= 2 .*use "ddim" for 1 step$/],
      [
        { sampler: "lms" },
        /^sample: sampler is "lms"; expected one of "ddpm", "ddim", "dpm\+\+2m", "euler", "heun"$/,
      ],
      [
        { guidanceInterval: [700, 300] },
        /^sample: guidanceInterval is \[700, 300\]; expected \[lo, hi\], integers with 0 <= lo <= hi <= 999 \(the timesteps guided; omit it to guide every step\)$/,
      ],
      [{ guidanceInterval: [0, 1000] }, /^sample: guidanceInterval is \[0, 1000\]; expected \[lo, hi\]/],
      [{ guidanceInterval: [0.5, 3] }, /^sample: guidanceInterval is \[0\.5, 3\]; expected/],
      [{ guidanceInterval: [-1, 3] }, /^sample: guidanceInterval is \[-1, 3\]; expected/],
      [{ guidanceInterval: [1, 2, 3, 4] }, /^sample: guidanceInterval is \[1, 2, 3, …\]; expected/],
      [{ guidanceInterval: "0,9" }, /^sample: guidanceInterval is "0,9" \(a string\); expected/],
      [{ seed: -1 }, /^sample: seed is -1; expected an integer from 0 to 4294967295$/],
      [{ seed: 2 ** 53 }, /^sample: seed is 9007199254740992; expected an integer from 0 to 4294967295$/],
      [{ seed: 0.5 }, /^sample: seed is 0\.5; expected an integer/],
      [{ batchSize: 0 }, /^sample: batchSize is 0; expected an integer from 1 to 256$/],
      [{ batchSize: 1e6 }, /^sample: batchSize is 1000000; expected an integer from 1 to 256$/],
      [{ classes: [] }, /^sample: classes is empty; expected at least one class$/],
      [{ classes: "7" }, /^sample: classes is not an array/],
      [
        { classes: new Array(MAX_SAMPLES + 1).fill(7) },
        /^sample: classes has 10001 entries; expected at most 10000/,
      ],
      [{ classes: [7, "seven"] }, /^unknown class "seven" for digits; expected an id 0-9 or one of: 0, 1, 2/],
      [{ onStep: "log" }, /^sample: onStep is not a function/],
      [{ signal: {} }, /^sample: signal is not an AbortSignal/],
    ];
    for (const [options, message] of cases) {
      // deno-lint-ignore no-explicit-any
      const started = dit.sample({ classes: [7], ...options } as any);
      await assert.rejects(started, (error: Error) => {
        assert.match(error.message, message, JSON.stringify(options).slice(0, 80));
        assert.ok(!error.message.includes("\n"), "one line");
        return true;
      });
    }
    assert.deepEqual([MAX_GUIDANCE_SCALE, MAX_BATCH_SIZE], [100, 256]);
    // the bounds themselves are accepted
    const edge = await dit.sample({ classes: [7], guidanceScale: 100, eta: 1, steps: 2, seed: 2 ** 32 - 1 });
    assert.ok(edge.images.data.every(Number.isFinite));
  } finally {
    await dit.close();
  }
});

Deno.test("every sampler samples, Euler and Heun on Karras's levels, each the same for the same seed; a guidance interval changes guided samples", async () => {
  const dit = await loadDiT("digits");
  try {
    const run = async (options: Partial<SampleOptions>) => {
      const ts: number[] = [];
      const { latents } = await dit.sampleLatents({
        classes: [7, 1],
        steps: 4,
        onStep: ({ t }) => void ts.push(t),
        ...options,
      });
      assert.ok(latents.data.every(Number.isFinite));
      return { latents, ts };
    };
    for (const sampler of SAMPLERS) {
      const { latents, ts } = await run({ sampler });
      const respacing = sampler === "euler" || sampler === "heun" ? "karras4" : "4";
      assert.deepEqual(ts, [...createDiffusion({ respacing }).timestepMap].reverse(), sampler);
      assert.deepEqual((await run({ sampler })).latents, latents, `${sampler}: same seed, same latents`);
      const halfGuided = await run({ sampler, guidanceInterval: [0, 500] });
      assert.notDeepEqual(halfGuided.latents, latents, `${sampler}: the interval changes the samples`);
    }
  } finally {
    await dit.close();
  }
});

Deno.test("an unknown class on a card of many long, hostile names lists 20 of them, short and printable", async () => {
  const dit = await loadDiT("digits");
  try {
    const classes = Array.from({ length: 300 }, (_, id) => ({
      id,
      name: `class ${id}\x1b[31m\x07\u202e${"x".repeat(5000)}\n`,
    }));
    const hostile = new DiTPipeline(
      dit.dir,
      { ...dit.card, name: "evil\x1b]0;title\x07", classes },
      {} as never,
    );
    const message = (() => {
      try {
        hostile.classId(`nope\x1b[2J${"y".repeat(10_000)}`);
      } catch (error) {
        return (error as Error).message;
      }
      return "";
    })();
    assert.ok(message.length < 1500, `${message.length} characters`);
    assert.doesNotMatch(message, /[\p{Cc}\p{Cf}]/u, "no control or format characters");
    assert.match(
      message,
      /^unknown class "nope\uFFFD\[2Jy+…" for evil\uFFFD\]0;title\uFFFD; expected an id 0-299/,
    );
    assert.match(message, /one of: class 0\uFFFD\[31m\uFFFD\uFFFDx+…, class 1/);
    assert.match(message, /class 19[^,]*, … \(280 more\)$/);
  } finally {
    await dit.close();
  }
});

Deno.test("decode refuses non-finite latents, a scale factor that makes them overflow, and non-finite output, in one line", async () => {
  const dit = await loadDiT("digits");
  try {
    const latents = new SeededRandom(0).randn([1, 4, 8, 8]);
    const bad = new Tensor(latents.data.slice(), latents.shape);
    bad.data[3] = NaN;
    await assert.rejects(dit.decode(bad), /^Error: decode: the latents have non-finite values \(NaN ×1\)/);
    await assert.rejects(
      dit.decode(new Tensor(new Float32Array(256).fill(3e37), [1, 4, 8, 8])),
      /^Error: decode: the VAE decoder's output has non-finite values \(NaN ×1024\) from finite input \(largest \|value\| \d\.\d+e\+3\d\); the latents are far outside/,
    );
    const tiny = new DiTPipeline(
      dit.dir,
      { ...dit.card, latent: { ...dit.card.latent, scaleFactor: 1e-300 } },
      {} as never,
    );
    await assert.rejects(
      tiny.decode(latents),
      /^Error: decode: latents ÷ the card's latent\.scaleFactor \(1e-300\) have non-finite values \(±Infinity ×256\); the scale factor is too small$/,
    );
  } finally {
    await dit.close();
  }
});
