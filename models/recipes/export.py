"""Export trained models to ONNX with their card: `python models/recipes/export.py --data NAME`.

Writes models/NAME/{dit,vae_encoder,vae_decoder,classifier}.onnx and card.json from runs/NAME/*.pt.
Weights are rounded to float16 first and stored as float16 initializers, each cast back to float32 inside the
graph (ONNX Runtime folds the casts when it loads the model), which halves the files. A DiT whose config says
`int8_weights` (the emoji one) has its Linear weights rounded further to int8 with a float32 scale a row
(round_to_int8) and stored so (store_int8), a quarter of float32. The rounded weights are the model, so the
PyTorch check below and evaluate.py measure exactly what ships.

Also converts a checkpoint in the reference layout (facebookresearch/DiT, e.g. DiT-XL-2-256x256.pt):
`python models/recipes/export.py --reference-checkpoint PATH --config DiT-XL/2 --input-size 32
 --num-classes 1000 --out DIR` writes DIR/dit.onnx and a card (its VAE is Stable Diffusion's, not shipped here).

Re-export a shipped DiT from its own weights (e.g. after changing how the graph is written):
`python models/recipes/export.py --from-onnx models/NAME` rewrites its DiT files and updates its card.

The ONNX contract: dit.onnx takes x [B, 4, h, w] float32, t [B] int64, y [B] int64 and returns out [B, 8, h, w]
(ε then the variance interpolation v); only the batch is dynamic. Opset 17, the legacy TorchScript exporter,
constant folding off so every initializer keeps its PyTorch parameter name (the glass box reads them by name).
The DiT comes in two graphs over one set of weights, stored once in dit.weights (ONNX external data):
- dit.onnx computes in float32. Attention and the tanh-GELU are written as ONNX Runtime's fused CPU kernels
  (com.microsoft MultiHeadAttention and FastGelu): one kernel each instead of eleven and eight small ops.
- dit_int8.onnx is the same graph with every token-wise Linear as a DynamicQuantizeMatMul: weights int8 per
  output channel (symmetric, 7-bit: scale = max |w| / 63, see INT8_WEIGHT_LEVELS), activations uint8 per
  tensor on the fly. Its int8 weights are the stored ones where the weights are stored as int8; otherwise a
  QuantizeLinear in the graph makes them from the shared float16 weights. ONNX Runtime folds either when it
  loads the model, so the int8 variant costs a few hundred kB, not a second copy.
"""
import argparse
import contextlib
import copy
import datetime
import hashlib
import json
import os
import pathlib
import tempfile
import types

import numpy as np
import torch
import torch.nn.functional as F

from common import REPO, RUNS, describe_cpu
from gflops import dit_inputs, forward_gflops
from models import DIT_CONFIGS, NULL_ID, UNK_ID, DiT, TextDiT, UNet, VAE, Classifier

OPSET = 17
DESCRIPTIONS = {
    "digits": "A class-conditional latent DiT of handwritten digits 0-9 (MNIST, 32×32 grayscale): the fast model, "
              "whose quality is easiest to measure.",
    "emoji": "A class-conditional latent DiT of emoji (Noto Color Emoji and Twemoji, 64×64 RGB) in the 9 Unicode "
             "categories: the flagship model.",
}
# data.ts emoji --fluent adds a third style; the card's description names the styles the model was trained on
FLUENT_DESCRIPTION = ("A class-conditional latent DiT of emoji (Noto Color Emoji, Twemoji and Fluent Emoji Flat, 64×64 "
                      "RGB) in the 9 Unicode categories: the flagship model.")


def describe(name, meta):
    if name == "emoji" and any(s["package"] == "@iconify-json/fluent-emoji-flat" for s in meta["sources"]):
        return FLUENT_DESCRIPTION
    return DESCRIPTIONS[name]


KEEP_FLOAT32 = {"pos_embed"}  # the fixed positional table stays exact; lib/positional.ts recomputes it
DIT_FILES = {"dit": "dit.onnx", "ditInt8": "dit_int8.onnx", "ditWeights": "dit.weights"}
NOT_CHECKED = ("not checked against PyTorch where exported (no onnxruntime for Python there): check_models.ts and "
               "the glass-box tests hold ONNX Runtime to the glass box")
# The int8 weights use the levels -63..63 (7 bits), not -127..127. On CPUs without VNNI (AVX2 only), ONNX Runtime's
# uint8 × int8 kernel (vpmaddubsw) adds the products of two neighbouring inputs in a 16-bit register that
# saturates at 32767: with uint8 activations up to 255, two weights of |q| ≤ 64 can never overflow it
# (255 · 64 · 2 = 32640), two of 127 can (64770). Measured on the shipped models: max |int8 − fp32| / max |fp32|
# went from 0.12 (8-bit, AVX2-only) to the same ~0.015 on AVX2-only and AVX-512 VNNI CPUs.
INT8_WEIGHT_LEVELS = 63


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


def export_onnx(module, inputs, path, input_names, output_names, custom_opsets=None):
    layer_norm_without_affine_workaround()
    module.eval()
    with every_initializer_kept():
        torch.onnx.export(
            module, inputs, str(path), input_names=input_names, output_names=output_names, opset_version=OPSET,
            dynamic_axes={name: {0: "B"} for name in input_names + output_names}, do_constant_folding=False,
            custom_opsets=custom_opsets,
            training=torch.onnx.TrainingMode.PRESERVE,  # (the module is in eval mode) no BatchNorm-into-Conv fusing,
            # which would make new weights that are not float16-exact
            **({"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}),
        )


@contextlib.contextmanager
def every_initializer_kept():
    """The exporter merges parameters of equal values into one initializer when the module is in eval mode (its
    deduplication pass), and the merged ones lose their names: an untrained text DiT's zero biases of q in every
    cross-attention (their gradient is 0 while the output projection is) would all be `blocks.0.cross_attn.q.bias`.
    The glass box and onnx_state_dict read weights by name, so the pass runs as for training meanwhile: it then
    merges only parameters that are the same tensor."""
    deduplicate = getattr(torch._C, "_jit_pass_onnx_deduplicate_initializers", None)
    if deduplicate is None:
        yield
        return
    torch._C._jit_pass_onnx_deduplicate_initializers = lambda graph, params, is_train: deduplicate(graph, params, True)
    try:
        yield
    finally:
        torch._C._jit_pass_onnx_deduplicate_initializers = deduplicate


def round_to_float16(module):
    """Round every weight to the nearest float16 (kept as float32 tensors), except KEEP_FLOAT32."""
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if tensor.dtype == torch.float32 and name not in KEEP_FLOAT32:
                tensor.copy_(tensor.half().float())


def int8_scales(row_max):
    """The scale of each output channel (row) for INT8_WEIGHT_LEVELS: max |w| / 63, and 1 for an all-zero row
    (numpy or torch, whichever `row_max` is)."""
    scale = row_max / INT8_WEIGHT_LEVELS
    scale[scale == 0] = 1
    return scale


def round_to_int8(model, kinds=(torch.nn.Linear,)):
    """Round the weight of every layer of `kinds` (a DiT's Linears; a U-Net's Linears and Conv2ds) to
    INT8_WEIGHT_LEVELS per output channel, in place: w = q · scale with integer |q| ≤ 63 and one float32 scale
    an output channel (max |w| / 63). Returns {name: (q, scale)}, what store_int8 writes; the rounded module is
    then exactly the model the int8 storage holds (float32 q · scale is one correctly rounded product in
    PyTorch, in ONNX Runtime and in the glass box alike)."""
    stored = {}
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, kinds):
                w = module.weight
                scale = int8_scales(w.abs().flatten(1).amax(dim=1))
                column = scale.reshape(-1, *[1] * (w.dim() - 1))
                q = torch.round(w / column).clamp(-INT8_WEIGHT_LEVELS, INT8_WEIGHT_LEVELS)
                w.copy_(q * column)
                stored[f"{name}.weight"] = (q.to(torch.int8).numpy(), scale.numpy())
    return stored


def store_int8(path, stored):
    """Rewrite the float32 initializers named in `stored` ({name: (q, scale)} from round_to_int8) as int8 `name`
    and float32 `name/scale` [out], dequantized inside the graph: name/float32 = Cast(name) · Unsqueeze(scale).
    Both are constants, so ONNX Runtime folds them when it loads the model; dit_int8.onnx reads the same two."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph, added, axes_nodes = model.graph, [], {}
    for init in graph.initializer:
        if init.name not in stored:
            continue
        q, scale = stored[init.name]
        values = numpy_helper.to_array(init)
        column = scale.reshape(-1, *[1] * (q.ndim - 1))
        assert np.array_equal(q.astype(np.float32) * column, values), f"{init.name} is not q · scale"
        # the scale [out] unsqueezed to [out, 1, …] against the weight; a Constant node, not an initializer
        # (initializers are the model's weights); named as before for a Linear's [out, in]
        axes = "int8_weights/scale_axes" + ("" if q.ndim == 2 else f"_{q.ndim}d")
        axes_nodes[axes] = helper.make_node("Constant", [], [axes], name=axes,
                                            value=numpy_helper.from_array(np.arange(1, q.ndim, dtype=np.int64)))
        init.CopyFrom(numpy_helper.from_array(q, init.name))
        added.append(numpy_helper.from_array(scale.astype(np.float32), f"{init.name}/scale"))
        name = init.name
        for node in graph.node:
            node.input[:] = [f"{name}/float32" if i == name else i for i in node.input]
        graph.node.insert(0, helper.make_node("Cast", [name], [f"{name}/cast"], to=onnx.TensorProto.FLOAT,
                                              name=f"{name}/cast"))
        graph.node.insert(1, helper.make_node("Unsqueeze", [f"{name}/scale", axes], [f"{name}/scale_column"],
                                              name=f"{name}/scale_column"))
        graph.node.insert(2, helper.make_node("Mul", [f"{name}/cast", f"{name}/scale_column"], [f"{name}/float32"],
                                              name=f"{name}/dequantize"))
    assert len(added) == len(stored), "a weight to store as int8 is not an initializer of the graph"
    for node in axes_nodes.values():
        graph.node.insert(0, node)
    graph.initializer.extend(added)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def store_float16(path):
    """Rewrite float32 initializers as float16 plus a Cast back to float32; lossless after round_to_float16."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph, casts = model.graph, []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or init.name in KEEP_FLOAT32 or "/" in init.name:
            continue  # (names with a "/" are this recipe's own, like an int8 weight's scale: kept as they are)
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


def check_onnx(module, inputs, path, output_names, max_error=1e-4):
    """ONNX Runtime vs PyTorch (float32 on the CPU): max |difference| / max |PyTorch| per output, at most
    `max_error` (the int8 DiT is held to its quantization error instead of float32 rounding). Where Python has no
    onnxruntime, NOT_CHECKED says so in the card."""
    try:
        import onnxruntime as ort
    except ImportError:
        print(f"  {path.name}: onnxruntime (python) not installed, check skipped here; the Deno tests check it")
        return NOT_CHECKED
    with torch.no_grad():
        expected = module.cpu().float()(*[i.cpu() for i in inputs])
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: v.cpu().numpy() for i, v in zip(session.get_inputs(), inputs)}
    errors = {}
    for name, got, want in zip(output_names, session.run(output_names, feeds), expected):
        want = want.numpy()
        errors[name] = float(np.abs(got - want).max() / np.abs(want).max())
        assert errors[name] <= max_error, f"{path.name} output {name}: relative error {errors[name]:.2e} > {max_error}"
    print(f"  {path.name}: ONNX Runtime = PyTorch, relative error {errors}")
    return errors

class FastGelu(torch.autograd.Function):
    """GELU (tanh approximation, DiT's) of x + bias, exported as ONNX Runtime's com.microsoft FastGelu kernel."""

    @staticmethod
    def forward(ctx, x, bias):
        return F.gelu(x + bias, approximate="tanh")

    @staticmethod
    def symbolic(g, x, bias):
        return g.op("com.microsoft::FastGelu", x, bias).setType(x.type())


class MultiHeadAttention(torch.autograd.Function):
    """softmax(q kᵀ / √d) v per head, q [B, T, heads·d], k and v [B, S, heads·d], exported as com.microsoft
    MultiHeadAttention (self-attention: S = T; cross-attention: k and v of the conditioning tokens or the words).
    `key_padding_mask` [B, S] int32 (1: attend, 0: padding) is the kernel's input of that name: ONNX Runtime adds
    -10000 to a padded key's score, whose exp is then 0 in float32, as masking by -∞ here."""

    @staticmethod
    def forward(ctx, q, k, v, num_heads, key_padding_mask=None, width=None):
        B, T, D = q.shape
        q, k, v = (a.reshape(B, a.shape[1], num_heads, D // num_heads).transpose(1, 2) for a in (q, k, v))
        attn = (q * (D // num_heads) ** -0.5) @ k.transpose(-2, -1)
        if key_padding_mask is not None:
            attn = attn.masked_fill(key_padding_mask[:, None, None, :] == 0, float("-inf"))
        return (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, T, D)

    @staticmethod
    def symbolic(g, q, k, v, num_heads, key_padding_mask=None, width=None):
        if key_padding_mask is None:
            return g.op("com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=num_heads).setType(q.type())
        # the kernel's inputs come in order, and `bias` [3·D] (added to q, k and v; D = `width`) comes before the
        # mask: zeros, written as a constant (an omitted optional input is written differently by each PyTorch)
        bias = g.op("Constant", value_t=torch.zeros(3 * width))
        return g.op("com.microsoft::MultiHeadAttention", q, k, v, bias, key_padding_mask,
                    num_heads_i=num_heads).setType(q.type())


def key_padding(mask):
    """A recipe mask [B, S] (True: attend) as the kernel's key_padding_mask, int32 1/0; None stays None."""
    return None if mask is None else mask.to(torch.int32)


def attention_with_onnxruntime_kernel(self, x, mask=None):
    q, k, v = self.qkv(x).chunk(3, dim=-1)  # [B, T, 3·D] holds q, k, v one after the other, heads inside each
    width = self.num_heads * self.head_dim
    return self.proj(MultiHeadAttention.apply(q, k, v, self.num_heads, key_padding(mask), width))


def cross_attention_with_onnxruntime_kernel(self, x, context, mask=None):
    k, v = self.kv(context).chunk(2, dim=-1)  # [B, S, 2·D] holds k, then v, heads inside each
    width = self.num_heads * self.head_dim
    return self.proj(MultiHeadAttention.apply(self.q(x), k, v, self.num_heads, key_padding(mask), width))


def mlp_with_onnxruntime_kernel(self, x):
    return self.fc2(FastGelu.apply(F.linear(x, self.fc1.weight), self.fc1.bias))  # fc1's bias added inside


def use_onnxruntime_kernels(dit):
    """Same arithmetic, written for export as the two fused CPU kernels (the module stays usable in PyTorch)."""
    text_layers = list(dit.text_encoder.layers) if isinstance(dit, TextDiT) else []
    for block in list(dit.blocks) + text_layers:
        block.attn.forward = types.MethodType(attention_with_onnxruntime_kernel, block.attn)
        block.mlp.forward = types.MethodType(mlp_with_onnxruntime_kernel, block.mlp)
        if hasattr(block, "cross_attn"):
            block.cross_attn.forward = types.MethodType(cross_attention_with_onnxruntime_kernel, block.cross_attn)


def store_weights_outside(path, location):
    """Move the initializers of `path` into `location` beside it (ONNX external data), for graphs to share."""
    import onnx

    model = onnx.load(str(path))
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=location,
              size_threshold=1024)


def weight_behind(name, made_by, initializers):
    """The initializer a MatMul's right operand comes from through Transpose and a Cast (float16 storage) or a
    dequantization (int8 storage): a Linear's weight. None if the operand is not a Linear weight."""
    transpose = made_by.get(name)
    if transpose is None or transpose.op_type != "Transpose":
        return None
    source = transpose.input[0]
    if source in made_by and made_by[source].op_type == "Mul" and source.endswith("/float32"):
        source = made_by[made_by[source].input[0]].input[0]  # Mul(Cast(q), scale) → q
    elif source in made_by and made_by[source].op_type == "Cast":
        source = made_by[source].input[0]
    return initializers.get(source)


def write_int8(path, int8_path):
    """dit.onnx → dit_int8.onnx: each MatMul by a Linear weight (+ its bias Add) becomes a DynamicQuantizeMatMul.
    Its int8 weight is the stored one where dit.onnx stores int8 (a Transpose of it), else a QuantizeLinear makes
    it from the shared float weight; ONNX Runtime folds either when it loads the model. Returns how many Linear
    layers were quantized. The small Gemms (timestep MLP, adaLN) stay float32."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    graph, folder = model.graph, str(pathlib.Path(path).parent)
    initializers = {i.name: i for i in graph.initializer}
    made_by = {out: node for node in graph.node for out in node.output}
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    replaced, nodes, added, quantized_layers = set(), [], [], 0
    for node in graph.node:
        if id(node) in replaced:
            continue
        weight = weight_behind(node.input[1], made_by, initializers) if node.op_type == "MatMul" else None
        if weight is None:
            nodes.append(node)
            continue
        quantized, output, bias = f"{weight.name}/int8", node.output[0], []
        after = readers.get(output, [])
        if len(after) == 1 and after[0].op_type == "Add":  # the Linear's bias: DynamicQuantizeMatMul adds it
            bias = [i for i in after[0].input if i != output]
            output = after[0].output[0]
            replaced.add(id(after[0]))
        scale, zero_point = f"{weight.name}/scale", f"{weight.name}/zero_point"
        if weight.data_type == onnx.TensorProto.INT8:  # stored as int8: [out, in] → [in, out]
            rows = weight.dims[0]
            nodes.append(helper.make_node("Transpose", [weight.name], [quantized], perm=[1, 0],
                                          name=f"{weight.name}/transpose"))
        else:
            w = numpy_helper.to_array(weight, base_dir=folder).astype(np.float32)  # [out, in]
            rows = w.shape[0]
            values = int8_scales(np.abs(w).max(axis=1))
            added.append(numpy_helper.from_array(values.astype(np.float32), scale))
            nodes.append(helper.make_node("QuantizeLinear", [node.input[1], scale, zero_point], [quantized], axis=1,
                                          name=f"{weight.name}/quantize"))
        added.append(numpy_helper.from_array(np.zeros(rows, np.int8), zero_point))
        nodes.append(helper.make_node("DynamicQuantizeMatMul", [node.input[0], quantized, scale, zero_point, *bias],
                                      [output], domain="com.microsoft", name=f"{node.name}/int8"))
        quantized_layers += 1
    del graph.node[:]
    graph.node.extend(without_unread(nodes, {o.name for o in graph.output}))
    graph.initializer.extend(added)
    onnx.save(model, str(int8_path))
    return quantized_layers


def without_unread(nodes, outputs):
    """The nodes whose results something reads (a graph output or a kept node), e.g. without the float weights'
    dequantization once DynamicQuantizeMatMul reads the stored int8 weights instead."""
    nodes = list(nodes)
    while True:
        read = outputs | {name for node in nodes for name in node.input}
        kept = [node for node in nodes if any(o in read for o in node.output)]
        if len(kept) == len(nodes):
            return kept
        nodes = kept


def example_inputs(dit):
    """Random inputs for the export and its check: x, t and y for two samples (a class and the null class), or for
    a text DiT three (a caption with an unknown word, a caption of every position, the null caption)."""
    h = int(dit.x_embedder.num_patches ** 0.5) * dit.patch_size
    g = torch.Generator().manual_seed(0)
    if not isinstance(dit, TextDiT):
        return (torch.randn(2, dit.in_channels, h, h, generator=g), torch.tensor([999, 10]),
                torch.tensor([0, dit.y_embedder.num_classes]))
    L, V = dit.text_encoder.max_length, dit.text_encoder.vocab_size
    y = torch.zeros(3, L, dtype=torch.long)
    y[0, :3] = torch.tensor([NULL_ID + 1, UNK_ID, V - 1])
    y[1] = torch.randint(NULL_ID + 1, V, (L,), generator=g)
    y[2, 0] = NULL_ID
    return torch.randn(3, dit.in_channels, h, h, generator=g), torch.tensor([999, 500, 10]), y


def export_dit(dit, out, float16, int8=None):
    """Write DIT_FILES into `out` (a new folder): both graphs, the shared weights; returns the card's onnx part.
    `int8` ({name: (q, scale)} from round_to_int8) stores those Linear weights as int8, the rest as float16."""
    dit.eval()
    use_onnxruntime_kernels(dit)
    inputs = example_inputs(dit)
    path = out / DIT_FILES["dit"]
    export_onnx(dit, inputs, path, ["x", "t", "y"], ["out"], custom_opsets={"com.microsoft": 1})
    if int8:
        store_int8(path, int8)
    if float16:
        store_float16(path)
    pin_output_shapes(dit, inputs, path)
    store_weights_outside(path, DIT_FILES["ditWeights"])
    quantized = write_int8(path, out / DIT_FILES["ditInt8"])
    checks = {DIT_FILES["dit"]: check_onnx(dit, inputs, path, ["out"]),
              DIT_FILES["ditInt8"]: check_onnx(dit, inputs, out / DIT_FILES["ditInt8"], ["out"], max_error=0.05)}
    return {
        "opset": OPSET,
        "weights": ("every Linear weight" + (" and the word embedding table" if isinstance(dit, TextDiT) else "") +
                    f" int8 per output channel (levels ±{INT8_WEIGHT_LEVELS}, a float32 scale a row), the rest "
                    if int8 else "") +
                   ("float16 (pos_embed float32), " if float16 else "float32, ") + f"stored once in "
                   f"{DIT_FILES['ditWeights']} for both DiT graphs; made float32 in the graph",
        "kernels": ("com.microsoft MultiHeadAttention (the blocks' self- and cross-attention to the words, the text "
                    "encoder's self-attention, padding masked by its key_padding_mask)" if isinstance(dit, TextDiT) else
                    "com.microsoft MultiHeadAttention (self-" + (" and cross-" if dit.block == "cross-attention" else "")
                    + "attention)") + " and FastGelu (ONNX Runtime's fused CPU kernels)",
        "int8": f"{DIT_FILES['ditInt8']}: {quantized} Linear layers as DynamicQuantizeMatMul (int8 weights per "
                f"output channel, symmetric, levels ±{INT8_WEIGHT_LEVELS} so that CPUs without VNNI cannot saturate, "
                + ("the stored ones" if int8 else "made by QuantizeLinear at load") +
                "; activations uint8 per tensor, dynamic); "
                "the timestep MLP and adaLN Gemms stay float32" +
                (", and the word embedding table is read as stored" if isinstance(dit, TextDiT) else ""),
        "check": {"against": "PyTorch float32 on the CPU, random inputs", "maxRelativeError": checks,
                  "cpu": {f: describe_cpu() for f in checks}},
        **{f: io_spec(out / f) for f in (DIT_FILES["dit"], DIT_FILES["ditInt8"])},
    }


def replace_files(staging, out, names):
    """Move freshly written files from `staging` over their old versions in `out`."""
    for name in names:
        os.replace(staging / name, out / name)


def onnx_state_dict(path):
    """The PyTorch parameters an exported ONNX file holds, by name (float16 ones widened to float32; the
    initializers this recipe adds, like a weight's float32 cast, have a "/" in their name and are skipped)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    state = {}
    for name, values in arrays.items():
        if "/" in name:
            continue
        values = values.astype(np.float32)
        if f"{name}/scale" in arrays:  # stored as int8: q · scale, a scale an output channel, as the graph computes
            values = values * arrays[f"{name}/scale"].reshape(-1, *[1] * (values.ndim - 1))
        state[name] = torch.from_numpy(values)
    return state


def stores_int8(path):
    """Whether an exported dit.onnx stores its Linear weights as int8 (round_to_int8, store_int8)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(i.name.endswith("/scale") and i.name[:-len("/scale")] in {j.name for j in graph.initializer}
               for i in graph.initializer)


def network_from_card(a):
    """The recipe's network (a DiT of its block design, a text DiT, or a U-Net) that a card's architecture
    describes, freshly initialized."""
    if "textEncoder" in a:
        e = a["textEncoder"]
        return TextDiT(input_size=a["inputSize"], patch_size=a["patchSize"], in_channels=a["inChannels"],
                       hidden_size=a["hiddenSize"], depth=a["depth"], num_heads=a["numHeads"], mlp_ratio=a["mlpRatio"],
                       vocab_size=e["vocabSize"], max_length=e["maxLength"], text_width=e["width"],
                       text_depth=e["depth"], text_heads=e["numHeads"], text_mlp_ratio=e["mlpRatio"],
                       caption_dropout_prob=a["captionDropoutProb"], pooled_text=a["pooledText"],
                       learn_sigma=a["learnSigma"])
    common = dict(input_size=a["inputSize"], in_channels=a["inChannels"], num_classes=a["numClasses"],
                  class_dropout_prob=a["classDropoutProb"], learn_sigma=a["learnSigma"])
    if a["type"] == "UNet":
        return UNet(model_channels=a["modelChannels"], channel_mult=tuple(a["channelMult"]),
                    num_res_blocks=a["numResBlocks"], emb_dim=a["embDim"], **common)
    return DiT(patch_size=a["patchSize"], hidden_size=a["hiddenSize"], depth=a["depth"], num_heads=a["numHeads"],
               mlp_ratio=a["mlpRatio"], block=a.get("block", "adaLN-Zero"), **common)


def load_shipped_dit(model_dir):
    """The recipe's network built from a model folder's card.json (a DiT of any block design, or a U-Net), with
    the weights of its denoising ONNX file (files.dit)."""
    card = json.loads((model_dir / "card.json").read_text())
    model = network_from_card(card["architecture"])
    model.load_state_dict(onnx_state_dict(model_dir / card["files"]["dit"]), strict=True)
    model.eval()
    return model, card


def load_shipped(model_dir):
    """The shipped DiT, VAE decoder and classifier of a model folder as PyTorch modules, and its card."""
    dit, card = load_shipped_dit(model_dir)
    channels, num_classes = card["image"]["channels"], card["architecture"]["numClasses"]
    decoder = VAE(channels, card["vae"]["widths"]).decoder
    decoder.load_state_dict(onnx_state_dict(decoder_path(model_dir, card)), strict=True)
    classifier = Classifier(channels, num_classes)
    classifier.load_state_dict(onnx_state_dict(model_dir / card["files"]["classifier"]), strict=True)
    return dit, decoder.eval(), classifier.eval(), card


def export_from_onnx(model_dir, int8_weights=False):
    """Re-export a shipped DiT from its own weights (already float16- or int8-exact), stored as they were, and update
    its card. With `int8_weights` its Linear weights are rounded to int8 and stored so: a new model, to be measured
    again (evaluate.py)."""
    dit, card = load_shipped_dit(model_dir)
    kinds = (torch.nn.Linear, torch.nn.Embedding) if isinstance(dit, TextDiT) else (torch.nn.Linear,)
    int8 = round_to_int8(dit, kinds) if int8_weights or stores_int8(model_dir / card["files"]["dit"]) else None
    old = {card["files"].get(k) for k in DIT_FILES} - {None}
    with tempfile.TemporaryDirectory(dir=model_dir) as staging:
        onnx_part = export_dit(dit, pathlib.Path(staging), float16=True, int8=int8)
        replace_files(pathlib.Path(staging), model_dir, DIT_FILES.values())
    for name in old - set(DIT_FILES.values()):
        card["onnx"].pop(name, None)
    for key in [k for k, v in card["onnx"].items() if k.startswith("dit")]:
        card["onnx"].pop(key)
    old_check, new_check = card["onnx"].get("check", {}), onnx_part.pop("check")
    card["files"].update(DIT_FILES)
    card["onnx"].update(onnx_part)
    card["onnx"]["check"] = {**new_check, **{key: {**old_check.get(key, {}), **new_check[key]}
                                             for key in ("maxRelativeError", "cpu")}}
    card["torch"] = torch.__version__
    card["exported"] = datetime.date.today().isoformat()
    write_card(model_dir, card)
    print(f"wrote {model_dir}/card.json")


def restore_runs(model_dir, name):
    """Write runs/NAME/vae.pt and classifier.pt back from a shipped model folder, for a checkout without runs/ (it is
    not tracked), so that train.py can train a DiT on the shipped VAE's latents and evaluate.py measure it with the
    shipped classifier: the weights as they ship (float16-exact), the card's configuration, steps and measurements.
    Their training logs are not in the card: the restored checkpoints have none."""
    card = json.loads((model_dir / "card.json").read_text())
    channels, files, trained = card["image"]["channels"], card["files"], card["training"]
    vae = VAE(channels, card["vae"]["widths"])
    load_exported(vae.encoder, model_dir / files["vaeEncoder"])
    load_exported(vae.decoder, model_dir / files["vaeDecoder"])
    classifier = load_exported(Classifier(channels, card["architecture"]["numClasses"]), model_dir / files["classifier"])
    restored = f"restored from {model_dir.name}/ by export.py --restore-runs"

    def common(stage):
        return dict(config=trained[stage]["config"], log=[], seconds=trained[stage]["seconds"],
                    steps=trained[stage]["steps"], hardware=trained[stage]["hardware"], restored=restored)

    (RUNS / name).mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=vae.state_dict(), scale_factor=card["latent"]["scaleFactor"],
                    heldout_psnr=card["vae"]["heldoutPsnrDb"], **common("vae")), RUNS / name / "vae.pt")
    torch.save(dict(state_dict=classifier.state_dict(), heldout_accuracy=card["classifier"]["heldoutAccuracy"],
                    **common("classifier")), RUNS / name / "classifier.pt")
    print(f"wrote {RUNS / name}/vae.pt and classifier.pt from {model_dir}")


def load_exported(module, path):
    """Load the weights an exported ONNX file holds (onnx_state_dict) into `module`, all of them (BatchNorm's step
    counter, not exported and unused in evaluation, excepted); returns the module in eval mode."""
    missing, unexpected = module.load_state_dict(onnx_state_dict(path), strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"{path}: missing {missing}, unexpected {unexpected}")
    return module.eval()


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


def architecture_of(model):
    """A card's `architecture` for a recipe network, read from the module: a DiT's in the reference's terms
    (camelCased) with its block design, or a U-Net's; with its parameter count and Gflops (gflops.py)."""
    if isinstance(model, TextDiT):
        D, e = model.pos_embed.shape[-1], model.text_encoder
        shape = {"type": "DiT", "inputSize": int(model.x_embedder.num_patches ** 0.5) * model.patch_size,
                 "patchSize": model.patch_size, "inChannels": model.in_channels, "hiddenSize": D,
                 "depth": len(model.blocks), "numHeads": model.num_heads,
                 "mlpRatio": model.blocks[0].mlp.fc1.out_features / D, "block": model.block,
                 "textEncoder": {"vocabSize": e.vocab_size, "maxLength": e.max_length, "width": e.width,
                                 "depth": len(e.layers), "numHeads": e.num_heads, "mlpRatio": e.mlp_ratio},
                 "pooledText": model.pooled_text, "captionDropoutProb": e.dropout_prob}
        inputs = dit_inputs(shape["inputSize"], model.in_channels, max_length=e.max_length)
        return {**shape, "learnSigma": model.out_channels == 2 * model.in_channels,
                "frequencyEmbeddingSize": model.t_embedder.frequency_embedding_size,
                "parameters": sum(p.numel() for p in model.parameters()),
                "gflops": float(f"{forward_gflops(model, *inputs):.6g}")}
    if isinstance(model, UNet):
        shape = {"type": "UNet", "inputSize": model.input_size, "inChannels": model.in_channels,
                 "modelChannels": model.model_channels, "channelMult": list(model.channel_mult),
                 "numResBlocks": model.num_res_blocks, "embDim": model.emb_dim}
    else:
        D = model.pos_embed.shape[-1]
        shape = {"type": "DiT", "inputSize": int(model.x_embedder.num_patches ** 0.5) * model.patch_size,
                 "patchSize": model.patch_size, "inChannels": model.in_channels, "hiddenSize": D,
                 "depth": len(model.blocks), "numHeads": model.num_heads,
                 "mlpRatio": model.blocks[0].mlp.fc1.out_features / D, "block": model.block}
    return {**shape, "learnSigma": model.out_channels == 2 * model.in_channels,
            "classDropoutProb": model.y_embedder.dropout_prob,
            "frequencyEmbeddingSize": model.t_embedder.frequency_embedding_size,
            "numClasses": model.y_embedder.num_classes, "parameters": sum(p.numel() for p in model.parameters()),
            "gflops": float(f"{forward_gflops(model, *dit_inputs(shape['inputSize'], model.in_channels)):.6g}")}


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
    int8 = round_to_int8(dit) if cfg.get("int8_weights") else None
    architecture = architecture_of(dit)  # (before export_dit writes its layers as the fused kernels, uncounted)
    h = ckpt["dit"]["input_size"]
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, C, H, W, generator=g) * 2 - 1
    latent = torch.randn(2, 4, h, h, generator=g)
    jobs = [
        ("vae_encoder.onnx", vae.encoder, (image,), ["image"], ["mean", "logvar"]),
        ("vae_decoder.onnx", vae.decoder, (latent,), ["latent"], ["image"]),
        ("classifier.onnx", classifier, (image,), ["image"], ["logits", "features"]),
    ]
    checks = {}
    with tempfile.TemporaryDirectory(dir=out) as staging:
        staging = pathlib.Path(staging)
        dit_onnx = export_dit(dit, staging, float16=True, int8=int8)
        for filename, module, inputs, input_names, output_names in jobs:
            export_onnx(module, inputs, staging / filename, input_names, output_names)
            store_float16(staging / filename)
            pin_output_shapes(module, inputs, staging / filename)
            checks[filename] = check_onnx(module, inputs, staging / filename, output_names)
        io = {f: io_spec(staging / f) for f, *_ in jobs}
        replace_files(staging, out, [*DIT_FILES.values(), *(f for f, *_ in jobs)])
    dit_onnx["check"]["maxRelativeError"].update(checks)
    dit_onnx["check"]["cpu"].update({f: describe_cpu() for f in checks})

    card = {
        "name": name,
        "description": describe(name, meta),
        "files": {**DIT_FILES, "vaeEncoder": "vae_encoder.onnx", "vaeDecoder": "vae_decoder.onnx",
                  "classifier": "classifier.onnx"},
        "architecture": architecture,
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
        "onnx": {**dit_onnx, **io},
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


TEXT_FILES = {**DIT_FILES, "vocabulary": "vocab.json"}  # and "vaeDecoder": "vae_decoder.onnx" where it ships its own
TEXT_DESCRIPTION = ("A text-conditioned latent DiT of emoji (Noto Color Emoji, Twemoji and Fluent Emoji Flat, 64×64 RGB): "
                    "a prompt of up to {max_length} words in, an emoji out; cross-attention to the words of a small text "
                    "encoder trained with it on the emoji's names and keywords.")


def export_text_model(dit, vocabulary, decoder, out, name, description, latent, image, int8=True, extra=None):
    """A text DiT (models.TextDiT), the vocabulary it reads (vocab.json's {tokens, maxLength}) and the VAE decoder of
    its latents → `out`: TEXT_FILES and card.json. Weights are rounded as they ship first (float16; with `int8` the
    Linear weights and the word embedding table int8 a row), so the rounded modules are the model. `latent` and
    `image` are the card's sections; `extra` adds card fields (data, training, vae). With `decoder` None the model
    ships no decoder: its card's vae.from names the shipped model whose decoder draws its latents."""
    L, V = dit.text_encoder.max_length, dit.text_encoder.vocab_size
    if len(vocabulary["tokens"]) != V or vocabulary["maxLength"] != L:
        raise SystemExit(f"the vocabulary has {len(vocabulary['tokens'])} tokens and maxLength "
                         f"{vocabulary['maxLength']}; the text DiT was made for {V} and {L}")
    out.mkdir(parents=True, exist_ok=True)
    for module in (dit, decoder) if decoder is not None else (dit,):
        round_to_float16(module)
        module.eval()
    files = {**TEXT_FILES, **({"vaeDecoder": "vae_decoder.onnx"} if decoder is not None else {})}
    stored = round_to_int8(dit, (torch.nn.Linear, torch.nn.Embedding)) if int8 else None
    architecture = architecture_of(dit)  # (before export_dit writes the layers as the fused kernels, uncounted)
    code = torch.randn(2, latent["channels"], latent["height"], latent["width"], generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory(dir=out) as staging:
        staging = pathlib.Path(staging)
        onnx_part = export_dit(dit, staging, float16=True, int8=stored)
        if decoder is not None:
            path = staging / files["vaeDecoder"]
            export_onnx(decoder, (code,), path, ["latent"], ["image"])
            store_float16(path)
            pin_output_shapes(decoder, (code,), path)
            onnx_part["check"]["maxRelativeError"][path.name] = check_onnx(decoder, (code,), path, ["image"])
            onnx_part["check"]["cpu"][path.name] = describe_cpu()
            onnx_part[path.name] = io_spec(path)
        (staging / files["vocabulary"]).write_text(json.dumps(vocabulary, ensure_ascii=False) + "\n")
        replace_files(staging, out, files.values())
    card = {
        "name": name,
        "description": description,
        "files": files,
        "architecture": architecture,
        "text": {"tokenizer": "word-level (lib/tokenizer.ts; its twin models/recipes/tokenizer.py), the vocabulary in "
                              f"{TEXT_FILES['vocabulary']}: [pad] [unk] [null], then {V - 3} words",
                 "maxLength": L, "nullCaption": "[null], then [pad]: what classifier-free guidance's unconditional half reads",
                 "input": "y [B, maxLength] int64 word ids, [pad] (0) after the words; the graph masks [pad] out"},
        "diffusion": {"schedule": "linear", "numTimesteps": 1000, "prediction": "epsilon", "variance": "learned-range"},
        "image": image,
        "latent": latent,
        "onnx": onnx_part,
        **(extra or {}),
        "torch": torch.__version__,
        "exported": datetime.date.today().isoformat(),
    }
    write_card(out, card)
    print(f"wrote {out}/card.json")


def decoder_path(model_dir, card):
    """A model folder's VAE decoder: its own (files.vaeDecoder), or the one of the shipped model its card names in
    vae.from (as the toolkit's loadDiT finds it)."""
    if "vaeDecoder" in card["files"]:
        return model_dir / card["files"]["vaeDecoder"]
    source = REPO / "models" / card["vae"]["from"].removeprefix("models/")
    return source / json.loads((source / "card.json").read_text())["files"]["vaeDecoder"]


def shipped_decoder_sha256(name, decoder):
    """The sha256 of models/NAME's VAE decoder, after checking that it holds `decoder`'s weights (float16-rounded,
    as they ship): a text model draws with it instead of a copy of its own."""
    card = json.loads((REPO / "models" / name / "card.json").read_text())
    shipped = onnx_state_dict(REPO / "models" / name / card["files"]["vaeDecoder"])
    rounded = copy.deepcopy(decoder)
    round_to_float16(rounded)
    rounded = {k: v.float() for k, v in rounded.state_dict().items()}
    if shipped.keys() != rounded.keys() or any(not torch.equal(shipped[k], rounded[k]) for k in shipped):
        raise SystemExit(f"models/{name}/{card['files']['vaeDecoder']} is not runs/{name}/vae.pt's decoder: "
                         f"export the {name} model from these runs first")
    return card["sha256"][card["files"]["vaeDecoder"]]


def export_text_trained(name, out, run=None):
    """runs/RUN/text-dit.pt (RUN: NAME unless given) and the VAE of runs/NAME/vae.pt → `out`, by export_text_model;
    the card's name is NAME-text, or RUN."""
    ckpt = {"vae": torch.load(RUNS / name / "vae.pt", map_location="cpu"),
            "text-dit": torch.load(RUNS / (run or name) / "text-dit.pt", map_location="cpu")}
    data = REPO / ".cache" / "data" / name
    meta = json.loads((data / "meta.json").read_text())
    captions = json.loads((data / "captions.json").read_text())
    text = ckpt["text-dit"]
    if json.loads((data / "vocab.json").read_text()) != text["vocabulary"]:
        raise SystemExit(f"{data}/vocab.json is not the vocabulary runs/{name}/text-dit.pt was trained with")
    dit = TextDiT(**text["model"])
    dit.load_state_dict(text["state_dict"], strict=True)
    vae = VAE(meta["channels"], ckpt["vae"]["config"]["widths"])
    vae.load_state_dict(ckpt["vae"]["state_dict"])
    h = text["input_size"]
    heldout_emoji = [e for e in captions["emoji"] if e["heldout"]]
    extra = {
        "vae": {"widths": list(ckpt["vae"]["config"]["widths"]), "downsample": 4,
                "heldoutPsnrDb": round(ckpt["vae"]["heldout_psnr"], 2), "decoderInput": "latent ÷ scaleFactor",
                "from": name, "decoderSha256": shipped_decoder_sha256(name, vae.decoder),
                "note": f"the {name} model's VAE (runs/{name}/vae.pt): the latents are the {name} DiT's, and "
                        f"models/{name}'s vae_decoder.onnx draws them (stored once)"},
        "data": {"sources": meta["sources"] + captions["sources"], "train": meta["heldout"].count(0),
                 "heldout": meta["heldout"].count(1), "split": meta.get("split", ""), "captionRule": captions["rule"],
                 "captions": {"emoji": len(captions["emoji"]), "heldoutEmoji": len(heldout_emoji),
                              "training": len(captions["training"]), "textHeldout": len(captions["textHeldout"]),
                              "newCombinations": len(captions["newCombinations"]),
                              "unseenWords": len(captions["unseenWords"]), "removed": captions["removed"]}},
        "training": {stage: {"steps": c["steps"], "seconds": round(c["seconds"], 1), "hardware": c["hardware"],
                             "gpus": c.get("world_size", 1), "config": c["config"]} for stage, c in ckpt.items()},
    }
    export_text_model(dit, text["vocabulary"], None, out, run or f"{name}-text",
                      TEXT_DESCRIPTION.format(max_length=text["vocabulary"]["maxLength"]),
                      {"channels": 4, "height": h, "width": h, "scaleFactor": ckpt["vae"]["scale_factor"]},
                      {"channels": meta["channels"], "height": meta["height"], "width": meta["width"], "range": [-1, 1],
                       "layout": "NCHW"},
                      int8=text["config"].get("int8_weights", False), extra=extra)


UNET_FILE = "unet.onnx"


def export_unet(unet, out, float16, int8=None):
    """Write UNET_FILE into `out`, its weights inside it: float16 where `float16`, and the layers of `int8`
    ({name: (q, scale)} from round_to_int8) as int8; returns the card's onnx part. A U-Net has one graph (the
    int8 DiT graph's DynamicQuantizeMatMul is for token-wise Linears; a U-Net is convolutions)."""
    unet.eval()
    g = torch.Generator().manual_seed(0)
    num_classes = unet.y_embedder.num_classes
    inputs = (torch.randn(2, unet.in_channels, unet.input_size, unet.input_size, generator=g),
              torch.tensor([999, 10]), torch.tensor([0, num_classes]))
    path = out / UNET_FILE
    export_onnx(unet, inputs, path, ["x", "t", "y"], ["out"])
    if int8:
        store_int8(path, int8)
    if float16:
        store_float16(path)
    pin_output_shapes(unet, inputs, path)
    return {
        "opset": OPSET,
        "weights": ("every Conv2d and Linear weight int8 per output channel (levels ±"
                    f"{INT8_WEIGHT_LEVELS}, a float32 scale each), the rest " if int8 else "") +
                   ("float16, " if float16 else "float32, ") + f"inside {UNET_FILE}; made float32 in the graph",
        "check": {"against": "PyTorch float32 on the CPU, random inputs",
                  "maxRelativeError": {UNET_FILE: check_onnx(unet, inputs, path, ["out"])},
                  "cpu": {UNET_FILE: describe_cpu()}},
        UNET_FILE: io_spec(path),
    }


def export_network(model, out, name, description, float16=False, int8=None, latent=None, extra=None):
    """A denoising network without its VAE (a converted or random DiT, or a network of the block-design ablation:
    a DiT of any design, or a U-Net) → its ONNX files and a card in `out`. `latent` is the card's latent section
    (default: Stable Diffusion's VAE, scale factor 0.18215); `extra` adds card fields (quality, training, vae)."""
    out.mkdir(parents=True, exist_ok=True)
    unet = isinstance(model, UNet)
    files = {"dit": UNET_FILE} if unet else dict(DIT_FILES)
    a = architecture_of(model)  # (before export_dit writes the DiT's layers as the fused kernels, uncounted)
    with tempfile.TemporaryDirectory(dir=out) as staging:
        staging = pathlib.Path(staging)
        onnx_part = (export_unet(model, staging, float16, int8) if unet
                     else export_dit(model, staging, float16=float16, int8=int8))
        replace_files(staging, out, files.values())
    card = {
        "name": name,
        "description": description,
        "files": files,
        "architecture": a,
        "classes": [{"id": i, "name": str(i)} for i in range(a["numClasses"])],
        "nullClassId": a["numClasses"],
        "diffusion": {"schedule": "linear", "numTimesteps": 1000, "prediction": "epsilon",
                      "variance": "learned-range"},
        "latent": latent or {"channels": a["inChannels"], "height": a["inputSize"], "width": a["inputSize"],
                             "scaleFactor": 0.18215},
        "onnx": onnx_part,
        **(extra or {}),
        "torch": torch.__version__,
    }
    write_card(out, card)
    print(f"wrote {out}/card.json")


def export_reference(args):
    """A reference-layout checkpoint (a plain state_dict, or one under 'model'/'ema') → dit.onnx + card."""
    state = torch.load(args.reference_checkpoint, map_location="cpu")
    for key in ("ema", "model"):
        if key in state and isinstance(state[key], dict):
            state = state[key]
            break
    dit = DiT(input_size=args.input_size, num_classes=args.num_classes, **DIT_CONFIGS[args.config])
    dit.load_state_dict(state, strict=True)
    export_network(dit, pathlib.Path(args.out), pathlib.Path(args.reference_checkpoint).stem,
                   f"{args.config} converted from a reference-layout checkpoint")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=["digits", "emoji"], help="export runs/NAME to models/NAME")
    parser.add_argument("--text", action="store_true",
                        help="with --data: export the text DiT (runs/NAME/text-dit.pt) to models/NAME-text instead")
    parser.add_argument("--run", help="with --text: the checkpoint of runs/RUN (train.py --run), named RUN")
    parser.add_argument("--out", help="output folder (default models/NAME, models/NAME-text with --text)")
    parser.add_argument("--reference-checkpoint", help="a facebookresearch/DiT-layout state_dict to convert")
    parser.add_argument("--config", choices=sorted(DIT_CONFIGS), help="its architecture, e.g. DiT-XL/2")
    parser.add_argument("--input-size", type=int, help="its latent size (32 for 256×256 images)")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--from-onnx", metavar="MODEL_DIR", help="re-export a shipped DiT from its own weights")
    parser.add_argument("--int8-weights", action="store_true",
                        help="with --from-onnx: store the Linear weights as int8 (then measure it again: evaluate.py)")
    parser.add_argument("--restore-runs", action="store_true",
                        help="with --data: write runs/NAME/vae.pt and classifier.pt from models/NAME (a fresh checkout)")
    args = parser.parse_args()
    if args.restore_runs:
        if not args.data:
            parser.error("--restore-runs needs --data NAME")
        restore_runs(REPO / "models" / args.data, args.data)
    elif args.from_onnx:
        export_from_onnx(pathlib.Path(args.from_onnx), args.int8_weights)
    elif args.reference_checkpoint:
        if not (args.config and args.input_size and args.out):
            parser.error("--reference-checkpoint needs --config, --input-size and --out")
        export_reference(args)
    elif args.data and args.text:
        export_text_trained(args.data, pathlib.Path(args.out) if args.out else REPO / "models" / f"{args.data}-text",
                            args.run)
    elif args.data:
        export_trained(args.data, pathlib.Path(args.out) if args.out else REPO / "models" / args.data)
    else:
        parser.error("give --data NAME, --from-onnx MODEL_DIR or --reference-checkpoint PATH")


if __name__ == "__main__":
    main()
