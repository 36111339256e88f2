import assert from "node:assert/strict";
import { chooseDefault, keptCardRows } from "../models/recipes/record_samplers.ts";

const row = (sampler: "ddim" | "dpm++2m", steps: number, g4: [number, number], g1: [number, number]) => ({
  sampler,
  steps,
  networkEvaluations: steps,
  "4.0": { accuracy: g4[0], frechetDistance: g4[1] },
  "1.0": { accuracy: g1[0], frechetDistance: g1[1] },
});

Deno.test("chooseDefault: the fewest evaluations within 1 point and 10% of DDIM-50 at both guidance scales", () => {
  const ddim50 = row("ddim", 50, [0.9, 10], [0.6, 30]);
  const rows = [
    ddim50,
    row("dpm++2m", 10, [0.895, 10.9], [0.62, 32.9]), // fits both
    row("dpm++2m", 5, [0.95, 9], [0.7, 33.1]), // cheaper, but 10.3% over at guidance 1
    row("ddim", 10, [0.889, 10], [0.6, 30]), // 1.1 points under at guidance 4
    row("ddim", 20, [0.9, 10], [0.6, 30]),
  ];
  const { row: chosen, chosenBy } = chooseDefault(rows);
  assert.deepEqual([chosen.sampler, chosen.steps], ["dpm++2m", 10]);
  assert.match(chosenBy, /^the fewest network evaluations per image \(10, against 50\)/);
  assert.throws(() => chooseDefault(rows.slice(1)), /no DDIM at 50 steps/);
});

Deno.test("keptCardRows: the card's rows less those measured again and its DDIM-50 row, their timing dropped", () => {
  const card = {
    command: "old command",
    hardware: "old CPU",
    samples: 504,
    results: [
      { ...row("ddim", 10, [0.9, 10], [0.6, 30]), cpuSecondsPerImage: 1.5 },
      row("dpm++2m", 10, [0.7, 20], [0.6, 27]),
      row("dpm++2m", 15, [0.9, 10], [0.6, 30]),
      { ...row("ddim", 50, [0.9, 10], [0.6, 30]), source: "evaluate.py" },
    ],
  };
  const kept = keptCardRows(card, [
    row("dpm++2m", 10, [0.9, 9], [0.6, 25]),
    row("dpm++2m", 15, [0.9, 9], [0.6, 25]),
  ]);
  assert.deepEqual(kept, {
    ...card,
    command: "the card's earlier rows: old command",
    hardware: "the card's earlier rows: old CPU",
    results: [row("ddim", 10, [0.9, 10], [0.6, 30])],
  });
  assert.equal(keptCardRows({ ...card, results: card.results.slice(1) }, card.results.slice(1, 3)), null);
});
