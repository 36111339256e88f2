/**
 * A model folder is a sandbox. A folder someone sent you holds a `card.json` and the files it names; this
 * module makes sure that nothing the card (or an ONNX file's external data) names leads out of that folder,
 * that every such name is a regular file of bounded size (not a FIFO that would hang the reader, nor
 * `/dev/zero` that would fill memory), and that its bytes are the ones the card's `sha256` records, all before
 * ONNX Runtime or the glass box's weight reader touches it.
 *
 * ```
 * name ─► plain file name? ─► realpath inside the folder? ─► regular file, ≤ limit? ─► sha256 = card? ─► read
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";

const { onnx } = onnxProto; // (a CommonJS module: its namespace comes as the default export)

/** The models folder of this repository. */
export const MODELS_DIR: string = new URL("../../models/", import.meta.url).pathname;

/** The largest `card.json` read (the shipped cards are about 10 kB): larger is refused before parsing. */
export const MAX_CARD_BYTES = 1 << 20;

/**
 * The largest model file (ONNX graph or weights) read: 4 GiB, room for a converted DiT-XL/2 (2.7 GB of
 * float32 weights) while `/dev/zero`-like sizes are refused before reading.
 */
export const MAX_MODEL_FILE_BYTES = 4 * 2 ** 30;

/** The longest model or file name accepted. */
export const MAX_NAME_LENGTH = 128;

// A name that cannot climb (`..`), be absolute, name a hidden file or a subfolder, or hold a character a
// shell or terminal would read otherwise: letters, digits, `-`, `_`, `.`, not starting with `.`.
const PLAIN_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * Whether `name` is a plain name for a file in a model folder, or for the model itself: letters, digits,
 * `-`, `_` and `.`, not starting with `.`, at most {@link MAX_NAME_LENGTH} characters. So no `..`, no `/`,
 * no absolute path, no hidden file.
 *
 * @example
 * ```ts
 * import { isPlainName } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.ok(isPlainName("dit_int8.onnx"));
 * assert.ok(!isPlainName("../../etc/passwd") && !isPlainName("/etc/passwd") && !isPlainName(".hidden"));
 * ```
 */
export function isPlainName(name: unknown): name is string {
  return typeof name === "string" && name.length <= MAX_NAME_LENGTH && PLAIN_NAME.test(name);
}

/**
 * Text made fit for a one-line error: control and format characters (terminal escapes, bidi overrides) and
 * line breaks become `replacement` (a space by default), runs of spaces one, and anything past `max`
 * characters is cut with an ellipsis. For messages that quote what a file, a card or a library said, which may
 * be long, multi-line, or hostile.
 *
 * @example
 * ```ts
 * import { oneLine } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.equal(oneLine("bad\n\x1b[31mthing\x1b[0m  here"), "bad [31mthing [0m here");
 * assert.equal(oneLine("x".repeat(500), 10), "xxxxxxxxx…");
 * assert.equal(oneLine("cat\u202e", 40, "\uFFFD"), "cat\uFFFD"); // a name quoted in an error
 * ```
 */
export function oneLine(text: string, max = 200, replacement = " "): string {
  const flat = [...text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, replacement).replace(/ {2,}/g, " ").trim()];
  return flat.length <= max ? flat.join("") : `${flat.slice(0, max - 1).join("")}…`;
}

/** The reason an OS call failed, in one line (Deno's messages name the call and the path). */
function reason(error: unknown): string {
  return oneLine(error instanceof Error ? error.message : String(error), 160);
}

/** What a non-regular file is, for the error that refuses it. */
function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/**
 * Stats `path` (following symlinks) and refuses anything but a regular file of at most `limit` bytes. Stat
 * never blocks, so a FIFO is refused here instead of hanging the `open` that would follow.
 *
 * @param shown the path as the user should see it in an error.
 * @param what what the file is, for "cannot read …" (`"the model card"`, `"the ONNX model"`).
 */
function statRegular(path: string, limit: number, shown: string, what: string): Deno.FileInfo {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    throw new Error(`${shown}: cannot read ${what} (${reason(error)})`);
  }
  if (!info.isFile) throw new Error(`${shown}: ${what} is ${kindOf(info)}; expected a regular file`);
  if (info.size > limit) {
    throw new Error(`${shown}: ${what} is ${info.size} bytes; the limit is ${limit}`);
  }
  return info;
}

/** A regular file found inside a model folder: its real path and what `stat` says of it. */
export interface FolderFile {
  /** The file's real path (symlinks resolved), inside the folder's real path. */
  path: string;
  /** Its size, times and type. */
  info: Deno.FileInfo;
}

/**
 * Finds the file `name` of a model folder: a plain name ({@link isPlainName}) whose real path (symlinks
 * resolved) lies inside the folder's real path and is a regular file of at most `limit` bytes. Reads nothing.
 *
 * @param what what the file is, for the error ("the model card", "the ONNX model", "the weights file").
 * @throws a one-line `Error` starting `<folder>/<name>:` that says which rule it breaks.
 *
 * @example A symlink that leaves the folder is refused, whatever it points at
 * ```ts
 * import { resolveInside } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/dit.onnx`, "graph");
 * Deno.symlinkSync("/etc/hostname", `${dir}/dit.weights`);
 * assert.equal(resolveInside(dir, "dit.onnx").info.size, 5);
 * assert.throws(() => resolveInside(dir, "dit.weights"), /resolves to \/etc\/hostname, outside the model folder/);
 * assert.throws(() => resolveInside(dir, "../x"), /expected a plain file name/);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function resolveInside(
  folder: string,
  name: string,
  what = "the file",
  limit: number = MAX_MODEL_FILE_BYTES,
): FolderFile {
  const shown = `${folder}/${name}`;
  if (!isPlainName(name)) {
    throw new Error(
      `${oneLine(JSON.stringify(name) ?? String(name), 160)} in ${folder}: expected a plain file name ` +
        `(letters, digits, - _ ., not starting with ., at most ${MAX_NAME_LENGTH}): no path, no ..`,
    );
  }
  let root: string, path: string;
  try {
    root = Deno.realPathSync(folder);
    path = Deno.realPathSync(shown);
  } catch (error) {
    throw new Error(`${shown}: cannot read ${what} (${reason(error)})`);
  }
  // compared after both are resolved, so `a/../..`, symlinked folders and symlinks to symlinks all count
  if (!path.startsWith(root.endsWith("/") ? root : `${root}/`)) {
    throw new Error(`${shown}: ${what} resolves to ${path}, outside the model folder ${root}`);
  }
  return { path, info: statRegular(path, limit, shown, what) };
}

/**
 * Reads a whole regular file of at most `limit` bytes: refused before opening if it is anything else (so a
 * FIFO cannot hang and `/dev/zero` cannot fill memory), and never more than `limit` bytes read even if it
 * grows meanwhile.
 *
 * @param shown the path as errors should name it (default: `path`).
 * @throws a one-line `Error` naming the file.
 *
 * @example
 * ```ts
 * import { readBounded } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const card = readBounded(new URL("../../models/digits/card.json", import.meta.url).pathname, 1 << 20);
 * assert.equal(card[0], "{".charCodeAt(0));
 * assert.throws(() => readBounded("/dev/zero", 1 << 20), /\/dev\/zero: the file is a device; expected a regular file/);
 * ```
 */
export function readBounded(path: string, limit: number, what = "the file", shown = path): Uint8Array {
  const info = statRegular(path, limit, shown, what);
  const bytes = new Uint8Array(info.size);
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path);
  } catch (error) {
    throw new Error(`${shown}: cannot read ${what} (${reason(error)})`);
  }
  try {
    let at = 0;
    while (at < bytes.length) {
      const n = file.readSync(bytes.subarray(at));
      if (n === null) break;
      at += n;
    }
    return bytes.subarray(0, at);
  } finally {
    file.close();
  }
}

/**
 * Decodes an ONNX ModelProto, or says in one line why it is not one.
 *
 * @param shown the file's path, for the error.
 *
 * @example
 * ```ts
 * import { decodeOnnx } from "./folder.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => decodeOnnx(new TextEncoder().encode("hello"), "x.onnx"), /^Error: x\.onnx: not a valid ONNX model/);
 * ```
 */
export function decodeOnnx(bytes: Uint8Array, shown: string): OnnxTypes.ModelProto {
  try {
    const model = onnx.ModelProto.decode(bytes);
    // Protobuf fields are all optional, so some garbage decodes without error; a model has a graph and opsets.
    if (!model.graph || model.opsetImport.length === 0) {
      throw new Error("no graph or no opset: not an ONNX ModelProto");
    }
    return model;
  } catch (error) {
    throw new Error(`${shown}: not a valid ONNX model (${reason(error)})`);
  }
}

/**
 * Every file an ONNX model's external data names (the `location` entries), wherever in the model they
 * stand: initializers, Constant nodes, subgraphs. Collected from every `externalData` list of the decoded
 * message tree, so none is missed however the writer nested it.
 *
 * @example
 * ```ts
 * import { decodeOnnx, externalLocations } from "./folder.ts";
 * import assert from "node:assert/strict";
 * const path = new URL("../../models/digits/dit.onnx", import.meta.url).pathname;
 * assert.deepEqual(externalLocations(decodeOnnx(Deno.readFileSync(path), path)), ["dit.weights"]);
 * ```
 */
export function externalLocations(model: OnnxTypes.ModelProto): string[] {
  const found = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      if (value.length > 0 && typeof value[0] === "object") value.forEach(visit);
    } else if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value)) {
      const entries = (value as { externalData?: OnnxTypes.IStringStringEntryProto[] }).externalData;
      for (const entry of Array.isArray(entries) ? entries : []) {
        if (entry.key === "location") found.add(String(entry.value));
      }
      for (const child of Object.values(value)) visit(child);
    }
  };
  visit(model);
  return [...found];
}

/**
 * The folder of a file path, as ONNX Runtime takes it to find external data: `"."` for a bare name.
 *
 * @example
 * ```ts
 * import { folderOf } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * assert.deepEqual([folderOf("models/digits/dit.onnx"), folderOf("dit.onnx"), folderOf("/dit.onnx")], ["models/digits", ".", "/"]);
 * ```
 */
export function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

/** What was learned of one real path while its stat stamp stays the same. */
interface Known {
  stamp: string;
  sha256?: string;
  external?: string[];
}

// Hash and decode each file once per process: keyed by real path, valid while size, mtime, ctime and inode
// are unchanged (an edit changes mtime and ctime, a replacement the inode).
const known = new Map<string, Known>();

function knownFor(file: FolderFile): Known {
  const { size, mtime, ctime, ino } = file.info;
  const stamp = `${size}:${mtime?.getTime()}:${ctime?.getTime()}:${ino}`;
  let entry = known.get(file.path);
  if (entry?.stamp !== stamp) known.set(file.path, entry = { stamp });
  return entry;
}

/** sha256 (hex) of a file, streamed in 1 MiB pieces so memory stays small; never past `size` bytes. */
function sha256Of(path: string, size: number): string {
  const hash = createHash("sha256");
  const buffer = new Uint8Array(1 << 20);
  const file = Deno.openSync(path);
  try {
    for (let at = 0; at < size;) {
      const n = file.readSync(buffer.subarray(0, Math.min(buffer.length, size - at)));
      if (n === null) break;
      hash.update(buffer.subarray(0, n));
      at += n;
    }
  } finally {
    file.close();
  }
  return hash.digest("hex");
}

/** The part of a card that {@link verifyModelFile} reads: the folder's hashes and (optionally) sizes. */
export interface CardHashes {
  /** The card's name, for errors. */
  name: string;
  /** sha256 (hex) of every file the card names. */
  sha256: Record<string, string>;
  /** Optional size in bytes of each file. */
  bytes?: Record<string, number>;
}

/**
 * Checks the file `name` of a model folder against its card before anything reads it: inside the folder, a
 * regular file ({@link resolveInside}), of the size the card records (if it records one), and with the
 * sha256 the card records. The hash is computed once per file and process, and again only when the file's
 * size, times or inode change (emoji's 19.5 MB `dit.weights` hashes in about 15 ms).
 *
 * @returns the file's real path, the one to open.
 * @throws a one-line `Error` naming the file, e.g. `"<file>: sha256 does not match the card (edited or corrupt?)"`.
 *
 * @example
 * ```ts
 * import { readCard, verifyModelFile } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dir = new URL("../../models/digits", import.meta.url).pathname;
 * assert.ok(verifyModelFile(dir, readCard(dir), "dit.weights").endsWith("/dit.weights"));
 * assert.throws(() => verifyModelFile(dir, { name: "x", sha256: { "dit.weights": "0".repeat(64) } }, "dit.weights"), /dit\.weights: sha256 does not match the card \(edited or corrupt\?\)/);
 * ```
 */
export function verifyModelFile(folder: string, card: CardHashes, name: string, what = "the file"): string {
  const file = resolveInside(folder, name, what);
  const shown = `${folder}/${name}`;
  const want = Object.hasOwn(card.sha256, name) ? card.sha256[name] : undefined;
  if (want === undefined) {
    throw new Error(`${shown}: card ${card.name} has no sha256 for it; expected sha256["${name}"]`);
  }
  const bytes = card.bytes && Object.hasOwn(card.bytes, name) ? card.bytes[name] : undefined;
  if (bytes !== undefined && bytes !== file.info.size) {
    throw new Error(`${shown}: is ${file.info.size} bytes; the card says ${bytes} (edited or corrupt?)`);
  }
  const entry = knownFor(file);
  try {
    entry.sha256 ??= sha256Of(file.path, file.info.size);
  } catch (error) {
    throw new Error(`${shown}: cannot read ${what} (${reason(error)})`);
  }
  if (entry.sha256 !== want) throw new Error(`${shown}: sha256 does not match the card (edited or corrupt?)`);
  return file.path;
}

/**
 * Checks an ONNX file before ONNX Runtime opens it: a regular file of bounded size, a valid model, and every
 * file its external data names a plain name resolving to a regular file beside it (ONNX Runtime reads those
 * itself, by the names written in the graph). The graph is decoded once per file and process, like the
 * hashes; the weights files are looked up again on every call.
 *
 * @returns the names of the external data files it reads.
 * @throws a one-line `Error` naming the ONNX file or the external file.
 *
 * @example The float32 and int8 DiT graphs share one weights file
 * ```ts
 * import { onnxExternalFiles } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dir = new URL("../../models/digits", import.meta.url).pathname;
 * assert.deepEqual(onnxExternalFiles(`${dir}/dit.onnx`), ["dit.weights"]);
 * assert.deepEqual(onnxExternalFiles(`${dir}/dit_int8.onnx`), ["dit.weights"]);
 * assert.deepEqual(onnxExternalFiles(`${dir}/vae_decoder.onnx`), []);
 * ```
 */
export function onnxExternalFiles(path: string): string[] {
  const entry = knownFor({ path, info: statRegular(path, MAX_MODEL_FILE_BYTES, path, "the ONNX model") });
  entry.external ??= externalLocations(
    decodeOnnx(readBounded(path, MAX_MODEL_FILE_BYTES, "the ONNX model"), path),
  );
  // checked on every call, not cached: a weights file can be swapped for a symlink while the graph stays
  // the same. ONNX Runtime looks for them in the folder of the path it is given: so are they checked.
  const folder = folderOf(path), name = path.slice(path.lastIndexOf("/") + 1);
  for (const location of entry.external) {
    if (!isPlainName(location)) {
      throw new Error(
        `${path}: its external data names ${oneLine(JSON.stringify(location), 160)}; expected a plain file ` +
          "name beside it (no path, no ..)",
      );
    }
    resolveInside(folder, location, `the weights file of ${name}`);
  }
  return entry.external;
}

/**
 * {@link verifyModelFile} for an ONNX graph and every weights file its external data names
 * ({@link onnxExternalFiles}), which must be in the card's `sha256` too: the check to run before ONNX Runtime
 * or the glass box opens a model file.
 *
 * @returns the graph's real path, the one to open (its weights files are beside it).
 * @throws a one-line `Error` naming the file that is outside the folder, not a regular file, unlisted in the
 *   card's `sha256`, or not what the card's hash says.
 *
 * @example
 * ```ts
 * import { readCard, verifyOnnxFile } from "@dit/toolkit";
 * import assert from "node:assert/strict";
 * const dir = new URL("../../models/digits", import.meta.url).pathname;
 * const card = readCard(dir);
 * assert.ok(verifyOnnxFile(dir, card, card.files.dit).endsWith("/dit.onnx"));
 * ```
 */
export function verifyOnnxFile(folder: string, card: CardHashes, name: string): string {
  const path = verifyModelFile(folder, card, name, "the ONNX model");
  for (const weights of onnxExternalFiles(path)) {
    verifyModelFile(folder, card, weights, `the weights file of ${name}`);
  }
  return path;
}
