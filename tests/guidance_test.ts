import assert from "node:assert/strict";
import { classifierFreeGuidance, guidedAt } from "../lib/guidance.ts";
import { SeededRandom } from "../lib/random.ts";
import { Tensor } from "../lib/tensor.ts";
import { assertAllClose, assertRelativeError } from "./assert.ts";
import { CONCEPT_TOLERANCE, reference, tensor } from "./fixtures.ts";

Deno.test("classifierFreeGuidance equals the reference's uncond + s·(cond − uncond) (fixtures)", () => {
  for (const c of reference.cfg) {
    assertRelativeError(
      classifierFreeGuidance(tensor(c.cond), tensor(c.uncond), c.scale),
      tensor(c.guided),
      CONCEPT_TOLERANCE,
      `scale ${c.scale}`,
    );
  }
});

Deno.test("scale 1 is the conditional prediction (to float32 rounding), scale 0 the unconditional one", () => {
  const random = new SeededRandom(11);
  const cond = random.randn([2, 4, 8, 8]), uncond = random.randn([2, 4, 8, 8]);
  assertAllClose(classifierFreeGuidance(cond, uncond, 1), cond, { rtol: 0, atol: 5e-7 });
  assert.deepEqual(classifierFreeGuidance(cond, uncond, 0).data, uncond.data);
});

Deno.test("classifierFreeGuidance rejects mismatched shapes and non-finite scales", () => {
  assert.throws(
    () => classifierFreeGuidance(Tensor.zeros([2, 4]), Tensor.zeros([4, 2]), 4),
    /classifierFreeGuidance: uncond: expected the shape of .*cond \[2,4\], got \[4,2\]/,
  );
  assert.throws(() => classifierFreeGuidance(Tensor.zeros([2]), Tensor.zeros([2]), NaN), /scale is NaN/);
});

Deno.test("guidedAt: every timestep without an interval, lo <= t <= hi with one; bad intervals refused in one line", () => {
  assert.deepEqual([999, 500, 0].map((t) => guidedAt(t)), [true, true, true]);
  assert.deepEqual([999, 751, 750, 250, 249, 0].map((t) => guidedAt(t, [250, 750])), [
    false,
    false,
    true,
    true,
    false,
    false,
  ]);
  assert.deepEqual([999, 0].map((t) => guidedAt(t, [0, 999])), [true, true]);
  const cases: [() => unknown, RegExp][] = [
    [
      () => guidedAt(5, [7, 3]),
      /^guidedAt: interval is \[7, 3\]; expected \[lo, hi\], finite numbers with lo <= hi$/,
    ],
    [() => guidedAt(5, [0, NaN]), /^guidedAt: interval is \[0, NaN\]; expected/],
    [() => guidedAt(5, [1] as never), /^guidedAt: interval is \[1\]; expected \[lo, hi\]/],
    [
      () => guidedAt(5, [1, 2, 3] as never),
      /^guidedAt: interval is an array of 3 entries; expected an array of at most 2/,
    ],
    [() => guidedAt(5, ["0", 9] as never), /^guidedAt: interval is \["0" \(a string\), 9\]/],
    [() => guidedAt(5, "0,9" as never), /^guidedAt: interval is "0,9" \(a string\)/],
    [() => guidedAt(NaN, [0, 9]), /^guidedAt: t is NaN; expected a finite timestep$/],
  ];
  for (const [call, message] of cases) {
    assert.throws(call, (error: Error) => (assert.match(error.message, message), true));
  }
});
