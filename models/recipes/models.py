"""The networks of the recipe: the DiT (with the reference implementation's module and parameter names,
so a facebookresearch/DiT checkpoint loads with strict=True) in each of the paper's four block designs, a
small U-Net of the ADM / latent-diffusion kind (the backbone DiT replaced), a text-conditioned DiT with its
small text encoder (PixArt-α's block: adaLN-Zero on the timestep, cross-attention to the words), a small KL
autoencoder (the VAE whose latents the DiTs model), and a small classifier that measures what the DiT draws.

Needs only torch (1.13 or later); no timm: the few timm layers DiT uses are restated here with timm's
parameter names (x_embedder.proj, attn.qkv, attn.proj, mlp.fc1, mlp.fc2).
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------------------------------------
# DiT: Peebles & Xie, "Scalable Diffusion Models with Transformers" (2023)
# ----------------------------------------------------------------------------------------------------------

def modulate(x, shift, scale):
    """adaLN: scale and shift every token of each sample by that sample's conditioning."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class PatchEmbed(nn.Module):
    """x_embedder: a p×p convolution with stride p turns each patch into one token."""

    def __init__(self, input_size, patch_size, in_channels, hidden_size):
        super().__init__()
        self.patch_size = (patch_size, patch_size)
        self.num_patches = (input_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [N, T, D], tokens row-major over the patch grid


class TimestepEmbedder(nn.Module):
    """t_embedder: sinusoidal features of t, then an MLP (Linear, SiLU, Linear)."""

    def __init__(self, hidden_size, frequency_embedding_size=256):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size, bias=True),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size, bias=True),
        )
        self.frequency_embedding_size = frequency_embedding_size

    @staticmethod
    def timestep_embedding(t, dim, max_period=10000):
        """[cos(t·f_k) | sin(t·f_k)], f_k = max_period^(-k/half), in float32 like lib/timestep.ts."""
        half = dim // 2
        k = torch.arange(half, dtype=torch.float32, device=t.device)
        freqs = torch.exp(-math.log(max_period) * k / half)
        angles = t[:, None].float() * freqs[None]
        embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
        if dim % 2:
            embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
        return embedding

    def forward(self, t):
        return self.mlp(self.timestep_embedding(t, self.frequency_embedding_size))


class LabelEmbedder(nn.Module):
    """y_embedder: one learned vector per class, plus a last row for the null class (classifier-free guidance)."""

    def __init__(self, num_classes, hidden_size, dropout_prob):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + int(dropout_prob > 0), hidden_size)
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob

    def forward(self, labels, train):
        if train and self.dropout_prob > 0:
            dropped = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
            labels = torch.where(dropped, torch.full_like(labels, self.num_classes), labels)
        return self.embedding_table(labels)


def heads_attention(q, k, v, fused, mask=None):
    """softmax(q kᵀ / √d) v for q [B, heads, T, d], k and v [B, heads, S, d] → [B, heads, T, d]. `mask` [B, S]
    (True: a key to attend to; False: padding) gives the masked keys probability 0."""
    if fused:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None, None, :])
    attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # [B, heads, T, S]
    if mask is not None:
        attn = attn.masked_fill(~mask[:, None, None, :], float("-inf"))
    return attn.softmax(dim=-1) @ v


class Attention(nn.Module):
    """Multi-head self-attention with timm's parameter names (qkv, proj); `mask` [B, T] (True: attend) leaves
    padding tokens out as keys (the text encoder's; the image tokens have none)."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.fused = hasattr(F, "scaled_dot_product_attention")  # torch >= 2.0; off for ONNX export

    def forward(self, x, mask=None):
        B, T, D = x.shape
        q, k, v = self.qkv(x).reshape(B, T, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        x = heads_attention(q, k, v, self.fused, mask)  # [B, heads, T, head_dim]
        return self.proj(x.transpose(1, 2).reshape(B, T, D))


class CrossAttention(nn.Module):
    """Multi-head attention from the image tokens (queries, `q`) to other tokens (keys and values, `kv`, laid
    out [2, heads, head_dim] as timm's qkv), then `proj`: the cross-attention block's extra layer, and the text
    DiT's (PixArt-α's `cross_attn`, there named q_linear, kv_linear, proj). `mask` [B, S] (True: attend) leaves
    the context's padding out."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, dim * 2)
        self.proj = nn.Linear(dim, dim)
        self.fused = hasattr(F, "scaled_dot_product_attention")

    def forward(self, x, context, mask=None):
        B, T, D = x.shape
        S = context.shape[1]
        q = self.q(x).reshape(B, T, self.num_heads, self.head_dim).transpose(1, 2)  # [B, heads, T, head_dim]
        k, v = self.kv(context).reshape(B, S, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        x = heads_attention(q, k, v, self.fused, mask)  # [B, heads, T, head_dim]: each token's mix of the S
        return self.proj(x.transpose(1, 2).reshape(B, T, D))


class Mlp(nn.Module):
    """The transformer MLP with timm's names (fc1, fc2); GELU with the tanh approximation, as DiT. From dim to
    dim, or to `out` (the text DiT's caption projection, PixArt-α's y_proj)."""

    def __init__(self, dim, hidden, out=None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, out or dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


# The paper's four ways for a block to take in the conditioning (Section 3.2, Figure 3); the reference builds
# only adaLN-Zero. In all four, c = t_embedder(t) + y_embedder(y), or the two embeddings as two tokens.
BLOCK_DESIGNS = ("adaLN-Zero", "adaLN", "cross-attention", "in-context")
# How many [N, D] vectors each adaptive design regresses from c per block, in the order they are chunked
MODULATIONS = {"adaLN-Zero": 6, "adaLN": 4}


class DiTBlock(nn.Module):
    """A transformer block whose conditioning is its `block` design:

    - adaLN-Zero: c regresses a shift and a scale for each LayerNorm and a gate for each residual branch, from a
      Linear that starts at zero, so the block starts as the identity (the reference's block);
    - adaLN: the shifts and scales only, no gates, ordinarily initialized;
    - cross-attention: no modulation; after self-attention, a cross-attention layer whose keys and values are
      the conditioning tokens [t_embedder(t), y_embedder(y)] (`c` is then [N, 2, D]);
    - in-context: no modulation at all; the conditioning rides in x as two extra tokens (DiT.forward).

    With `text` (an adaptive design: the text DiT's blocks are adaLN-Zero), a cross-attention layer between
    self-attention and the MLP lets the image tokens read the words: PixArt-α's block, whose cross-attention
    branch is neither modulated nor gated, its output projection starting at zero instead (TextDiT).

    The LayerNorms have no affine parameters in every design: each is followed by a Linear (qkv, q, fc1), which
    can absorb a learned scale and shift.
    """

    def __init__(self, hidden_size, num_heads, mlp_ratio=4.0, block="adaLN-Zero", text=False):
        super().__init__()
        if block not in BLOCK_DESIGNS:
            raise ValueError(f"block is {block!r}; expected one of {', '.join(BLOCK_DESIGNS)}")
        if text and block not in MODULATIONS:
            raise ValueError(f"text needs an adaLN design (the timestep conditions by modulation), not {block!r}")
        self.block = block
        self.text = text
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads)
        if block == "cross-attention" or text:
            self.norm_cross = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
            self.cross_attn = CrossAttention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        if block in MODULATIONS:
            self.adaLN_modulation = nn.Sequential(
                nn.SiLU(), nn.Linear(hidden_size, MODULATIONS[block] * hidden_size, bias=True))

    def forward(self, x, c, text=None, mask=None):
        """x [N, T, D]; c [N, D] (the adaptive designs) or [N, 2, D] (cross-attention); with `text`, the words
        [N, L, D] and their mask [N, L] (True: a word, False: padding)."""
        if self.block == "adaLN-Zero":
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
            x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
            x = self.read_text(x, text, mask)
            return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        if self.block == "adaLN":
            shift_msa, scale_msa, shift_mlp, scale_mlp = self.adaLN_modulation(c).chunk(4, dim=1)
            x = x + self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
            x = self.read_text(x, text, mask)
            return x + self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        x = x + self.attn(self.norm1(x))
        if self.block == "cross-attention":
            x = x + self.cross_attn(self.norm_cross(x), c)  # c: the conditioning tokens [N, 2, D]
        return x + self.mlp(self.norm2(x))

    def read_text(self, x, text, mask):
        """The text block's cross-attention branch: x + cross_attn(norm_cross(x), words) (x itself without text)."""
        if not self.text:
            return x
        return x + self.cross_attn(self.norm_cross(x), text, mask)  # [N, T, D]


class FinalLayer(nn.Module):
    """LayerNorm (adaLN-modulated by c in the adaptive designs), then a linear map from each token to its patch
    of [ε | v]."""

    def __init__(self, hidden_size, patch_size, out_channels, modulated=True):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels, bias=True)
        if modulated:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size, bias=True))

    def forward(self, x, c):
        if not hasattr(self, "adaLN_modulation"):
            return self.linear(self.norm_final(x))
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


def initialize_backbone(model):
    """The reference's initialization of what every DiT here shares: each Linear Xavier-uniform with zero bias,
    pos_embed the fixed 2-D sin-cos table, the patch embedding like a Linear over the flattened patch."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    grid = int(model.x_embedder.num_patches ** 0.5)
    model.pos_embed.data.copy_(torch.from_numpy(sincos_pos_embed_2d(model.pos_embed.shape[-1], grid)).float()[None])
    w = model.x_embedder.proj.weight.data
    nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
    nn.init.zeros_(model.x_embedder.proj.bias)


def zero_layers(layers):
    """Weights and biases to 0: a layer that starts contributing nothing."""
    for layer in layers:
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)


class DiT(nn.Module):
    """Diffusion Transformer: latent [N, C, H, W], timestep t [N], label y [N] → [ε | v] as [N, 2C, H, W].
    `block` is the conditioning design of every block (BLOCK_DESIGNS); the reference's is adaLN-Zero."""

    def __init__(self, input_size=32, patch_size=2, in_channels=4, hidden_size=1152, depth=28, num_heads=16,
                 mlp_ratio=4.0, class_dropout_prob=0.1, num_classes=1000, learn_sigma=True, block="adaLN-Zero"):
        super().__init__()
        self.learn_sigma = learn_sigma
        self.in_channels = in_channels
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.patch_size = patch_size
        self.num_heads = num_heads
        self.block = block
        self.x_embedder = PatchEmbed(input_size, patch_size, in_channels, hidden_size)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.y_embedder = LabelEmbedder(num_classes, hidden_size, class_dropout_prob)
        # a fixed table, not trained; stored as a parameter so reference checkpoints load strictly
        self.pos_embed = nn.Parameter(torch.zeros(1, self.x_embedder.num_patches, hidden_size), requires_grad=False)
        self.blocks = nn.ModuleList([DiTBlock(hidden_size, num_heads, mlp_ratio, block) for _ in range(depth)])
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels, modulated=block in MODULATIONS)
        self.initialize_weights()

    def initialize_weights(self):
        initialize_backbone(self)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        zeroed = [self.final_layer.linear]  # every design starts predicting ε̂ = 0, v = 0
        if self.block == "adaLN-Zero":  # every gate starts at 0, so every block starts as the identity
            zeroed += [block.adaLN_modulation[-1] for block in self.blocks] + [self.final_layer.adaLN_modulation[-1]]
        zero_layers(zeroed)

    def unpatchify(self, x):
        """[N, T, p·p·C] → [N, C, H, W]; each token's features ordered (row in patch, column in patch, channel)."""
        c, p = self.out_channels, self.patch_size
        h = w = int(x.shape[1] ** 0.5)
        x = x.reshape(x.shape[0], h, w, p, p, c)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(x.shape[0], c, h * p, w * p)

    def forward(self, x, t, y):
        x = self.x_embedder(x) + self.pos_embed  # [N, T, D]
        t_emb, y_emb = self.t_embedder(t), self.y_embedder(y, self.training)  # two [N, D]
        c = t_emb + y_emb  # [N, D]: what the adaptive designs regress their shifts, scales and gates from
        if self.block == "in-context":
            x = torch.cat([x, t_emb.unsqueeze(1), y_emb.unsqueeze(1)], dim=1)  # [N, T + 2, D]
        # the cross-attention blocks' keys and values are the two embeddings as tokens, [N, 2, D]
        cond = torch.stack([t_emb, y_emb], dim=1) if self.block == "cross-attention" else c
        for block in self.blocks:
            x = block(x, cond)
        if self.block == "in-context":
            x = x[:, :-2]  # the conditioning tokens leave after the last block
        return self.unpatchify(self.final_layer(x, c))


def sincos_pos_embed_2d(embed_dim, grid_size):
    """MAE/DiT fixed 2-D table [grid², D]: first half encodes the column, second half the row (lib/positional.ts)."""
    def one_axis(dim, positions):
        omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
        angles = np.outer(positions, omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    rows, cols = np.meshgrid(np.arange(grid_size), np.arange(grid_size), indexing="ij")
    return np.concatenate([one_axis(embed_dim // 2, cols.reshape(-1)), one_axis(embed_dim // 2, rows.reshape(-1))], axis=1)


# The paper's configurations, for converting reference checkpoints: (depth, hidden_size, patch_size, num_heads).
DIT_CONFIGS = {
    f"DiT-{size}/{p}": dict(depth=d, hidden_size=h, patch_size=p, num_heads=n)
    for size, (d, h, n) in {"XL": (28, 1152, 16), "L": (24, 1024, 16), "B": (12, 768, 12), "S": (12, 384, 6)}.items()
    for p in (2, 4, 8)
}


# ----------------------------------------------------------------------------------------------------------
# The text DiT: a DiT conditioned on words (PixArt-α, Chen et al. 2023, with a small text encoder of its own)
# ----------------------------------------------------------------------------------------------------------

PAD_ID, UNK_ID, NULL_ID = 0, 1, 2  # the tokenizer's special tokens (tokenizer.py, lib/tokenizer.ts)


class TextEncoderLayer(nn.Module):
    """A pre-LayerNorm transformer layer over the words: self-attention that leaves out the padding, then an
    MLP, each a residual branch (LayerNorms without affine parameters, as the DiT's: a Linear follows each)."""

    def __init__(self, width, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, num_heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(width, int(width * mlp_ratio))

    def forward(self, x, mask):
        x = x + self.attn(self.norm1(x), mask)  # [N, L, E]: each word reads the other words
        return x + self.mlp(self.norm2(x))


class TextEncoder(nn.Module):
    """text_encoder: word ids [N, L] (tokenizer.py's, padded with [pad]) → one vector per word [N, L, E].

    Trained from scratch with the DiT (no pretrained text model can be downloaded here), so it is small: a word
    embedding table over the vocabulary, learned positions, a few transformer layers. The null caption of
    classifier-free guidance is the [null] token then padding: caption dropout swaps it in for a share of the
    training captions (token_drop, as the reference's LabelEmbedder drops labels), so the null caption's
    encoding is learned like any other (PixArt-α learns a null embedding instead: it has no encoder to train).
    """

    def __init__(self, vocab_size, max_length, width, depth, num_heads, mlp_ratio=4.0, dropout_prob=0.1):
        super().__init__()
        self.vocab_size, self.max_length, self.width, self.num_heads = vocab_size, max_length, width, num_heads
        self.mlp_ratio, self.dropout_prob = mlp_ratio, dropout_prob
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.zeros(1, max_length, width))
        self.layers = nn.ModuleList([TextEncoderLayer(width, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm_final = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)

    def token_drop(self, ids):
        """Each caption replaced by the null caption ([null], then [pad]) with probability dropout_prob."""
        dropped = torch.rand(ids.shape[0], device=ids.device) < self.dropout_prob
        null = torch.full_like(ids, PAD_ID)
        null[:, 0] = NULL_ID
        return torch.where(dropped[:, None], null, ids)

    def forward(self, ids, mask):
        x = self.token_embedding(ids) + self.positional_embedding  # [N, L, E]
        for layer in self.layers:
            x = layer(x, mask)  # [N, L, E]
        return self.norm_final(x)


class CaptionEmbedder(nn.Module):
    """y_embedder: the encoder's words [N, L, E] → the DiT's width [N, L, D], an MLP as PixArt-α's y_proj."""

    def __init__(self, in_channels, hidden_size):
        super().__init__()
        self.y_proj = Mlp(in_channels, hidden_size, hidden_size)

    def forward(self, words):
        return self.y_proj(words)


def pool_words(text, mask):
    """The mean of each caption's words [N, L, D] over its mask [N, L] (padding left out) → [N, D]."""
    weights = mask.to(text.dtype).unsqueeze(-1)  # [N, L, 1]
    return (text * weights).sum(dim=1) / weights.sum(dim=1)


class TextDiT(nn.Module):
    """A DiT conditioned on words: latent [N, C, H, W], timestep t [N], word ids y [N, L] (tokenizer.py's; [pad]
    is 0) → [ε | v] as [N, 2C, H, W].

    PixArt-α's design (its Figure 4 without adaLN-single): each block is the reference's adaLN-Zero block, its
    shifts, scales and gates regressed from c, with a cross-attention layer between self-attention and the MLP
    whose queries are the image tokens and whose keys and values are the words (padding masked out). The
    cross-attention's output projection starts at zero, so a new block is the identity, as every adaLN-Zero
    block is. Differences from PixArt-α, for this size: a text encoder trained with the DiT (not T5), a
    LayerNorm before the cross-attention (as the cross-attention design of models/recipes/ablation.py), each
    block's own adaLN_modulation (the reference's; not adaLN-single's shared one), and, with `pooled_text`, c =
    t_embedder(t) + the mean of the caption's words, so the caption also modulates every block (Imagen and SD3
    add a pooled text embedding to the timestep's the same way; the paper's Figure 5 found conditioning by
    adaLN-Zero far better than by cross-attention alone, and the issue-16 probe that reached 38% top-1 used it).

        x = x_embedder(x) + pos_embed                        [N, T, D]
        w = y_embedder(text_encoder(y)), mask = y != [pad]   [N, L, D], [N, L]
        c = t_embedder(t) (+ mean of w over mask)            [N, D]
        x = block(x, c, w, mask), for each block             [N, T, D]
        x = final_layer(x, c)                                [N, T, p·p·2C]
        x = unpatchify(x)                                    [N, 2C, H, W]
    """

    def __init__(self, input_size=16, patch_size=2, in_channels=4, hidden_size=256, depth=8, num_heads=4,
                 mlp_ratio=4.0, vocab_size=4096, max_length=16, text_width=256, text_depth=2, text_heads=4,
                 text_mlp_ratio=4.0, caption_dropout_prob=0.1, pooled_text=True, learn_sigma=True):
        super().__init__()
        self.learn_sigma = learn_sigma
        self.in_channels = in_channels
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.patch_size = patch_size
        self.num_heads = num_heads
        self.block = "adaLN-Zero"
        self.pooled_text = pooled_text
        self.x_embedder = PatchEmbed(input_size, patch_size, in_channels, hidden_size)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.text_encoder = TextEncoder(vocab_size, max_length, text_width, text_depth, text_heads, text_mlp_ratio,
                                        caption_dropout_prob)
        self.y_embedder = CaptionEmbedder(text_width, hidden_size)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.x_embedder.num_patches, hidden_size), requires_grad=False)
        self.blocks = nn.ModuleList([DiTBlock(hidden_size, num_heads, mlp_ratio, self.block, text=True)
                                     for _ in range(depth)])
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels)
        self.initialize_weights()

    def initialize_weights(self):
        initialize_backbone(self)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        nn.init.normal_(self.text_encoder.token_embedding.weight, std=0.02)
        nn.init.normal_(self.text_encoder.positional_embedding, std=0.01)
        nn.init.normal_(self.y_embedder.y_proj.fc1.weight, std=0.02)  # PixArt-α's
        nn.init.normal_(self.y_embedder.y_proj.fc2.weight, std=0.02)
        zeroed = [self.final_layer.linear, self.final_layer.adaLN_modulation[-1]]
        for block in self.blocks:  # every gate and every cross-attention output starts at 0: blocks start as identity
            zeroed += [block.adaLN_modulation[-1], block.cross_attn.proj]
        zero_layers(zeroed)

    unpatchify = DiT.unpatchify

    def encode_text(self, y):
        """Word ids [N, L] → the words as the blocks read them [N, L, D], and the mask [N, L] (True: a word)."""
        mask = y != PAD_ID
        return self.y_embedder(self.text_encoder(y, mask)), mask

    def forward(self, x, t, y):
        if self.training and self.text_encoder.dropout_prob > 0:
            y = self.text_encoder.token_drop(y)  # caption dropout, for classifier-free guidance
        text, mask = self.encode_text(y)  # [N, L, D], [N, L]
        x = self.x_embedder(x) + self.pos_embed  # [N, T, D]
        c = self.t_embedder(t)  # [N, D]
        if self.pooled_text:
            c = c + pool_words(text, mask)  # [N, D]
        for block in self.blocks:
            x = block(x, c, text, mask)  # [N, T, D]
        return self.unpatchify(self.final_layer(x, c))  # [N, 2C, H, W]


# ----------------------------------------------------------------------------------------------------------
# U-Net: the backbone DiT replaced, small, of the ADM / latent-diffusion kind (Dhariwal & Nichol 2021; Rombach
# et al. 2022), with ADM's module names; purely convolutional (no attention layers), so what it sees of the
# latent grows with depth, where every attention layer of a DiT sees all of it
# ----------------------------------------------------------------------------------------------------------

class UNetResBlock(nn.Module):
    """ADM's ResBlock: GroupNorm, SiLU, 3×3 conv; the embedding (timestep + class) mapped to the channels and
    added at every pixel; GroupNorm, SiLU, 3×3 conv starting at zero (so the block starts as its skip)."""

    def __init__(self, channels_in, channels_out, emb_dim):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(32, channels_in), nn.SiLU(),
                                       nn.Conv2d(channels_in, channels_out, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, channels_out))
        self.out_layers = nn.Sequential(nn.GroupNorm(32, channels_out), nn.SiLU(),
                                        nn.Conv2d(channels_out, channels_out, 3, padding=1))
        self.skip_connection = (nn.Conv2d(channels_in, channels_out, 1) if channels_in != channels_out
                                else nn.Identity())

    def forward(self, x, emb):
        h = self.in_layers(x) + self.emb_layers(emb)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Downsample(nn.Module):
    """Half the height and width: a 3×3 convolution with stride 2 (ADM's, with use_conv)."""

    def __init__(self, channels):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    """Twice the height and width: nearest neighbour, then a 3×3 convolution (ADM's, with use_conv)."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNet(nn.Module):
    """Latent [N, C, H, W], timestep t [N], label y [N] → [ε | v] as [N, 2C, H, W], as the DiT.

    `model_channels` × `channel_mult[i]` channels at level i; each level but the last ends by halving the
    resolution; `num_res_blocks` ResBlocks a level on the way down, one more on the way up, each reading the
    matching activation of the way down (the skip) concatenated to its input. The timestep and the label are
    embedded by the DiT's own t_embedder and y_embedder (with the null class for guidance), so the five arms
    of models/recipes/ablation.py get their conditioning the same way; their sum is added in every ResBlock.
    """

    def __init__(self, input_size=8, in_channels=4, model_channels=64, channel_mult=(1, 2), num_res_blocks=2,
                 emb_dim=128, class_dropout_prob=0.1, num_classes=10, learn_sigma=True):
        super().__init__()
        self.input_size, self.model_channels, self.channel_mult = input_size, model_channels, tuple(channel_mult)
        self.num_res_blocks, self.emb_dim = num_res_blocks, emb_dim
        if input_size % 2 ** (len(channel_mult) - 1):
            raise ValueError(f"input_size is {input_size}; expected a multiple of 2^{len(channel_mult) - 1} "
                             f"(one halving between each of the {len(channel_mult)} levels)")
        self.in_channels = in_channels
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.t_embedder = TimestepEmbedder(emb_dim)
        self.y_embedder = LabelEmbedder(num_classes, emb_dim, class_dropout_prob)
        widths = [model_channels * m for m in channel_mult]
        self.input_blocks = nn.ModuleList([nn.Conv2d(in_channels, model_channels, 3, padding=1)])
        skips, channels = [model_channels], model_channels  # the channels of each skip, in order
        for level, width in enumerate(widths):
            for _ in range(num_res_blocks):
                self.input_blocks.append(UNetResBlock(channels, width, emb_dim))
                channels = width
                skips.append(channels)
            if level < len(widths) - 1:
                self.input_blocks.append(Downsample(channels))
                skips.append(channels)
        self.middle_block = nn.ModuleList([UNetResBlock(channels, channels, emb_dim) for _ in range(2)])
        self.output_blocks = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(num_res_blocks + 1):
                self.output_blocks.append(UNetResBlock(channels + skips.pop(), width, emb_dim))
                channels = width
            if level > 0:
                self.output_blocks.append(Upsample(channels))
        self.out = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(), nn.Conv2d(channels, self.out_channels, 3,
                                                                                  padding=1))
        self.initialize_weights()

    def initialize_weights(self):
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        # ADM's zero_module: each ResBlock's last convolution and the output convolution start at zero
        for conv in [b.out_layers[-1] for b in self.modules() if isinstance(b, UNetResBlock)] + [self.out[-1]]:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, x, t, y):
        emb = self.t_embedder(t) + self.y_embedder(y, self.training)  # [N, emb_dim]
        h, skips = x, []
        for module in self.input_blocks:
            h = module(h, emb) if isinstance(module, UNetResBlock) else module(h)
            skips.append(h)
        for module in self.middle_block:
            h = module(h, emb)
        for module in self.output_blocks:
            h = module(torch.cat([h, skips.pop()], dim=1), emb) if isinstance(module, UNetResBlock) else module(h)
        return self.out(h)


# ----------------------------------------------------------------------------------------------------------
# VAE: a small KL-regularized autoencoder, 4× down, 4 latent channels
# ----------------------------------------------------------------------------------------------------------

class ResBlock(nn.Module):
    def __init__(self, channels_in, channels_out):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, channels_in)
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1)
        self.skip = nn.Conv2d(channels_in, channels_out, 1) if channels_in != channels_out else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class Encoder(nn.Module):
    """Image in [-1, 1], [N, C, H, W] → (mean, logvar) of the latent posterior, each [N, 4, H/4, W/4]."""

    def __init__(self, image_channels, widths, latent_channels=4):
        super().__init__()
        c1, c2, c3 = widths
        self.net = nn.Sequential(
            nn.Conv2d(image_channels, c1, 3, padding=1), ResBlock(c1, c1),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), ResBlock(c2, c2),
            nn.Conv2d(c2, c3, 3, stride=2, padding=1), ResBlock(c3, c3),
            nn.GroupNorm(8, c3), nn.SiLU(), nn.Conv2d(c3, 2 * latent_channels, 3, padding=1),
        )

    def forward(self, x):
        mean, logvar = self.net(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)


class Decoder(nn.Module):
    """Latent [N, 4, h, w] → image [N, C, 4h, 4w], nominally in [-1, 1] (clip before display)."""

    def __init__(self, image_channels, widths, latent_channels=4):
        super().__init__()
        c1, c2, c3 = widths
        self.net = nn.Sequential(
            nn.Conv2d(latent_channels, c3, 3, padding=1), ResBlock(c3, c3),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c3, c2, 3, padding=1), ResBlock(c2, c2),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c2, c1, 3, padding=1), ResBlock(c1, c1),
            nn.GroupNorm(8, c1), nn.SiLU(), nn.Conv2d(c1, image_channels, 3, padding=1),
        )

    def forward(self, z):
        return self.net(z)


class VAE(nn.Module):
    def __init__(self, image_channels, widths):
        super().__init__()
        self.encoder = Encoder(image_channels, widths)
        self.decoder = Decoder(image_channels, widths)

    def forward(self, x, noise):
        """Reconstruct x through a posterior sample z = mean + σ·noise; returns (reconstruction, mean, logvar)."""
        mean, logvar = self.encoder(x)
        return self.decoder(mean + torch.exp(0.5 * logvar) * noise), mean, logvar


# ----------------------------------------------------------------------------------------------------------
# Classifier: measures samples (accuracy, and features for a Fréchet distance)
# ----------------------------------------------------------------------------------------------------------

class Classifier(nn.Module):
    """Image in [-1, 1] → (logits [N, classes], features [N, feature_dim]: the penultimate layer)."""

    def __init__(self, image_channels, num_classes, widths=(32, 64, 128), feature_dim=128):
        super().__init__()
        layers, channels = [], image_channels
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(channels, feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x):
        features = self.features(x)
        return self.head(self.dropout(features)), features
