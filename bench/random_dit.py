"""Randomly initialized DiTs of one shipped model's width and depth at other token counts, for the scaling
benchmark (bench/bench.ts): `python3 bench/random_dit.py models/emoji OUT_DIR 16 64 256 1024`.

Each token count T becomes OUT_DIR/tokens-T/ (dit.onnx, dit_int8.onnx, dit.weights, card.json), exported by the
recipe's export.py exactly as the shipped models are: patch 2 on a latent of side 2·√T. The weights are random
(normal, std 0.05; adaLN-Zero's zero gates would make every block the identity), so only the speed means anything.
"""
import json
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "models" / "recipes"))
from export import export_network  # noqa: E402
from models import DiT  # noqa: E402

model_dir, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
a = json.loads((model_dir / "card.json").read_text())["architecture"]
for tokens in map(int, sys.argv[3:]):
    side = int(round(tokens ** 0.5))
    assert side * side == tokens, f"{tokens} tokens is not a square grid"
    torch.manual_seed(tokens)
    dit = DiT(input_size=2 * side, patch_size=2, hidden_size=a["hiddenSize"], depth=a["depth"],
              num_heads=a["numHeads"], num_classes=a["numClasses"])
    with torch.no_grad():
        for name, p in dit.named_parameters():
            if name != "pos_embed":
                p.normal_(0.0, 0.05)
    export_network(dit, out / f"tokens-{tokens}", f"random-{tokens}-tokens",
                   f"random weights, {model_dir.name}'s width and depth, {tokens} tokens (speed only)")
