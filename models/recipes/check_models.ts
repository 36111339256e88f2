/**
 * Checks exported model folders as the toolkit runs them: `deno run -A models/recipes/check_models.ts DIR...`
 * (e.g. the block-design ablation's `runs/ablation/models/*`).
 *
 * For each folder: `loadDiT` opens it (card, hashes, ONNX Runtime session) and runs one forward pass on seeded
 * noise at two timesteps, for a class and the null class; a DiT (of any block design) also runs in the glass box
 * (`loadGlassBox`), which must equal ONNX Runtime within {@link MAX_RELATIVE_ERROR} (max |Δ| / max |out|, as
 * tests/glassbox_test.ts holds the shipped models to); a U-Net samples two DDIM steps instead. A text model
 * (`models/emoji-text`) runs a prompt and the null caption, and its glass box (`loadTextGlassBox`) must equal
 * ONNX Runtime the same way. Prints one line per folder and exits 1 if any fails.
 *
 * @module
 */
import { isTextCard } from "../../lib/model/card.ts";
import { loadGlassBox, loadTextGlassBox } from "../../lib/model/glass_box.ts";
import { loadDiT } from "../../lib/pipeline.ts";
import { SeededRandom } from "../../lib/random.ts";
import { maxRelativeDifference } from "../../lib/tensor.ts";

/** Glass box against ONNX Runtime: both float32, in different orders (tests/glassbox_test.ts). */
const MAX_RELATIVE_ERROR = 1e-6;

if (Deno.args.length === 0) {
  console.error("usage: deno run -A models/recipes/check_models.ts MODEL_DIR...");
  Deno.exit(2);
}
let failed = false;
for (const dir of Deno.args) {
  const folder = dir.includes("/") ? dir : `./${dir}`; // (loadDiT reads a bare name as a shipped model's)
  try {
    await using model = await loadDiT(folder);
    const { card } = model, { channels, height, width } = card.latent;
    const x = new SeededRandom(7).randn([2, channels, height, width]);
    const t = [999, 17];
    if (isTextCard(card)) {
      const box = loadTextGlassBox(folder);
      const ids = [box.tokenize("red heart").ids, box.nullCaption];
      const error = maxRelativeDifference(box.forward(x, t, ids), await model.forward(x, t, ids));
      const ok = error <= MAX_RELATIVE_ERROR;
      failed ||= !ok;
      console.log(
        `${
          ok ? "ok  " : "FAIL"
        } ${dir}: text DiT, ${card.architecture.gflops} Gflops; glass box vs ONNX Runtime ${
          error.toExponential(2)
        } (at most ${MAX_RELATIVE_ERROR})`,
      );
      continue;
    }
    const y = [1, card.nullClassId];
    const out = await model.forward(x, t, y);
    const a = card.architecture;
    if (a.type === "UNet") {
      const { latents } = await model.sampleLatents({ classes: [1], steps: 2 });
      console.log(
        `ok   ${dir}: U-Net, ${a.gflops} Gflops; ONNX Runtime out [${out.shape}], latents [${latents.shape}]`,
      );
      continue;
    }
    const error = maxRelativeDifference(loadGlassBox(folder).forward(x, t, y), out);
    const ok = error <= MAX_RELATIVE_ERROR;
    failed ||= !ok;
    console.log(
      `${ok ? "ok  " : "FAIL"} ${dir}: DiT, ${
        a.block ?? "adaLN-Zero"
      } blocks, ${a.gflops} Gflops; glass box vs ONNX Runtime ${
        error.toExponential(2)
      } (at most ${MAX_RELATIVE_ERROR})`,
    );
  } catch (error) {
    failed = true;
    console.log(`FAIL ${dir}: ${(error as Error).message}`);
  }
}
if (failed) Deno.exit(1);
