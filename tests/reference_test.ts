/**
 * The stored fixtures are only as good as the script that made them: when
 * PyTorch is installed, re-run tests/reference/dit_reference.py and check the
 * stored file against its fresh output. CI installs PyTorch and never skips.
 */
import assert from "node:assert/strict";
import { assertAllClose } from "./assert.ts";
import { reference } from "./fixtures.ts";
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
 * Where the stored file and a fresh run may differ: another PyTorch build rounds its transcendental functions
 * differently, and on another CPU OpenBLAS picks other kernels (AVX2, AVX-512), which add the products of a
 * matrix multiply in another order: 1.25e-6 relative was measured between an Intel Xeon (where the file was
 * made) and an AMD EPYC. A change in the script moves values far more.
 */
const ACROSS_MACHINES = { rtol: 1e-5, atol: 1e-6 };

/** Structure and integers must match exactly; floats within {@link ACROSS_MACHINES}. */
function compare(fresh: unknown, stored: unknown, path: string): void {
  if (path === "reference.torch" || path === "reference.numpy") return; // versions may differ
  if (typeof fresh === "number" && typeof stored === "number") {
    if (Number.isInteger(fresh) && Number.isInteger(stored)) assert.equal(fresh, stored, path);
    else assertAllClose([fresh], [stored], { ...ACROSS_MACHINES, msg: path });
    return;
  }
  if (Array.isArray(fresh) && Array.isArray(stored) && fresh.every((v) => typeof v === "number")) {
    assertAllClose(fresh, stored, { ...ACROSS_MACHINES, msg: path });
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
