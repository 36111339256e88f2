/**
 * The stored fixtures are only as good as the script that made them: when
 * PyTorch is installed, re-run tests/reference/dit_reference.py and check the
 * stored file against its fresh output. CI installs PyTorch and never skips.
 */
import assert from "node:assert/strict";
import { assertAllClose } from "./assert.ts";
import { FLOAT32, reference } from "./fixtures.ts";
import { pythonOrSkip, runPythonJson, TORCH_INSTALL } from "../cli/python.ts";

const SCRIPT = new URL("./reference/dit_reference.py", import.meta.url).pathname;
const python = pythonOrSkip("tests/reference_test.ts", ["torch", "onnx"], TORCH_INSTALL);

Deno.test({
  name: "the stored fixtures are what the PyTorch reference script computes now",
  ignore: !python,
  fn: async () => {
    const fresh = await runPythonJson(python!, SCRIPT);
    compare(fresh, reference, "reference");
  },
});

/**
 * Structure and integers must match exactly; floats to a few float32 ulps, since
 * another PyTorch build may round its transcendental functions differently.
 */
function compare(fresh: unknown, stored: unknown, path: string): void {
  if (path === "reference.torch" || path === "reference.numpy") return; // versions may differ
  if (typeof fresh === "number" && typeof stored === "number") {
    if (Number.isInteger(fresh) && Number.isInteger(stored)) assert.equal(fresh, stored, path);
    else assertAllClose([fresh], [stored], { ...FLOAT32, msg: path });
    return;
  }
  if (Array.isArray(fresh) && Array.isArray(stored) && fresh.every((v) => typeof v === "number")) {
    assertAllClose(fresh, stored, { ...FLOAT32, msg: path });
    return;
  }
  if (typeof fresh === "object" && fresh !== null && typeof stored === "object" && stored !== null) {
    assert.deepEqual(Object.keys(fresh).sort(), Object.keys(stored).sort(), path);
    for (const [key, value] of Object.entries(fresh)) {
      compare(value, (stored as Record<string, unknown>)[key], `${path}.${key}`);
    }
    return;
  }
  assert.deepEqual(fresh, stored, path);
}
