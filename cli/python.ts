/**
 * Finding a Python that has the modules a tool needs (PyTorch for the reference tests and the benchmark,
 * Jupyter's nbclient for the notebooks), and skipping loudly without one.
 *
 * @module
 */

/** What installs PyTorch and onnx for Python on Debian, as CI does. */
export const TORCH_INSTALL = "apt-get install -y python3-torch python3-onnx libopenblas0-pthread";

/**
 * The first python that imports every one of `modules`: $DIT_PYTHON, python3 on PATH, then Debian's
 * /usr/bin/python3; null if none does.
 */
export function findPython(modules: readonly string[]): string | null {
  const candidates = [Deno.env.get("DIT_PYTHON"), "python3", "/usr/bin/python3"].filter((p): p is string =>
    !!p
  );
  for (const python of candidates) {
    try {
      const probe = new Deno.Command(python, {
        args: ["-c", `import ${modules.join(", ")}`],
        stdout: "null",
        stderr: "null",
      });
      if (probe.outputSync().success) return python;
    } catch { /* not installed */ }
  }
  return null;
}

/**
 * {@link findPython} for a test file: without such a python, prints a loud SKIPPED line naming the file and
 * the install command and returns null; under CI (CI set) it throws instead, because CI must never skip.
 */
export function pythonOrSkip(testFile: string, modules: readonly string[], install: string): string | null {
  const python = findPython(modules);
  if (python) return python;
  const line = `SKIPPED ${testFile}: no python3 with ${
    modules.join(" and ")
  } found. Install them with: ${install}`;
  if (Deno.env.get("CI")) throw new Error(`${line} (CI must not skip)`);
  console.error(`\n!!! ${line}\n`);
  return null;
}

/**
 * Runs a Python script (no arguments) and parses what it prints as JSON: how the tests re-derive a stored
 * fixture to compare it with.
 * @throws an `Error` holding the script's stderr if it fails.
 */
export async function runPythonJson(python: string, script: string): Promise<unknown> {
  const run = await new Deno.Command(python, { args: [script], stdout: "piped", stderr: "piped" }).output();
  if (!run.success) throw new Error(`${script} failed: ${new TextDecoder().decode(run.stderr)}`);
  return JSON.parse(new TextDecoder().decode(run.stdout));
}
