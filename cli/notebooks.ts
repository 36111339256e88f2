/**
 * `deno task notebooks`: execute every notebook in `notebooks/` headless, as CI does, and keep the executed
 * copies and their HTML exports in `out/notebooks/` (git-ignored).
 *
 * Uses Jupyter's nbconvert with the Deno kernel of the Deno running this (installed with `deno jupyter
 * --install` first, so the kernel is never older than 2.9: older kernels report failing cells as success).
 * A cell that throws fails its notebook, and the task exits non-zero.
 *
 * @module
 */

/** Where the executed notebooks and HTML exports go. */
export const OUT_DIR: string = new URL("../out/notebooks/", import.meta.url).pathname;
/** The notebooks, in order. */
export const NOTEBOOKS_DIR: string = new URL("../notebooks/", import.meta.url).pathname;
/** What installs Jupyter's side on Debian, as CI does. */
export const INSTALL = "apt-get install -y jupyter-nbconvert python3-nbclient python3-ipykernel";

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

/** Whether `jupyter nbconvert` is installed. */
export async function hasJupyter(): Promise<boolean> {
  return (await run("jupyter", ["nbconvert", "--version"])).ok;
}

/** Installs this Deno's Jupyter kernel (idempotent). */
export async function installKernel(): Promise<void> {
  const result = await run(Deno.execPath(), ["jupyter", "--install"]);
  if (!result.ok) throw new Error(`deno jupyter --install failed: ${result.output.trim()}`);
}

/**
 * Executes one notebook and exports it to HTML; returns the seconds it took.
 * @throws with nbconvert's account of the failing cell.
 */
export async function executeNotebook(name: string, timeoutSeconds = 180): Promise<number> {
  Deno.mkdirSync(OUT_DIR, { recursive: true });
  const start = performance.now();
  const executed = await run("jupyter", [
    "nbconvert",
    "--to",
    "notebook",
    "--execute",
    `--ExecutePreprocessor.timeout=${timeoutSeconds}`,
    "--ExecutePreprocessor.kernel_name=deno",
    "--output-dir",
    OUT_DIR,
    `${NOTEBOOKS_DIR}${name}`,
  ]);
  if (!executed.ok) {
    const lines = executed.output.trim().split("\n");
    throw new Error(`${name} failed:\n${lines.slice(-25).join("\n")}`);
  }
  const html = await run("jupyter", [
    "nbconvert",
    "--to",
    "html",
    "--output-dir",
    OUT_DIR,
    `${OUT_DIR}${name}`,
  ]);
  if (!html.ok) throw new Error(`${name}: HTML export failed: ${html.output.trim()}`);
  return (performance.now() - start) / 1000;
}

if (import.meta.main) {
  if (!(await hasJupyter())) {
    console.error(`notebooks: jupyter nbconvert is not installed; install it with: ${INSTALL}`);
    Deno.exit(1);
  }
  await installKernel();
  let failed = 0, total = 0;
  for (const name of listNotebooks()) {
    try {
      const seconds = await executeNotebook(name);
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
