/**
 * `deno task fixtures`: recompute tests/fixtures/reference.json with the PyTorch reference script
 * (tests/reference/dit_reference.py), using the first python that has torch (see cli/python.ts).
 *
 * @module
 */
import { findPython, TORCH_INSTALL } from "./python.ts";

const script = new URL("../tests/reference/dit_reference.py", import.meta.url).pathname;
const target = new URL("../tests/fixtures/reference.json", import.meta.url).pathname;
const python = findPython(["torch", "numpy"]);
if (!python) {
  console.error(`fixtures: no python3 with PyTorch found; install it with: ${TORCH_INSTALL}`);
  Deno.exit(1);
}
const run = await new Deno.Command(python, { args: [script], stdout: "piped", stderr: "inherit" }).output();
if (!run.success) Deno.exit(1);
await Deno.writeFile(`${target}.tmp`, run.stdout);
await Deno.rename(`${target}.tmp`, target); // never half a fixture file
console.log(`fixtures: wrote ${target}`);
