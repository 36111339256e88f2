"""A random DiT-S/2 checkpoint in the reference layout, converted by models/recipes/export.py.

Usage: python3 tests/reference/export_check.py OUT_DIR
Writes OUT_DIR/DiT-S-2-random.pt (a plain state_dict, as the reference's checkpoints are), OUT_DIR/model/
(dit.onnx and card.json, made by export.py) and OUT_DIR/check.json: random inputs and PyTorch's float32
outputs, which tests/export_test.ts compares with ONNX Runtime's.
"""
import json
import pathlib
import subprocess
import sys

import torch

RECIPES = pathlib.Path(__file__).resolve().parents[2] / "models" / "recipes"
sys.path.insert(0, str(RECIPES))
from models import DIT_CONFIGS, DiT  # noqa: E402

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
dit = DiT(input_size=8, num_classes=10, **DIT_CONFIGS["DiT-S/2"])
with torch.no_grad():  # adaLN-Zero starts at zero; random weights exercise every path
    for name, p in dit.named_parameters():
        if name != "pos_embed":
            p.normal_(0.0, 0.05)
torch.save(dit.state_dict(), out / "DiT-S-2-random.pt")
subprocess.run([sys.executable, str(RECIPES / "export.py"), "--reference-checkpoint", str(out / "DiT-S-2-random.pt"),
                "--config", "DiT-S/2", "--input-size", "8", "--num-classes", "10", "--out", str(out / "model")],
               check=True, stdout=sys.stderr)
dit.eval()
for block in dit.blocks:
    block.attn.fused = False
x = torch.randn(3, 4, 8, 8)
t = torch.tensor([0, 500, 999])
y = torch.tensor([0, 9, 10])  # 10 is the null class
with torch.no_grad():
    result = dit(x, t, y)
json.dump({"x": {"shape": list(x.shape), "data": x.flatten().tolist()}, "t": t.tolist(), "y": y.tolist(),
           "out": {"shape": list(result.shape), "data": result.flatten().tolist()}},
          open(out / "check.json", "w"))
