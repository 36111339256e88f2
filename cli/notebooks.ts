/**
 * `deno task notebooks`: execute every notebook in `notebooks/` headless, as CI does, and keep the executed
 * copies and their HTML exports in `out/notebooks/` (git-ignored).
 *
 * Uses Jupyter's nbclient (cli/execute_notebook.py) with the Deno kernel of the Deno running this (installed
 * with `deno jupyter --install --force` first, so the kernel is never older than 2.9: older kernels report
 * failing cells as success).
 * A cell that throws fails its notebook, and the task exits non-zero.
 *
 * @module
 */

import { plotlyScript } from "../lib/display/jupyter.ts";
import { findPython } from "./python.ts";

/** Where the executed notebooks and HTML exports go. */
export const OUT_DIR: string = new URL("../out/notebooks/", import.meta.url).pathname;
/** The notebooks, in order. */
export const NOTEBOOKS_DIR: string = new URL("../notebooks/", import.meta.url).pathname;
/** What installs Jupyter's side on Debian, as CI does. */
export const INSTALL = "apt-get install -y jupyter-nbconvert python3-nbclient python3-ipykernel";

/** The modules the notebook runner needs. */
export const JUPYTER_MODULES = ["nbclient", "nbconvert"];

/** The notebooks to run, sorted by name. */
export function listNotebooks(): string[] {
  return [...Deno.readDirSync(NOTEBOOKS_DIR)]
    .filter((e) => e.isFile && e.name.endsWith(".ipynb"))
    .map((e) => e.name)
    .sort();
}

async function run(command: string, args: string[]): Promise<{ ok: boolean; output: string }> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { ok: out.success, output: text };
  } catch (error) {
    return { ok: false, output: (error as Error).message };
  }
}

/** Installs this Deno's Jupyter kernel, replacing an older one (so it is never older than this Deno). */
export async function installKernel(): Promise<void> {
  const result = await run(Deno.execPath(), ["jupyter", "--install", "--force"]);
  if (!result.ok) throw new Error(`deno jupyter --install failed: ${result.output.trim()}`);
}

/**
 * Executes one notebook and exports it to HTML (cli/execute_notebook.py); returns the seconds it took. The
 * notebook's outputs do not keep plotly.js (`show` loads it in the browser only), so an export with figures
 * gets it here, inline, and opens offline.
 * @throws with the failing cell's error.
 */
export async function executeNotebook(python: string, name: string): Promise<number> {
  const start = performance.now();
  const script = new URL("./execute_notebook.py", import.meta.url).pathname;
  const result = await run(python, [script, `${NOTEBOOKS_DIR}${name}`, OUT_DIR]);
  if (!result.ok) {
    throw new Error(`${name} failed:\n${result.output.trim().split("\n").slice(-25).join("\n")}`);
  }
  const html = `${OUT_DIR}${name.replace(/\.ipynb$/, ".html")}`;
  const page = await Deno.readTextFile(html);
  if (page.includes('id="dit-plot-')) {
    await Deno.writeTextFile(html, page.replace("</head>", () => `${plotlyScript()}</head>`));
  }
  return (performance.now() - start) / 1000;
}

if (import.meta.main) {
  const python = findPython(JUPYTER_MODULES);
  if (!python) {
    console.error(
      `notebooks: Jupyter's nbclient and nbconvert are not installed; install them with: ${INSTALL}`,
    );
    Deno.exit(1);
  }
  await installKernel();
  let failed = 0, total = 0;
  for (const name of listNotebooks()) {
    try {
      const seconds = await executeNotebook(python, name);
      total += seconds;
      console.log(`ok      ${name}  ${seconds.toFixed(1)} s`);
    } catch (error) {
      failed++;
      console.log(`FAILED  ${(error as Error).message}`);
    }
  }
  console.log(`notebooks: ${total.toFixed(0)} s in all; executed copies and HTML in ${OUT_DIR}`);
  Deno.exit(failed ? 1 : 0);
}
