"""Quality against steps for every sampler: `python3 models/recipes/evaluate_samplers.py --data NAME --out FILE`.

The shipped model (models/NAME: its DiT, VAE decoder and classifier read from the ONNX files, float32, on the
GPU if there is one) samples the cards' protocol (evaluate.py: the same classes, SAMPLES_PER_CLASS of each, the
same seed, so every sampler starts from the same x_T) with each sampler at each step count, at guidance 4 and
1. For each it records the classifier's accuracy (overall and per class), the Fréchet distance to the held-out
real images (.cache/data/NAME, made by models/recipes/data.ts) in the classifier's features, and the network
evaluations per image (a guided evaluation runs a batch of 2 per image). DDIM and DDPM follow the toolkit's
lib/diffusion.ts (guidance on every ε channel, DDPM with the learned variance, x̂0 unclipped), the ODE samplers
models/recipes/samplers.py, the restatement the toolkit's fixtures come from. Writes FILE as JSON;
`deno run -A models/recipes/record_samplers.ts NAME FILE` puts it into the card.
"""
import argparse
import json
import math
import pathlib
import time

import numpy as np
import torch

from common import REPO, Dataset, hardware
from diffusion import Diffusion, ddim_timesteps, linear_betas
from evaluate import GUIDANCE_SCALES, SAMPLES_PER_CLASS, SEED, classify, frechet_distance
from export import load_shipped
import samplers

STEPS = (5, 10, 15, 20, 30, 50)
DDPM_STEPS = 250


def round_to_4bit(dit, block):
    """Round every Linear weight of `dit` to 4 bits in place (integers −7…7, one scale per `block` inputs of a row;
    0: one scale per row): what storing the weights in 4 bits would cost, measured before building it. Returns how
    many weights it rounded."""
    count = 0
    with torch.no_grad():
        for module in dit.modules():
            if isinstance(module, torch.nn.Linear):
                w = module.weight
                size = block or w.shape[1]
                if w.shape[1] % size:
                    raise SystemExit(f"--weights-4bit {block}: a Linear has {w.shape[1]} inputs, not a multiple of it")
                blocks = w.reshape(w.shape[0], -1, size)
                scale = blocks.abs().amax(-1, keepdim=True).clamp(min=1e-12) / 7
                w.copy_((torch.round(blocks / scale).clamp(-7, 7) * scale).reshape(w.shape))
                count += w.numel()
    return count


def guided_eps(dit, x, t, labels, null_label, guidance_scale):
    """ε̂ and v at the integer timestep t, the guided ε̂ from one batch of 2n (both halves, as the toolkit)."""
    n, c = x.shape[0], x.shape[1]
    if guidance_scale == 1:
        out = dit(x, torch.full((n,), t, device=x.device, dtype=torch.long), labels)
        return out[:, :c], out[:, c:]
    out = dit(torch.cat([x, x]), torch.full((2 * n,), t, device=x.device, dtype=torch.long),
              torch.cat([labels, torch.full_like(labels, null_label)]))
    cond, uncond = out[:n], out[n:]
    return uncond[:, :c] + guidance_scale * (cond[:, :c] - uncond[:, :c]), cond[:, c:]


@torch.no_grad()
def run_sampler(dit, name, steps, x, labels, null_label, guidance_scale, generator):
    """x_0 from x_T = x with sampler `name` over `steps` steps; returns (x_0, network evaluations per image)."""
    betas = linear_betas(1000)
    ac_full = np.cumprod(1.0 - betas)
    eps_fn = lambda x_t, t: guided_eps(dit, x_t, t, labels, null_label, guidance_scale)[0]  # noqa: E731
    if name in samplers.SAMPLERS:
        kept = sorted(samplers.karras_schedule(ac_full, steps)[0]) if name in ("euler", "heun") else \
            ddim_timesteps(1000, steps)
        trajectory, evaluations = samplers.sample(eps_fn, ac_full, kept, name, x)
        return trajectory[-1][0], evaluations
    kept = ddim_timesteps(1000, steps)
    ac = ac_full[kept]
    if name == "ddim":  # η = 0
        ac_prev = np.append(1.0, ac[:-1])
        for i in reversed(range(len(kept))):
            eps = eps_fn(x, kept[i])
            x0 = math.sqrt(1.0 / ac[i]) * x - math.sqrt(1.0 / ac[i] - 1.0) * eps
            x = math.sqrt(ac_prev[i]) * x0 + math.sqrt(1.0 - ac_prev[i]) * eps
        return x, len(kept)
    assert name == "ddpm", name
    # the respaced process: β re-derived from consecutive kept ᾱ (the reference's SpacedDiffusion)
    diffusion = Diffusion(1.0 - ac / np.append(1.0, ac[:-1]), x.device)
    for i in reversed(range(len(kept))):
        eps, v = guided_eps(dit, x, kept[i], labels, null_label, guidance_scale)
        index = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
        mean, logvar, _ = diffusion.p_mean_logvar(eps, v, x, index)
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        x = mean + (torch.exp(0.5 * logvar) * noise if i > 0 else 0)
    return x, len(kept)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(SAMPLES_PER_CLASS), required=True)
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--model", help="the model folder to measure (default models/NAME)")
    parser.add_argument("--samples-per-class", type=int, help="override, for smoke tests")
    parser.add_argument("--steps", type=int, nargs="*", default=list(STEPS))
    parser.add_argument("--samplers", nargs="+", choices=("ddim", *samplers.SAMPLERS, "ddpm"),
                        help="measure only these (default: all; ddpm runs its own DDPM_STEPS)")
    parser.add_argument("--weights-4bit", type=int, metavar="BLOCK",
                        help="first round the DiT's Linear weights to 4 bits, one scale per BLOCK inputs of a row "
                             "(0: per row): what 4-bit storage would cost")
    args = parser.parse_args()
    if args.weights_4bit is not None and args.weights_4bit < 0:
        parser.error(f"--weights-4bit is {args.weights_4bit}; expected 0 (a scale per row) or a block size")
    torch.backends.cuda.matmul.allow_tf32 = False  # the float32 model
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dit, decoder, classifier, card = load_shipped(pathlib.Path(args.model) if args.model else REPO / "models" / args.data)
    if args.weights_4bit is not None:
        print(f"rounded {round_to_4bit(dit, args.weights_4bit):,} weights to 4 bits", flush=True)
    dit, decoder, classifier = dit.to(device), decoder.to(device), classifier.to(device)
    data = Dataset(args.data, device)
    num_classes, null_label = card["architecture"]["numClasses"], card["nullClassId"]
    per_class = args.samples_per_class or SAMPLES_PER_CLASS[args.data]
    labels = torch.arange(num_classes, device=device).repeat_interleave(per_class)
    _, real_features = classify(classifier, data.images[data.heldout])
    latent = card["latent"]
    shape = (len(labels), latent["channels"], latent["height"], latent["width"])
    chosen = args.samplers or ("ddim", *samplers.SAMPLERS, "ddpm")
    configs = [(name, steps) for name in ("ddim", *samplers.SAMPLERS) if name in chosen for steps in args.steps]
    configs += [("ddpm", DDPM_STEPS)] if "ddpm" in chosen else []
    results = []
    for name, steps in configs:
        row = {"sampler": name, "steps": steps}
        for guidance in GUIDANCE_SCALES:
            generator = torch.Generator(device=device).manual_seed(SEED)
            x_T = torch.randn(shape, generator=generator, device=device)  # evaluate.py's first draw
            start = time.perf_counter()
            latents, evaluations = run_sampler(dit, name, steps, x_T, labels, null_label, guidance, generator)
            with torch.no_grad():
                images = torch.cat([decoder(latents[i:i + 250] / latent["scaleFactor"])
                                    for i in range(0, len(latents), 250)]).clamp(-1, 1)
            logits, features = classify(classifier, images)
            predicted = logits.argmax(1)
            row[str(guidance)] = {
                "accuracy": round((predicted == labels).float().mean().item(), 4),
                "accuracyByClass": {card["classes"][c]["name"]: round((predicted[labels == c] == c).float().mean().item(), 4)
                                    for c in range(num_classes)},
                "frechetDistance": round(frechet_distance(features, real_features), 3),
                "nonFinite": int((~torch.isfinite(latents)).sum()),
                "gpuSeconds": round(time.perf_counter() - start, 2),
            }
            row["networkEvaluations"] = evaluations  # per image; guided ones run a batch of 2
        results.append(row)
        print(json.dumps({k: (v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items() if kk != "accuracyByClass"})
                          for k, v in row.items()}), flush=True)
    out = {"model": args.data, "samples": len(labels), "seed": SEED, "guidanceScales": list(GUIDANCE_SCALES),
           "hardware": hardware(device),
           "command": " ".join(["python3 models/recipes/evaluate_samplers.py --data", args.data,
                                *(["--model", args.model] if args.model else []),
                                *(["--samplers", *args.samplers] if args.samplers else []),
                                *(["--steps", *map(str, args.steps)] if args.steps != list(STEPS) else []),
                                *(["--weights-4bit", str(args.weights_4bit)] if args.weights_4bit is not None else [])]),
           "results": results}
    pathlib.Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
