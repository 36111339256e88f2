import assert from "node:assert/strict";
import { checkSession, readCard } from "../lib/model/card.ts";

const DIGITS = new URL("../models/digits", import.meta.url).pathname;

function withCard(edit: (card: Record<string, unknown>) => void): string {
  const dir = Deno.makeTempDirSync({ prefix: "dit-card-" });
  const card = JSON.parse(Deno.readTextFileSync(`${DIGITS}/card.json`));
  edit(card);
  Deno.writeTextFileSync(`${dir}/card.json`, JSON.stringify(card));
  return dir;
}

Deno.test("readCard names the field that is missing or inconsistent", () => {
  // deno-lint-ignore no-explicit-any
  const cases: [(card: any) => void, RegExp][] = [
    [(c) => delete c.files.dit, /files\.dit is undefined; expected the DiT's ONNX file name/],
    [(c) => (c.architecture.hiddenSize = 0), /architecture\.hiddenSize is 0; expected a positive integer/],
    [
      (c) => (c.architecture.patchSize = 3),
      /architecture\.patchSize is 3; expected a divisor of inputSize 8/,
    ],
    [(c) => c.classes.pop(), /classes is 9; expected 10 classes/],
    [(c) => (c.nullClassId = 0), /nullClassId is 0; expected 10/],
    [(c) => (c.latent.channels = 3), /latent is .*; expected channels 4, height and width 8/],
    [(c) => (c.latent.scaleFactor = -1), /latent\.scaleFactor is -1; expected a positive number/],
    [
      (c) => (c.diffusion.schedule = "cosine"),
      /diffusion\.schedule is "cosine"; expected "linear" or "squaredcos_cap_v2"/,
    ],
  ];
  for (const [edit, message] of cases) {
    const dir = withCard(edit);
    try {
      assert.throws(() => readCard(dir), message);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  }
  assert.throws(() => readCard("/nonexistent"), /\/nonexistent\/card\.json: cannot read the model card/);
});

Deno.test("checkSession compares names, types and shapes with the card", () => {
  const card = readCard(DIGITS);
  const tensor = (name: string, type: string, shape: (number | string)[]) => ({
    name,
    isTensor: true,
    type,
    shape,
  });
  const good = {
    inputMetadata: [
      tensor("x", "float32", ["batch", 4, 8, 8]),
      tensor("t", "int64", ["batch"]),
      tensor("y", "int64", ["batch"]),
    ],
    outputMetadata: [tensor("out", "float32", ["batch", 8, 8, 8])],
  };
  checkSession(card, "dit", good);
  assert.throws(
    () =>
      checkSession(card, "dit", { ...good, outputMetadata: [tensor("out", "float32", ["batch", 4, 8, 8])] }),
    /dit\.onnx: output out is float32 \[B,4,8,8\]; the card expects float32 \[B,8,8,8\]/,
  );
  assert.throws(
    () => checkSession(card, "dit", { ...good, inputMetadata: good.inputMetadata.slice(0, 2) }),
    /dit\.onnx: inputs are \[x, t\]; the card expects \[x, t, y\]/,
  );
  assert.throws(
    () =>
      checkSession(card, "dit", {
        ...good,
        inputMetadata: [good.inputMetadata[0], tensor("t", "float32", ["batch"]), good.inputMetadata[2]],
      }),
    /input t is float32 \[B\]; the card expects int64 \[B\]/,
  );
});
