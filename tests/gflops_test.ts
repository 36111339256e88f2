/**
 * The recipe's Gflops counter (models/recipes/gflops.py), which the block-design ablation and every exported
 * card record, against the paper's own numbers for DiT-XL/2 (Peebles & Xie 2023, Table 4): 118.64 Gflops at
 * 256×256 and 524.60 at 512×512, counted as the paper counts them (a multiply-add is one flop).
 */
import assert from "node:assert/strict";
import { pythonOrSkip, TORCH_INSTALL } from "../cli/python.ts";

const python = pythonOrSkip("tests/gflops_test.ts", ["torch", "onnx"], TORCH_INSTALL);

/** The paper's Gflops of DiT-XL/2 by image size. */
const PAPER = { 256: 118.64, 512: 524.6 };

Deno.test({
  name: "the recipe counts DiT-XL/2's Gflops as the paper does, within 0.05%",
  ignore: !python,
  fn: async () => {
    const script = new URL("../models/recipes/gflops.py", import.meta.url).pathname;
    const run = await new Deno.Command(python!, { args: [script], stdout: "piped", stderr: "piped" })
      .output();
    assert.ok(run.success, new TextDecoder().decode(run.stderr));
    const text = new TextDecoder().decode(run.stdout);
    for (const [size, paper] of Object.entries(PAPER)) {
      const match = text.match(new RegExp(`DiT-XL/2 at ${size}×${size}: ([\\d.]+) Gflops`));
      assert.ok(match, `no count for ${size}×${size} in:\n${text}`);
      const ours = Number(match[1]);
      assert.ok(
        Math.abs(ours - paper) / paper <= 5e-4,
        `${size}×${size}: ${ours} Gflops against the paper's ${paper}`,
      );
    }
  },
});
