/**
 * The output folder of `deno task sample`, claimed so that two runs never mix their files.
 *
 * - **A lock for the whole run.** `DIR/.sample.lock` is created with `createNew` (O_EXCL) before anything
 *   else happens in `DIR` and removed when the run ends: a second run on the same folder, with or without
 *   `--force`, refuses at once with one line instead of interleaving its files with the first one's.
 * - **A folder made for the run is made exclusively** (`mkdir` without `recursive`), so the default
 *   `out/MODEL`, `out/MODEL-2`, … never hands the same folder to two runs started together.
 * - **Nothing half-made.** Files are staged in a private folder inside `DIR` and renamed into place, all at
 *   once and synchronously, only when every file is ready: an interrupted or failed run leaves the folder as it
 *   found it, and removes the folders it created (when still empty).
 * - **Earlier outputs** (`sample-NNN.png`, `grid.png`, `trajectory.gif`) are refused without `--force`; with it
 *   they are all replaced, those the new run does not write too, so the folder holds the outputs of one run.
 *   Other files are never touched.
 *
 * @module
 */

/** The lock file's name inside the output folder. */
export const LOCK_NAME = ".sample.lock";

/** What `deno task sample` writes: earlier ones are replaced only with `--force`. */
export const OUTPUT_NAME = /^(sample-\d+\.png|grid\.png|trajectory\.gif)$/;

/** A refusal the user can act on: the folder is taken or holds outputs. */
export class OutputError extends Error {}

/** The last part of an error message from Deno, e.g. "Permission denied (os error 13)" → "Permission denied". */
function reason(error: unknown): string {
  return (error as Error).message.split(":")[0].replace(/ \(os error \d+\)$/, "");
}

/** A claimed output folder. Made by {@link claimOutput} or {@link claimNextFree}; always {@link release} it. */
export class OutputFolder {
  /** The folder, as given. */
  readonly dir: string;
  /** Folders this run created, outermost first: removed again (when empty) unless the run commits. */
  readonly #created: string[];
  readonly #force: boolean;
  #staging?: string;
  #locked = false;
  #committed = false;

  private constructor(dir: string, created: string[], force: boolean) {
    this.dir = dir;
    this.#created = created;
    this.#force = force;
  }

  /** @internal Takes the lock and checks for earlier outputs; releases everything it made when it throws. */
  static claimIn(dir: string, created: string[], force: boolean): OutputFolder {
    const folder = new OutputFolder(dir, created, force);
    try {
      folder.#lock();
      if (!force) {
        const earlier = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => OUTPUT_NAME.test(n))
          .sort();
        if (earlier.length > 0) {
          throw new OutputError(
            `${dir}/${earlier[0]} already exists${
              earlier.length > 1 ? ` (and ${earlier.length - 1} more outputs)` : ""
            }; pass --force to replace them, or choose another --out`,
          );
        }
      }
      folder.#staging = Deno.makeTempDirSync({ dir, prefix: ".sample-" });
    } catch (error) {
      folder.release();
      if (error instanceof OutputError) throw error;
      throw new Error(`cannot write to --out ${dir} (${reason(error)}); expected a writable folder`);
    }
    return folder;
  }

  #lock(): void {
    const path = `${this.dir}/${LOCK_NAME}`;
    try {
      Deno.writeTextFileSync(path, `${Deno.pid}\n`, { createNew: true });
      this.#locked = true;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      let pid = "";
      try {
        pid = Deno.readTextFileSync(path).trim();
      } catch { /* it may just have been removed */ }
      // a run killed with SIGKILL cannot remove its lock; say so rather than leave the user guessing
      const gone = /^\d+$/.test(pid) && exists("/proc/self") && !exists(`/proc/${pid}`);
      throw new OutputError(
        gone
          ? `${path} is left from a run (pid ${pid}) that no longer runs; remove it, or choose another --out`
          : `${this.dir} is in use by another sample run${
            pid ? ` (pid ${pid})` : ""
          }; wait for it to finish, or choose another --out`,
      );
    }
  }

  /** Stages one file; it appears under `name` only at {@link commit}. */
  async write(name: string, bytes: Uint8Array): Promise<void> {
    if (!this.#staging || this.#committed) {
      throw new Error(`output ${this.dir}: write after commit or release`);
    }
    await Deno.writeFile(`${this.#staging}/${name}`, bytes);
  }

  /**
   * Moves every staged file into the folder, replacing earlier outputs (with `--force`, those this run does not
   * write are removed, so no earlier run's files remain among the new ones). Synchronous from start to end, so
   * no interrupt handler runs half-way through.
   *
   * @returns the paths written, in the order staged.
   */
  commit(order: string[]): string[] {
    const staging = this.#staging!;
    const names = new Set(order);
    if (this.#force) {
      for (const entry of Deno.readDirSync(this.dir)) {
        if (OUTPUT_NAME.test(entry.name) && !names.has(entry.name)) {
          Deno.removeSync(`${this.dir}/${entry.name}`);
        }
      }
    }
    for (const name of order) Deno.renameSync(`${staging}/${name}`, `${this.dir}/${name}`);
    this.#committed = true;
    return order.map((name) => `${this.dir}/${name}`);
  }

  /**
   * Removes the staging folder and the lock; unless committed, also the folders this run created (only if
   * empty). Synchronous, safe to call more than once.
   */
  release(): void {
    if (this.#staging) {
      try {
        Deno.removeSync(this.#staging, { recursive: true });
      } catch { /* already gone */ }
      this.#staging = undefined;
    }
    if (this.#locked) {
      try {
        Deno.removeSync(`${this.dir}/${LOCK_NAME}`);
      } catch { /* already gone */ }
      this.#locked = false;
    }
    if (!this.#committed) removeCreated(this.#created);
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates the missing ancestors of `dir` one by one (not recursive), recording which this run made. */
function makeParents(dir: string, created: string[]): void {
  const parts = dir.split("/");
  for (let i = 1; i < parts.length; i++) {
    const parent = parts.slice(0, i).join("/");
    if (parent === "" || parent === "." || parent === "..") continue;
    try {
      Deno.mkdirSync(parent);
      created.push(parent);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
}

/**
 * Claims `dir` for one run: creates it (and missing parents) or uses the existing folder, takes its lock, and
 * refuses earlier outputs there unless `force`.
 *
 * @throws {OutputError} when another run holds the folder or it holds outputs and `force` is false; an
 *   `Error` ("cannot write to --out …") when it cannot be created or written.
 *
 * @example Two claims of one folder: the second is refused until the first is released
 * ```ts
 * import { claimOutput } from "./output.ts";
 * import assert from "node:assert/strict";
 * const dir = `${Deno.makeTempDirSync()}/out`;
 * const first = claimOutput(dir, false);
 * assert.throws(() => claimOutput(dir, true), /is in use by another sample run/);
 * await first.write("grid.png", new Uint8Array([1]));
 * assert.deepEqual(first.commit(["grid.png"]), [`${dir}/grid.png`]);
 * first.release();
 * assert.throws(() => claimOutput(dir, false), /grid\.png already exists; pass --force/);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function claimOutput(dir: string, force: boolean): OutputFolder {
  dir = dir.replace(/(.)\/+$/, "$1");
  const created: string[] = [];
  try {
    makeParents(dir, created);
    Deno.mkdirSync(dir);
    created.push(dir);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      removeCreated(created);
      throw new Error(`cannot write to --out ${dir} (${reason(error)}); expected a writable folder`);
    }
    if (!Deno.statSync(dir).isDirectory) {
      removeCreated(created);
      throw new Error(`cannot write to --out ${dir} (it is a file); expected a writable folder`);
    }
  }
  return OutputFolder.claimIn(dir, created, force);
}

/**
 * Claims the first of `base`, `base-2`, `base-3`, … that does not exist yet, creating it exclusively, so runs
 * started together get different folders.
 *
 * @example
 * ```ts
 * import { claimNextFree } from "./output.ts";
 * import assert from "node:assert/strict";
 * const base = `${Deno.makeTempDirSync()}/digits`;
 * const [a, b] = [claimNextFree(base), claimNextFree(base)];
 * assert.deepEqual([a.dir, b.dir], [base, `${base}-2`]);
 * a.release(), b.release(); // nothing committed: both folders are removed again
 * ```
 */
export function claimNextFree(base: string): OutputFolder {
  const created: string[] = [];
  try {
    makeParents(base, created);
  } catch (error) {
    removeCreated(created);
    throw new Error(`cannot write to ${base} (${reason(error)}); expected a writable folder, or pass --out`);
  }
  for (let k = 1; k <= 10_000; k++) {
    const dir = k === 1 ? base : `${base}-${k}`;
    try {
      Deno.mkdirSync(dir);
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) continue;
      removeCreated(created);
      throw new Error(`cannot write to ${dir} (${reason(error)}); expected a writable folder, or pass --out`);
    }
    return OutputFolder.claimIn(dir, [...created, dir], false);
  }
  removeCreated(created);
  throw new Error(`${base} to ${base}-10000 all exist; choose an --out`);
}

/** Removes the folders a run made, innermost first, while they are empty (someone else's files stay). */
function removeCreated(created: string[]): void {
  for (const dir of created.toReversed()) {
    try {
      Deno.removeSync(dir); // not recursive
    } catch {
      break;
    }
  }
  created.length = 0;
}
