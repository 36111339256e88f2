"""Gflops of one forward pass of one sample, counted as the DiT paper counts them: a multiply-add is one flop
(fvcore's convention: by it DiT-XL/2 is 118.64 Gflops at 256×256 and 524.60 at 512×512, the paper's numbers;
notebook 10 counts a multiply-add as 2). Counted are the matrix multiplies and convolutions, where nearly all
the arithmetic is: every Linear and Conv2d, and attention's q·kᵀ and A·v; normalizations, activations,
softmax, additions and the embedding lookups are not.

`python3 models/recipes/gflops.py` prints the paper's DiT-XL/2 at both sizes, a check of the counter
(tests/gflops_test.ts): 118.62 and 524.54, within 0.02% of the paper's (whose counter takes in some small
operation this one leaves out). models/recipes/ablation.py records each arm's count, and export.py each card's.
"""
import copy

import torch
import torch.nn as nn

from models import Attention, CrossAttention


def forward_gflops(model, *inputs):
    """Multiply-adds × 1e-9 of `model(*inputs)` per sample (inputs with a batch of any size).

    Runs the forward pass of a copy on the meta device, which computes shapes and no numbers, so even DiT-XL/2
    at 512×512 counts in a moment. Counts the layers a forward pass calls as modules: count before
    export.use_onnxruntime_kernels, which computes fc1 with F.linear inside ONNX Runtime's fused GELU."""
    counted = []

    def linear(module, args, out):
        counted.append(out.numel() * module.in_features)

    def conv(module, args, out):
        kh, kw = module.kernel_size
        counted.append(out.numel() * module.in_channels // module.groups * kh * kw)

    def attention(module, args, out):  # q·kᵀ and A·v: 2·T·S·D a sample (S = T for self-attention)
        x = args[0]
        context = args[1] if isinstance(module, CrossAttention) else x  # (a mask may follow either)
        counted.append(2 * x.shape[0] * x.shape[1] * context.shape[1] * x.shape[2])

    kinds = {nn.Linear: linear, nn.Conv2d: conv, Attention: attention, CrossAttention: attention}
    meta = copy.deepcopy(model).to("meta")
    for m in meta.modules():
        for kind, hook in kinds.items():
            if isinstance(m, kind):
                m.register_forward_hook(hook)
    with torch.no_grad():
        meta(*[i.to("meta") for i in inputs])
    return sum(counted) / inputs[0].shape[0] / 1e9


def dit_inputs(input_size, in_channels=4, batch=1, max_length=None):
    """Inputs of the size a DiT or U-Net of that latent takes (their values do not matter to the count); with
    `max_length`, a text DiT's: y is then a row of that many word ids a sample (every word counted)."""
    y = torch.zeros(batch, dtype=torch.long) if max_length is None else torch.ones(batch, max_length, dtype=torch.long)
    return torch.zeros(batch, in_channels, input_size, input_size), torch.zeros(batch, dtype=torch.long), y


def main():
    from models import DIT_CONFIGS, DiT

    for image, latent in ((256, 32), (512, 64)):
        dit = DiT(input_size=latent, num_classes=1000, **DIT_CONFIGS["DiT-XL/2"]).to("meta")  # (frees its weights)
        print(f"DiT-XL/2 at {image}×{image}: {forward_gflops(dit, *dit_inputs(latent)):.2f} Gflops")


if __name__ == "__main__":
    main()
