/**
 * The word-level tokenizer (lib/tokenizer.ts) against its Python twin (models/recipes/tokenizer.py), through
 * tests/fixtures/tokenizer.json, which tests/reference/tokenizer_reference.py writes (`deno task fixtures`);
 * then its properties over random text, and its error messages.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  buildVocabulary,
  checkVocabulary,
  MAX_PROMPT_WORDS,
  nullCaption,
  SPECIAL_TOKENS,
  splitWords,
  tokenize,
} from "@dit/toolkit/concepts";
import { pythonOrSkip, runPythonJson } from "../cli/python.ts";

const FIXTURE = new URL("./fixtures/tokenizer.json", import.meta.url);
const SCRIPT = new URL("./reference/tokenizer_reference.py", import.meta.url).pathname;
const fixture = JSON.parse(Deno.readTextFileSync(FIXTURE));

Deno.test("buildVocabulary makes the vocabulary tokenizer.py makes of the same captions", () => {
  assert.deepEqual(buildVocabulary(fixture.captions, fixture.maxLength), fixture.vocabulary);
  assert.deepEqual(checkVocabulary(fixture.vocabulary), fixture.vocabulary);
});

Deno.test("tokenize gives tokenizer.py's ids, words and unknown words, and refuses what it refuses", () => {
  const vocabulary = checkVocabulary(fixture.vocabulary);
  assert.ok(fixture.prompts.length > 30);
  for (const { prompt, error, ...expected } of fixture.prompts) {
    const shown = JSON.stringify(prompt).slice(0, 60);
    if (error === undefined) {
      assert.deepEqual(tokenize(vocabulary, prompt), expected, shown);
    } else {
      const words = error === 0 ? "no words" : `${error} words`;
      assert.throws(
        () => tokenize(vocabulary, prompt),
        new RegExp(`tokenize: the prompt .* has ${words};`),
        shown,
      );
    }
  }
  assert.deepEqual(nullCaption(vocabulary), fixture.null);
});

const python = pythonOrSkip("tests/tokenizer_test.ts", ["unicodedata"], "apt-get install -y python3");

Deno.test({
  name: "the stored tokenizer fixtures are what tokenizer_reference.py prints now",
  ignore: !python,
  fn: async () => {
    const fresh = await runPythonJson(python!, SCRIPT);
    // another python may run it, with other Unicode tables: the results must be the same all the same
    for (const run of [fresh, fixture]) {
      delete run.python;
      delete run.unicode;
    }
    assert.deepEqual(fresh, fixture);
  },
});

Deno.test("hand-worked prompts: the normalization rules one by one", () => {
  const vocabulary = buildVocabulary(["light blue heart", "one o’clock", "piñata"], 6);
  // [pad] [unk] [null], then each word once, in order of first appearance (all counts are 1)
  assert.deepEqual(vocabulary.tokens.slice(3), ["light", "blue", "heart", "one", "oclock", "pinata"]);
  const cases: [string, number[], string[]][] = [
    ["LIGHT   blue\theart", [3, 4, 5, 0, 0, 0], []], // case and whitespace
    ["light-blue, heart!", [3, 4, 5, 0, 0, 0], []], // punctuation separates
    ["one o'clock", [6, 7, 0, 0, 0, 0], []], // either apostrophe joins
    ["PIN\u0303ATA", [8, 0, 0, 0, 0, 0], []], // combining tilde dropped
    ["ｈｅａｒｔ", [5, 0, 0, 0, 0, 0], []], // fullwidth letters are letters
    ["dark blue heart heart", [1, 4, 5, 5, 0, 0], ["dark"]], // unknown word kept, reported
  ];
  for (const [prompt, ids, unknown] of cases) {
    const result = tokenize(vocabulary, prompt);
    assert.deepEqual([result.ids, result.unknown], [ids, unknown], prompt);
  }
});

Deno.test("property: every word is lowercase and its own normalization, words rejoined split back the same", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" })),
      (text) => {
        const words = splitWords(text);
        for (const word of words) assert.deepEqual(splitWords(word), [word]);
        assert.deepEqual(splitWords(words.join(" ")), words);
        for (const word of words) assert.equal(word, word.toLowerCase());
        // (exactly case-blind for ASCII; Unicode's special casing may add letters: "ᾀ" is "ἈΙ" uppercased)
        const ascii = [...text].filter((char) => char.codePointAt(0)! < 128).join("");
        assert.deepEqual(splitWords(ascii.toUpperCase()), splitWords(ascii.toLowerCase()));
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("property: tokenize pads to maxLength, maps known words to themselves and lists every unknown one", () => {
  const vocabulary = buildVocabulary(["red heart", "blue heart", "red apple", "hot pepper"], 5);
  const word = fc.constantFrom(
    "red",
    "Heart",
    "BLUE",
    "apple",
    "zebra",
    "hot",
    "é",
    "🔥",
    "",
    "!",
    "  ",
    "x1",
  );
  fc.assert(
    fc.property(fc.array(word, { maxLength: 9 }), fc.constantFrom(" ", ", ", "\n", "-"), (parts, glue) => {
      const prompt = parts.join(glue);
      const words = splitWords(prompt);
      if (words.length === 0 || words.length > 5) {
        assert.throws(
          () => tokenize(vocabulary, prompt),
          /tokenize: the prompt [^\n]* expected 1 to 5 words/,
        );
        return;
      }
      const { ids, length, unknown } = tokenize(vocabulary, prompt);
      assert.equal(ids.length, 5);
      assert.equal(length, words.length);
      assert.ok(ids.slice(length).every((id) => id === 0));
      for (const [i, w] of words.entries()) {
        if (ids[i] === 1) assert.ok(unknown.includes(w), w);
        else assert.equal(vocabulary.tokens[ids[i]], w);
      }
      assert.deepEqual(unknown, [...new Set(words.filter((w) => !vocabulary.tokens.includes(w)))]);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("errors are one line naming what was wrong and what is accepted", () => {
  const vocabulary = buildVocabulary(["hot pepper"], 3);
  const cases: [() => unknown, string][] = [
    [() => tokenize(vocabulary, " ?! "), 'tokenize: the prompt " ?! " has no words; expected 1 to 3 words'],
    [
      () => tokenize(vocabulary, "a b c d"),
      'tokenize: the prompt "a b c d" has 4 words; expected 1 to 3 words',
    ],
    [() => tokenize(vocabulary, 42 as unknown as string), "tokenize: the prompt is 42; expected a string"],
    [() => buildVocabulary(["hot", "a b c d"], 3), 'buildVocabulary: caption 1 "a b c d" has 4 words'],
    [
      () => buildVocabulary(["hot"], 0),
      `buildVocabulary: maxLength is 0; expected an integer from 1 to ${MAX_PROMPT_WORDS}`,
    ],
    [
      () => checkVocabulary({ tokens: ["[unk]", "[pad]", "[null]"], maxLength: 3 }),
      'checkVocabulary: token 0 is "[unk]"',
    ],
    [
      () => checkVocabulary({ tokens: [...SPECIAL_TOKENS, "hot", "hot"], maxLength: 3 }),
      'checkVocabulary: token 4 is "hot"',
    ],
    [
      () => checkVocabulary({ tokens: [...SPECIAL_TOKENS, "hot pepper"], maxLength: 3 }),
      'token 3 is "hot pepper"',
    ],
    [
      () => checkVocabulary({ tokens: [...SPECIAL_TOKENS], maxLength: 2.5 }),
      "checkVocabulary: maxLength is 2.5",
    ],
    [() => checkVocabulary(null), "checkVocabulary: the vocabulary is null; expected an object"],
  ];
  for (const [call, start] of cases) {
    assert.throws(call, (error: Error) => {
      assert.ok(error.message.includes(start), `${error.message} lacks ${start}`);
      assert.ok(!error.message.includes("\n"), error.message);
      return true;
    });
  }
  const long = "word ".repeat(500);
  assert.throws(() => tokenize(vocabulary, long), /tokenize: the prompt "(word ){8}"… has 500 words;/);
});
