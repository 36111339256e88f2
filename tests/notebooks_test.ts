/**
 * Every notebook runs top to bottom on the Deno kernel, headless, as `deno task notebooks` runs it. Without
 * Jupyter's nbclient these tests are skipped with a loud line (CI installs it and never skips).
 */
import assert from "node:assert/strict";
import { executeNotebook, INSTALL, installKernel, JUPYTER_MODULES, listNotebooks } from "../cli/notebooks.ts";
import { pythonOrSkip } from "../cli/python.ts";

const python = pythonOrSkip("tests/notebooks_test.ts", JUPYTER_MODULES, INSTALL);
if (python) await installKernel();

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
