import assert from "node:assert/strict";
import { SeededRandom } from "../lib/random.ts";
import { assertAllClose } from "./assert.ts";
import { reference, tensor } from "./fixtures.ts";

Deno.test("SeededRandom.randn reproduces torch.manual_seed(s); torch.randn(...) call after call (fixtures)", () => {
  for (const c of reference.randn) {
    const random = new SeededRandom(c.seed);
    for (const [i, draw] of c.draws.entries()) {
      // torch's AVX2 kernel approximates log/sin/cos, so allow a few float32 ulps
      assertAllClose(random.randn(draw.shape), tensor(draw), {
        rtol: 1e-5,
        atol: 1e-6,
        msg: `seed ${c.seed}, draw ${i} [${draw.shape}]`,
      });
    }
  }
});

Deno.test("same seed, same numbers; different seeds, different numbers", () => {
  assert.deepEqual(new SeededRandom(9).randn([3, 50]).data, new SeededRandom(9).randn([3, 50]).data);
  assert.notDeepEqual(new SeededRandom(9).randn([3, 50]).data, new SeededRandom(10).randn([3, 50]).data);
});

Deno.test("randn is standard normal: mean ≈ 0, variance ≈ 1, ~68% within one sigma", () => {
  const { data } = new SeededRandom(123).randn([100_000]);
  const mean = data.reduce((a, b) => a + b) / data.length;
  const variance = data.reduce((a, b) => a + (b - mean) ** 2, 0) / data.length;
  const within = data.filter((v) => Math.abs(v) < 1).length / data.length;
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.02, `variance ${variance}`);
  assert.ok(Math.abs(within - 0.6827) < 0.01, `within one sigma ${within}`);
});

Deno.test("SeededRandom rejects seeds torch would truncate or refuse", () => {
  assert.throws(() => new SeededRandom(-1), /seed is -1; expected an integer in \[0, 2\^32\)/);
  assert.throws(() => new SeededRandom(2 ** 32), /seed is 4294967296/);
  assert.throws(() => new SeededRandom(0.5), /seed is 0.5/);
});
