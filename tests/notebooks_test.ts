/**
 * Every notebook runs top to bottom on the Deno kernel, headless, as `deno task notebooks` runs it; its
 * executed copy holds pictures or figures, and no output over 600 kB; and its HTML export, opened in headless
 * Chromium, draws every Plotly figure without a script error. Without Jupyter's nbclient or Chromium these tests are skipped with a loud
 * line (CI installs both and never skips). A screenshot of 05-attention is kept in out/notebooks/.
 */
import assert from "node:assert/strict";
import {
  executeNotebook,
  INSTALL,
  installKernel,
  JUPYTER_MODULES,
  listNotebooks,
  OUT_DIR,
} from "../cli/notebooks.ts";
import { pythonOrSkip } from "../cli/python.ts";
import { chromiumPath, inspectPage } from "./browser.ts";

/**
 * The largest output a notebook may store, well under 1 MB: its figures and pictures are for looking at, not
 * for archiving data (heatmaps keep three significant digits, plotly.js is not stored at all).
 */
const MAX_OUTPUT_BYTES = 600_000;

const python = pythonOrSkip("tests/notebooks_test.ts", JUPYTER_MODULES, INSTALL);
if (python) await installKernel();
const chromium = chromiumPath();
if (!chromium) {
  const line =
    "SKIPPED the browser checks of tests/notebooks_test.ts: chromium not found. Install: apt-get install -y chromium";
  if (Deno.env.get("CI")) throw new Error(`${line} (CI must not skip)`);
  console.error(`\n!!! ${line}\n`);
}

Deno.test("the thirteen notebooks are there", () => assert.equal(listNotebooks().length, 13));

for (const name of listNotebooks()) {
  Deno.test({
    name: `notebook ${name} executes, shows its figures, and its HTML export draws them all`,
    ignore: !python,
    fn: async () => {
      await executeNotebook(python!, name);
      const executed = JSON.parse(await Deno.readTextFile(`${OUT_DIR}${name}`));
      const outputs: Record<string, unknown>[] = executed.cells.flatMap((
        c: { outputs?: { data?: Record<string, unknown> }[] },
      ) => (c.outputs ?? []).map((o) => o.data ?? {}));
      // a figure is plot()'s HTML: a div that plotly.js draws into
      const figures = outputs.filter((o) =>
        String(o["text/html"] ?? "").startsWith('<div id="dit-plot-')
      ).length;
      assert.ok(
        figures + outputs.filter((o) => "image/png" in o).length > 0,
        `${name} shows no picture or figure`,
      );
      for (const output of outputs) {
        const bytes = JSON.stringify(output).length;
        assert.ok(
          bytes < MAX_OUTPUT_BYTES,
          `${name}: an output of ${bytes} bytes; expected under ${MAX_OUTPUT_BYTES}`,
        );
      }
      if (!chromium) return;
      const html = `file://${OUT_DIR}${name.replace(/\.ipynb$/, ".html")}`;
      const page = await inspectPage(html, { screenshot: name.startsWith("05-") });
      assert.deepEqual(page.errors, [], `script errors in ${html}`);
      assert.equal(
        page.drawn,
        page.figures,
        `${page.figures - page.drawn} of ${page.figures} figures not drawn`,
      );
      assert.equal(page.figures, figures);
      if (page.screenshot) {
        await Deno.writeFile(`${OUT_DIR}${name.replace(/\.ipynb$/, ".png")}`, page.screenshot);
      }
    },
  });
}

Deno.test({
  name: "the browser check notices a figure that was not drawn and a script error",
  ignore: !chromium,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dit-page-" });
    try {
      await Deno.writeTextFile(
        `${dir}/broken.html`,
        `<div id="dit-plot-x"></div><script>Plotly.newPlot("dit-plot-x", [])</script>`,
      );
      const page = await inspectPage(`file://${dir}/broken.html`, { timeoutMs: 2000 });
      assert.deepEqual([page.figures, page.drawn], [1, 0]);
      assert.match(page.errors.join("\n"), /Plotly is not defined/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
