import assert from "node:assert/strict";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { readDiTCard } from "../lib/model/card.ts";
import { readOnnxWeights } from "../lib/model/weights.ts";

const { onnx } = onnxProto;
const DIGITS = new URL("../models/digits", import.meta.url).pathname;

/** Writes a minimal ONNX model holding only these initializers (in `folder`, or a temp file) and returns its path. */
function modelWith(initializers: OnnxTypes.ITensorProto[], folder?: string): string {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: { name: "weights only", initializer: initializers },
  });
  const path = Deno.makeTempFileSync({ suffix: ".onnx", dir: folder });
  Deno.writeFileSync(path, onnx.ModelProto.encode(model).finish());
  return path;
}

/** Bytes of 16-bit values, little-endian as ONNX stores raw_data. */
function littleEndian16(values: number[]): Uint8Array {
  const view = new DataView(new ArrayBuffer(2 * values.length));
  values.forEach((v, i) => view.setUint16(2 * i, v, true));
  return new Uint8Array(view.buffer);
}

Deno.test("every initializer of the digits dit.onnx decodes, with the shape its PyTorch parameter has (Linear weights int8, the rest float16)", () => {
  const card = readDiTCard(DIGITS);
  const { hiddenSize: D, depth, patchSize: p, inChannels: C, numClasses, inputSize } = card.architecture;
  const weights = readOnnxWeights(`${DIGITS}/dit.onnx`);
  const T = (inputSize / p) ** 2, F = card.architecture.frequencyEmbeddingSize;
  const M = Math.trunc(D * card.architecture.mlpRatio);
  const expected: [string, number[]][] = [
    ["pos_embed", [1, T, D]],
    ["x_embedder.proj.weight", [D, C, p, p]],
    ["x_embedder.proj.bias", [D]],
    ["t_embedder.mlp.0.weight", [D, F]],
    ["t_embedder.mlp.0.bias", [D]],
    ["t_embedder.mlp.2.weight", [D, D]],
    ["t_embedder.mlp.2.bias", [D]],
    ["y_embedder.embedding_table.weight", [numClasses + 1, D]],
    ...Array.from({ length: depth }, (_, i): [string, number[]][] => [
      [`blocks.${i}.attn.qkv.weight`, [3 * D, D]],
      [`blocks.${i}.attn.qkv.bias`, [3 * D]],
      [`blocks.${i}.attn.proj.weight`, [D, D]],
      [`blocks.${i}.attn.proj.bias`, [D]],
      [`blocks.${i}.mlp.fc1.weight`, [M, D]],
      [`blocks.${i}.mlp.fc1.bias`, [M]],
      [`blocks.${i}.mlp.fc2.weight`, [D, M]],
      [`blocks.${i}.mlp.fc2.bias`, [D]],
      [`blocks.${i}.adaLN_modulation.1.weight`, [6 * D, D]],
      [`blocks.${i}.adaLN_modulation.1.bias`, [6 * D]],
    ]).flat(),
    ["final_layer.linear.weight", [p * p * 2 * C, D]],
    ["final_layer.linear.bias", [p * p * 2 * C]],
    ["final_layer.adaLN_modulation.1.weight", [2 * D, D]],
    ["final_layer.adaLN_modulation.1.bias", [2 * D]],
  ];
  // the PyTorch parameters, then (`name/scale`) the float32 row scales of those stored as int8
  const names = [...weights.keys()], scaled = names.filter((n) => n.endsWith("/scale"));
  assert.deepEqual(names.filter((n) => !n.includes("/")), expected.map(([name]) => name));
  assert.equal(scaled.length + expected.length, names.length);
  for (const [name, shape] of expected) {
    const w = weights.get(name)!;
    assert.deepEqual(w.shape, shape, name);
    assert.ok(w.data.every(Number.isFinite), `${name} is finite`);
    const scale = weights.get(`${name}/scale`);
    if (scale) {
      // stored as int8 (every Linear weight): each value an integer of at most ±63 times its row's scale
      const inner = w.size / shape[0];
      assert.ok(
        w.data.every((v, i) => {
          const q = v / scale.data[Math.floor(i / inner)];
          return Math.abs(q - Math.round(q)) < 1e-3 && Math.abs(q) <= 63.001;
        }),
        `${name} is int8 × its row scale`,
      );
    } else if (name !== "pos_embed") {
      // the exporter rounded every other weight but pos_embed to float16 before storing it
      assert.ok(w.data.every((v) => Math.f16round(v) === v), `${name} is float16`);
    }
  }
  // every Linear weight is stored as int8, and nothing else
  assert.deepEqual(
    scaled.map((n) => n.slice(0, -"/scale".length)).sort(),
    expected.map(([name]) => name).filter((n) =>
      n.endsWith(".weight") && weights.get(n)!.shape.length === 2 &&
      !n.startsWith("y_embedder")
    ).sort(),
  );
  const parameters = expected.reduce((n, [name]) => n + weights.get(name)!.size, 0);
  assert.equal(parameters, card.architecture.parameters);
});

Deno.test("float16 → float32 is exact, from raw bytes and from int32_data", () => {
  // 0, 1, −2, 65504 (the largest float16), 2^−24 (the smallest subnormal), 0.1 → 0x2e66, −0, ∞
  const bits = [0x0000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x2e66, 0x8000, 0x7c00];
  const expected = [0, 1, -2, 65504, 2 ** -24, 0.0999755859375, -0, Infinity];
  const path = modelWith([
    { name: "raw", dataType: 10, dims: [2, 4], rawData: littleEndian16(bits) },
    { name: "int32", dataType: 10, dims: [8], int32Data: bits },
  ]);
  try {
    const weights = readOnnxWeights(path);
    assert.deepEqual(weights.get("raw")!.shape, [2, 4]);
    assert.deepEqual([...weights.get("raw")!.data], expected);
    assert.deepEqual([...weights.get("int32")!.data], expected);
    assert.equal(expected[5], Math.f16round(0.1)); // 0x2e66 is 0.1 rounded to float16
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("float32 initializers decode from raw little-endian bytes and from float_data", () => {
  const values = new Float32Array([0.1, -3.5, 1e-30, 3e38]);
  const bytes = new Uint8Array(16);
  values.forEach((v, i) => new DataView(bytes.buffer).setFloat32(4 * i, v, true));
  const path = modelWith([
    { name: "raw", dataType: 1, dims: [4], rawData: bytes },
    { name: "floats", dataType: 1, dims: [2, 2], floatData: [...values] },
    { name: "scalar", dataType: 1, dims: [], floatData: [7] },
  ]);
  try {
    const weights = readOnnxWeights(path);
    assert.deepEqual(weights.get("raw")!.data, values);
    assert.deepEqual(weights.get("floats")!.data, values);
    assert.deepEqual(weights.get("floats")!.shape, [2, 2]);
    assert.deepEqual([...weights.get("scalar")!.data], [7]);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("int8 initializers (the int8 graph's zero points) decode from raw bytes and from int32_data", () => {
  const values = [0, 1, -1, 127, -128];
  const path = modelWith([
    { name: "raw", dataType: 3, dims: [5], rawData: Uint8Array.from(values.map((v) => v & 0xff)) },
    { name: "int32", dataType: 3, dims: [5], int32Data: values },
  ]);
  try {
    const weights = readOnnxWeights(path);
    assert.deepEqual([...weights.get("raw")!.data], values);
    assert.deepEqual([...weights.get("int32")!.data], values);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("a missing, corrupt or truncated file is an error naming it", () => {
  const missing = `${DIGITS}/no-such-model.onnx`;
  assert.throws(
    () => readOnnxWeights(missing),
    (e: Error) => e.message.startsWith(`${missing}: cannot read the ONNX model (`),
  );
  const dir = Deno.makeTempDirSync();
  try {
    const full = Deno.readFileSync(`${DIGITS}/dit.onnx`);
    const cases: [string, Uint8Array][] = [
      ["truncated.onnx", full.subarray(0, full.length >> 1)],
      ["empty.onnx", new Uint8Array()],
      ["text.onnx", new TextEncoder().encode("this is not an ONNX model\n")],
    ];
    for (const [name, bytes] of cases) {
      Deno.writeFileSync(`${dir}/${name}`, bytes);
      assert.throws(
        () => readOnnxWeights(`${dir}/${name}`),
        (e: Error) => e.message.startsWith(`${dir}/${name}: not a valid ONNX model (`),
        name,
      );
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("initializers that are not float32/float16, or whose bytes do not fill their shape, are rejected", () => {
  const cases: [OnnxTypes.ITensorProto, RegExp][] = [
    [
      { name: "steps", dataType: 7, dims: [1], int64Data: [3] },
      /initializer steps has data type 7; expected float32/,
    ],
    [
      { name: "short", dataType: 10, dims: [3], rawData: new Uint8Array(4) },
      /initializer short has 4 bytes; its shape \[3\] needs 6/,
    ],
    [
      { name: "few", dataType: 1, dims: [3], floatData: [1, 2] },
      /initializer few holds 2 values; its shape \[3\] needs 3/,
    ],
  ];
  for (const [init, message] of cases) {
    const path = modelWith([init]);
    try {
      assert.throws(
        () => readOnnxWeights(path),
        (e: Error) => e.message.startsWith(`${path}: not a valid ONNX model (`) && message.test(e.message),
      );
    } finally {
      Deno.removeSync(path);
    }
  }
});

Deno.test("external data: initializers are read from the file, offset and length they name; a missing file is named", () => {
  const values = new Float32Array([1.5, -2, 0.25]);
  const bytes = new Uint8Array(8 + 12); // 8 bytes of another tensor first, so the offset matters
  values.forEach((v, i) => new DataView(bytes.buffer).setFloat32(8 + 4 * i, v, true));
  const folder = Deno.makeTempDirSync({ prefix: "dit-weights-" });
  try {
    const path = modelWith([external("w.bin", 8, 12)], folder);
    assert.throws(
      () => readOnnxWeights(path),
      (e: Error) => e.message.startsWith(`${folder}/w.bin: cannot read the weights file `),
    );
    Deno.writeFileSync(`${folder}/w.bin`, bytes);
    assert.deepEqual(readOnnxWeights(path).get("w")!.data, values);
    const beyond = modelWith([external("w.bin", 12, 12)], folder);
    assert.throws(() => readOnnxWeights(beyond), /initializer w reads bytes 12…24 of w\.bin, which has 20/);
  } finally {
    Deno.removeSync(folder, { recursive: true });
  }
});

Deno.test("external data outside the model's folder, or not a regular file, is refused before it is read", () => {
  const folder = Deno.makeTempDirSync({ prefix: "dit-weights-" });
  try {
    Deno.mkdirSync(`${folder}/model`);
    Deno.writeFileSync(`${folder}/outside.bin`, new Uint8Array(12));
    Deno.symlinkSync(`${folder}/outside.bin`, `${folder}/model/out.bin`);
    Deno.symlinkSync("/dev/zero", `${folder}/model/zero.bin`);
    Deno.mkdirSync(`${folder}/model/dir.bin`);
    const cases: [string, RegExp][] = [
      ["../outside.bin", /its external data names "\.\.\/outside\.bin"; expected a plain file name/],
      [`${folder}/outside.bin`, /its external data names "\/.*outside\.bin"; expected a plain file name/],
      [
        "out.bin",
        /model\/out\.bin: the weights file .* resolves to .*\/outside\.bin, outside the model folder/,
      ],
      ["zero.bin", /model\/zero\.bin: the weights file .* resolves to \/dev\/zero, outside the model folder/],
      ["dir.bin", /model\/dir\.bin: the weights file .* is a directory; expected a regular file/],
    ];
    for (const [location, message] of cases) {
      const path = modelWith([external(location, 0, 12)], `${folder}/model`);
      assert.throws(() => readOnnxWeights(path), message, location);
    }
    assert.throws(
      () => readOnnxWeights("/dev/zero"),
      /\/dev\/zero: the ONNX model is a device; expected a regular file/,
    );
  } finally {
    Deno.removeSync(folder, { recursive: true });
  }
});

/** A float32 [3] initializer stored in an external file. */
function external(location: string, offset: number, length: number): OnnxTypes.ITensorProto {
  return {
    name: "w",
    dataType: 1,
    dims: [3],
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: "location", value: location },
      { key: "offset", value: String(offset) },
      { key: "length", value: String(length) },
    ],
  };
}
