"""Reference numbers for the toolkit's tests, computed the way facebookresearch/DiT computes them.

Our own restatement of the reference's arithmetic (models.py, diffusion/*.py) in PyTorch and numpy:
the same operations, dtypes and order, so float32 rounding happens where it happens there. Inputs are
drawn from a fixed numpy seed. Prints JSON; `deno task fixtures` stores it in tests/fixtures/reference.json
and tests/reference_test.ts checks the stored file against a fresh run when PyTorch is installed.

The fast samplers (DPM-Solver++, Euler/Heun on Karras sigmas, guidance interval) have no reference
implementation in DiT: their restatement from the papers lives in models/recipes/samplers.py, written once
for these fixtures and for the recipe, and is imported from there.

Run with a python3 that has torch (Debian: apt-get install -y python3-torch libopenblas0-pthread).
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "recipes"))
import samplers  # noqa: E402 (found through the path above)

torch.set_num_threads(1)
rng = np.random.RandomState(1234)


def randn(*shape):
    return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))


def uniform(low, high, *shape):
    return torch.from_numpy(rng.uniform(low, high, shape).astype(np.float32))


def packed(t):
    """A float32 tensor as {shape, data}, each value in the shortest decimal that reads back as the same float32."""
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(repr(v)) for v in a.reshape(-1)]}


# ---- patchify (models.py: unpatchify's einsum, and its inverse) ----------------------------------------
def unpatchify(tokens, p, c):
    n, t, _ = tokens.shape
    side = int(round(t ** 0.5))
    x = tokens.reshape(n, side, side, p, p, c)
    x = torch.einsum("nhwpqc->nchpwq", x)
    return x.reshape(n, c, side * p, side * p)


def patchify(images, p):
    n, c, h, w = images.shape
    x = images.reshape(n, c, h // p, p, w // p, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(n, (h // p) * (w // p), p * p * c)


# ---- positional embedding (numpy, float64, as MAE/DiT) ---------------------------------------------------
def sincos_1d(dim, positions):
    omega = np.arange(dim // 2, dtype=np.float64)
    omega /= dim / 2.0
    omega = 1.0 / 10000 ** omega
    angles = np.einsum("m,d->md", positions.reshape(-1), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_2d(dim, grid_size):
    coords = np.arange(grid_size, dtype=np.float32)
    grid = np.stack(np.meshgrid(coords, coords), axis=0)  # grid[0]: column index, grid[1]: row index
    grid = grid.reshape([2, 1, grid_size, grid_size])
    first = sincos_1d(dim // 2, grid[0])
    second = sincos_1d(dim // 2, grid[1])
    return torch.from_numpy(np.concatenate([first, second], axis=1)).float()  # the model's float32 buffer


# ---- timestep embedding (float32 torch, as TimestepEmbedder.timestep_embedding) ---------------------------
def timestep_embedding(t, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


# ---- attention and the four block designs (models.py's DiTBlock, and the paper's Section 3.2 for the three
# designs the reference does not implement), restated with torch.nn.functional ops -----------------------------
F = torch.nn.functional
BLOCK_DESIGNS = ("adaLN-Zero", "adaLN", "cross-attention", "in-context")


def heads_attention(q, k, v, heads, mask=None):
    """softmax(q kᵀ/√hd) v per head: q [B, T, D], k and v [B, S, D] → ([B, T, D], probabilities [B, heads, T, S]);
    keys where mask [B, S] is False get probability 0 (score −∞)."""
    (B, T, D), S = q.shape, k.shape[1]
    hd = D // heads
    q, k, v = (a.reshape(B, -1, heads, hd).permute(0, 2, 1, 3) for a in (q, k, v))
    scores = (q * hd ** -0.5) @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    attn = scores.softmax(dim=-1)
    return (attn @ v).permute(0, 2, 1, 3).reshape(B, T, D), attn


def self_attention(x, w, heads, mask=None):
    """timm's Attention: qkv laid out [3, heads, hd]."""
    q, k, v = F.linear(x, w["qkv.weight"], w["qkv.bias"]).chunk(3, dim=-1)
    out, attn = heads_attention(q, k, v, heads, mask)
    return F.linear(out, w["proj.weight"], w["proj.bias"]), attn


def cross_attention(x, context, w, heads, mask=None):
    """Queries from x, keys and values from the context: q, then kv laid out [2, heads, hd], then proj."""
    q = F.linear(x, w["q.weight"], w["q.bias"])
    k, v = F.linear(context, w["kv.weight"], w["kv.bias"]).chunk(2, dim=-1)
    out, attn = heads_attention(q, k, v, heads, mask)
    return F.linear(out, w["proj.weight"], w["proj.bias"]), attn


def sub(weights, prefix):
    return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}


def design_block(design, w, x, cond, heads):
    """One block of `design`; cond is c [B, D] (adaLN designs) or the [t, y] tokens [B, 2, D] (cross-attention)."""
    D = x.shape[-1]
    norm = lambda h: F.layer_norm(h, (D,), eps=1e-6)
    mod = lambda h, shift, scale: h * (1 + scale[:, None]) + shift[:, None]
    mlp = lambda h: F.linear(F.gelu(F.linear(h, w["mlp.fc1.weight"], w["mlp.fc1.bias"]), approximate="tanh"),
                             w["mlp.fc2.weight"], w["mlp.fc2.bias"])
    attn = lambda h: self_attention(h, sub(w, "attn."), heads)[0]
    if design in ("adaLN-Zero", "adaLN"):
        m = F.linear(F.silu(cond), w["adaLN_modulation.1.weight"], w["adaLN_modulation.1.bias"])
        if design == "adaLN-Zero":
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = m.chunk(6, dim=1)
            x = x + gate_msa[:, None] * attn(mod(norm(x), shift_msa, scale_msa))
            return x + gate_mlp[:, None] * mlp(mod(norm(x), shift_mlp, scale_mlp))
        shift_msa, scale_msa, shift_mlp, scale_mlp = m.chunk(4, dim=1)
        x = x + attn(mod(norm(x), shift_msa, scale_msa))
        return x + mlp(mod(norm(x), shift_mlp, scale_mlp))
    x = x + attn(norm(x))
    if design == "cross-attention":
        x = x + cross_attention(norm(x), cond, sub(w, "cross_attn."), heads)[0]
    return x + mlp(norm(x))


def design_forward(design, w, x, t, y, a):
    """The whole DiT of `design` with weights w by PyTorch name; returns each block's output and [ε | v]."""
    p, D = a["patchSize"], a["hiddenSize"]
    tokens = F.conv2d(x, w["x_embedder.proj.weight"], w["x_embedder.proj.bias"], stride=p).flatten(2).transpose(1, 2)
    tokens = tokens + w["pos_embed"]
    t_freq = timestep_embedding(t, a["frequencyEmbeddingSize"])
    t_emb = F.linear(F.silu(F.linear(t_freq, w["t_embedder.mlp.0.weight"], w["t_embedder.mlp.0.bias"])),
                     w["t_embedder.mlp.2.weight"], w["t_embedder.mlp.2.bias"])
    y_emb = w["y_embedder.embedding_table.weight"][y]
    c = t_emb + y_emb
    if design == "in-context":
        tokens = torch.cat([tokens, t_emb[:, None], y_emb[:, None]], dim=1)
    cond = torch.stack([t_emb, y_emb], dim=1) if design == "cross-attention" else c
    outputs = []
    for i in range(a["depth"]):
        tokens = design_block(design, sub(w, f"blocks.{i}."), tokens, cond, a["numHeads"])
        outputs.append(tokens)
    if design == "in-context":
        tokens = tokens[:, :-2]
    h = F.layer_norm(tokens, (D,), eps=1e-6)
    if design in ("adaLN-Zero", "adaLN"):
        shift, scale = F.linear(F.silu(c), w["final_layer.adaLN_modulation.1.weight"],
                                w["final_layer.adaLN_modulation.1.bias"]).chunk(2, dim=1)
        h = h * (1 + scale[:, None]) + shift[:, None]
    out = F.linear(h, w["final_layer.linear.weight"], w["final_layer.linear.bias"])
    return outputs, unpatchify(out, p, 2 * a["inChannels"])


def design_weights(design, a):
    """Random weights, every one nonzero, for a small DiT of `design`, by PyTorch name."""
    D, p, C, F_ = a["hiddenSize"], a["patchSize"], a["inChannels"], a["frequencyEmbeddingSize"]
    M, grid = int(D * a["mlpRatio"]), a["inputSize"] // a["patchSize"]
    shapes = {"x_embedder.proj.weight": (D, C, p, p), "x_embedder.proj.bias": (D,),
              "t_embedder.mlp.0.weight": (D, F_), "t_embedder.mlp.0.bias": (D,),
              "t_embedder.mlp.2.weight": (D, D), "t_embedder.mlp.2.bias": (D,),
              "y_embedder.embedding_table.weight": (a["numClasses"] + 1, D),
              "final_layer.linear.weight": (p * p * 2 * C, D), "final_layer.linear.bias": (p * p * 2 * C,)}
    layers = {"attn.qkv": 3 * D, "attn.proj": D, "mlp.fc1": M}
    if design in ("adaLN-Zero", "adaLN"):
        layers["adaLN_modulation.1"] = (6 if design == "adaLN-Zero" else 4) * D
        shapes["final_layer.adaLN_modulation.1.weight"] = (2 * D, D)
        shapes["final_layer.adaLN_modulation.1.bias"] = (2 * D,)
    if design == "cross-attention":
        layers.update({"cross_attn.q": D, "cross_attn.kv": 2 * D, "cross_attn.proj": D})
    for i in range(a["depth"]):
        for name, rows in layers.items():
            shapes[f"blocks.{i}.{name}.weight"] = (rows, D)
            shapes[f"blocks.{i}.{name}.bias"] = (rows,)
        shapes[f"blocks.{i}.mlp.fc2.weight"] = (D, M)
        shapes[f"blocks.{i}.mlp.fc2.bias"] = (D,)
    w = {name: randn(*shape) * (shape[-1] ** -0.5) for name, shape in sorted(shapes.items())}
    w["pos_embed"] = sincos_2d(D, grid)[None]
    return w


def block_design_fixtures():
    x, context = randn(2, 5, 8), randn(2, 2, 8)
    w = {"q.weight": randn(8, 8), "q.bias": randn(8), "kv.weight": randn(16, 8), "kv.bias": randn(16),
         "proj.weight": randn(8, 8), "proj.bias": randn(8)}
    output, attn = cross_attention(x, context, w, 2)
    cross = {"x": packed(x), "context": packed(context), "numHeads": 2, **{k: packed(v) for k, v in w.items()},
             "output": packed(output), "probabilities": packed(attn)}
    a = {"inputSize": 4, "patchSize": 2, "inChannels": 4, "hiddenSize": 8, "depth": 2, "numHeads": 2,
         "mlpRatio": 4.0, "learnSigma": True, "frequencyEmbeddingSize": 16, "numClasses": 3}
    x, t, y = randn(2, 4, 4, 4), torch.tensor([10.0, 900.0]), torch.tensor([1, 3])  # 3: the null class
    designs = []
    for design in BLOCK_DESIGNS:
        w = design_weights(design, a)
        outputs, out = design_forward(design, w, x, t, y, a)
        designs.append({"design": design, "architecture": {**a, "block": design}, "x": packed(x), "t": t.tolist(),
                        "y": y.tolist(), "weights": {k: packed(v) for k, v in w.items()},
                        "blockOutputs": [packed(o) for o in outputs], "out": packed(out)})
    return cross, designs


# ---- the text-conditioned DiT (PixArt-α's block: adaLN-Zero on t + the mean of the words, cross-attention to the
# words of a small text encoder, [pad] = id 0 masked out), restated from the paper's description ---------------------
def text_dit_forward(w, x, t, ids, a):
    """Each encoder layer's output, the words, each block's output and [ε | v] of a text DiT with weights w."""
    e, D, heads = a["textEncoder"], a["hiddenSize"], a["numHeads"]
    norm = lambda h: F.layer_norm(h, (h.shape[-1],), eps=1e-6)
    mlp = lambda h, p: F.linear(F.gelu(F.linear(h, w[p + "fc1.weight"], w[p + "fc1.bias"]), approximate="tanh"),
                                w[p + "fc2.weight"], w[p + "fc2.bias"])
    mask = ids != 0
    h = w["text_encoder.token_embedding.weight"][ids] + w["text_encoder.positional_embedding"]
    layers = []
    for i in range(e["depth"]):
        p = f"text_encoder.layers.{i}."
        h = h + self_attention(norm(h), sub(w, p + "attn."), e["numHeads"], mask)[0]
        h = h + mlp(norm(h), p + "mlp.")
        layers.append(h)
    words = mlp(norm(h), "y_embedder.y_proj.")  # [B, L, D]
    pooled = (words * mask[..., None].float()).sum(dim=1) / mask.float().sum(dim=1, keepdim=True)
    tokens = F.conv2d(x, w["x_embedder.proj.weight"], w["x_embedder.proj.bias"], stride=a["patchSize"])
    tokens = tokens.flatten(2).transpose(1, 2) + w["pos_embed"]
    t_freq = timestep_embedding(t, a["frequencyEmbeddingSize"])
    c = F.linear(F.silu(F.linear(t_freq, w["t_embedder.mlp.0.weight"], w["t_embedder.mlp.0.bias"])),
                 w["t_embedder.mlp.2.weight"], w["t_embedder.mlp.2.bias"]) + pooled
    mod = lambda h, shift, scale: h * (1 + scale[:, None]) + shift[:, None]
    blocks = []
    for i in range(a["depth"]):
        b = sub(w, f"blocks.{i}.")
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = F.linear(
            F.silu(c), b["adaLN_modulation.1.weight"], b["adaLN_modulation.1.bias"]).chunk(6, dim=1)
        tokens = tokens + gate_msa[:, None] * self_attention(mod(norm(tokens), shift_msa, scale_msa), sub(b, "attn."), heads)[0]
        tokens = tokens + cross_attention(norm(tokens), words, sub(b, "cross_attn."), heads, mask)[0]
        tokens = tokens + gate_mlp[:, None] * mlp(mod(norm(tokens), shift_mlp, scale_mlp), f"blocks.{i}.mlp.")
        blocks.append(tokens)
    shift, scale = F.linear(F.silu(c), w["final_layer.adaLN_modulation.1.weight"],
                            w["final_layer.adaLN_modulation.1.bias"]).chunk(2, dim=1)
    out = F.linear(mod(norm(tokens), shift, scale), w["final_layer.linear.weight"], w["final_layer.linear.bias"])
    return layers, words, blocks, unpatchify(out, a["patchSize"], 2 * a["inChannels"])


def text_dit_fixture():
    """A small random text DiT (E ≠ D and head widths that differ, so a transposed weight cannot pass) on three
    prompts: two words then [pad], every position a word, and the null caption ([null] = 2, then [pad])."""
    a = {"inputSize": 4, "patchSize": 2, "inChannels": 4, "hiddenSize": 8, "depth": 2, "numHeads": 2, "mlpRatio": 4.0,
         "learnSigma": True, "frequencyEmbeddingSize": 16, "block": "adaLN-Zero", "pooledText": True,
         "textEncoder": {"vocabSize": 10, "maxLength": 4, "width": 6, "depth": 2, "numHeads": 3, "mlpRatio": 2.0}}
    e, D, p, C = a["textEncoder"], a["hiddenSize"], a["patchSize"], a["inChannels"]
    E, L, M, Me = e["width"], e["maxLength"], int(D * a["mlpRatio"]), int(e["width"] * e["mlpRatio"])
    shapes = {"x_embedder.proj.weight": (D, C, p, p), "x_embedder.proj.bias": (D,),
              "t_embedder.mlp.0.weight": (D, a["frequencyEmbeddingSize"]), "t_embedder.mlp.0.bias": (D,),
              "t_embedder.mlp.2.weight": (D, D), "t_embedder.mlp.2.bias": (D,),
              "text_encoder.token_embedding.weight": (e["vocabSize"], E),
              "text_encoder.positional_embedding": (1, L, E),
              "y_embedder.y_proj.fc1.weight": (D, E), "y_embedder.y_proj.fc1.bias": (D,),
              "y_embedder.y_proj.fc2.weight": (D, D), "y_embedder.y_proj.fc2.bias": (D,),
              "final_layer.adaLN_modulation.1.weight": (2 * D, D), "final_layer.adaLN_modulation.1.bias": (2 * D,),
              "final_layer.linear.weight": (p * p * 2 * C, D), "final_layer.linear.bias": (p * p * 2 * C,)}
    for i in range(e["depth"]):
        for name, (rows, cols) in {"attn.qkv": (3 * E, E), "attn.proj": (E, E), "mlp.fc1": (Me, E),
                                   "mlp.fc2": (E, Me)}.items():
            shapes[f"text_encoder.layers.{i}.{name}.weight"] = (rows, cols)
            shapes[f"text_encoder.layers.{i}.{name}.bias"] = (rows,)
    for i in range(a["depth"]):
        for name, (rows, cols) in {"adaLN_modulation.1": (6 * D, D), "attn.qkv": (3 * D, D), "attn.proj": (D, D),
                                   "cross_attn.q": (D, D), "cross_attn.kv": (2 * D, D), "cross_attn.proj": (D, D),
                                   "mlp.fc1": (M, D), "mlp.fc2": (D, M)}.items():
            shapes[f"blocks.{i}.{name}.weight"] = (rows, cols)
            shapes[f"blocks.{i}.{name}.bias"] = (rows,)
    w = {name: randn(*shape) * (shape[-1] ** -0.5) for name, shape in sorted(shapes.items())}
    w["pos_embed"] = sincos_2d(D, a["inputSize"] // p)[None]
    x, t = randn(3, C, 4, 4), torch.tensor([999.0, 250.0, 3.0])
    ids = torch.tensor([[3, 7, 0, 0], [9, 1, 4, 5], [2, 0, 0, 0]])
    layers, words, blocks, out = text_dit_forward(w, x, t, ids, a)
    return {"architecture": a, "x": packed(x), "t": t.tolist(), "ids": ids.tolist(),
            "weights": {k: packed(v) for k, v in w.items()}, "encoderLayers": [packed(h) for h in layers],
            "words": packed(words), "blockOutputs": [packed(h) for h in blocks], "out": packed(out)}


# ---- schedules and respacing (numpy float64) ---------------------------------------------------------------
def beta_schedule(name, n):
    if name == "linear":
        scale = 1000 / n
        return np.linspace(scale * 0.0001, scale * 0.02, n, dtype=np.float64)
    alpha_bar = lambda s: math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
    return np.array([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)])


def space_timesteps(n, sections):
    if isinstance(sections, str):
        if sections.startswith("ddim"):
            want = int(sections[4:])
            for stride in range(1, n):
                if len(range(0, n, stride)) == want:
                    return sorted(range(0, n, stride))
            raise ValueError("no stride")
        sections = [int(s) for s in sections.split(",")]
    per, extra = divmod(n, len(sections))
    start, kept = 0, []
    for i, count in enumerate(sections):
        size = per + (1 if i < extra else 0)
        if size < count:
            raise ValueError("section too small")
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        pos = 0.0
        for _ in range(count):
            kept.append(start + round(pos))
            pos += stride
        start += size
    return sorted(set(kept))


class Diffusion:
    """The tables of SpacedDiffusion/GaussianDiffusion (float64) and their float32 uses."""

    def __init__(self, respacing, schedule="linear", n=1000, learn_sigma=True):
        base = beta_schedule(schedule, n)
        base_ac = np.cumprod(1.0 - base)
        if respacing.startswith("karras"):  # the toolkit's "karrasN": the timesteps of Karras et al.'s N σ's
            kept = sorted(samplers.karras_schedule(base_ac, int(respacing[6:]))[0])
        else:
            kept = space_timesteps(n, respacing if respacing != "" else [n])
        last, betas = 1.0, []
        for i in kept:
            betas.append(1 - base_ac[i] / last)
            last = base_ac[i]
        b = np.array(betas, dtype=np.float64)
        self.learn_sigma = learn_sigma
        self.timestep_map = kept
        self.betas = b
        self.ac = np.cumprod(1.0 - b)
        self.ac_prev = np.append(1.0, self.ac[:-1])
        self.sqrt_ac = np.sqrt(self.ac)
        self.sqrt_1m_ac = np.sqrt(1.0 - self.ac)
        self.sqrt_recip_ac = np.sqrt(1.0 / self.ac)
        self.sqrt_recipm1_ac = np.sqrt(1.0 / self.ac - 1)
        self.post_var = b * (1.0 - self.ac_prev) / (1.0 - self.ac)
        self.post_logvar = np.log(np.append(self.post_var[1], self.post_var[1:])) if len(b) > 1 else np.array([])
        self.coef1 = b * np.sqrt(self.ac_prev) / (1.0 - self.ac)
        self.coef2 = (1.0 - self.ac_prev) * np.sqrt(1.0 - b) / (1.0 - self.ac)

    def tables(self):
        return {
            "timestepMap": [float(v) for v in self.timestep_map],
            "betas": self.betas.tolist(),
            "alphasCumprod": self.ac.tolist(),
            "alphasCumprodPrev": self.ac_prev.tolist(),
            "posteriorVariance": self.post_var.tolist(),
            "posteriorLogVarianceClipped": self.post_logvar.tolist(),
            "posteriorMeanCoef1": self.coef1.tolist(),
            "posteriorMeanCoef2": self.coef2.tolist(),
        }

    @staticmethod
    def at(table, t, like):
        """A float64 table read at per-sample indices, cast to float32 and broadcast like `like`."""
        v = torch.from_numpy(np.asarray(table))[t].float()
        return v.reshape(-1, *([1] * (like.dim() - 1))) + torch.zeros_like(like)

    def q_sample(self, x0, t, noise):
        return self.at(self.sqrt_ac, t, x0) * x0 + self.at(self.sqrt_1m_ac, t, x0) * noise

    def p_mean_variance(self, out, x, t):
        c = x.shape[1]
        if self.learn_sigma:
            eps, v = torch.split(out, c, dim=1)
            lo = self.at(self.post_logvar, t, x)
            hi = self.at(np.log(self.betas), t, x)
            frac = (v + 1) / 2
            logvar = frac * hi + (1 - frac) * lo
            var = torch.exp(logvar)
        else:
            eps = out
            fixed = np.append(self.post_var[1], self.betas[1:])
            var = self.at(fixed, t, x)
            logvar = self.at(np.log(fixed), t, x)
        x0 = self.at(self.sqrt_recip_ac, t, x) * x - self.at(self.sqrt_recipm1_ac, t, x) * eps
        mean = self.at(self.coef1, t, x) * x0 + self.at(self.coef2, t, x) * x
        return {"mean": mean, "variance": var, "logVariance": logvar, "predXstart": x0}

    def p_sample(self, out, x, t, noise):
        r = self.p_mean_variance(out, x, t)
        mask = (t != 0).float().view(-1, *([1] * (x.dim() - 1)))
        return {"sample": r["mean"] + mask * torch.exp(0.5 * r["logVariance"]) * noise, "predXstart": r["predXstart"]}

    def ddim_sample(self, out, x, t, eta, noise):
        x0 = self.p_mean_variance(out, x, t)["predXstart"]
        eps = (self.at(self.sqrt_recip_ac, t, x) * x - x0) / self.at(self.sqrt_recipm1_ac, t, x)
        ab = self.at(self.ac, t, x)
        ab_prev = self.at(self.ac_prev, t, x)
        sigma = eta * torch.sqrt((1 - ab_prev) / (1 - ab)) * torch.sqrt(1 - ab / ab_prev)
        mean = x0 * torch.sqrt(ab_prev) + torch.sqrt(1 - ab_prev - sigma ** 2) * eps
        mask = (t != 0).float().view(-1, *([1] * (x.dim() - 1)))
        return {"sample": mean + mask * sigma * noise, "predXstart": x0}


def main():
    out = {"torch": torch.__version__, "numpy": np.__version__}

    out["patchify"] = []
    for n, c, side, p in [(2, 3, 4, 2), (1, 4, 2, 4), (3, 8, 3, 1)]:
        tokens = randn(n, side * side, p * p * c)
        images = unpatchify(tokens, p, c)
        assert torch.equal(patchify(images, p), tokens)
        out["patchify"].append({"p": p, "channels": c, "tokens": packed(tokens), "images": packed(images)})

    out["sincosPosEmbed2d"] = [
        {"embedDim": d, "gridSize": g, "table": packed(sincos_2d(d, g))} for d, g in [(16, 4), (64, 8), (8, 1), (32, 5)]
    ]

    ts = torch.tensor([0.0, 1.0, 10.5, 250.0, 999.0, 999.99, 0.001])
    out["timestepEmbedding"] = [
        {"t": ts.tolist(), "dim": d, "maxPeriod": mp, "embedding": packed(timestep_embedding(ts, d, mp))}
        for d, mp in [(256, 10000), (7, 10000), (32, 1000), (2, 10000)]
    ]

    x, shift, scale = randn(2, 5, 24) * 3 + 1, randn(2, 24), randn(2, 24)
    gate, branch = randn(2, 24), randn(2, 5, 24)
    out["adaln"] = {
        "x": packed(x), "shift": packed(shift), "scale": packed(scale), "gate": packed(gate), "y": packed(branch),
        "layerNorm": packed(torch.nn.functional.layer_norm(x, (24,), eps=1e-6)),
        "modulate": packed(x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)),
        "gatedResidual": packed(x + gate.unsqueeze(1) * branch),
    }

    out["betaSchedule"] = [
        {"name": name, "numTimesteps": n, "betas": beta_schedule(name, n).tolist()}
        for name, n in [("linear", 1000), ("linear", 250), ("linear", 1), ("squaredcos_cap_v2", 1000), ("squaredcos_cap_v2", 37)]
    ]

    out["spaceTimesteps"] = []
    for n, sections in [(1000, "250"), (1000, "ddim50"), (1000, "ddim25"), (1000, [10, 15, 20]), (300, "10,15,20"),
                        (1000, "1"), (1000, "7"), (100, "3"), (10, "4,3"), (1000, "ddim333"), (10, "11"), (1000, "ddim1"),
                        (7, [2, 2, 2]), (1000, "999")]:
        try:
            out["spaceTimesteps"].append({"numTimesteps": n, "sections": sections, "steps": space_timesteps(n, sections)})
        except ValueError:
            out["spaceTimesteps"].append({"numTimesteps": n, "sections": sections, "error": True})

    out["diffusion"] = []
    for respacing, schedule in [("", "linear"), ("50", "linear"), ("ddim25", "linear"), ("100", "squaredcos_cap_v2"), ("2", "linear"),
                                ("karras20", "linear"), ("karras250", "linear"), ("karras1", "linear")]:
        out["diffusion"].append({"respacing": respacing, "schedule": schedule, "tables": Diffusion(respacing, schedule).tables()})

    steps = []
    for respacing, learn_sigma, indices in [("", True, [999, 500, 1, 0]), ("50", True, [49, 24, 1, 0]), ("ddim25", True, [24, 12, 0]),
                                            ("250", False, [249, 3, 0])]:
        d = Diffusion(respacing, "linear", 1000, learn_sigma)
        for index in indices:
            x = randn(2, 4, 2, 2)
            model_out = torch.cat([randn(2, 4, 2, 2), uniform(-1, 1, 2, 4, 2, 2)], dim=1) if learn_sigma else randn(2, 4, 2, 2)
            noise = randn(2, 4, 2, 2)
            t = torch.tensor([index, index])
            case = {"respacing": respacing, "learnSigma": learn_sigma, "index": index,
                    "x": packed(x), "modelOutput": packed(model_out), "noise": packed(noise)}
            case["pMeanVariance"] = {k: packed(v) for k, v in d.p_mean_variance(model_out, x, t).items()}
            case["pSample"] = {k: packed(v) for k, v in d.p_sample(model_out, x, t, noise).items()}
            case["ddim"] = [{"eta": eta, **{k: packed(v) for k, v in d.ddim_sample(model_out, x, t, eta, noise).items()}}
                            for eta in (0.0, 0.5, 1.0)]
            steps.append(case)
    out["steps"] = steps

    x0, noise = randn(3, 4, 4, 4), randn(3, 4, 4, 4)
    d = Diffusion("")
    t = torch.tensor([0, 421, 999])
    out["qSample"] = {"t": t.tolist(), "x0": packed(x0), "noise": packed(noise), "xt": packed(d.q_sample(x0, t, noise))}

    cond, uncond = randn(2, 4, 4, 4), randn(2, 4, 4, 4)
    out["cfg"] = [{"scale": s, "cond": packed(cond), "uncond": packed(uncond), "guided": packed(uncond + s * (cond - uncond))}
                  for s in (4.0, 1.5, 0.0)]

    out["randn"] = []
    for seed, shapes in [(0, [[20], [3], [3]]), (0, [[1, 4, 8, 8]]), (42, [[1], [17], [5], [2, 4, 4, 4]]),
                         (2 ** 32 - 1, [[33]]), (7, [[16], [15]])]:
        torch.manual_seed(seed)
        out["randn"].append({"seed": seed, "draws": [packed(torch.randn(*shape)) for shape in shapes]})

    out["samplers"] = sampler_fixtures()

    out["crossAttention"], out["blockDesigns"] = block_design_fixtures()

    out["textDiT"] = text_dit_fixture()

    print(json.dumps(out))


def model_output(c=4):
    """A stand-in DiT output [ε̂ | v] for a [2, c, 2, 2] batch."""
    return torch.cat([randn(2, c, 2, 2), uniform(-1, 1, 2, c, 2, 2)], dim=1)


def toy_eps(x, t, labels):
    """The trajectories' stand-in network: ε̂ = 0.5·x + t/1000 + y/100, float32 as tests/samplers_test.ts."""
    return 0.5 * x + t / 1000.0 + labels.view(-1, 1, 1, 1).float() / 100.0


def sampler_fixtures():
    out = {}
    base_ac = Diffusion("").ac

    out["dpmSolver"] = []
    for respacing, index, previous_index in [("10", 9, None), ("10", 5, 6), ("10", 4, None), ("50", 30, 31), ("50", 1, 2),
                                             ("50", 0, 1), ("250", 100, 102)]:
        d = Diffusion(respacing)
        x, out_, previous = randn(2, 4, 2, 2), model_output(), randn(2, 4, 2, 2)
        prev = None if previous_index is None else (previous, previous_index)
        sample, x0 = samplers.dpm_solver_step(d.ac, out_[:, :4], x, index, prev)
        out["dpmSolver"].append({
            "respacing": respacing, "index": index, "x": packed(x), "modelOutput": packed(out_),
            "previous": None if prev is None else {"predXstart": packed(previous), "index": previous_index},
            "sample": packed(sample), "predXstart": packed(x0),
        })

    out["karrasSchedule"] = []
    for schedule, steps, rho in [("linear", 1, 7.0), ("linear", 2, 7.0), ("linear", 10, 7.0), ("linear", 50, 7.0),
                                 ("linear", 250, 7.0), ("linear", 1000, 7.0), ("linear", 20, 3.0),
                                 ("squaredcos_cap_v2", 20, 7.0)]:
        timesteps, sigmas, ideal = samplers.karras_schedule(np.cumprod(1.0 - beta_schedule(schedule, 1000)), steps, rho)
        out["karrasSchedule"].append({"schedule": schedule, "steps": steps, "rho": rho, "timesteps": timesteps,
                                      "sigmas": sigmas.tolist(), "ideal": ideal.tolist()})

    out["karrasSteps"] = []
    for respacing, index in [("karras10", 9), ("karras10", 5), ("karras20", 3), ("karras10", 1), ("karras10", 0),
                             ("50", 20)]:
        d = Diffusion(respacing)
        x, out_, proposal_out = randn(2, 4, 2, 2), model_output(), model_output()
        euler, x0 = samplers.euler_step(d.ac, out_[:, :4], x, index)
        case = {"respacing": respacing, "index": index, "x": packed(x), "modelOutput": packed(out_),
                "euler": {"sample": packed(euler), "predXstart": packed(x0)}}
        if index > 0:
            heun, heun_x0 = samplers.heun_step(d.ac, out_[:, :4], x, index, euler, proposal_out[:, :4])
            case["heun"] = {"proposalOutput": packed(proposal_out), "sample": packed(heun), "predXstart": packed(heun_x0)}
        out["karrasSteps"].append(case)

    out["trajectories"] = []
    labels, null = torch.tensor([1, 3]), torch.tensor([10, 10])
    for sampler, steps, scale, interval, seed in [("dpm++2m", 6, 4.0, None, 0), ("dpm++2m", 5, 4.0, [300, 800], 1),
                                                  ("euler", 6, 1.0, None, 2), ("heun", 5, 4.0, [0, 500], 3),
                                                  ("heun", 1, 4.0, None, 4), ("euler", 4, 4.0, [1000, 1000], 5)]:
        if sampler == "dpm++2m":
            timesteps = space_timesteps(1000, [steps])
        else:
            timesteps = sorted(samplers.karras_schedule(base_ac, steps)[0])

        def eps_fn(x, t):
            if scale != 1 and samplers.guided_at(t, interval):
                cond, uncond = toy_eps(x, t, labels), toy_eps(x, t, null)
                return uncond + scale * (cond - uncond)
            return toy_eps(x, t, labels)

        torch.manual_seed(seed)
        x_T = torch.randn(2, 2, 2, 2)
        trajectory, evaluations = samplers.sample(eps_fn, base_ac, timesteps, sampler, x_T)
        out["trajectories"].append({
            "sampler": sampler, "steps": steps, "guidanceScale": scale, "guidanceInterval": interval, "seed": seed,
            "labels": labels.tolist(), "nullClass": 10, "timesteps": timesteps, "evaluations": evaluations, "xT": packed(x_T),
            "samples": [packed(x) for x, _ in trajectory], "predXstarts": [packed(x0) for _, x0 in trajectory],
        })
    return out


if __name__ == "__main__":
    main()
