"""Fixtures for tests/tokenizer_test.ts: what models/recipes/tokenizer.py makes of a few captions and of
ordinary and hostile prompts. Prints JSON to stdout; `deno task fixtures` stores it as
tests/fixtures/tokenizer.json."""
import json
import os
import sys
import unicodedata

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "models", "recipes"))
from tokenizer import build_vocabulary, null_caption, split_words, tokenize  # noqa: E402

MAX_LENGTH = 8
CAPTIONS = [
    "hot pepper", "Hot Beverage", "red heart", "light blue heart", "flag: Canada", "one o\u2019clock",
    "pi\u00f1ata", "fire", "1st place medal", "+1", "grinning face", "face with tears of joy", "heart",
    "smiling_face", "T-Rex", "heart",
]
PROMPTS = [
    "hot pepper", "Hot Pepper", "  hot   pepper  ", "HOT\tPEPPER\n", "hot-pepper!!!", "hot_pepper",
    "Pi\u00d1ata", "pin\u0303ata", "one o'clock", "ONE O\u2019CLOCK", "\uff28\uff2f\uff34 \uff30\uff25\uff30\uff30\uff25\uff32",
    "\ufb01re", "\u2460\u2461", "flag: canada", "+1", "\U0001f525 fire", "hot\U0001f525pepper", "\u0130stanbul",
    "\u03a3\u039f\u03a6\u039f\u03a3", "stra\u00dfe", "e\u200dmail", "light\u00a0blue heart", "1st place medal",
    "100", "\u65e5\u672c", "zebra zebra hot zebra", "tears of joy 2", "a b c d e f g h", "a b c d e f g h i",
    "", "   ", "!!!", "\u0301", "\ud800 hot", "x" * 100, "heart " * 40, "t rex", "[pad] [null] <unk>",
]


def result(prompt):
    try:
        return tokenize(vocabulary, prompt)
    except ValueError:
        return {"error": len(split_words(prompt))}


vocabulary = build_vocabulary(CAPTIONS, MAX_LENGTH)
fixture = {
    "python": sys.version.split()[0],
    "unicode": unicodedata.unidata_version,
    "captions": CAPTIONS,
    "maxLength": MAX_LENGTH,
    "vocabulary": vocabulary,
    "null": null_caption(vocabulary),
    "prompts": [{"prompt": prompt, **result(prompt)} for prompt in PROMPTS],
}
json.dump(fixture, sys.stdout)
print()
