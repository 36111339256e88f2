import assert from "node:assert/strict";
import {
  checkSession,
  isTextCard,
  readAnyCard,
  readCard,
  readDiTCard,
  readTextCard,
  readVocabulary,
  requireClassCard,
} from "../lib/model/card.ts";

const DIGITS = new URL("../models/digits", import.meta.url).pathname;

function withCard(edit: (card: Record<string, unknown>) => void): string {
  const dir = Deno.makeTempDirSync({ prefix: "dit-card-" });
  const card = JSON.parse(Deno.readTextFileSync(`${DIGITS}/card.json`));
  edit(card);
  Deno.writeTextFileSync(`${dir}/card.json`, JSON.stringify(card));
  return dir;
}

/** Each case's edited card is refused by `read` with its message; every temporary folder is removed. */
function assertRefused(
  // deno-lint-ignore no-explicit-any
  cases: [(card: any) => void, RegExp][],
  copyWith: (edit: (card: Record<string, unknown>) => void) => string,
  read: (dir: string) => unknown,
) {
  for (const [edit, message] of cases) {
    const dir = copyWith(edit);
    try {
      assert.throws(() => read(dir), message);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  }
}

Deno.test("readCard names the field that is missing or inconsistent", () => {
  // deno-lint-ignore no-explicit-any
  const cases: [(card: any) => void, RegExp][] = [
    [
      (c) => delete c.files.dit,
      /files\.dit is undefined; expected the ONNX file name of the denoising network \(the DiT, or the U-Net\)$/,
    ],
    [(c) => (c.architecture.hiddenSize = 0), /architecture\.hiddenSize is 0; expected a positive integer/],
    [
      (c) => (c.architecture.patchSize = 3),
      /architecture\.patchSize is 3; expected a divisor of inputSize 8/,
    ],
    [(c) => c.classes.pop(), /classes is 9; expected 10 classes/],
    [(c) => (c.nullClassId = 0), /nullClassId is 0; expected 10/],
    [(c) => (c.latent.channels = 3), /latent is .*; expected channels 4, height and width 8/],
    [(c) => (c.latent.scaleFactor = -1), /latent\.scaleFactor is -1; expected a number from 0\.001 to 1000/],
    [
      (c) => (c.diffusion.schedule = "cosine"),
      /diffusion\.schedule is "cosine"; expected "linear" or "squaredcos_cap_v2"/,
    ],
  ];
  assertRefused(cases, withCard, readCard);
  assert.throws(() => readCard("/nonexistent"), /\/nonexistent\/card\.json: cannot read the model card/);
});

Deno.test("readCard holds every field the toolkit uses to its type, range and form, in one line naming it", () => {
  // deno-lint-ignore no-explicit-any
  const cases: [string, (card: any) => unknown, RegExp][] = [
    ["a null card", () => null, /card\.json: the card is null; expected an object$/],
    ["an array card", () => [], /the card is \[\]; expected an object/],
    ["no name", (c) => void delete c.name, /name is undefined; expected a plain name/],
    [
      "a climbing name",
      (c) => void (c.name = "../../../../tmp/x"),
      /name is "\.\.\/\.\.\/.*; expected a plain name/,
    ],
    ["a hidden name", (c) => void (c.name = ".x"), /name is "\.x"; expected a plain name/],
    ["a long name", (c) => void (c.name = "x".repeat(200)), /name is "x{70,}…; expected a plain name/],
    [
      "a climbing file",
      (c) => void (c.files.dit = "../../outside/dit.onnx"),
      /files\.dit is "\.\.\/.*; expected a plain name/,
    ],
    [
      "an absolute file",
      (c) => void (c.files.vaeDecoder = "/etc/passwd"),
      /files\.vaeDecoder is "\/etc\/passwd"; expected a plain name/,
    ],
    [
      "a file in a subfolder",
      (c) => void (c.files.classifier = "sub/c.onnx"),
      /files\.classifier is "sub\/c\.onnx"/,
    ],
    ["a number for a file", (c) => void (c.files.dit = 5), /files\.dit is 5; expected a plain name/],
    ["files of null", (c) => void (c.files = null), /files is null; expected an object/],
    ["no sha256", (c) => void delete c.sha256, /sha256 is undefined; expected an object/],
    [
      "a short hash",
      (c) => void (c.sha256["dit.onnx"] = "abc"),
      /sha256\["dit\.onnx"\] is "abc"; expected 64 lowercase hex digits/,
    ],
    [
      "a negative size",
      (c) => void (c.bytes = { "dit.onnx": -1 }),
      /bytes\["dit\.onnx"\] is -1; expected an integer from 0/,
    ],
    ["a latent of 16384", (c) => {
      c.architecture.inputSize = c.latent.height = c.latent.width = 16384;
    }, /architecture\.inputSize is 16384; expected a positive integer up to 256/],
    ["too many tokens", (c) => {
      c.architecture.inputSize = c.latent.height = c.latent.width = 128;
    }, /architecture\.patchSize is 1; expected at least 2 \(≤ 4096 tokens\)/],
    [
      "a string size",
      (c) => void (c.architecture.inputSize = "8"),
      /architecture\.inputSize is "8"; expected a positive integer/,
    ],
    [
      "heads not dividing",
      (c) => void (c.architecture.numHeads = 5),
      /architecture\.numHeads is 5; expected a divisor of hiddenSize 192/,
    ],
    [
      "no learned variance",
      (c) => void (c.architecture.learnSigma = false),
      /architecture\.learnSigma is false; expected true/,
    ],
    [
      "NaN mlpRatio (null in JSON)",
      (c) => void (c.architecture.mlpRatio = null),
      /architecture\.mlpRatio is null; expected a number/,
    ],
    ["100,000 classes", (c) => {
      c.architecture.numClasses = c.nullClassId = 100_000;
    }, /architecture\.numClasses is 100000; expected a positive integer up to 10000/],
    [
      "a class name with a line break",
      (c) => void (c.classes[3].name = "three\nlines\x1b[31m"),
      /classes\[3\]\.name is "three\\nlines\\u001b\[31m"; expected a string of 1 to 100 characters without control characters/,
    ],
    [
      "a long class name",
      (c) => void (c.classes[0].name = "x".repeat(101)),
      /classes\[0\]\.name is "x+…; expected a string of 1 to 100/,
    ],
    [
      "two classes of one name",
      (c) => void (c.classes[1].name = "0"),
      /classes\[1\]\.name is "0"; expected a name no other class has/,
    ],
    ["a null class entry", (c) => void (c.classes[2] = null), /classes\[2\] is null; expected an object/],
    [
      "1e8 timesteps",
      (c) => void (c.diffusion.numTimesteps = 1e8),
      /diffusion\.numTimesteps is 100000000; expected a positive integer up to 10000/,
    ],
    [
      "an unknown default sampler",
      (c) => void (c.sampling = { sampler: "lms", steps: 10 }),
      /sampling\.sampler is "lms"; expected "ddpm" or "ddim" or "dpm\+\+2m" or "euler" or "heun"/,
    ],
    [
      "default steps beyond the process",
      (c) => void (c.sampling = { sampler: "ddim", steps: 5000 }),
      /sampling\.steps is 5000; expected a positive integer up to 1000/,
    ],
    [
      "one default DDPM step",
      (c) => void (c.sampling = { sampler: "ddpm", steps: 1 }),
      /sampling\.steps is 1; expected an integer from 2 to 1000/,
    ],
    [
      "another prediction",
      (c) => void (c.diffusion.prediction = "v"),
      /diffusion\.prediction is "v"; expected "epsilon"/,
    ],
    [
      "a string scaleFactor",
      (c) => void (c.latent.scaleFactor = "0.18"),
      /latent\.scaleFactor is "0\.18"; expected a number from 0\.001 to 1000/,
    ],
    [
      "a tiny scaleFactor",
      (c) => void (c.latent.scaleFactor = 1e-300),
      /latent\.scaleFactor is 1e-300; expected a number from 0\.001/,
    ],
    ["no onnx section", (c) => void delete c.onnx, /onnx is undefined; expected an object/],
    [
      "no onnx entry for a file",
      (c) => void delete c.onnx["vae_decoder.onnx"],
      /onnx\["vae_decoder\.onnx"\] \(the inputs and outputs of files\.vaeDecoder\) is undefined; expected an object/,
    ],
    [
      "no outputs",
      (c) => void delete c.onnx["dit.onnx"].outputs,
      /onnx\["dit\.onnx"\]\.outputs is undefined; expected an array of at most 16 entries/,
    ],
    [
      "a string shape",
      (c) => void (c.onnx["dit.onnx"].inputs[0].shape = "B,4,8,8"),
      /onnx\["dit\.onnx"\]\.inputs\[0\]\.shape is "B,4,8,8"; expected an array/,
    ],
    [
      "a fractional dimension",
      (c) => void (c.onnx["dit.onnx"].inputs[0].shape[1] = 4.5),
      /inputs\[0\]\.shape\[1\] is 4\.5; expected an integer from 0/,
    ],
  ];
  for (const [what, edit, message] of cases) {
    const dir = Deno.makeTempDirSync({ prefix: "dit-card-" });
    try {
      const card = JSON.parse(Deno.readTextFileSync(`${DIGITS}/card.json`));
      const replaced = edit(card);
      Deno.writeTextFileSync(`${dir}/card.json`, JSON.stringify(replaced === undefined ? card : replaced));
      assert.throws(
        () => readCard(dir),
        (e: Error) => message.test(e.message) && !e.message.includes("\n") && e.message.length < 400,
        what,
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  }
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

/** A U-Net card (as export.py writes one for the block-design ablation's fifth arm) from the digits card. */
function unetCard(c: Record<string, unknown>): void {
  c.files = { dit: "unet.onnx" };
  c.architecture = {
    type: "UNet",
    inputSize: 8,
    inChannels: 4,
    modelChannels: 64,
    channelMult: [1, 1],
    numResBlocks: 4,
    embDim: 128,
    learnSigma: true,
    classDropoutProb: 0.1,
    frequencyEmbeddingSize: 256,
    numClasses: 10,
    parameters: 2231624,
    gflops: 0.0770703,
  };
  c.onnx = {
    opset: 17,
    "unet.onnx": {
      inputs: [
        { name: "x", type: "float32", shape: ["B", 4, 8, 8] },
        { name: "t", type: "int64", shape: ["B"] },
        { name: "y", type: "int64", shape: ["B"] },
      ],
      outputs: [{ name: "out", type: "float32", shape: ["B", 8, 8, 8] }],
    },
  };
}

Deno.test("readCard takes a DiT of any block design (adaLN-Zero when the card names none) and a U-Net", () => {
  for (const block of ["in-context", "cross-attention", "adaLN", "adaLN-Zero"]) {
    const dir = withCard((c) => void ((c.architecture as Record<string, unknown>).block = block));
    try {
      const card = readCard(dir);
      assert.ok(card.architecture.type === "DiT" && card.architecture.block === block);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  }
  assert.equal(readDiTCard(DIGITS).architecture.block, undefined); // a card from before: the reference's design
  const dir = withCard(unetCard);
  try {
    const card = readCard(dir);
    assert.equal(card.architecture.type, "UNet");
    assert.throws(
      () => readDiTCard(dir),
      /^Error: .*card\.json: architecture\.type is "UNet"; expected "DiT" here \(the glass box and the DiT tools read a DiT's shape; sample any network with loadDiT\)$/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readCard refuses a design or a U-Net shape it does not know, in one line naming the field", () => {
  // deno-lint-ignore no-explicit-any
  const cases: [(card: any) => void, RegExp][] = [
    [
      (c) => (c.architecture.block = "adaln"),
      /architecture\.block is "adaln"; expected "in-context" or "cross-attention" or "adaLN" or "adaLN-Zero"$/,
    ],
    [
      (c) => (c.architecture.type = "Transformer"),
      /architecture\.type is "Transformer"; expected "DiT" or "UNet"$/,
    ],
    [(c) => (c.architecture.gflops = -1), /architecture\.gflops is -1; expected a number from 0 to 1000000$/],
    [(c) => {
      unetCard(c);
      c.architecture.channelMult = [];
    }, /architecture\.channelMult is \[\]; expected at least one level$/],
    [(c) => {
      unetCard(c);
      c.architecture.channelMult = [1, 2, 2, 2, 2]; // 8×8 halved four times
    }, /architecture\.inputSize is 8; expected a multiple of 16 \(halved between levels\)$/],
    [(c) => {
      unetCard(c);
      c.architecture.numResBlocks = 0;
    }, /architecture\.numResBlocks is 0; expected a positive integer up to 1024$/],
    [(c) => {
      unetCard(c);
      delete c.onnx["unet.onnx"];
    }, /onnx\["unet\.onnx"\] \(the inputs and outputs of files\.dit\) is undefined; expected an object$/],
  ];
  assertRefused(cases, withCard, readCard);
});

const TEXT = new URL("./fixtures/text-dit", import.meta.url).pathname;

/** A copy of the tiny text model's folder (every file), with its card edited. */
function withTextCard(edit: (card: Record<string, unknown>) => void): string {
  const dir = Deno.makeTempDirSync({ prefix: "dit-text-card-" });
  for (const entry of Deno.readDirSync(TEXT)) {
    Deno.copyFileSync(`${TEXT}/${entry.name}`, `${dir}/${entry.name}`);
  }
  const card = JSON.parse(Deno.readTextFileSync(`${TEXT}/card.json`));
  edit(card);
  Deno.writeTextFileSync(`${dir}/card.json`, JSON.stringify(card));
  return dir;
}

Deno.test("a text model's card: readTextCard and readAnyCard read it, readCard refuses it, and the other way round", () => {
  const card = readTextCard(TEXT);
  assert.ok(isTextCard(card) && isTextCard(readAnyCard(TEXT)) && !isTextCard(readAnyCard(DIGITS)));
  assert.equal(card.architecture.textEncoder.vocabSize, readVocabulary(TEXT, card).tokens.length);
  assert.throws(
    () => readCard(TEXT),
    /card\.json: architecture\.textEncoder is "a text encoder"; expected none here: this reads class-conditioned models, and this one is text-conditioned \(loadDiT and loadTextGlassBox read it\)$/,
  );
  assert.throws(() => readDiTCard(TEXT), /architecture\.textEncoder is "a text encoder"; expected none here/);
  assert.throws(
    () => readTextCard(DIGITS),
    /card\.json: architecture\.textEncoder is undefined; expected a text encoder: a text-conditioned model's card \(this one has classes\)$/,
  );
  assert.throws(() => requireClassCard(card), /^Error: text-dit is text-conditioned \(it takes prompts\);/);
});

Deno.test("a text model's card is held to its schema, in one line naming the field", () => {
  // deno-lint-ignore no-explicit-any
  const cases: [(card: any) => void, RegExp][] = [
    [
      (c) => (c.architecture.textEncoder.numHeads = 5),
      /architecture\.textEncoder\.numHeads is 5; expected a divisor of its width 24$/,
    ],
    [
      (c) => (c.architecture.textEncoder.maxLength = 257),
      /architecture\.textEncoder\.maxLength is 257; expected a positive integer up to 256$/,
    ],
    [
      (c) => (c.architecture.textEncoder.vocabSize = 3),
      /architecture\.textEncoder\.vocabSize is 3; expected an integer from 4 to 1000000$/,
    ],
    [(c) => (c.architecture.textEncoder = 7), /architecture\.textEncoder is 7; expected an object$/],
    [
      (c) => (c.architecture.block = "cross-attention"),
      /architecture\.block is "cross-attention"; expected "adaLN-Zero" or "adaLN"$/,
    ],
    [
      (c) => (c.architecture.pooledText = "yes"),
      /architecture\.pooledText is "yes"; expected true or false$/,
    ],
    [
      (c) => (c.architecture.captionDropoutProb = 2),
      /architecture\.captionDropoutProb is 2; expected a number from 0 to 1$/,
    ],
    [
      (c) => (c.architecture.numClasses = 9),
      /architecture\.numClasses is 9; expected none: a text model has no classes$/,
    ],
    [(c) => (c.nullClassId = 9), /nullClassId is 9; expected none: a text model has no classes$/],
    [
      (c) => delete c.files.vocabulary,
      /files\.vocabulary is undefined; expected the tokenizer's vocabulary file \(a text model's\)$/,
    ],
    [(c) => (c.architecture.type = "UNet"), /architecture\.type is "UNet"; expected "DiT"$/],
  ];
  assertRefused(cases, withTextCard, readTextCard);
});

Deno.test("readVocabulary: the card's hash, and the tokens and length the text encoder reads", () => {
  const edited = withTextCard(() => {});
  try {
    const vocabulary = JSON.parse(Deno.readTextFileSync(`${edited}/vocab.json`));
    Deno.writeTextFileSync(`${edited}/vocab.json`, JSON.stringify({ ...vocabulary, maxLength: 7 }));
    assert.throws(
      () => readVocabulary(edited, readTextCard(edited)),
      /vocab\.json: sha256 does not match the card \(edited or corrupt\?\)$/,
    );
  } finally {
    Deno.removeSync(edited, { recursive: true });
  }
  const longer = withTextCard((
    c,
  ) => ((c.architecture as { textEncoder: { maxLength: number } }).textEncoder.maxLength = 7));
  try {
    assert.throws(
      () => readVocabulary(longer, readTextCard(longer)),
      /vocab\.json: 20 tokens of at most 6 words; the card's text encoder reads 20 and 7 \(architecture\.textEncoder\)$/,
    );
  } finally {
    Deno.removeSync(longer, { recursive: true });
  }
});
