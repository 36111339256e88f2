/**
 * `deno task explore`: the port flag's errors; the server's sandbox (only the page, its bundle, ONNX Runtime
 * Web's files, the cards and the files the page runs, each checked against its card); and, in headless
 * Chromium with every host but 127.0.0.1 unresolvable, the page naming a model file it could not fetch, then
 * generating a digit and an emoji and showing where a clicked patch attends, with no other console error, then Ctrl-C stopping the server. Without Chromium the browser test is skipped with a loud line
 * (CI installs it and never skips). A screenshot is kept at out/explore.png; the test prints its timings.
 */
import assert from "node:assert/strict";
import { parsePort } from "../cli/explore.ts";
import { explorerHandler, shippedModels } from "../explore/server.ts";
import { unpackWeights } from "../explore/weights_wire.ts";
import { chromiumPath, withPage } from "./browser.ts";
import { describeCpu } from "../lib/cpu.ts";

const chromium = chromiumPath();
if (!chromium) {
  const line =
    "SKIPPED the browser test of tests/explore_test.ts: chromium not found. Install: apt-get install -y chromium";
  if (Deno.env.get("CI")) throw new Error(`${line} (CI must not skip)`);
  console.error(`\n!!! ${line}\n`);
}

Deno.test("--port takes 1-65535; anything else is refused in one line naming it", () => {
  assert.equal(parsePort([]), 0);
  assert.equal(parsePort(["--port", "8080"]), 8080);
  assert.equal(parsePort(["--port=65535"]), 65535);
  for (const bad of ["0", "65536", "-1", "80.5", "http", "", "123456"]) {
    assert.throws(() => parsePort(["--port", bad]), (e: Error) => {
      assert.equal(e.message, `--port is ${JSON.stringify(bad)}; expected a port from 1 to 65535`);
      return true;
    });
  }
  assert.throws(
    () => parsePort(["--port"]),
    /^Error: --port needs a value; expected a port from 1 to 65535$/,
  );
  assert.throws(
    () => parsePort(["--host", "0.0.0.0"]),
    /unknown argument "--host"; expected --port N or --help/,
  );
});

Deno.test("deno task explore: a bad or taken port is one line on stderr and a failing exit", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    for (
      const [args, code, message] of [
        [["--port", "http"], 2, 'explore: --port is "http"; expected a port from 1 to 65535'],
        [["--port", String(taken.addr.port)], 1, `explore: cannot serve on 127.0.0.1:${taken.addr.port} (`],
      ] as const
    ) {
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../cli/explore.ts", import.meta.url).pathname, ...args],
        stdout: "null",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(run.stderr).trim();
      assert.equal(run.code, code, stderr);
      assert.ok(stderr.startsWith(message) && !stderr.includes("\n"), stderr);
    }
  } finally {
    taken.close();
  }
});

Deno.test("the server serves the page and the model files a card names, and nothing else", async () => {
  const handler = explorerHandler({ main: "// the page", worker: "// the worker" });
  const get = (path: string, method = "GET") => handler(new Request(`http://127.0.0.1${path}`, { method }));
  const ok = async (path: string) => {
    const response = await get(path);
    assert.equal(response.status, 200, `${path}: ${response.status}`);
    assert.equal(response.headers.get("cross-origin-embedder-policy"), "require-corp");
    return new Uint8Array(await response.arrayBuffer());
  };
  assert.match(new TextDecoder().decode(await ok("/")), /<title>DiT explorer<\/title>/);
  assert.equal(new TextDecoder().decode(await ok("/main.js")), "// the page");
  assert.equal(new TextDecoder().decode(await ok("/worker.js")), "// the worker");
  const weights = unpackWeights(await ok("/glass-box/digits.bin"));
  assert.deepEqual(weights.get("blocks.0.attn.qkv.weight")?.shape, [576, 192]);
  assert.ok((await ok("/ort/ort-wasm-simd-threaded.wasm")).length > 1e6);
  const cards = JSON.parse(new TextDecoder().decode(await ok("/models.json")));
  assert.deepEqual(cards.map((c: { name: string }) => c.name), shippedModels().map((c) => c.name));
  const dir = new URL("../models/digits/", import.meta.url).pathname;
  for (const name of ["dit.onnx", "dit.weights", "vae_decoder.onnx"]) {
    assert.deepEqual(await ok(`/models/digits/${name}`), await Deno.readFile(`${dir}${name}`));
  }
  for (
    const path of [
      "/models/digits/classifier.onnx", // named by the card, but not a file the page runs
      "/models/digits/card.json",
      "/models/digits/%2E%2E%2Fdeno.json",
      "/models/recipes/export.py",
      "/models/nope/dit.onnx",
      "/glass-box/recipes.bin",
      "/glass-box/..%2Fdigits.bin",
      "/deno.json",
      "/explore/server.ts",
      "/ort/ort.node.min.mjs",
      "/node_modules/onnxruntime-web/package.json",
    ]
  ) {
    const response = await get(path);
    assert.equal(response.status, 404, path);
    await response.body?.cancel();
  }
  const post = await get("/", "POST");
  assert.equal(post.status, 405);
  await post.body?.cancel();
});

/** Picks a model and class, presses Generate, and waits (generously) for the run to end. */
async function generate(
  evaluate: <T>(e: string) => Promise<T>,
  waitFor: WaitFor,
  model: string,
  label: number,
) {
  await evaluate(`(() => {
    const model = document.getElementById("model");
    model.value = ${JSON.stringify(model)};
    model.dispatchEvent(new Event("change"));
    document.getElementById("class").value = "${label}";
    document.getElementById("generate").click();
  })()`);
  await waitFor(
    `document.body.dataset.state !== "ready" && document.body.dataset.state !== "running"`,
    `${model}: the run`,
    300_000,
  );
  const state = await evaluate<Record<string, string>>(`((spread) => ({
    state: document.body.dataset.state,
    error: document.getElementById("error").textContent,
    timings: document.body.dataset.timings,
    steps: document.getElementById("steps").value,
    frames: document.getElementById("timeline").max,
    spread: spread("x0"),
    // the guidance scale is the default 4: both halves of the guided step are shown
    uncondSpread: spread("eps-uncond"),
  }))((id) => {
    // a picture, not a blank canvas: its pixels vary
    const canvas = document.getElementById(id);
    const d = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
    return hi - lo;
  })`);
  assert.equal(state.state, "done", `${model}: ${state.error}`);
  assert.equal(state.frames, state.steps, `${model}: one frame per step`);
  assert.ok(Number(state.spread) > 50, `${model}: x̂0 is nearly blank (pixel spread ${state.spread})`);
  // the three ε share one grey scale, set by the largest |value| among them, usually the guided ε's
  // (uncond + 4·(cond − uncond)): ε_uncond's own spread can be a fifth of the range, but a cleared canvas has none
  assert.ok(
    Number(state.uncondSpread) > 16,
    `${model}: ε_uncond is not drawn (pixel spread ${state.uncondSpread})`,
  );
  return JSON.parse(state.timings) as Record<string, number>;
}

type WaitFor = (expression: string, what: string, timeoutMs: number) => Promise<void>;

/**
 * Asks for an attention map and waits for it: `"click"` clicks the middle of x̂0, `"head"` picks head 1, `"step"`
 * moves the timeline to the first step (a new forward pass in the worker). Returns its time in ms.
 */
async function attention(
  evaluate: <T>(e: string) => Promise<T>,
  waitFor: WaitFor,
  how: "click" | "head" | "step",
) {
  await evaluate(`(() => {
    document.body.dataset.attention = "asked";
    ${
    {
      click: `const c = document.getElementById("x0"), b = c.getBoundingClientRect();
        c.dispatchEvent(new MouseEvent("click", { bubbles: true, clientX: b.left + b.width / 2, clientY: b.top + b.height / 2 }));`,
      head: `const h = document.getElementById("head"); h.value = "1"; h.dispatchEvent(new Event("change"));`,
      step:
        `const s = document.getElementById("timeline"); s.value = "1"; s.dispatchEvent(new Event("input"));`,
    }[how]
  }
  })()`);
  await waitFor(
    `document.body.dataset.attention === "done" || document.body.dataset.state === "error"`,
    "the attention map",
    120_000,
  );
  const state = await evaluate<Record<string, string>>(`({
    state: document.body.dataset.state,
    error: document.getElementById("error").textContent,
    ms: document.body.dataset.attentionMs,
    caption: document.getElementById("attention-caption").textContent,
    modulationRows: document.querySelectorAll("#modulation tr").length,
  })`);
  assert.equal(state.state, "done", state.error);
  const head = how === "click" ? 0 : 1, t = how === "step" ? "[1-9]\\d*" : "0";
  assert.equal(Number(state.modulationRows), 1 + 8, "the adaLN-Zero table: a header and emoji's 8 blocks");
  assert.match(state.caption, new RegExp(`^patch \\d+, block 0, head ${head}, t = ${t}: \\d+ ms$`));
  return Number(state.ms);
}

Deno.test({
  name:
    "deno task explore: the page generates a digit and an emoji offline in headless Chromium, shows a patch's attention; Ctrl-C stops it",
  ignore: !chromium,
  sanitizeResources: false,
  fn: async () => {
    const server = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../cli/explore.ts", import.meta.url).pathname],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      let printed = "";
      while (!/http:\/\/127\.0\.0\.1:\d+\//.test(printed)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`explore exited before printing its address: ${printed}`);
        printed += value;
      }
      const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(printed)![0];
      const timings = await withPage(url, async (page) => {
        await page.waitFor(
          `["ready", "error"].includes(document.body?.dataset.state)`,
          "the page",
          120_000,
        );
        const ready = await page.evaluate<string[]>(
          `[document.body.dataset.state, document.getElementById("error").textContent]`,
        );
        assert.equal(ready[0], "ready", `the page: ${ready[1]}`);
        // a model file the server does not give: the page says which in one line, and the next run recovers
        await page.evaluate(`(() => {
          const realFetch = window.fetch;
          window.restoreFetch = () => window.fetch = realFetch;
          window.fetch = (input, init) => String(input instanceof Request ? input.url : input).includes("/models/digits/")
            ? Promise.resolve(new Response("not here", { status: 404 }))
            : realFetch(input, init);
          const model = document.getElementById("model");
          model.value = "digits";
          model.dispatchEvent(new Event("change"));
          document.getElementById("generate").click();
        })()`);
        await page.waitFor(`document.body.dataset.state === "error"`, "the missing file's message", 60_000);
        const shown = await page.evaluate<string>(`document.getElementById("error").textContent`);
        assert.match(shown, /^digits\/dit\.onnx: the server answered 404 \(not here\)$/);
        assert.equal(page.errors.length, 1, page.errors.join(" | "));
        assert.ok(page.errors[0].includes(shown), page.errors[0]);
        page.errors.length = 0; // the one error this test caused
        await page.evaluate(`window.restoreFetch()`);
        const digits = await generate(page.evaluate, page.waitFor, "digits", 7);
        const emoji = await generate(page.evaluate, page.waitFor, "emoji", 3);
        emoji.attentionFirstClickMs = await attention(page.evaluate, page.waitFor, "click");
        emoji.attentionOtherHeadMs = await attention(page.evaluate, page.waitFor, "head");
        emoji.attentionOtherStepMs = await attention(page.evaluate, page.waitFor, "step");
        // what the guidance scale does: five runs from the same noise, each drawn, the two ends different
        await page.evaluate(`document.getElementById("compare").click()`);
        await page.waitFor(
          `document.body.dataset.compareMs !== undefined`,
          "the guidance comparison",
          300_000,
        );
        const compared = await page.evaluate<{ spread: number[]; endsDiffer: number; ms: string }>(`(() => {
          const pixels = (i) => {
            const canvas = document.getElementById("compare-" + i);
            return canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
          };
          const spread = [0, 1, 2, 3, 4].map((i) => { const d = pixels(i); return Math.max(...d) - Math.min(...d); });
          const a = pixels(0), b = pixels(4);
          let endsDiffer = 0;
          for (let k = 0; k < a.length; k++) endsDiffer += Math.abs(a[k] - b[k]);
          return { spread, endsDiffer: endsDiffer / a.length, ms: document.body.dataset.compareMs };
        })()`);
        assert.ok(compared.spread.every((s) => s > 40), `blank comparison canvas: ${compared.spread}`);
        assert.ok(compared.endsDiffer > 1, `guidance 0 and 7 drew the same image (${compared.endsDiffer})`);
        // the screenshot shows an attention map and the comparison, so it is taken before the next run clears them
        await Deno.mkdir("out", { recursive: true });
        await Deno.writeFile("out/explore.png", await page.screenshot());
        const emojiAgain = await generate(page.evaluate, page.waitFor, "emoji", 0);
        assert.deepEqual(page.errors, []);
        // Ctrl-C with the page still open (its connections kept alive) stops the server
        server.kill("SIGINT");
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stopped = await Promise.race([
          server.status,
          new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 30_000)),
        ]);
        clearTimeout(timer);
        assert.equal(stopped?.code, 0, "Ctrl-C stops the server, with status 0, within 30 s");
        return { digits, emoji, emojiAgain, compareGuidanceMs: Number(compared.ms) };
      }, { offline: true });
      console.log(
        `explorer timings in headless Chromium (${describeCpu()}), ms from Generate: ` +
          JSON.stringify(timings),
      );
    } finally {
      reader.releaseLock();
      await server.stdout.cancel().catch(() => {});
      try {
        server.kill();
      } catch { /* already stopped */ }
      await server.status;
    }
  },
});
