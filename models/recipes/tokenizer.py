"""The word-level tokenizer of the text-conditioned DiT, the twin of lib/tokenizer.ts.

Both build the same vocabulary from the same captions and turn a prompt into the same ids; the fixture test
(tests/tokenizer_test.ts, fixtures made by tests/reference/tokenizer_reference.py) holds them equal. The
normalization and the special tokens are described in lib/tokenizer.ts.

Usage: python3 models/recipes/tokenizer.py .cache/data/emoji
  rebuilds the vocabulary from the folder's captions.json and checks that it is the vocab.json there.
"""
import json
import sys
import unicodedata

SPECIAL_TOKENS = ["[pad]", "[unk]", "[null]"]
MAX_PROMPT_WORDS = 256


def split_words(text):
    """The words of text: NFKD, lowercase, NFKD, apostrophes and combining marks deleted, split on Z/P/C."""
    if not isinstance(text, str):
        raise ValueError(f"split_words: text is {type(text).__name__}; expected a string")
    normalized = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).lower())
    normalized = normalized.replace("'", "").replace("\u2019", "")
    words, word = [], ""
    for char in normalized:
        category = unicodedata.category(char)[0]
        if category == "M":
            continue
        if category in "ZPC":
            if word:
                words.append(word)
            word = ""
        else:
            word += char
    if word:
        words.append(word)
    return words


def _checked_words(text, max_length, what):
    if not isinstance(text, str):
        raise ValueError(f"{what} is {type(text).__name__}; expected a string")
    words = split_words(text)
    if not 1 <= len(words) <= max_length:
        raise ValueError(f"{what} {text[:40]!r} has {len(words)} words; expected 1 to {max_length}")
    return words


def build_vocabulary(captions, max_length):
    """The special tokens, then every word of the captions, most frequent first, ties by first appearance."""
    if not (isinstance(max_length, int) and 1 <= max_length <= MAX_PROMPT_WORDS):
        raise ValueError(f"build_vocabulary: max_length is {max_length!r}; expected 1 to {MAX_PROMPT_WORDS}")
    counts = {}  # dicts keep insertion order: the order of first appearance
    for i, caption in enumerate(captions):
        for word in _checked_words(caption, max_length, f"build_vocabulary: caption {i}"):
            counts[word] = counts.get(word, 0) + 1
    words = sorted(counts, key=lambda word: -counts[word])  # sorted is stable
    return {"tokens": SPECIAL_TOKENS + words, "maxLength": max_length}


def tokenize(vocabulary, prompt):
    """ids (padded to maxLength), length, words and the unknown words, as tokenize in lib/tokenizer.ts."""
    max_length = vocabulary["maxLength"]
    words = _checked_words(prompt, max_length, "tokenize: the prompt")
    index = {token: i for i, token in enumerate(vocabulary["tokens"]) if i >= len(SPECIAL_TOKENS)}
    ids = [index.get(word, 1) for word in words]
    unknown = list(dict.fromkeys(word for word in words if word not in index))
    return {"ids": ids + [0] * (max_length - len(ids)), "length": len(words), "words": words, "unknown": unknown}


def null_caption(vocabulary):
    """The null caption of classifier-free guidance: [null] then padding."""
    return {"ids": [2] + [0] * (vocabulary["maxLength"] - 1), "length": 1, "words": [], "unknown": []}


def main(folder):
    with open(f"{folder}/captions.json", encoding="utf-8") as f:
        captions = json.load(f)
    with open(f"{folder}/vocab.json", encoding="utf-8") as f:
        stored = json.load(f)
    fresh = build_vocabulary(captions["training"], stored["maxLength"])
    if fresh["tokens"] != stored["tokens"]:
        print(f"tokenizer: {folder}/vocab.json differs from the vocabulary built here", file=sys.stderr)
        return 1
    print(f"tokenizer: {folder}/vocab.json is what tokenizer.py builds ({len(fresh['tokens'])} tokens)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python3 models/recipes/tokenizer.py DATA_FOLDER (holding captions.json and vocab.json)",
              file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
