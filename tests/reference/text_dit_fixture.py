"""A tiny random text-conditioned DiT, exported by models/recipes/export.py as `export.py --text` ships the real
one: tests/fixtures/text-dit/ (card.json, dit.onnx, dit_int8.onnx, dit.weights, vae_decoder.onnx, vocab.json)
and tests/fixtures/text_dit_check.json (inputs and the recipe's PyTorch output for them).

Usage: python3 tests/reference/text_dit_fixture.py [MODEL_DIR [CHECK_JSON]]   (`deno task fixtures` runs it)

Every weight is random and nonzero (an untrained model's zero initializations would hide whole paths: a zero
cross-attention projection would make the words irrelevant), then rounded as the export ships weights (float16,
Linear weights and the word embedding table int8). The PyTorch output in the check file comes from the recipe's
TextDiT rebuilt from the card and the weights read back out of dit.onnx, so it also checks that the export kept
every parameter under its name. tests/text_dit_test.ts compares ONNX Runtime and the glass box with it.
"""
import json
import os
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "recipes"))
from export import export_text_model, network_from_card, onnx_state_dict  # noqa: E402
from models import VAE, TextDiT  # noqa: E402
from tokenizer import build_vocabulary, null_caption, tokenize  # noqa: E402

# Words the tests prompt with; six words at most, so a seven-word prompt is too long
CAPTIONS = ["hot pepper", "red heart", "blue heart", "light blue heart", "penguin", "rocket", "flag canada",
            "grinning face", "face with tears of joy", "red apple"]
MAX_LENGTH = 6

model_dir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures" / "text-dit"
check_path = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "tests" / "fixtures" / "text_dit_check.json"
torch.manual_seed(0)
vocabulary = build_vocabulary(CAPTIONS, MAX_LENGTH)
dit = TextDiT(input_size=8, patch_size=2, in_channels=4, hidden_size=32, depth=2, num_heads=2,
              vocab_size=len(vocabulary["tokens"]), max_length=MAX_LENGTH, text_width=24, text_depth=2, text_heads=2)
vae = VAE(3, (8, 8, 8))
with torch.no_grad():
    for module in (dit, vae.decoder):
        for name, p in module.named_parameters():
            if name != "pos_embed":
                p.normal_(0.0, 0.3 * p.shape[-1] ** -0.5 if p.dim() > 1 else 0.1)
export_text_model(dit, vocabulary, vae.decoder, model_dir, "text-dit",
                  "a tiny random text-conditioned DiT for the tests (tests/reference/text_dit_fixture.py)",
                  {"channels": 4, "height": 8, "width": 8, "scaleFactor": 0.5},
                  {"channels": 3, "height": 32, "width": 32, "range": [-1, 1], "layout": "NCHW"})

card = json.loads((model_dir / "card.json").read_text())
shipped = network_from_card(card["architecture"])
assert isinstance(shipped, TextDiT)
shipped.load_state_dict(onnx_state_dict(model_dir / "dit.onnx"), strict=True)
shipped.eval()
prompts = ["hot pepper", "light blue heart", "penguin rocket zebra", "face with tears of joy apple"]
ids = [tokenize(vocabulary, p)["ids"] for p in prompts] + [null_caption(vocabulary)["ids"]]
g = torch.Generator().manual_seed(1)
x = torch.randn(len(ids), 4, 8, 8, generator=g)
t = torch.tensor([999, 500, 250, 17, 0])
with torch.no_grad():
    out = shipped(x, t, torch.tensor(ids))
packed = lambda a: {"shape": list(a.shape), "data": [float(repr(v)) for v in a.flatten().tolist()]}
tmp = check_path.with_suffix(".tmp")
tmp.write_text(json.dumps({"prompts": prompts, "x": packed(x), "t": t.tolist(), "ids": ids, "out": packed(out)}) + "\n")
os.replace(tmp, check_path)  # never half a fixture file
print(f"wrote {model_dir} and {check_path}")
