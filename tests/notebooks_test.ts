/**
 * Every notebook runs top to bottom on the Deno kernel, headless, as `deno task notebooks` runs it. Without
 * Jupyter's nbclient these tests are skipped with a loud line (CI installs it and never skips).
 */
import assert from "node:assert/strict";
import { executeNotebook, INSTALL, installKernel, jupyterPython, listNotebooks } from "../cli/notebooks.ts";

const python = await jupyterPython();
if (!python) {
  const line =
    `SKIPPED tests/notebooks_test.ts: Jupyter's nbclient not found, notebooks not executed. Install: ${INSTALL}`;
  if (Deno.env.get("CI")) throw new Error(`${line} (CI must not skip)`);
  console.error(`\n!!! ${line}\n`);
} else {
  await installKernel();
}

Deno.test("the ten notebooks are there", () => assert.equal(listNotebooks().length, 10));

for (const name of listNotebooks()) {
  Deno.test({
    name: `notebook ${name} executes without an error`,
    ignore: !python,
    fn: async () => {
      await executeNotebook(python!, name);
    },
  });
}
