/**
 * `deno task sample` as a user runs it: a subprocess, its exit code, its one-line errors, its files.
 */
import assert from "node:assert/strict";

const CLI = new URL("../cli/sample.ts", import.meta.url).pathname;
const DIGITS_DIR = new URL("../models/digits", import.meta.url).pathname;

async function sample(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** The last stderr line is the error, alone: no stack trace. */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assert.ok(!lines.some((l) => /^\s+at /.test(l)), `a stack trace on stderr:\n${stderr}`);
  return lines.at(-1)!;
}

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "dit-cli-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the documented example writes 16 samples and a grid, byte for byte the same on every run", async () => {
  await withTempDir(async (dir) => {
    const args = [
      "--model",
      "digits",
      "--class",
      "3",
      "--n",
      "16",
      "--cfg",
      "4",
      "--steps",
      "50",
      "--seed",
      "0",
    ];
    const first = await sample([...args, "--out", `${dir}/a`]);
    assert.equal(first.code, 0, first.stderr);
    const names = [...Array(16).keys()].map((i) => `sample-${String(i).padStart(3, "0")}.png`);
    assert.deepEqual(first.stdout.trim().split("\n"), [
      `${dir}/a/grid.png`,
      ...names.map((n) => `${dir}/a/${n}`),
    ]);
    const second = await sample([...args, "--out", `${dir}/b`]);
    assert.equal(second.code, 0, second.stderr);
    for (const name of [...names, "grid.png"]) {
      assert.deepEqual(
        await Deno.readFile(`${dir}/b/${name}`),
        await Deno.readFile(`${dir}/a/${name}`),
        name,
      );
    }
    assert.deepEqual(
      [...Deno.readDirSync(`${dir}/a`)].filter((e) => e.name.startsWith(".")),
      [],
      "no temporary files left",
    );
  });
});

Deno.test("--gif writes the trajectory; --help prints the usage", async () => {
  await withTempDir(async (dir) => {
    const run = await sample(["--model", "digits", "--n", "2", "--steps", "4", "--gif", "--out", dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim().split("\n").at(-1), `${dir}/trajectory.gif`);
    const gif = await Deno.readFile(`${dir}/trajectory.gif`);
    assert.equal(new TextDecoder().decode(gif.subarray(0, 3)), "GIF");
  });
  const help = await sample(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno task sample/);
});

Deno.test("every bad input exits non-zero with one line naming what was wrong and what is accepted", async () => {
  await withTempDir(async (dir) => {
    const cases: [string[], number, RegExp][] = [
      [["--model", "cats"], 1, /unknown model "cats"; expected one of digits, emoji/],
      [
        ["--model", "digits", "--class", "11"],
        1,
        /unknown class "11" for digits; expected an id 0-9 or one of/,
      ],
      [["--class", "Cats"], 1, /unknown class "Cats" for emoji/],
      [["--n", "0"], 2, /--n is "0"; expected an integer from 1/],
      [["--n", "many"], 2, /--n is "many"; expected an integer/],
      [["--steps", "0"], 2, /--steps is "0"; expected an integer from 1 to 1000/],
      [["--steps", "1001"], 2, /--steps is "1001"; expected an integer from 1 to 1000/],
      [["--cfg", "-1"], 2, /--cfg is "-1"; expected a number >= 0/],
      [["--cfg", "strong"], 2, /--cfg is "strong"; expected a number >= 0/],
      [["--sampler", "euler"], 2, /--sampler is "euler"; expected ddim or ddpm/],
      [["--precision", "fp16"], 2, /--precision is "fp16"; expected fp32 or int8/],
      [["--seed", "-3"], 2, /--seed is "-3"; expected an integer from 0 to 4294967295/],
      [["--bogus"], 2, /Unknown option '--bogus'.*see --help/],
      [
        ["--model", "digits", "--out", "/etc/hostname/inside"],
        1,
        /cannot write to --out \/etc\/hostname\/inside .*expected a writable folder/,
      ],
    ];
    for (const [args, code, message] of cases) {
      const run = await sample([...args, ...(args.includes("--out") ? [] : ["--out", `${dir}/never`])]);
      assert.equal(run.code, code, `${args.join(" ")}: ${run.stderr}`);
      assert.match(errorLine(run.stderr), new RegExp(`^sample: ${message.source}`), args.join(" "));
    }
    assert.throws(() => Deno.statSync(`${dir}/never/grid.png`), "nothing written");
  });
});

Deno.test("missing, truncated or corrupt model files and cards are reported in one line", async () => {
  await withTempDir(async (dir) => {
    const model = `${dir}/model`;
    await Deno.mkdir(model);
    const check = async (message: RegExp) => {
      const run = await sample(["--model", model, "--n", "1", "--steps", "2", "--out", `${dir}/out`]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(errorLine(run.stderr), message);
    };
    await check(/card\.json: cannot read the model card/);
    await Deno.writeTextFile(`${model}/card.json`, "{ truncated");
    await check(/card\.json: cannot read the model card/);
    await Deno.copyFile(`${DIGITS_DIR}/card.json`, `${model}/card.json`);
    await check(/dit\.weights: cannot read the DiT's weights/);
    await Deno.copyFile(`${DIGITS_DIR}/dit.weights`, `${model}/dit.weights`);
    await check(/dit_int8\.onnx: cannot read the ONNX model/); // the CLI's default precision is int8
    const onnx = await Deno.readFile(`${DIGITS_DIR}/dit_int8.onnx`);
    await Deno.writeFile(`${model}/dit_int8.onnx`, onnx.subarray(0, 100_000));
    await check(/dit_int8\.onnx: not a valid ONNX model, perhaps truncated or corrupt/);
    await Deno.writeFile(`${model}/dit_int8.onnx`, onnx);
    await check(/vae_decoder\.onnx: cannot read the ONNX model/);
  });
});

Deno.test("existing outputs are kept without --force, replaced with it", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/grid.png`, "an earlier result");
    const args = ["--model", "digits", "--n", "2", "--steps", "3", "--out", dir];
    const refused = await sample(args);
    assert.equal(refused.code, 1);
    assert.match(
      errorLine(refused.stderr),
      /grid\.png already exists; pass --force to replace them, or choose another --out/,
    );
    assert.equal(await Deno.readTextFile(`${dir}/grid.png`), "an earlier result");
    const forced = await sample([...args, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(await Deno.readTextFile(`${dir}/grid.png`), "an earlier result");
  });
});

Deno.test("Ctrl-C stops sampling: exit 130, no new file, the earlier result intact", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/grid.png`, "an earlier result");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "--model", "digits", "--n", "8", "--steps", "1000", "--force", "--out", dir],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!/steps\/s/.test(seen)) { // wait until sampling is under way
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    child.kill("SIGINT");
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    const { code } = await child.status;
    await child.stdout.cancel();
    assert.equal(code, 130, seen);
    assert.match(errorLine(seen), /^sample: interrupted; nothing was written$/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["grid.png"]);
    assert.equal(await Deno.readTextFile(`${dir}/grid.png`), "an earlier result");
  });
});
