"""Small random networks of every block design, and a U-Net, exported by models/recipes/export.py as the
block-design ablation ships them (float16 weights, Linear weights as int8; the U-Net's convolutions too).

Usage: python3 tests/reference/designs_check.py OUT_DIR
Writes OUT_DIR/<design>/ (the ONNX files and card.json of a DiT of that design: adaLN-Zero, adaLN,
cross-attention, in-context), OUT_DIR/UNet/, and OUT_DIR/check.json: random inputs and each network's PyTorch
float32 output (of the rounded weights, which are the model), which tests/export_test.ts compares with ONNX
Runtime's and the glass box's.
"""
import json
import pathlib
import sys

import torch

RECIPES = pathlib.Path(__file__).resolve().parents[2] / "models" / "recipes"
sys.path.insert(0, str(RECIPES))
from export import export_network, round_to_float16, round_to_int8  # noqa: E402
from models import BLOCK_DESIGNS, DiT, UNet  # noqa: E402

out = pathlib.Path(sys.argv[1])
torch.manual_seed(0)
networks = {design: DiT(input_size=8, patch_size=2, hidden_size=32, depth=2, num_heads=2, num_classes=10,
                        block=design) for design in BLOCK_DESIGNS}
networks["UNet"] = UNet(input_size=8, model_channels=32, channel_mult=(1, 2), num_res_blocks=1, emb_dim=32,
                        num_classes=10)
x = torch.randn(3, 4, 8, 8)
t = torch.tensor([0, 500, 999])
y = torch.tensor([0, 9, 10])  # 10 is the null class
check = {"x": {"shape": list(x.shape), "data": x.flatten().tolist()}, "t": t.tolist(), "y": y.tolist(), "out": {}}
for name, model in networks.items():
    with torch.no_grad():  # the zero initializations would hide whole paths: random weights exercise all of them
        for key, p in model.named_parameters():
            if key != "pos_embed":
                p.normal_(0.0, 0.3 * p.shape[-1] ** -0.5 if p.dim() > 1 else 0.1)
    round_to_float16(model)
    int8 = round_to_int8(model, (torch.nn.Linear, torch.nn.Conv2d) if name == "UNet" else (torch.nn.Linear,))
    model.eval()
    with torch.no_grad():
        result = model(x, t, y)
    check["out"][name] = {"shape": list(result.shape), "data": result.flatten().tolist()}
    export_network(model, out / name, f"random-{name}", f"a random {name} network (tests/reference/designs_check.py)",
                   float16=True, int8=int8)
json.dump(check, open(out / "check.json", "w"))
