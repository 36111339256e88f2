/**
 * `deno task fixtures`: recompute the test fixtures with their Python scripts, using the first python that
 * has the modules each needs (see cli/python.ts): tests/fixtures/reference.json from the PyTorch reference
 * (tests/reference/dit_reference.py), and tests/fixtures/tokenizer.json from the tokenizer's Python twin
 * (tests/reference/tokenizer_reference.py, plain python3); and the tiny text-conditioned model
 * tests/fixtures/text-dit/ with tests/fixtures/text_dit_check.json, exported by the recipe
 * (tests/reference/text_dit_fixture.py, which writes them itself).
 *
 * @module
 */
import { findPython, TORCH_INSTALL } from "./python.ts";

const FIXTURES = [
  {
    script: "dit_reference.py",
    target: "reference.json",
    modules: ["torch", "numpy"],
    install: TORCH_INSTALL,
  },
  {
    script: "tokenizer_reference.py",
    target: "tokenizer.json",
    modules: ["json"],
    install: "apt-get install -y python3",
  },
  { script: "text_dit_fixture.py", target: undefined, modules: ["torch", "onnx"], install: TORCH_INSTALL },
];

for (const { script, target, modules, install } of FIXTURES) {
  const python = findPython(modules);
  if (!python) {
    console.error(`fixtures: no python3 with ${modules.join(" and ")} found; install it with: ${install}`);
    Deno.exit(1);
  }
  const run = await new Deno.Command(python, {
    args: [new URL(`../tests/reference/${script}`, import.meta.url).pathname],
    stdout: target === undefined ? "inherit" : "piped", // (without a target the script writes its files itself)
    stderr: "inherit",
  }).output();
  if (!run.success) Deno.exit(1);
  if (target === undefined) continue;
  const path = new URL(`../tests/fixtures/${target}`, import.meta.url).pathname;
  await Deno.writeFile(`${path}.tmp`, run.stdout);
  await Deno.rename(`${path}.tmp`, path); // never half a fixture file
  console.log(`fixtures: wrote ${path}`);
}
