"""Train one stage of one model: `python models/recipes/train.py STAGE --data NAME [--steps N]`.

STAGE is vae, classifier, dit (the DiT needs the VAE) or text-dit (the text-conditioned DiT of issue 16, on the same
VAE's latents and the data's captions.json; emoji only). The configuration of each model sits right below, one dict
per dataset, and is stored in every checkpoint. Runs on one GPU as it is, on several with
`torchrun --nproc_per_node=G models/recipes/train.py ...` (DistributedDataParallel: the batch is split across
GPUs, gradients averaged), and on the CPU for smoke tests (`--steps 20`). Checkpoints and loss logs go to
runs/NAME/STAGE.pt.

A stage longer than one command (the lent GPU allows 10 minutes a command) runs as the same command repeated:
`--resume --pause-seconds 500` continues from runs/NAME/STAGE.resume.pt if there is one, pauses after 500 s
of training by writing it again, and writes STAGE.pt (and removes the resume file) once all steps are done;
run again after that, it says so and trains nothing. `--checkpoint-every N` also writes the resume file every
N steps, so a command killed at its time limit loses at most N steps. A resumed run draws from a generator
reseeded with the step it resumes at: reproducible for the same pause steps, not the same bits as one run.
`--run NAME` writes to runs/NAME/ instead, so two configurations of a stage can train side by side (text.sh).
"""
import argparse
import copy
import json
import math
import time

import torch
import torch.nn.functional as F

from common import DATA, RUNS, Dataset, Distributed, hardware, save_atomic
from diffusion import Diffusion, linear_betas
from models import DiT, TextDiT, VAE, Classifier
from tokenizer import tokenize

CONFIGS = {
    "digits": dict(
        vae=dict(widths=(32, 64, 64), steps=5000, batch=128, lr=1e-3, kl_weight=1e-4),
        classifier=dict(steps=2000, batch=128, lr=2e-3, shift=2),
        # its Linear weights ship as int8 since 2026-12-02 (export.py --from-onnx --int8-weights, measured again)
        dit=dict(patch_size=1, hidden_size=192, depth=6, num_heads=3, steps=10000, batch=256, lr=3e-4,
                 ema=0.9995, warmup=500, int8_weights=True),
    ),
    # The shipped emoji model (issue 13's third run, data.ts emoji --fluent: three styles). Its DiT: hidden 384,
    # depth 8, 6 heads, patch 2 (21.9 M parameters), batch 1024 at learning rate 1e-3 (warm-up 500, cosine decay
    # to a tenth), EMA 0.999, bfloat16, 16000 steps (51.6 ms each: two 10-minute commands, --pause-seconds then
    # --resume); its Linear weights ship as int8. The second run, the same for 6500 steps, read 89.3% at
    # guidance 4 and 50.8% at 1 against this one's 90.9% and 56.9%; the first (batch 256, learning rate 3e-4,
    # 12500 steps) 80.8% and 40.5% (models/recipes/README.md).
    "emoji": dict(
        vae=dict(widths=(32, 64, 128), steps=4600, batch=128, lr=1e-3, kl_weight=1e-4),
        classifier=dict(steps=3000, batch=128, lr=2e-3, shift=4),
        dit=dict(patch_size=2, hidden_size=384, depth=8, num_heads=6, steps=16000, batch=1024, lr=1e-3,
                 ema=0.999, warmup=500, lr_decay=True, bf16=True, int8_weights=True),
    ),
}
# The emoji DiT shipped before issue 13 (two styles, without --fluent): 9.8 M parameters, 12500 steps at batch 256.
CONFIGS["emoji-small"] = dict(
    CONFIGS["emoji"],
    dit=dict(patch_size=2, hidden_size=256, depth=8, num_heads=4, steps=12500, batch=256, lr=3e-4,
             ema=0.9995, warmup=500, bf16=True),
)
# The emoji classes whose emoji survive a mirror left to right: not Travel & Places, whose clock faces would run
# backwards, nor Symbols' letters and arrows, nor Flags.
MIRRORED_EMOJI = ["Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Activities", "Objects"]
# Issue 13's fourth run: the shipped recipe with two changes on the data side, for 12000 steps. The training images
# of MIRRORED_EMOJI's classes also train mirrored, and classes are drawn by the square root of their size
# (class_balance 0.5: Activities' share of a batch 4.7% → 7.4%, People & Body's 20.6% → 15.4%).
CONFIGS["emoji-mirrored"] = dict(CONFIGS["emoji"], dit=dict(
    CONFIGS["emoji"]["dit"], steps=12000, class_balance=0.5, mirror=MIRRORED_EMOJI))
# Issue 13's fifth run: the fourth's recipe for 18000 steps (two 10-minute commands), and a classifier that also
# sees MIRRORED_EMOJI's training images mirrored (half the time), so that it does not mark a correct mirrored
# emoji down: the shipped one, trained without, reads its training images at 99.9% and their mirror images at 87.8%.
CONFIGS["emoji-mirrored-long"] = dict(
    CONFIGS["emoji"], classifier=dict(CONFIGS["emoji"]["classifier"], mirror=MIRRORED_EMOJI),
    dit=dict(CONFIGS["emoji-mirrored"]["dit"], steps=18000))
# The text DiT (issue 16; `train.py text-dit --data emoji`, checkpoint runs/emoji/text-dit.pt): the emoji images
# conditioned on their emoji's names and keywords (captions.json) through cross-attention, its text encoder trained
# with it, on the latents of the emoji model's VAE (runs/emoji/vae.pt). Each training image is paired, every step,
# with one of its emoji's training captions: a name with probability name_prob (its emoji has no name left: a
# keyword), else a keyword (no keyword: a name); caption_dropout of them become the null caption. The recipe of the
# emoji DiT otherwise (batch 1024, learning rate 1e-3, cosine decay, EMA 0.999, bfloat16, int8 weights).
# Sized by the two budgets. Speed (one 20-step guided prompt within 2 s on 2 AVX2 cores) allows far more
# than the size does: everything that travels to the GPU machine (tracked files and the packed data) must stay
# within 60 MiB, which leaves about 10 MB for the model's folder, so about 7 M int8 parameters with its VAE decoder
# and pictures. Hidden 192, depth 6, 3 heads, patch 2 (64 image tokens), a 2-layer encoder of width 128 over at most
# 16 words: 6.04 M parameters with the 3987-token vocabulary, 0.227 Gflops a forward pass (the emoji DiT's: 0.940).
CONFIGS["emoji"]["text-dit"] = dict(
    patch_size=2, hidden_size=192, depth=6, num_heads=3, text_width=128, text_depth=2, text_heads=2,
    pooled_text=True, caption_dropout=0.1, name_prob=0.5, steps=8000, batch=1024, lr=1e-3, ema=0.999, warmup=500,
    lr_decay=True, bf16=True, int8_weights=True)
# The probe size (13.9 M reached 38% top-1 on training names in 7 GPU minutes): hidden 256, depth 8, 4 heads,
# encoder width 256: 14.6 M parameters, 0.539 Gflops, a 17 MB folder, over the size budget unless something else
# shrinks. `train.py text-dit --data emoji --config emoji-text-large --run emoji-text-large` trains it beside the
# shipped one (models/recipes/text.sh), to measure what the size costs.
CONFIGS["emoji-text-large"] = dict(CONFIGS["emoji"], **{"text-dit": dict(
    CONFIGS["emoji"]["text-dit"], hidden_size=256, depth=8, num_heads=4, text_width=256, text_heads=4)})
# Captions from names only (name_prob 1.0, as the probe): keywords that many emoji share teach kinds of
# pictures rather than emoji. `train.py text-dit --data emoji --config emoji-text-names --run emoji-text-names`.
CONFIGS["emoji-text-names"] = dict(CONFIGS["emoji"], **{"text-dit": dict(CONFIGS["emoji"]["text-dit"], name_prob=1.0)})
DATASETS = ("digits", "emoji")  # the names data.ts makes; other CONFIGS keys are variants, picked by --config
SEED = 0
LOG_EVERY = 100
FIT_FROM, FIT_OVER = 100, 200  # --fit-seconds times steps 100..300


def schedule(step, steps, warmup, lr, decay=True):
    """Linear warm-up, then cosine decay to a tenth (or constant, for the DiT as the reference)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if not decay:
        return lr
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def batch_indices(pool, batch, generator):
    return pool[torch.randint(len(pool), (batch,), generator=generator, device=pool.device)]


def resume_path(name, stage):
    return RUNS / name / f"{stage}.resume.pt"


def train_loop(name, stage, model, loss_fn, cfg, steps, dist, max_seconds=None, ema=None, decay=True, control=None):
    """The loop all stages share: AdamW, gradient clipping, optional EMA, a JSON line every LOG_EVERY steps.

    Stops early (all ranks together) once max_seconds have passed (counting earlier commands of a resumed run);
    returns the log, the seconds and the steps run. With `control` (train.py's --resume, --pause-seconds and
    --checkpoint-every) it starts from a resume file and may pause: then it writes the file and returns None.
    """
    fused = dist.device.type == "cuda" and "fused" in torch.optim.AdamW.__init__.__code__.co_varnames
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.0, **({"fused": True} if fused else {}))
    generator = torch.Generator(device=dist.device).manual_seed(SEED + dist.rank)
    source = model.module if hasattr(model, "module") else model
    ema_params, params = (list(ema.parameters()), list(source.parameters())) if ema is not None else (None, None)
    decay = cfg.get("lr_decay", decay)
    log, start, first, before = [], time.time(), 0, 0.0
    path = resume_path(getattr(control, "run", None) or name, stage)
    if control and control.resume and path.exists():
        state = torch.load(path, map_location=dist.device)
        if state["config"] != cfg or state["steps"] != steps:
            raise SystemExit(f"{path} was made for {state['steps']} steps of {state['config']}, not {steps} of {cfg}: "
                             "remove it to start afresh")
        source.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        log, first, before = state["log"], state["step"], state["seconds"]
        generator.manual_seed(SEED + dist.rank + 1_000_003 * first)
        torch.manual_seed(SEED + dist.rank + 1_000_003 * first)  # the DiT's label dropout draws from it
        print(f"{name}/{stage} resumed at step {first} of {steps} ({before:.1f} s trained before)", flush=True)

    def save_resume(step):
        if dist.main:
            save_atomic({"model": source.state_dict(), "optimizer": opt.state_dict(),
                         "ema": ema.state_dict() if ema is not None else None, "step": step, "steps": steps,
                         "config": cfg, "log": log, "seconds": before + time.time() - start}, path)

    every = control.checkpoint_every if control and control.checkpoint_every else 0
    fit_seconds = control.fit_seconds if control and first == 0 else None
    step = first
    while step < steps:
        if fit_seconds and step == FIT_FROM + FIT_OVER:
            # the step count that fits the time budget, from the speed of steps FIT_FROM..FIT_FROM+FIT_OVER (the
            # first ones pay for CUDA's warm-up); the schedule's decay is stretched over it before it begins
            synchronize(dist.device)
            per_step = dist.slowest((time.time() - fit_start) / FIT_OVER)
            steps = max(step + 1, int(fit_seconds / per_step) // 500 * 500)
            print(f"{name}/{stage} {per_step * 1000:.1f} ms a step: {steps} steps fit {fit_seconds:.0f} s", flush=True)
        if fit_seconds and step == FIT_FROM:
            synchronize(dist.device)
            fit_start = time.time()
        checkpoint_step = every and step % every == 0
        # the clock is read (and agreed on, across GPUs) at log and checkpoint steps only
        if step > first and (step % LOG_EVERY == 0 or checkpoint_step):
            if max_seconds and dist.agree(before + time.time() - start > max_seconds):
                print(f"{name}/{stage} stopped at step {step}: the {max_seconds} s budget is spent", flush=True)
                break
            if control and control.pause_seconds and dist.agree(time.time() - start > control.pause_seconds):
                save_resume(step)
                print(f"{name}/{stage} paused at step {step} of {steps}: run the same command with --resume "
                      f"to go on ({path})", flush=True)
                return None
            if checkpoint_step:
                save_resume(step)
        for group in opt.param_groups:
            group["lr"] = schedule(step, steps, cfg.get("warmup", 200), cfg["lr"], decay)
        with torch.autocast(dist.device.type, dtype=torch.bfloat16, enabled=cfg.get("bf16", False)):
            terms = loss_fn(generator)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if ema is not None:
            update_ema(ema_params, params, cfg["ema"])
        if dist.main and (step % LOG_EVERY == 0 or step == steps - 1):
            row = {"step": step, "seconds": round(before + time.time() - start, 1),
                   **{k: float(v) for k, v in terms.items()}}
            log.append(row)
            print(f"{name}/{stage} " + json.dumps(row), flush=True)
        step += 1
    return log, before + time.time() - start, step


def synchronize(device):
    """Wait for the GPU's queued work, so that the clock measures it (CUDA launches return at once)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def update_ema(ema_params, params, decay):
    """ema ← decay·ema + (1 − decay)·params, in one fused launch where PyTorch has one (2.0 and later)."""
    if hasattr(torch, "_foreach_lerp_"):
        torch._foreach_lerp_(ema_params, params, 1 - decay)
    else:
        for e, p in zip(ema_params, params):
            e.lerp_(p, 1 - decay)


def train_vae(name, data, cfg, steps, dist, max_seconds, control=None):
    image_channels = data.images.shape[1]
    vae = VAE(image_channels, cfg["widths"]).to(dist.device)
    model = dist.wrap(vae)
    per_rank = cfg["batch"] // dist.world

    def loss_fn(generator):
        x = data.images[batch_indices(data.train, per_rank, generator)]
        latent_shape = (x.shape[0], 4, x.shape[2] // 4, x.shape[3] // 4)
        recon, mean, logvar = model(x, torch.randn(latent_shape, generator=generator, device=x.device))
        mse = F.mse_loss(recon, x)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
        return {"loss": mse + cfg["kl_weight"] * kl, "mse": mse, "kl": kl}

    result = train_loop(name, "vae", model, loss_fn, cfg, steps, dist, max_seconds, control=control)
    if result is None:
        return None
    log, seconds, steps = result
    vae.eval()
    with torch.no_grad():
        # the latent scale factor: 1/std of the training latents as the DiT will see them (posterior samples)
        latents = torch.cat([sample_latents(vae, data.images[i]) for i in chunks(data.train)])
        scale_factor = 1.0 / latents.std().item()
        psnr = heldout_psnr(vae, data)
    return dict(state_dict=vae.state_dict(), config=cfg, log=log, seconds=seconds, steps=steps,
                scale_factor=scale_factor, heldout_psnr=psnr, hardware=hardware(dist.device))


def chunks(indices, size=512):
    return [indices[i:i + size] for i in range(0, len(indices), size)]


def sample_latents(vae, x):
    mean, logvar = vae.encoder(x)
    return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def heldout_psnr(vae, data):
    """Mean over held-out images of the PSNR (dB) of decode(encode-mean), pixels in [0, 1]."""
    values = []
    for idx in chunks(data.heldout):
        x = data.images[idx]
        recon = vae.decoder(vae.encoder(x)[0]).clamp(-1, 1)
        mse = (((recon - x) / 2) ** 2).mean(dim=(1, 2, 3))
        values.append(10 * torch.log10(1.0 / mse.clamp(min=1e-10)))
    return torch.cat(values).mean().item()


def train_classifier(name, data, cfg, steps, dist, max_seconds, control=None):
    net = Classifier(data.images.shape[1], len(data.classes)).to(dist.device)
    model = dist.wrap(net)
    per_rank = cfg["batch"] // dist.world
    mirrorable = class_mask(data, cfg.get("mirror", ()), f"{name}'s classifier config: mirror")

    def loss_fn(generator):
        idx = batch_indices(data.train, per_rank, generator)
        x = random_shift(data.images[idx], cfg["shift"], generator)
        if mirrorable.any():  # the mirrorable classes' images, half of them mirrored left to right
            flip = mirrorable[data.labels[idx]] & (torch.rand(len(idx), generator=generator, device=x.device) < 0.5)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        logits, _ = model(x)
        loss = F.cross_entropy(logits, data.labels[idx])
        return {"loss": loss, "accuracy": (logits.argmax(1) == data.labels[idx]).float().mean()}

    result = train_loop(name, "classifier", model, loss_fn, cfg, steps, dist, max_seconds, control=control)
    if result is None:
        return None
    log, seconds, steps = result
    net.eval()
    with torch.no_grad():
        correct = sum((net(data.images[i])[0].argmax(1) == data.labels[i]).sum().item() for i in chunks(data.heldout))
    return dict(state_dict=net.state_dict(), config=cfg, log=log, seconds=seconds, steps=steps,
                heldout_accuracy=correct / len(data.heldout), hardware=hardware(dist.device))


def random_shift(x, pixels, generator):
    """Translate each image by up to ±pixels, filling with the border value (background stays background)."""
    padded = F.pad(x, [pixels] * 4, mode="replicate")
    H, W = x.shape[2:]
    dy, dx = torch.randint(0, 2 * pixels + 1, (2,), generator=generator, device=x.device).tolist()
    return padded[:, :, dy:dy + H, dx:dx + W]


def class_mask(data, names, what):
    """[classes] bools, True for the classes `names` lists (a config's mirror); a name that is no class of the data is
    refused in one line, naming `what`."""
    unknown = sorted(set(names) - set(data.classes))
    if unknown:
        raise SystemExit(f"{what}: {unknown} are not classes of the data ({data.classes})")
    return torch.tensor([c in names for c in data.classes], device=data.labels.device)


def training_posterior(name, data, device, mirror=()):
    """The VAE's posterior (mean, std) of every training image, and the latent scale factor: encoded once; each
    step draws a fresh posterior sample, as DiT's training does. With `mirror` (class names) the training images of
    those classes are also encoded mirrored left to right, appended after the others; `rows` says which training
    image (a position in data.train) each latent came from."""
    vae_ckpt = torch.load(RUNS / name / "vae.pt", map_location=device)
    vae = VAE(data.images.shape[1], vae_ckpt["config"]["widths"]).to(device).eval()
    vae.load_state_dict(vae_ckpt["state_dict"])
    mirrorable = class_mask(data, mirror, f"{name}'s DiT config: mirror")
    mirrored = torch.nonzero(mirrorable[data.labels[data.train]]).squeeze(1)
    with torch.no_grad():
        posterior = [vae.encoder(data.images[i]) for i in chunks(data.train)]
        posterior += [vae.encoder(data.images[i].flip(-1)) for i in chunks(data.train[mirrored])]
    means = torch.cat([m for m, _ in posterior])
    stds = torch.cat([torch.exp(0.5 * lv) for _, lv in posterior])
    rows = torch.cat([torch.arange(len(data.train), device=device), mirrored])
    return means, stds, rows, vae_ckpt["scale_factor"]


def draw_weights(train_labels, rows, class_balance):
    """How likely each latent is drawn into a batch (`rows`: its training image, `train_labels`: their classes): a
    class's share of a batch grows as (its images)^(1 − class_balance) (0: as in the data, 1: equal shares), and an
    image and its mirror split the image's share. None when neither applies: batches then draw uniformly, as the runs
    before these options did, draw for draw."""
    if not class_balance and len(rows) == len(train_labels):
        return None
    images_of_class = torch.bincount(train_labels).float()
    latents_of_image = torch.bincount(rows, minlength=len(train_labels)).float()
    return images_of_class[train_labels[rows]] ** -class_balance / latents_of_image[rows]


def posterior_sample(means, stds, scale, idx, generator):
    """Scaled latents z of the training images idx: one draw from each one's posterior."""
    return (means[idx] + stds[idx] * torch.randn(means[idx].shape, generator=generator, device=means.device)) * scale


def train_dit(name, data, cfg, steps, dist, max_seconds, control=None):
    means, stds, rows, scale = training_posterior(name, data, dist.device, cfg.get("mirror", ()))
    labels = data.labels[data.train][rows]
    weights = draw_weights(data.labels[data.train], rows, cfg.get("class_balance", 0))
    dit = DiT(input_size=means.shape[-1], patch_size=cfg["patch_size"], in_channels=means.shape[1],
              hidden_size=cfg["hidden_size"], depth=cfg["depth"], num_heads=cfg["num_heads"],
              num_classes=len(data.classes)).to(dist.device)
    ema = copy.deepcopy(dit).eval().requires_grad_(False)
    model = dist.wrap(dit)
    diffusion = Diffusion(linear_betas(1000), dist.device)
    per_rank = cfg["batch"] // dist.world
    pool = torch.arange(len(means), device=dist.device)

    def loss_fn(generator):
        if weights is None:
            idx = batch_indices(pool, per_rank, generator)
        else:
            idx = torch.multinomial(weights, per_rank, replacement=True, generator=generator)
        z = posterior_sample(means, stds, scale, idx, generator)
        t = torch.randint(0, diffusion.num_timesteps, (per_rank,), generator=generator, device=z.device)
        loss, mse, vb = diffusion.training_losses(model, z, t, labels[idx])
        return {"loss": loss.mean(), "mse": mse.mean(), "vb": vb.mean()}

    result = train_loop(name, "dit", model, loss_fn, cfg, steps, dist, max_seconds, ema=ema, decay=False,
                        control=control)
    if result is None:
        return None
    log, seconds, steps = result
    return dict(state_dict=ema.state_dict(), config=cfg, log=log, seconds=seconds, steps=steps,
                parameters=sum(p.numel() for p in dit.parameters()), hardware=hardware(dist.device),
                input_size=means.shape[-1], num_classes=len(data.classes))


class TrainingCaptions:
    """The training captions of every training image as word ids, on the device, to draw one per image a step.

    An image `<style>/<unified>` has its emoji's captions (captions.json): its names and keywords, less those that
    spell a held-out name (exactly captions.json's `training`). Tokenized by tokenizer.py with the data's vocab.json.
    """

    def __init__(self, name, data, device, name_prob):
        folder = DATA / name
        if not (folder / "captions.json").exists():
            raise SystemExit(f"no captions at {folder}: run `deno run -A models/recipes/data.ts {name}` first")
        captions = json.loads((folder / "captions.json").read_text())
        self.vocabulary = json.loads((folder / "vocab.json").read_text())
        held = set(captions["textHeldout"])
        by_emoji = {e["unified"]: e for e in captions["emoji"]}
        rows, names, keywords = [], [], []  # a caption table; per training image: (offset, count) of each kind

        def add(texts):
            offset = len(rows)
            rows.extend(tokenize(self.vocabulary, text)["ids"] for text in texts)
            return offset, len(texts)

        seen = {}
        for i in data.train.tolist():
            unified = data.meta["ids"][i].split("/", 1)[1]
            if unified not in seen:
                e = by_emoji[unified]
                assert not e["heldout"], f"training image {data.meta['ids'][i]} has a held-out emoji's captions"
                n = [c for c in e["names"] if c not in held]
                k = [c for c in e["keywords"] if c not in held]
                seen[unified] = (add(n or k), add(k or n))
            names.append(seen[unified][0])
            keywords.append(seen[unified][1])
        self.rows = torch.tensor(rows, dtype=torch.long, device=device)  # [captions, L]
        self.names = torch.tensor(names, dtype=torch.long, device=device)  # [training images, 2]: offset, count
        self.keywords = torch.tensor(keywords, dtype=torch.long, device=device)
        self.name_prob = name_prob
        self.count = len(rows)

    def sample(self, idx, generator):
        """Word ids [B, L] for the training images idx: one caption each, a name with probability name_prob."""
        u = torch.rand((3, len(idx)), generator=generator, device=idx.device)
        table = torch.where((u[0] < self.name_prob)[:, None], self.names[idx], self.keywords[idx])  # [B, 2]
        pick = table[:, 0] + (u[1] * table[:, 1]).long().clamp(max=table[:, 1] - 1)
        return self.rows[pick]


def text_dit_kwargs(cfg, input_size, vocabulary):
    """TextDiT's constructor arguments from a text-dit config (what the checkpoint stores, for export.py)."""
    return dict(input_size=input_size, patch_size=cfg["patch_size"], hidden_size=cfg["hidden_size"],
                depth=cfg["depth"], num_heads=cfg["num_heads"], vocab_size=len(vocabulary["tokens"]),
                max_length=vocabulary["maxLength"], text_width=cfg["text_width"], text_depth=cfg["text_depth"],
                text_heads=cfg["text_heads"], caption_dropout_prob=cfg["caption_dropout"],
                pooled_text=cfg["pooled_text"])


def train_text_dit(name, data, cfg, steps, dist, max_seconds, control=None):
    means, stds, _, scale = training_posterior(name, data, dist.device)
    captions = TrainingCaptions(name, data, dist.device, cfg["name_prob"])
    kwargs = text_dit_kwargs(cfg, means.shape[-1], captions.vocabulary)
    dit = TextDiT(**kwargs).to(dist.device)
    ema = copy.deepcopy(dit).eval().requires_grad_(False)
    model = dist.wrap(dit)
    diffusion = Diffusion(linear_betas(1000), dist.device)
    per_rank = cfg["batch"] // dist.world
    pool = torch.arange(len(means), device=dist.device)
    if dist.main:
        print(f"{name}/text-dit: {len(means)} training images, {captions.count} captions, "
              f"{sum(p.numel() for p in dit.parameters()):,} parameters", flush=True)

    def loss_fn(generator):
        idx = batch_indices(pool, per_rank, generator)
        z = posterior_sample(means, stds, scale, idx, generator)
        t = torch.randint(0, diffusion.num_timesteps, (per_rank,), generator=generator, device=z.device)
        loss, mse, vb = diffusion.training_losses(model, z, t, captions.sample(idx, generator))
        return {"loss": loss.mean(), "mse": mse.mean(), "vb": vb.mean()}

    result = train_loop(name, "text-dit", model, loss_fn, cfg, steps, dist, max_seconds, ema=ema, control=control)
    if result is None:
        return None
    log, seconds, steps = result
    return dict(state_dict=ema.state_dict(), config=cfg, log=log, seconds=seconds, steps=steps,
                parameters=sum(p.numel() for p in dit.parameters()), hardware=hardware(dist.device),
                input_size=means.shape[-1], model=kwargs, vocabulary=captions.vocabulary)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=["vae", "classifier", "dit", "text-dit"])
    parser.add_argument("--data", choices=sorted({n for n in CONFIGS if n in DATASETS}), required=True)
    parser.add_argument("--config", choices=sorted(CONFIGS),
                        help="the configuration to train (default: the dataset's own, CONFIGS[NAME])")
    parser.add_argument("--run", help="write the checkpoint (and resume file) to runs/RUN instead of runs/DATA, so two "
                                      "configurations of one stage can train side by side; the VAE is still runs/DATA's")
    parser.add_argument("--steps", type=int, help="override the configured number of steps (smoke tests)")
    parser.add_argument("--batch", type=int, help="override the configured batch, recorded in the config (smoke tests)")
    parser.add_argument("--max-seconds", type=float, help="stop early after this long (the card records the steps)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from runs/NAME/STAGE.resume.pt if there is one (else start afresh)")
    parser.add_argument("--pause-seconds", type=float,
                        help="after this long, write the resume file and stop (finish with --resume)")
    parser.add_argument("--checkpoint-every", type=int, help="also write the resume file every N steps")
    parser.add_argument("--fit-seconds", type=float,
                        help="train as many steps as fit this long at the speed measured over the first 300 "
                             "(rounded down to 500); the learning-rate decay spans them; the card records them")
    args = parser.parse_args()
    if args.fit_seconds and (args.resume or args.steps):
        parser.error("--fit-seconds picks the number of steps itself: use it without --resume and --steps")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    dist = Distributed()
    torch.manual_seed(SEED + dist.rank)
    if args.stage not in CONFIGS[args.config or args.data]:
        parser.error(f"{args.config or args.data} has no {args.stage} configuration (text-dit: emoji only, it needs captions)")
    cfg = CONFIGS[args.config or args.data][args.stage]
    if args.batch:
        cfg = dict(cfg, batch=args.batch)
    steps = args.steps or cfg["steps"]
    run = args.run or args.data
    final = RUNS / run / f"{args.stage}.pt"
    if args.resume and not resume_path(run, args.stage).exists() and final.exists():
        done = torch.load(final, map_location="cpu")
        if done["config"] == cfg and done["steps"] == steps:
            print(f"{args.data}/{args.stage} already done: {final} has all {steps} steps; nothing to train", flush=True)
            dist.close()
            return
    data = Dataset(args.data, dist.device)
    trainer = {"vae": train_vae, "classifier": train_classifier, "dit": train_dit, "text-dit": train_text_dit}[args.stage]
    checkpoint = trainer(args.data, data, cfg, steps, dist, args.max_seconds, args)
    if checkpoint is None:  # paused: the resume file holds the run
        dist.close()
        return
    if dist.main:
        checkpoint["world_size"] = dist.world
        save_atomic(checkpoint, final)
        resume_path(run, args.stage).unlink(missing_ok=True)
        summary = {k: v for k, v in checkpoint.items() if k not in ("state_dict", "log", "vocabulary")}
        print(f"{run}/{args.stage} done: " + json.dumps(summary, default=str), flush=True)
    dist.close()


if __name__ == "__main__":
    main()
