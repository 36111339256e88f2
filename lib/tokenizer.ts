/**
 * The tokenizer of a text-conditioned DiT: a prompt such as "Hot pepper!" becomes a fixed-length row of word
 * ids that a text encoder embeds and the DiT's cross-attention reads.
 *
 * It is word-level, one token per word. Emoji captions are short English names, so a vocabulary of every
 * training word stays small (a few thousand), and one token per word is what lets a cross-attention map be
 * read as "the patches that listen to *pepper*". Word pieces would spell some unseen words from seen pieces,
 * but their maps would be split over fragments, and a word the model never saw is better shown to the learner
 * as unknown than guessed at.
 *
 * Normalization, step by step (`models/recipes/tokenizer.py` does the same, and a fixture test holds the two
 * equal):
 *
 * 1. Unicode NFKD (compatibility forms such as `Ａ`, `ﬁ`, `①` become `A`, `fi`, `1`), then lowercase, then NFKD
 *    again (lowercasing `İ` makes `i` plus a combining dot).
 * 2. The apostrophes `'` and `’` are deleted, so `o’clock` is one word, `oclock`.
 * 3. Combining marks (general category M) are deleted: `piñata` is `pinata`.
 * 4. Separators are whitespace, punctuation and control or format characters (categories Z, P and C); a word
 *    is a run of anything else: letters, digits and symbols, so `🔥` and `+1` are words too.
 *
 * Both sides classify characters with their own Unicode tables (Python 3.11 has Unicode 14), so a character
 * assigned after Unicode 14 may split differently; none occurs in the captions.
 *
 * Three special tokens come first in every vocabulary: `[pad]` (0) fills a prompt up to the vocabulary's
 * `maxLength`, `[unk]` (1) stands for a word the vocabulary lacks (and `tokenize` lists such words, never
 * dropping them), and `[null]` (2) is the null caption of classifier-free guidance. The null caption is one
 * `[null]` token rather than no token at all, so that cross-attention always has a key to attend to.
 *
 * @module
 */
import { describeValue } from "./checks.ts";

/** The special tokens, at ids 0, 1 and 2 of every vocabulary: padding, an unknown word, the null caption. */
export const SPECIAL_TOKENS: readonly ["[pad]", "[unk]", "[null]"] = ["[pad]", "[unk]", "[null]"];

/** The largest `maxLength` a vocabulary may have: prompts are names and short phrases, not paragraphs. */
export const MAX_PROMPT_WORDS = 256;

/** A word-level vocabulary: the tokens in id order (the special tokens first) and the fixed prompt length. */
export interface Vocabulary {
  /** `tokens[id]` is the token with that id; ids 0, 1, 2 are {@link SPECIAL_TOKENS}. */
  readonly tokens: readonly string[];
  /** Every prompt is padded to this many ids; a prompt with more words is refused. */
  readonly maxLength: number;
}

/** A tokenized prompt. */
export interface TokenizedPrompt {
  /** `maxLength` ids: one per word, then `[pad]` (0). */
  ids: number[];
  /** How many of `ids` are not padding (a text encoder masks the rest). */
  length: number;
  /** The prompt's words after normalization, one per id before the padding. */
  words: string[];
  /** The words that became `[unk]`, in prompt order, each once. */
  unknown: string[];
}

const SEPARATOR = /^[\p{Z}\p{P}\p{C}]$/u;
const MARK = /^\p{M}$/u;
const APOSTROPHES = /['\u2019]/g;

/**
 * The words of `text` after the normalization in this module's description.
 *
 * @example
 * ```ts
 * import { splitWords } from "@dit/toolkit/concepts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(splitWords("  Piñata, ONE o’clock!! ①"), ["pinata", "one", "oclock", "1"]);
 * ```
 */
export function splitWords(text: string): string[] {
  if (typeof text !== "string") {
    throw new Error(`splitWords: text is ${describeValue(text)}; expected a string`);
  }
  const normalized = text.normalize("NFKD").toLowerCase().normalize("NFKD").replace(APOSTROPHES, "");
  const words: string[] = [];
  let word = "";
  for (const char of normalized) {
    if (MARK.test(char)) continue;
    if (SEPARATOR.test(char)) {
      if (word) words.push(word);
      word = "";
    } else {
      word += char;
    }
  }
  if (word) words.push(word);
  return words;
}

/**
 * The vocabulary of `captions`: the special tokens, then every word of the captions, the most frequent first
 * (ties in order of first appearance, so the result depends on nothing but the captions' order).
 *
 * @param captions the training captions; each must have 1 to `maxLength` words.
 * @param maxLength the fixed prompt length, 1 to {@link MAX_PROMPT_WORDS}.
 * @throws naming the first caption with no words or too many.
 *
 * @example
 * ```ts
 * import { buildVocabulary } from "@dit/toolkit/concepts";
 * import assert from "node:assert/strict";
 * const vocabulary = buildVocabulary(["red heart", "blue heart", "Red apple"], 4);
 * // "red" and "heart" twice each, "red" seen first; then the words seen once
 * assert.deepEqual(vocabulary.tokens, ["[pad]", "[unk]", "[null]", "red", "heart", "blue", "apple"]);
 * ```
 */
export function buildVocabulary(captions: readonly string[], maxLength: number): Vocabulary {
  checkMaxLength(maxLength, "buildVocabulary");
  if (!Array.isArray(captions)) {
    throw new Error(`buildVocabulary: captions is ${describeValue(captions)}; expected an array of strings`);
  }
  const counts = new Map<string, number>();
  for (const [i, caption] of captions.entries()) {
    for (const word of checkedWords(caption, maxLength, `buildVocabulary: caption ${i}`)) {
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  // Array.prototype.sort is stable, so equal counts keep the Map's order of first appearance.
  const words = [...counts].sort((a, b) => b[1] - a[1]).map(([word]) => word);
  return { tokens: [...SPECIAL_TOKENS, ...words], maxLength };
}

/**
 * `value` (a parsed vocabulary JSON file) checked and returned as a {@link Vocabulary}: the special tokens
 * first, then distinct tokens that are each one normalized word, and an integer `maxLength`.
 *
 * @throws naming the first thing wrong and what is accepted.
 *
 * @example
 * ```ts
 * import { checkVocabulary } from "@dit/toolkit/concepts";
 * import assert from "node:assert/strict";
 * const json = '{"tokens": ["[pad]", "[unk]", "[null]", "heart"], "maxLength": 8}';
 * assert.equal(checkVocabulary(JSON.parse(json)).tokens.length, 4);
 * assert.throws(() => checkVocabulary({ tokens: ["[pad]", "[unk]", "[null]", "Heart"], maxLength: 8 }), /token 3/);
 * ```
 */
export function checkVocabulary(value: unknown): Vocabulary {
  if (typeof value !== "object" || value === null) {
    throw new Error(
      `checkVocabulary: the vocabulary is ${describeValue(value)}; expected an object {tokens, maxLength}`,
    );
  }
  const { tokens, maxLength } = value as Record<string, unknown>;
  checkMaxLength(maxLength, "checkVocabulary");
  if (!Array.isArray(tokens)) {
    throw new Error(`checkVocabulary: tokens is ${describeValue(tokens)}; expected an array of strings`);
  }
  for (const [id, special] of SPECIAL_TOKENS.entries()) {
    if (tokens[id] !== special) {
      throw new Error(
        `checkVocabulary: token ${id} is ${JSON.stringify(tokens[id])}; expected ${
          SPECIAL_TOKENS.map((s) => JSON.stringify(s)).join(", ")
        } first`,
      );
    }
  }
  const seen = new Set<string>(SPECIAL_TOKENS);
  for (let id = SPECIAL_TOKENS.length; id < tokens.length; id++) {
    const token = tokens[id];
    const words = typeof token === "string" ? splitWords(token) : [];
    if (words.length !== 1 || words[0] !== token || seen.has(token)) {
      throw new Error(
        `checkVocabulary: token ${id} is ${
          JSON.stringify(token)
        }; expected a new word as splitWords gives it`,
      );
    }
    seen.add(token);
  }
  return { tokens: [...tokens] as string[], maxLength: maxLength as number };
}

/**
 * `prompt` as ids of `vocabulary`: one per word, `[unk]` for a word the vocabulary lacks (listed in
 * `unknown`), `[pad]` after the last word up to `maxLength`.
 *
 * @throws if the prompt is not a string, has no words, or has more than `maxLength` words.
 *
 * @example
 * ```ts
 * import { buildVocabulary, tokenize } from "@dit/toolkit/concepts";
 * import assert from "node:assert/strict";
 * const vocabulary = buildVocabulary(["hot pepper", "hot beverage"], 4);
 * const { ids, length, unknown } = tokenize(vocabulary, "Hot SAUCE");
 * assert.deepEqual(ids, [3, 1, 0, 0]); // hot, [unk], [pad], [pad]
 * assert.equal(length, 2);
 * assert.deepEqual(unknown, ["sauce"]);
 * assert.throws(() => tokenize(vocabulary, " ?! "), /no words/);
 * ```
 */
export function tokenize(vocabulary: Vocabulary, prompt: string): TokenizedPrompt {
  const words = checkedWords(prompt, vocabulary.maxLength, "tokenize: the prompt");
  const index = indexOf(vocabulary);
  const ids = words.map((word) => index.get(word) ?? 1);
  const unknown = [...new Set(words.filter((word) => !index.has(word)))];
  return { ids: pad(ids, vocabulary.maxLength), length: words.length, words, unknown };
}

/**
 * The null caption of classifier-free guidance: `[null]` then padding. Training swaps it in for a share of
 * the captions; sampling runs it beside the prompt.
 *
 * @example
 * ```ts
 * import { buildVocabulary, nullCaption } from "@dit/toolkit/concepts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(nullCaption(buildVocabulary(["heart"], 3)).ids, [2, 0, 0]);
 * ```
 */
export function nullCaption(vocabulary: Vocabulary): TokenizedPrompt {
  return { ids: pad([2], vocabulary.maxLength), length: 1, words: [], unknown: [] };
}

function pad(ids: number[], maxLength: number): number[] {
  return [...ids, ...new Array(maxLength - ids.length).fill(0)];
}

function checkMaxLength(maxLength: unknown, fn: string): void {
  if (
    typeof maxLength !== "number" || !Number.isInteger(maxLength) || maxLength < 1 ||
    maxLength > MAX_PROMPT_WORDS
  ) {
    throw new Error(
      `${fn}: maxLength is ${describeValue(maxLength)}; expected an integer from 1 to ${MAX_PROMPT_WORDS}`,
    );
  }
}

/** The words of `text`, refusing a non-string, no words, or more than `maxLength`, in one line naming `what`. */
function checkedWords(text: unknown, maxLength: number, what: string): string[] {
  if (typeof text !== "string") throw new Error(`${what} is ${describeValue(text)}; expected a string`);
  const words = splitWords(text);
  const shown = text.length > 40 ? `${JSON.stringify(text.slice(0, 40))}…` : JSON.stringify(text);
  const accepted = `1 to ${maxLength} words (letters, digits or symbols between spaces and punctuation)`;
  if (words.length === 0) throw new Error(`${what} ${shown} has no words; expected ${accepted}`);
  if (words.length > maxLength) {
    throw new Error(`${what} ${shown} has ${words.length} words; expected ${accepted}`);
  }
  return words;
}

const indexes = new WeakMap<Vocabulary, Map<string, number>>();

/** The token → id map of a vocabulary, made once per vocabulary object. */
function indexOf(vocabulary: Vocabulary): Map<string, number> {
  let index = indexes.get(vocabulary);
  if (!index) {
    // Brackets are punctuation, so no word is ever a special token: only word tokens need indexing.
    index = new Map(
      vocabulary.tokens.slice(SPECIAL_TOKENS.length).map((t, i) => [t, i + SPECIAL_TOKENS.length]),
    );
    indexes.set(vocabulary, index);
  }
  return index;
}
