/**
 * Finding a Python with PyTorch for the tests that compare against it, and skipping loudly without one.
 *
 * @module
 */

/** What installs the Python side on Debian, as CI does. */
export const INSTALL = "apt-get install -y python3-torch python3-onnx libopenblas0-pthread";

/**
 * The first python with torch and onnx: $DIT_PYTHON, python3 on PATH, then Debian's /usr/bin/python3.
 * Without one, prints a loud SKIPPED line naming the test file and the install command, and returns
 * null; under CI (CI set) it throws instead, because CI must never skip.
 */
export function torchPython(testFile: string): string | null {
  const candidates = [Deno.env.get("DIT_PYTHON"), "python3", "/usr/bin/python3"].filter((p): p is string =>
    !!p
  );
  for (const python of candidates) {
    try {
      const probe = new Deno.Command(python, {
        args: ["-c", "import torch, onnx"],
        stdout: "null",
        stderr: "null",
      });
      if (probe.outputSync().success) return python;
    } catch { /* not installed */ }
  }
  const line = `SKIPPED ${testFile}: no python3 with PyTorch and onnx found. Install them with: ${INSTALL}`;
  if (Deno.env.get("CI")) throw new Error(`${line} (CI must not skip)`);
  console.error(`\n!!! ${line}\n`);
  return null;
}
