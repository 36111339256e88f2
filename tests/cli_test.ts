/**
 * `deno task sample` as a user runs it: a subprocess, its exit code, its one-line errors, its files.
 */
import assert from "node:assert/strict";
import { readImage } from "../lib/image.ts";

const CLI = new URL("../cli/sample.ts", import.meta.url).pathname;
const DIGITS_DIR = new URL("../models/digits", import.meta.url).pathname;
const TEXT_DIR = new URL("./fixtures/text-dit", import.meta.url).pathname;

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

Deno.test("--sampler heun with --guidance-interval: the header names them, the progress counts network evaluations", async () => {
  await withTempDir(async (dir) => {
    const run = await sample([
      "--model",
      "digits",
      "--n",
      "2",
      "--steps",
      "3",
      "--sampler",
      "heun",
      "--guidance-interval",
      "0,500",
      "--out",
      dir,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /· heun 3 steps · guidance 4 for t in \[0, 500\] · seed 0\n/);
    // Heun evaluates the network twice per step but the last: 2 + 2 + 1
    assert.match(run.stderr, /sample: 3\/3 steps · 5 network evaluations · /);
    assert.equal(run.stdout.trim().split("\n").length, 3);
  });
});

Deno.test("every bad input exits non-zero with one line naming what was wrong and what is accepted", async () => {
  await withTempDir(async (dir) => {
    const cases: [string[], number, RegExp][] = [
      [
        ["--model", "cats"],
        1,
        /unknown model "cats"; expected one of digits, digits-adaln, digits-adaln-zero, digits-cross-attention, digits-in-context, digits-unet, emoji/,
      ],
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
      [["--cfg", "101"], 2, /--cfg is "101"; expected a number >= 0 and <= 100/],
      [["--cfg", "1e38"], 2, /--cfg is "1e38"; expected a number >= 0 and <= 100/],
      [["--n", "1001"], 2, /--n is "1001"; expected an integer from 1 to 1000/],
      [
        ["--sampler", "ddpm", "--steps", "1"],
        2,
        /--sampler ddpm needs --steps 2 or more .*use --sampler ddim for 1 step$/,
      ],
      [["--sampler", "lms"], 2, /--sampler is "lms"; expected ddpm, ddim, dpm\+\+2m, euler, heun$/],
      [
        ["--guidance-interval", "800,300"],
        2,
        /--guidance-interval is "800,300"; expected LO,HI: integers with 0 <= LO <= HI <= 999, the timesteps guided$/,
      ],
      [["--guidance-interval", "0,1000"], 2, /--guidance-interval is "0,1000"; expected LO,HI/],
      [["--guidance-interval", "-1,5"], 2, /--guidance-interval is "-1,5"; expected LO,HI/],
      [["--guidance-interval", "100"], 2, /--guidance-interval is "100"; expected LO,HI/],
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

Deno.test("--prompt: a text model's images, a warning line naming unknown words, one-line errors for what does not fit", async () => {
  await withTempDir(async (dir) => {
    const run = await sample([
      "--model",
      TEXT_DIR,
      "--prompt",
      "hot pepper",
      "--prompt",
      "penguin zebra xyzzy",
      "--n",
      "3",
      "--steps",
      "2",
      "--out",
      `${dir}/ok`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trim().split("\n"), [
      `${dir}/ok/grid.png`,
      ...[0, 1, 2].map((i) => `${dir}/ok/sample-00${i}.png`),
    ]);
    const warnings = run.stderr.split("\n").filter((line) => line.includes("warning"));
    assert.deepEqual(warnings, [
      'sample: warning: --prompt "penguin zebra xyzzy": text-dit never saw "zebra", "xyzzy"; read as [unk]',
    ]);
    assert.match(
      run.stderr,
      /sample: 3 image\(s\) of text-dit \(int8\) .* · "hot pepper", "penguin zebra xyzzy"\n/,
    );
    const cases: [string[], number, RegExp][] = [
      [
        ["--model", TEXT_DIR, "--prompt", ""],
        2,
        /--prompt "" has no words; expected what to draw, e.g\. --prompt "hot pepper"$/,
      ],
      [["--model", TEXT_DIR, "--prompt", " ?! "], 2, /--prompt " \?! " has no words;/],
      [
        ["--model", TEXT_DIR, "--prompt", "red heart blue heart red heart red"],
        2,
        /--prompt "red heart blue heart red heart red" has 7 words; expected 1 to 6 words \(letters, digits or symbols between spaces and punctuation\)$/,
      ],
      [
        ["--model", TEXT_DIR, "--class", "1"],
        2,
        /--class is for a class-conditioned model; text-dit is text-conditioned: give --prompt TEXT, e\.g\. --prompt "hot pepper"$/,
      ],
      [
        ["--model", TEXT_DIR],
        2,
        /text-dit is text-conditioned: give --prompt TEXT \(repeatable\), e\.g\. --prompt "hot pepper"$/,
      ],
      [
        ["--model", "digits", "--prompt", "seven"],
        2,
        /--prompt is for a text-conditioned model \(emoji-text\); digits is class-conditioned: give --class C \(one of its 10 classes\), or none for every class$/,
      ],
      [
        ["--model", "digits", "--class", "7", "--prompt", "seven"],
        2,
        /--class and --prompt go to different models \(class- or text-conditioned\); give one$/,
      ],
    ];
    for (const [args, code, message] of cases) {
      const bad = await sample([...args, "--out", `${dir}/never`]);
      assert.equal(bad.code, code, `${args.join(" ")}: ${bad.stderr}`);
      assert.match(errorLine(bad.stderr), new RegExp(`^sample: ${message.source}`), args.join(" "));
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
    await check(/dit_int8\.onnx: sha256 does not match the card \(edited or corrupt\?\)/); // caught before ONNX Runtime
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

Deno.test("hostile class names: refused by the card check, or shown short and printable when unknown", async () => {
  await withTempDir(async (dir) => {
    const model = `${dir}/model`;
    await Deno.mkdir(model);
    for (const entry of Deno.readDirSync(DIGITS_DIR)) {
      if (entry.name !== "card.json") {
        await Deno.copyFile(`${DIGITS_DIR}/${entry.name}`, `${model}/${entry.name}`);
      }
    }
    const card = JSON.parse(await Deno.readTextFile(`${DIGITS_DIR}/card.json`));
    const withNames = async (name: (id: number) => string) => {
      card.classes = card.classes.map((c: { id: number }) => ({ id: c.id, name: name(c.id) }));
      await Deno.writeTextFile(`${model}/card.json`, JSON.stringify(card));
      const run = await sample(["--model", model, "--class", "cat\x1b[2J", "--out", `${dir}/out`]);
      assert.equal(run.code, 1, run.stderr);
      assert.ok(run.stderr.length < 1000, `${run.stderr.length} characters on stderr`);
      assert.doesNotMatch(run.stderr.trimEnd(), /[\p{Cc}\p{Cf}]/u);
      assert.throws(() => Deno.statSync(`${dir}/out`), "the folder it made is gone");
      return errorLine(run.stderr);
    };
    // terminal escapes and 10,000 characters in a name: the card itself is refused, naming the field
    assert.match(
      await withNames((id) => `digit ${id}\x1b[31m\x07${"y".repeat(10_000)}`),
      /card\.json: classes\[0\]\.name is .*; expected a string of 1 to 100 characters without control characters$/,
    );
    // names the card allows (100 characters, a right-to-left override): the list of them is cut and cleaned
    assert.match(
      await withNames((id) => `digit ${id}\u202e${"y".repeat(91)}`),
      /^sample: unknown class "cat\uFFFD\[2J" for digits; expected an id 0-9 or one of: digit 0\uFFFDy+…/,
    );
  });
});

Deno.test("two runs on one --out never mix: without --force the second refuses at once, with it one run's files remain", async () => {
  await withTempDir(async (dir) => {
    const run = (seed: number, n: number, out: string, force = false) =>
      sample([
        "--model",
        "digits",
        "--n",
        String(n),
        "--steps",
        "4",
        "--seed",
        String(seed),
        "--out",
        out,
        ...(force ? ["--force"] : []),
      ]);
    const reference = await Promise.all([run(1, 3, `${dir}/ref1`), run(2, 5, `${dir}/ref2`)]);
    assert.deepEqual(reference.map((r) => r.code), [0, 0]);
    const files = async (folder: string) => {
      const names = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
      return Object.fromEntries(
        await Promise.all(names.map(async (n) => [n, await Deno.readFile(`${folder}/${n}`)])),
      );
    };
    const [one, two] = [await files(`${dir}/ref1`), await files(`${dir}/ref2`)];
    for (const force of [false, true]) {
      for (let trial = 0; trial < 3; trial++) {
        const out = `${dir}/shared-${force}-${trial}`;
        const [a, b] = await Promise.all([run(1, 3, out, force), run(2, 5, out, force)]);
        const codes = [a.code, b.code];
        if (!force) {
          assert.deepEqual(codes.toSorted(), [0, 1], `one wins, one refuses: ${a.stderr}${b.stderr}`);
        }
        for (const refused of [a, b].filter((r) => r.code !== 0)) {
          assert.equal(refused.code, 1, refused.stderr);
          assert.match(
            errorLine(refused.stderr),
            // (the pid is left out when the other run has created its lock but not yet written its pid into it)
            /^sample: .*(is in use by another sample run( \(pid \d+\))?; wait for it to finish, or choose another --out|already exists .*pass --force to replace them, or choose another --out)$/,
          );
        }
        const result = await files(out);
        assert.ok(
          JSON.stringify(result) === JSON.stringify(one) || JSON.stringify(result) === JSON.stringify(two),
          `${out} holds exactly one run's files: ${Object.keys(result)}`,
        );
      }
    }
  });
});

Deno.test("Ctrl-C at any moment (startup, sampling, decoding, writing) exits 130 within a step, leaving nothing", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/kept`);
    await Deno.writeTextFile(`${dir}/kept/grid.png`, "an earlier result");
    const args = (out: string, force: boolean) => [
      "run",
      "-A",
      CLI,
      "--model",
      "digits",
      "--n",
      "48", // steps long enough (about 0.2 s) that the test's own reaction time and the OS's delivery of the
      // signal stay well under a step, also on a loaded machine (n = 24 was seen 4 steps late there)
      "--steps",
      "10", // a progress line per step
      "--gif", // decoding per frame, then the GIF
      "--out",
      out,
      ...(force ? ["--force"] : []),
    ];
    // A run's progress lines say where it is: the trials aim at a moment by them, not by the clock, so a
    // loaded machine (slower or faster runs) moves the moments with it.
    const progress = (line: string) => Number(/^sample: (\d+)\/\d+ steps/.exec(line)?.[1] ?? NaN);
    const started = performance.now();
    const whole = await new Deno.Command(Deno.execPath(), { args: args(`${dir}/whole`, false) }).output();
    assert.equal(whole.code, 0, new TextDecoder().decode(whole.stderr));
    const wholeMs = performance.now() - started;
    const TRIALS = 16;
    let interrupted = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      // half the trials into a new folder, half over earlier outputs with --force
      const force = trial % 2 === 1;
      const out = force ? `${dir}/kept` : `${dir}/new-${trial}/inner`;
      const child = new Deno.Command(Deno.execPath(), {
        args: args(out, force),
        stdout: "piped",
        stderr: "piped",
      })
        .spawn();
      // trials 0-3: at a random moment of the start-up (before the first step); 4-11: just after step 1…8;
      // 12-15: a random moment after the last step (decoding the GIF frames, encoding and writing)
      const afterStep = trial < 4 ? 0 : trial < 12 ? trial - 3 : 10;
      let reached = () => {};
      const atTarget = new Promise<void>((resolve) => reached = resolve);
      const stderr: [number, string][] = [];
      let stdout = "";
      const reading = Promise.all([
        (async () => {
          for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
            for (const line of text.split("\n")) {
              if (!line) continue;
              stderr.push([performance.now(), line]);
              if (progress(line) >= afterStep) reached();
            }
          }
          reached(); // it ended before the target: Ctrl-C then comes after the end
        })(),
        (async () => {
          for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) stdout += text;
        })(),
      ]);
      if (afterStep > 0) await atTarget;
      const delay = trial < 4 ? Math.random() * 400 : trial < 12 ? 0 : Math.random() * wholeMs * 0.3;
      await new Promise((resolve) => setTimeout(resolve, delay));
      const lastStepBefore = Math.max(0, ...stderr.map(([, line]) => progress(line)).filter(Number.isFinite));
      const printedBefore = stdout.length > 0;
      const killed = performance.now();
      try {
        child.kill("SIGINT");
      } catch { /* it has exited */ }
      const { code } = await child.status;
      const seconds = (performance.now() - killed) / 1000;
      await reading;
      const context = `trial ${trial} (after step ${afterStep} + ${delay.toFixed(0)} ms): ${
        stderr.map(([, l]) => l).join(" | ")
      }`;
      if (code === 0) {
        // it finished before the Ctrl-C came: allowed only once its outputs were complete and printed
        assert.ok(
          printedBefore || seconds < 0.05,
          `Ctrl-C ignored: exit 0 ${seconds.toFixed(2)} s after it; ${context}`,
        );
        if (force) { // it rightly replaced the earlier outputs: put them back for the next trials
          await Deno.remove(`${dir}/kept`, { recursive: true });
          await Deno.mkdir(`${dir}/kept`);
          await Deno.writeTextFile(`${dir}/kept/grid.png`, "an earlier result");
        }
        continue;
      }
      interrupted++;
      assert.equal(code, 130, context);
      assert.ok(seconds < 3, `${seconds.toFixed(1)} s to stop; ${context}`);
      // steps the child finished after the last one this test had seen when it sent Ctrl-C
      const stepsAfter = stderr.filter(([, line]) => progress(line) > lastStepBefore).length;
      assert.ok(stepsAfter <= 2, `${stepsAfter} steps after Ctrl-C; ${context}`);
      if (stderr.length > 0 && code === 130 && stderr.at(-1)![1].startsWith("sample: ")) {
        assert.equal(stderr.at(-1)![1], "sample: interrupted; nothing was written", context);
      }
      assert.deepEqual([...Deno.readDirSync(`${dir}/kept`)].map((e) => e.name), ["grid.png"], context);
      assert.equal(await Deno.readTextFile(`${dir}/kept/grid.png`), "an earlier result");
      assert.throws(() => Deno.statSync(`${dir}/new-${trial}`), `no folder left behind; ${context}`);
    }
    // every start-up and mid-sampling Ctrl-C (trials 0-11) must interrupt; late ones may find the run done
    assert.ok(interrupted >= 12, `only ${interrupted} of ${TRIALS} runs were interrupted`);
  });
});

Deno.test('--model emoji-text --prompt "red heart": the shipped text model draws red where the heart is, with the emoji decoder', async () => {
  await withTempDir(async (dir) => {
    const run = await sample([
      "--model",
      "emoji-text",
      "--prompt",
      "red heart",
      "--n",
      "2",
      "--seed",
      "0",
      "--out",
      dir,
    ]);
    assert.equal(run.code, 0, run.stderr);
    for (const i of [0, 1]) {
      const image = await readImage(`${dir}/sample-00${i}.png`, 3); // [1, 3, 64, 64] in [-1, 1]
      // the pixels that are not background (white): mostly red, not green or blue
      let red = 0, green = 0, blue = 0, count = 0;
      const plane = 64 * 64;
      for (let k = 0; k < plane; k++) {
        const [r, g, b] = [0, 1, 2].map((c) => image.data[c * plane + k]);
        if (r + g + b > 2.4) continue;
        [red, green, blue, count] = [red + r, green + g, blue + b, count + 1];
      }
      assert.ok(count > plane / 5, `sample ${i}: a shape, not a blank (${count} coloured pixels)`);
      assert.ok(red / count > green / count + 0.5 && red / count > blue / count + 0.5, `sample ${i}: red`);
    }
  });
});
