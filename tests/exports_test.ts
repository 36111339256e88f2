/**
 * The package's entry points: `@dit/toolkit` (everything) re-exports `/concepts`, `/runtime` and `/display`;
 * and `/concepts` is pure maths, so importing it loads no native module (onnxruntime-node, sharp), no npm
 * package and no `node:` module, and its modules use no `Deno.*`.
 */
import assert from "node:assert/strict";
import * as everything from "@dit/toolkit";
import * as concepts from "@dit/toolkit/concepts";
import * as display from "@dit/toolkit/display";
import * as runtime from "@dit/toolkit/runtime";

const ROOT = new URL("../", import.meta.url);
const CONFIG = new URL("deno.json", ROOT).pathname;

/** Runs `deno <args>` with this repository's config; returns whether it succeeded and what it printed. */
async function deno(args: string[]): Promise<{ ok: boolean; output: string }> {
  const run = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { ok: run.success, output: text(run.stdout) + text(run.stderr) };
}

Deno.test("@dit/toolkit re-exports /concepts, /runtime and /display, which share no name", () => {
  const parts = [concepts, runtime, display].map((part) => Object.keys(part));
  const names = parts.flat();
  assert.equal(new Set(names).size, names.length, "a name exported by two parts");
  assert.deepEqual(Object.keys(everything).sort(), names.sort());
});

Deno.test("importing @dit/toolkit/concepts loads no native module; importing /runtime or /display does", async () => {
  // with every permission but ffi, a native addon (a .node file) cannot load: the import that needs one fails
  const dir = await Deno.makeTempDir({ prefix: "dit-exports-" });
  try {
    const probe = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      probe,
      "const m = await import(Deno.args[0]);\nconsole.log(Object.keys(m).length);\n",
    );
    const load = (entry: string) => deno(["run", "-A", "--deny-ffi", "--config", CONFIG, probe, entry]);
    const pure = await load("@dit/toolkit/concepts");
    assert.ok(pure.ok, pure.output);
    assert.equal(pure.output.trim(), String(Object.keys(concepts).length));
    for (const [entry, addon] of [["runtime", "onnxruntime_binding"], ["display", "sharp"]]) {
      const native = await load(`@dit/toolkit/${entry}`);
      assert.ok(!native.ok, `@dit/toolkit/${entry} loaded without ffi`);
      assert.match(native.output, new RegExp(`Requires ffi access to "[^"]*${addon}[^"]*\\.node"`));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("@dit/toolkit/concepts' module graph is this repository's own files, none using Deno.* or node:", async () => {
  const info = await deno(["info", "--json", "--config", CONFIG, new URL("concepts.ts", ROOT).pathname]);
  assert.ok(info.ok, info.output);
  const { modules } = JSON.parse(info.output) as { modules: { specifier: string; kind?: string }[] };
  assert.ok(modules.length > 10, "the concept modules are in the graph");
  for (const { specifier, kind } of modules) {
    assert.ok(specifier.startsWith(ROOT.href) && kind === "esm", `${specifier} (${kind}) is not one of ours`);
    const code = (await Deno.readTextFile(new URL(specifier))).replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    // (a string such as Symbol.for("Deno.customInspect") is no use of Deno)
    assert.doesNotMatch(code, /(?<!["'])\bDeno\.|["']node:/, `${specifier} uses Deno.* or node:`);
  }
});
