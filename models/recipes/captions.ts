/**
 * Captions for the emoji dataset, for a text-conditioned DiT: every base emoji's names (emoji-datasource's
 * Unicode `name` and Slack-style `short_names`, and Emojibase's CLDR label) and keywords (Emojibase's CLDR
 * tags), each normalized into words by `splitWords` of lib/tokenizer.ts and joined by single spaces.
 *
 * The text held-out set is the image held-out set: the every-10th base emoji in sort order that data.ts holds
 * out of training. Their names are the held-out prompts, and no training caption equals one of them: a
 * training emoji's name or keyword that spells a held-out name is left out of the training captions (its
 * words stay, in the captions that hold them among others). So a held-out name is never seen whole, while
 * its words mostly are: those of two or more words that are all seen are new combinations of seen words.
 *
 * data.ts writes the result as `captions.json` beside the images, and the vocabulary of its training
 * captions as `vocab.json`.
 *
 * @module
 */
import { buildVocabulary, splitWords, type Vocabulary } from "../../lib/tokenizer.ts";

/** The longest caption or prompt, in words: the longest emoji caption has 11, so there is room for phrases. */
export const MAX_CAPTION_WORDS = 16;

/** The fields used of one emoji-datasource entry. */
export interface NamedEmoji {
  unified: string;
  name: string;
  short_names: string[];
}

/** The fields used of one entry of emojibase-data's en/data.json. */
export interface EmojibaseEntry {
  hexcode: string;
  label: string;
  tags?: string[];
}

/** One emoji's captions, in the order of the dataset's base emoji. */
export interface EmojiCaptions {
  /** emoji-datasource's codepoints: image ids are `<style>/<unified>`. */
  unified: string;
  /** 1 if the emoji is held out (its images and its names), as the images' `heldout` flags. */
  heldout: 0 | 1;
  /** Its names, normalized, distinct: the Unicode name, the CLDR label, then the short names. */
  names: string[];
  /** Its keywords, normalized, distinct, none equal to one of its names. */
  keywords: string[];
}

/** Everything captions.json holds beside the sources. */
export interface Captions {
  /** How captions are normalized and held out, in words. */
  rule: string;
  emoji: EmojiCaptions[];
  /** The training emoji's names and keywords, less any that spells a held-out name: the vocabulary's text. */
  training: string[];
  /** The distinct names of the held-out emoji. */
  textHeldout: string[];
  /** The held-out names of two or more words, every one of which occurs in the training captions. */
  newCombinations: string[];
  /** The words of held-out names that occur in no training caption, each once. */
  unseenWords: string[];
  /** How many training captions were left out because they spelled a held-out name. */
  removed: number;
}

/** Codepoints as a lowercase key without the emoji variation selector, to match emojibase to emoji-datasource. */
function key(codepoints: string): string {
  return codepoints.toLowerCase().split("-").filter((part) => part !== "fe0f").join("-");
}

function normalize(text: string): string {
  return splitWords(text).join(" ");
}

/** The captions of `emoji` (in dataset order), with `heldout(position)` choosing the held-out emoji. */
export function makeCaptions(
  emoji: readonly NamedEmoji[],
  heldout: (position: number) => 0 | 1,
  emojibase: readonly EmojibaseEntry[],
): Captions {
  const labels = new Map(emojibase.map((entry) => [key(entry.hexcode), entry]));
  const entries: EmojiCaptions[] = emoji.map((e, position) => {
    const base = labels.get(key(e.unified));
    if (!base) throw new Error(`emoji ${e.unified} (${e.name}): not in emojibase-data`);
    const names = [...new Set([e.name, base.label, ...e.short_names].map(normalize).filter((n) => n))];
    const keywords = [...new Set((base.tags ?? []).map(normalize))].filter((k) => k && !names.includes(k));
    return { unified: e.unified, heldout: heldout(position), names, keywords };
  });
  const textHeldout = [...new Set(entries.filter((e) => e.heldout).flatMap((e) => e.names))];
  const held = new Set(textHeldout);
  const all = entries.filter((e) => !e.heldout).flatMap((e) => [...e.names, ...e.keywords]);
  const training = all.filter((caption) => !held.has(caption));
  const seen = new Set(training.flatMap((caption) => caption.split(" ")));
  const newCombinations = textHeldout.filter((name) => {
    const words = name.split(" ");
    return words.length > 1 && words.every((word) => seen.has(word));
  });
  const unseenWords = [...new Set(textHeldout.flatMap((name) => name.split(" ")))].filter((w) =>
    !seen.has(w)
  );
  const rule =
    "captions are emoji-datasource's name and short names and Emojibase's label (names) and tags " +
    "(keywords), lowercased and split into words by splitWords (lib/tokenizer.ts); the text held-out emoji " +
    "are the image held-out ones (every 10th base emoji in sort order), and a training caption that spells " +
    "a held-out name is left out of training";
  return {
    rule,
    emoji: entries,
    training,
    textHeldout,
    newCombinations,
    unseenWords,
    removed: all.length - training.length,
  };
}

/** The vocabulary of the training captions, with room for {@link MAX_CAPTION_WORDS} words. */
export function captionVocabulary(captions: Captions): Vocabulary {
  return buildVocabulary(captions.training, MAX_CAPTION_WORDS);
}

/** A few lines for stdout: the counts that models/recipes/README.md quotes. */
export function summariseCaptions(captions: Captions, vocabulary: Vocabulary): string {
  const heldout = captions.emoji.filter((e) => e.heldout).length;
  const words = (list: string[]) => list.reduce((n, caption) => n + caption.split(" ").length, 0);
  return [
    `captions: ${captions.emoji.length} emoji, ${
      captions.emoji.length - heldout
    } training, ${heldout} held out`,
    `  training captions ${captions.training.length} (${words(captions.training)} words), ` +
    `${captions.removed} left out for spelling a held-out name; vocabulary ${vocabulary.tokens.length} tokens`,
    `  held-out names ${captions.textHeldout.length}, new combinations of seen words ` +
    `${captions.newCombinations.length}`,
    `  words of held-out names in no training caption (${captions.unseenWords.length}): ` +
    captions.unseenWords.join(", "),
  ].join("\n");
}
