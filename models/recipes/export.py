"""Export trained models to ONNX with their card: `python models/recipes/export.py --data NAME`.

Writes models/NAME/{dit,vae_encoder,vae_decoder,classifier}.onnx and card.json from runs/NAME/*.pt.
Weights are rounded to float16 first and stored as float16 initializers, each cast back to float32 inside the
graph (ONNX Runtime folds the casts when it loads the model), which halves the files; the rounded weights are
the model, so the PyTorch check below and evaluate.py measure exactly what ships.

Also converts a checkpoint in the reference layout (facebookresearch/DiT, e.g. DiT-XL-2-256x256.pt):
`python models/recipes/export.py --reference-checkpoint PATH --config DiT-XL/2 --input-size 32
 --num-classes 1000 --out DIR` writes DIR/dit.onnx and a card (its VAE is Stable Diffusion's, not shipped here).

The ONNX contract: dit.onnx takes x [B, 4, h, w] float32, t [B] int64, y [B] int64 and returns out [B, 8, h, w]
(ε then the variance interpolation v); only the batch is dynamic. Opset 17, the legacy TorchScript exporter,
constant folding off so every initializer keeps its PyTorch parameter name (the glass box reads them by name).
"""
import argparse
import datetime
import hashlib
import json
import os
import pathlib

import numpy as np
import torch

from common import REPO, RUNS
from models import DIT_CONFIGS, DiT, VAE, Classifier

OPSET = 17
DESCRIPTIONS = {
    "digits": "A class-conditional latent DiT of handwritten digits 0-9 (MNIST, 32×32 grayscale): the fast model, "
              "whose quality is easiest to measure.",
    "emoji": "A class-conditional latent DiT of emoji (Noto Color Emoji and Twemoji, 64×64 RGB) in the 9 Unicode "
             "categories: the flagship model.",
}
KEEP_FLOAT32 = {"pos_embed"}  # the fixed positional table stays exact; lib/positional.ts recomputes it


def layer_norm_without_affine_workaround():
    """torch 1.13's opset-17 exporter emits LayerNormalization with an empty scale when the LayerNorm has no
    affine weight (an invalid graph). Give it a scale of ones instead; PyTorch 2 exports this correctly."""
    if int(torch.__version__.split(".")[0]) >= 2:
        return
    from torch.onnx.symbolic_helper import parse_args

    @parse_args("v", "is", "v", "v", "f", "b")
    def layer_norm(g, x, normalized_shape, weight, bias, eps, cudnn_enable):
        scale = g.op("Constant", value_t=torch.ones(normalized_shape))
        shift = g.op("Constant", value_t=torch.zeros(normalized_shape))
        return g.op("LayerNormalization", x, scale, shift, epsilon_f=eps, axis_i=-len(normalized_shape))

    torch.onnx.register_custom_op_symbolic("aten::layer_norm", layer_norm, OPSET)


def export_onnx(module, inputs, path, input_names, output_names):
    layer_norm_without_affine_workaround()
    module.eval()
    torch.onnx.export(
        module, inputs, str(path), input_names=input_names, output_names=output_names, opset_version=OPSET,
        dynamic_axes={name: {0: "B"} for name in input_names + output_names}, do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE,  # (the module is in eval mode) no BatchNorm-into-Conv fusing,
        # which would make new weights that are not float16-exact
        **({"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}),
    )


def round_to_float16(module):
    """Round every weight to the nearest float16 (kept as float32 tensors), except KEEP_FLOAT32."""
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if tensor.dtype == torch.float32 and name not in KEEP_FLOAT32:
                tensor.copy_(tensor.half().float())


def store_float16(path):
    """Rewrite float32 initializers as float16 plus a Cast back to float32; lossless after round_to_float16."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph, casts = model.graph, []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or init.name in KEEP_FLOAT32:
            continue
        values = numpy_helper.to_array(init)
        if values.size < 16:
            continue
        half = values.astype(np.float16)
        assert np.array_equal(half.astype(np.float32), values), f"{init.name} is not float16-exact"
        init.CopyFrom(numpy_helper.from_array(half, init.name))
        float_name = f"{init.name}/float32"
        for node in graph.node:
            node.input[:] = [float_name if i == init.name else i for i in node.input]
        casts.append(helper.make_node("Cast", [init.name], [float_name], to=onnx.TensorProto.FLOAT,
                                      name=f"{init.name}/cast"))
    nodes = casts + list(graph.node)  # a Cast must come before the nodes that read its output
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def pin_output_shapes(module, inputs, path):
    """Record every output dimension but the batch as the fixed number it is (the exporter leaves some symbolic)."""
    import onnx

    with torch.no_grad():
        outputs = module(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    model = onnx.load(str(path))
    for value, tensor in zip(model.graph.output, outputs):
        for dim, size in list(zip(value.type.tensor_type.shape.dim, tensor.shape))[1:]:
            dim.Clear()
            dim.dim_value = size
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def check_onnx(module, inputs, path, output_names):
    """ONNX Runtime vs PyTorch (float32 on the CPU): max |difference| / max |PyTorch| per output."""
    try:
        import onnxruntime as ort
    except ImportError:
        print(f"  {path.name}: onnxruntime (python) not installed, check skipped here; the Deno tests check it")
        return None
    with torch.no_grad():
        expected = module.cpu().float()(*[i.cpu() for i in inputs])
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: v.cpu().numpy() for i, v in zip(session.get_inputs(), inputs)}
    errors = {}
    for name, got, want in zip(output_names, session.run(output_names, feeds), expected):
        want = want.numpy()
        errors[name] = float(np.abs(got - want).max() / np.abs(want).max())
        assert errors[name] <= 1e-4, f"{path.name} output {name}: relative error {errors[name]:.2e} > 1e-4"
    print(f"  {path.name}: ONNX Runtime = PyTorch, relative error {errors}")
    return errors


def io_spec(path):
    """The inputs and outputs of an ONNX file as the card records them: name, element type, shape."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    types = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64", onnx.TensorProto.FLOAT16: "float16"}

    def spec(values):  # types named as onnxruntime's JavaScript API names them
        return [{"name": v.name, "type": types[v.type.tensor_type.elem_type],
                 "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]} for v in values]
    names = {i.name for i in graph.initializer}
    return {"inputs": spec([i for i in graph.input if i.name not in names]), "outputs": spec(graph.output)}


def write_card(folder, card):
    """card.json with the sha256 of every file it names, written through a temporary name."""
    folder = pathlib.Path(folder)
    card["sha256"] = {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in sorted(card["files"].values())}
    tmp = folder / "card.json.tmp"
    tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, folder / "card.json")


def dit_card_part(dit, config, num_classes, input_size):
    return {
        "type": "DiT", "inputSize": input_size, "patchSize": dit.patch_size, "inChannels": dit.in_channels,
        "hiddenSize": config["hidden_size"], "depth": config["depth"], "numHeads": config["num_heads"],
        "mlpRatio": 4.0, "learnSigma": True, "classDropoutProb": 0.1, "frequencyEmbeddingSize": 256,
        "numClasses": num_classes, "parameters": sum(p.numel() for p in dit.parameters()),
    }


def export_trained(name, out):
    out.mkdir(parents=True, exist_ok=True)
    ckpt = {stage: torch.load(RUNS / name / f"{stage}.pt", map_location="cpu") for stage in ("vae", "classifier", "dit")}
    meta = json.loads((REPO / ".cache" / "data" / name / "meta.json").read_text())
    C, H, W = meta["channels"], meta["height"], meta["width"]
    classes = meta["classes"]

    vae = VAE(C, ckpt["vae"]["config"]["widths"])
    vae.load_state_dict(ckpt["vae"]["state_dict"])
    classifier = Classifier(C, len(classes))
    classifier.load_state_dict(ckpt["classifier"]["state_dict"])
    cfg = ckpt["dit"]["config"]
    dit = DiT(input_size=ckpt["dit"]["input_size"], patch_size=cfg["patch_size"], hidden_size=cfg["hidden_size"],
              depth=cfg["depth"], num_heads=cfg["num_heads"], num_classes=len(classes))
    dit.load_state_dict(ckpt["dit"]["state_dict"], strict=True)
    for module in (vae, classifier, dit):
        round_to_float16(module)
        module.eval()
    for block in dit.blocks:
        block.attn.fused = False  # plain matmul-softmax attention in the graph

    h = ckpt["dit"]["input_size"]
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, C, H, W, generator=g) * 2 - 1
    latent = torch.randn(2, 4, h, h, generator=g)
    t, y = torch.tensor([999, 10]), torch.tensor([0, len(classes)])
    jobs = [
        ("dit.onnx", dit, (latent, t, y), ["x", "t", "y"], ["out"]),
        ("vae_encoder.onnx", vae.encoder, (image,), ["image"], ["mean", "logvar"]),
        ("vae_decoder.onnx", vae.decoder, (latent,), ["latent"], ["image"]),
        ("classifier.onnx", classifier, (image,), ["image"], ["logits", "features"]),
    ]
    checks = {}
    for filename, module, inputs, input_names, output_names in jobs:
        export_onnx(module, inputs, out / filename, input_names, output_names)
        store_float16(out / filename)
        pin_output_shapes(module, inputs, out / filename)
        checks[filename] = check_onnx(module, inputs, out / filename, output_names)

    card = {
        "name": name,
        "description": DESCRIPTIONS[name],
        "files": {"dit": "dit.onnx", "vaeEncoder": "vae_encoder.onnx", "vaeDecoder": "vae_decoder.onnx",
                  "classifier": "classifier.onnx"},
        "architecture": dit_card_part(dit, cfg, len(classes), h),
        "classes": [{"id": i, "name": c} for i, c in enumerate(classes)],
        "nullClassId": len(classes),
        "diffusion": {"schedule": "linear", "numTimesteps": 1000, "prediction": "epsilon",
                      "variance": "learned-range"},
        "image": {"channels": C, "height": H, "width": W, "range": [-1, 1], "layout": "NCHW"},
        "latent": {"channels": 4, "height": h, "width": h, "scaleFactor": ckpt["vae"]["scale_factor"]},
        "vae": {"widths": list(ckpt["vae"]["config"]["widths"]), "downsample": 4, "klWeight": ckpt["vae"]["config"]["kl_weight"],
                "heldoutPsnrDb": round(ckpt["vae"]["heldout_psnr"], 2),
                "encoderOutputs": "mean and logvar of the latent posterior; latent = mean (or a sample) × scaleFactor",
                "decoderInput": "latent ÷ scaleFactor"},
        "classifier": {"heldoutAccuracy": round(ckpt["classifier"]["heldout_accuracy"], 4),
                       "outputs": "logits and the penultimate features used for the Fréchet distance"},
        "onnx": {"opset": OPSET, "weights": "float16 initializers cast to float32 in the graph (pos_embed float32)",
                 "check": {"against": "PyTorch float32 on the CPU, random inputs", "maxRelativeError": checks},
                 **{f: io_spec(out / f) for f, *_ in jobs}},
        "data": {"sources": meta["sources"], "train": meta["heldout"].count(0), "heldout": meta["heldout"].count(1),
                 "split": meta.get("split", "")},
        "training": {
            stage: {"steps": ckpt[stage]["steps"], "seconds": round(ckpt[stage]["seconds"], 1),
                    "hardware": ckpt[stage]["hardware"], "gpus": ckpt[stage].get("world_size", 1),
                    "config": ckpt[stage]["config"]}
            for stage in ("vae", "classifier", "dit")
        },
        "torch": torch.__version__,
        "exported": datetime.date.today().isoformat(),
    }
    write_card(out, card)
    print(f"wrote {out}/card.json")


def export_reference(args):
    """A reference-layout checkpoint (a plain state_dict, or one under 'model'/'ema') → dit.onnx + card."""
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state = torch.load(args.reference_checkpoint, map_location="cpu")
    for key in ("ema", "model"):
        if key in state and isinstance(state[key], dict):
            state = state[key]
            break
    config = DIT_CONFIGS[args.config]
    dit = DiT(input_size=args.input_size, num_classes=args.num_classes, **config)
    dit.load_state_dict(state, strict=True)
    dit.eval()
    for block in dit.blocks:
        block.attn.fused = False
    g = torch.Generator().manual_seed(0)
    inputs = (torch.randn(2, 4, args.input_size, args.input_size, generator=g), torch.tensor([999, 10]),
              torch.tensor([0, args.num_classes]))
    export_onnx(dit, inputs, out / "dit.onnx", ["x", "t", "y"], ["out"])
    check = check_onnx(dit, inputs, out / "dit.onnx", ["out"])
    card = {
        "name": pathlib.Path(args.reference_checkpoint).stem,
        "description": f"{args.config} converted from a reference-layout checkpoint",
        "files": {"dit": "dit.onnx"},
        "architecture": dit_card_part(dit, {"hidden_size": config["hidden_size"], "depth": config["depth"],
                                            "num_heads": config["num_heads"]}, args.num_classes, args.input_size),
        "classes": [{"id": i, "name": str(i)} for i in range(args.num_classes)],
        "nullClassId": args.num_classes,
        "diffusion": {"schedule": "linear", "numTimesteps": 1000, "prediction": "epsilon",
                      "variance": "learned-range"},
        "latent": {"channels": 4, "height": args.input_size, "width": args.input_size, "scaleFactor": 0.18215},
        "onnx": {"opset": OPSET, "weights": "float32", "check": {"maxRelativeError": {"dit.onnx": check}},
                 "dit.onnx": io_spec(out / "dit.onnx")},
        "torch": torch.__version__,
    }
    write_card(out, card)
    print(f"wrote {out}/card.json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=["digits", "emoji"], help="export runs/NAME to models/NAME")
    parser.add_argument("--out", help="output folder (default models/NAME)")
    parser.add_argument("--reference-checkpoint", help="a facebookresearch/DiT-layout state_dict to convert")
    parser.add_argument("--config", choices=sorted(DIT_CONFIGS), help="its architecture, e.g. DiT-XL/2")
    parser.add_argument("--input-size", type=int, help="its latent size (32 for 256×256 images)")
    parser.add_argument("--num-classes", type=int, default=1000)
    args = parser.parse_args()
    if args.reference_checkpoint:
        if not (args.config and args.input_size and args.out):
            parser.error("--reference-checkpoint needs --config, --input-size and --out")
        export_reference(args)
    elif args.data:
        export_trained(args.data, pathlib.Path(args.out) if args.out else REPO / "models" / args.data)
    else:
        parser.error("give --data NAME or --reference-checkpoint PATH")


if __name__ == "__main__":
    main()
