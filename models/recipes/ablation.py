"""The paper's block-design study (Section 3.2, Figure 5) and the transformer-vs-U-Net question, on digits, as
one command: `python3 models/recipes/ablation.py --out runs/ablation`.

Five arms: DiTs of the four block designs (adaLN-Zero, adaLN, cross-attention, in-context: DIT below) and a
U-Net of the ADM / latent-diffusion kind at similar Gflops (UNET below). Every arm trains on the same data (the
digits training images, encoded once by the shipped digits VAE, a fresh posterior sample each step, as
train.py does), with the same optimizer, batch, learning rate, EMA, steps and seeds (TRAIN, --seeds), one
process per arm and seed, all side by side on one GPU (the small steps leave a GPU mostly idle). Each run
measures its EMA model every --eval-every steps, from step 0: DDIM at guidance 4 and 1 (evaluate.py's
protocol: the same seed, so every arm starts from the same noise, and the same labels), decoded by the shipped
VAE and read by the shipped classifier (models/digits: nothing is retrained but the five arms), reporting the
classifier's accuracy and the Fréchet distance in its features to the held-out real images. The curve points
draw CURVE's smaller sample, the final measurement FINAL's (the cards' protocol), on the weights as they ship
(float16, Linear weights int8, the U-Net's convolutions too).

Without --steps, the runs train as many steps as fit --seconds (the whole command's budget): each times its
steps CALIBRATE[0]..CALIBRATE[1] and its step-0 measurement while all run at once, the runs agree on the
slowest, and all train the same number of steps (a multiple of --eval-every). --steps N trains N steps.

Writes into --out: prepared.pt (the encoded data, shared by the runs), runs/ARM-SEED.json (each run's curve,
losses and final measurement) and .pt (its EMA weights), results.json (everything, with the table by arm: mean
and each seed), results.png (the curves, where matplotlib is installed) and models/digits-ARM/ (the seed-0 model
of each arm as ONNX with its card: architecture with block and Gflops, quality, training; folder and card named
as they ship in models/: digits-adaln-zero, digits-adaln, digits-cross-attention, digits-in-context,
digits-unet). A DiT arm ships its float32 graph only (dit.onnx and dit.weights): its quality is measured on
what that graph computes, and at these sizes an int8 graph would save no time worth its files. The cards name
no VAE: the arms model the digits latent, so `loadDiT(models/digits-ARM)` samples latents and models/digits
decodes them.

Smoke test on a CPU (minutes): `python3 models/recipes/ablation.py --out /tmp/ablation --steps 20
--eval-every 10 --batch 32 --curve-samples-per-class 2 --final-samples-per-class 2 --sampling-steps 3`.
"""
import argparse
import copy
import json
import math
import os
import pathlib
import subprocess
import sys
import time

import torch

from common import REPO, Dataset, hardware, save_atomic
from diffusion import Diffusion, ddim_sample, linear_betas
from evaluate import classify, frechet_distance
from export import (architecture_of, export_network, onnx_state_dict, round_to_float16, round_to_int8,
                    write_card)
from models import VAE, Classifier, DiT, UNet
from train import update_ema

DIGITS = REPO / "models" / "digits"  # the shipped VAE and classifier, read from their ONNX files
# The DiT arms: the digits DiT's shape (patch 1 on the 8×8 latent: 64 tokens, head width 64) at width 128, so
# that five arms ship in a few MB
DIT = dict(patch_size=1, hidden_size=128, depth=6, num_heads=2)
# The U-Net: two levels (8×8, 4×4) of 64 channels, four ResBlocks a level down and five up; 0.077 Gflops against
# the adaLN-Zero DiT's 0.083 (gflops.py); its embedding width is the DiTs' hidden size
UNET = dict(model_channels=64, channel_mult=(1, 1), num_res_blocks=4, emb_dim=128)
ARMS = ("adaLN-Zero", "adaLN", "cross-attention", "in-context", "UNet")
# Identical for every arm. The learning rate and batch are the digits DiT's (train.py); constant after warm-up
# as the reference's. The EMA is warmed up, min(decay, (1 + step) / (10 + step)), so that curve points of a few
# hundred steps measure the recent weights, not the initialization.
TRAIN = dict(batch=256, lr=3e-4, warmup=200, ema=0.999)
SEEDS = (0, 1)
CURVE = dict(samples_per_class=20, sampling_steps=25)  # each curve point
FINAL = dict(samples_per_class=50, sampling_steps=50)  # the end: evaluate.py's protocol for digits
GUIDANCE_SCALES = (4.0, 1.0)
EVAL_SEED = 0  # the noise and labels every measurement starts from, the same for every arm
EVAL_EVERY = 250
CALIBRATE = (20, 120)  # the steps timed to choose the step count
EXPORT_SECONDS = 60  # kept back from --seconds for the driver's export at the end
BARRIER_SECONDS = 600


def build(arm, num_classes, input_size, in_channels):
    """A freshly initialized network of `arm` (the global seed decides its weights)."""
    shape = dict(input_size=input_size, in_channels=in_channels, num_classes=num_classes)
    if arm == "UNet":
        return UNet(**UNET, **shape)
    return DiT(**DIT, block=arm, **shape)


def round_as_shipped(model):
    """Round a network in place to what export ships (float16; int8 per output channel for the Linear weights,
    and a U-Net's convolutions); returns round_to_int8's {name: (q, scale)} for export_network."""
    round_to_float16(model)
    return round_to_int8(model, (torch.nn.Linear, torch.nn.Conv2d) if isinstance(model, UNet) else (torch.nn.Linear,))


def shipped_modules(device):
    """The shipped digits VAE (encoder and decoder) and classifier, from their ONNX files, and the card."""
    card = json.loads((DIGITS / "card.json").read_text())
    vae = VAE(card["image"]["channels"], card["vae"]["widths"])
    classifier = Classifier(card["image"]["channels"], card["architecture"]["numClasses"])
    for module, role in ((vae.encoder, "vaeEncoder"), (vae.decoder, "vaeDecoder"), (classifier, "classifier")):
        module.load_state_dict(onnx_state_dict(DIGITS / card["files"][role]), strict=True)
    return vae.to(device).eval(), classifier.to(device).eval(), card


@torch.no_grad()
def prepare(out, device):
    """Encode the training images once (posterior mean and std) and read the held-out reals' classifier features:
    what every run shares."""
    data = Dataset("digits", device)
    vae, classifier, card = shipped_modules(device)
    posterior = [vae.encoder(data.images[data.train[i:i + 1000]]) for i in range(0, len(data.train), 1000)]
    _, real_features = classify(classifier, data.images[data.heldout])
    _, train_features = classify(classifier, data.images[data.train])
    prepared = {
        "means": torch.cat([m for m, _ in posterior]).cpu(),
        "stds": torch.cat([torch.exp(0.5 * lv) for _, lv in posterior]).cpu(),
        "labels": data.labels[data.train].cpu(), "real_features": real_features.cpu(),
        "scale_factor": card["latent"]["scaleFactor"], "classes": data.classes,
        "frechet_floor": frechet_distance(train_features, real_features),
        "data": {"train": len(data.train), "heldout": len(data.heldout)},
    }
    save_atomic(prepared, out / "prepared.pt")
    return prepared


@torch.no_grad()
def measure(model, decoder, classifier, prepared, samples_per_class, sampling_steps):
    """Accuracy and Fréchet distance of `model`'s samples at each guidance scale (evaluate.py's protocol)."""
    device = prepared["means"].device
    num_classes = len(prepared["classes"])
    labels = torch.arange(num_classes, device=device).repeat_interleave(samples_per_class)
    shape = (len(labels), *prepared["means"].shape[1:])
    result = {}
    for guidance in GUIDANCE_SCALES:
        generator = torch.Generator(device=device).manual_seed(EVAL_SEED)
        latents = ddim_sample(model, linear_betas(1000), labels, num_classes, shape, guidance, sampling_steps,
                              generator)
        images = torch.cat([decoder(latents[i:i + 500] / prepared["scale_factor"])
                            for i in range(0, len(latents), 500)]).clamp(-1, 1)
        logits, features = classify(classifier, images)
        result[str(guidance)] = {"accuracy": round((logits.argmax(1) == labels).float().mean().item(), 4),
                                 "frechetDistance": round(frechet_distance(features, prepared["real_features"]), 3)}
    return result


def barrier(out, stage, name, runs, value=None):
    """Wait until every run has reached `stage`; returns their values (JSON) by run name."""
    folder = out / "sync" / stage
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{name}.tmp"
    tmp.write_text(json.dumps(value))
    os.replace(tmp, folder / f"{name}.json")
    start = time.time()
    while not all((folder / f"{r}.json").exists() for r in runs):
        if time.time() - start > BARRIER_SECONDS:
            raise SystemExit(f"{name}: gave up waiting {BARRIER_SECONDS} s for the other runs at {stage}")
        time.sleep(0.2)
    return {r: json.loads((folder / f"{r}.json").read_text()) for r in runs}


def fitted_steps(seconds_left, per_step, curve_seconds, final_seconds, eval_every, done):
    """The most steps (a multiple of eval_every, at least `done` rounded up) whose training and curve points fit
    90% of the seconds left, after the final measurement."""
    budget = 0.9 * seconds_left - final_seconds
    steps = (budget + done * per_step) / (per_step + curve_seconds / eval_every)
    return max(math.ceil(done / eval_every), int(steps // eval_every)) * eval_every


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker(args):
    """One arm, one seed: train, measure along the way, measure the shipped weights at the end."""
    out, name = pathlib.Path(args.out), f"{args.worker}-{args.seed}"
    runs = [f"{arm}-{seed}" for arm in args.arms for seed in args.seeds]
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    prepared = torch.load(out / "prepared.pt")
    prepared.update({k: prepared[k].to(device) for k in ("means", "stds", "labels", "real_features")})
    vae, classifier, _ = shipped_modules(device)
    num_classes = len(prepared["classes"])
    torch.manual_seed(args.seed)  # the weights' initialization, and the label dropout's draws
    model = build(args.worker, num_classes, prepared["means"].shape[-1], prepared["means"].shape[1]).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    fused = device.type == "cuda" and "fused" in torch.optim.AdamW.__init__.__code__.co_varnames
    opt = torch.optim.AdamW(model.parameters(), lr=TRAIN["lr"], weight_decay=0.0, **({"fused": True} if fused else {}))
    generator = torch.Generator(device=device).manual_seed(args.seed)
    diffusion = Diffusion(linear_betas(1000), device)
    pool, scale = len(prepared["labels"]), prepared["scale_factor"]
    say = lambda text: print(f"{name}: {text}", flush=True)
    curve, losses, fit = [], [], None
    ema_params, params = list(ema.parameters()), list(model.parameters())
    trained = measuring = 0.0  # seconds spent training, and measuring after step 0

    def point(step):
        nonlocal measuring
        start = time.time()
        row = {"step": step, "trainSeconds": round(trained, 1), **measure(ema, vae.decoder, classifier, prepared,
                                                                            args.curve_samples_per_class,
                                                                            args.sampling_steps or CURVE["sampling_steps"])}
        curve.append(row)
        say(json.dumps(row))
        measuring += (time.time() - start) if step else 0
        return time.time() - start

    barrier(out, "ready", name, runs)
    curve_seconds = point(0)
    steps, step, window = args.steps, 0, (0.0, 0.0)
    while steps is None or step < steps:
        if steps is None and step == CALIBRATE[1]:
            synchronize(device)
            per_step = (time.time() - window[0] - (measuring - window[1])) / (CALIBRATE[1] - CALIBRATE[0])
            timings = barrier(out, "timed", name, runs, {"perStep": per_step, "curveSeconds": curve_seconds})
            per_step = max(t["perStep"] for t in timings.values())
            curve_max = max(t["curveSeconds"] for t in timings.values())
            final_seconds = curve_max * (args.final_samples_per_class * (args.sampling_steps or FINAL["sampling_steps"])) / (
                args.curve_samples_per_class * (args.sampling_steps or CURVE["sampling_steps"]))
            steps = fitted_steps(args.deadline - time.time(), per_step, curve_max, final_seconds, args.eval_every, step)
            fit = {"msPerStep": round(timings[name]["perStep"] * 1000, 2), "slowestMsPerStep": round(per_step * 1000, 2),
                   "slowestCurveSeconds": round(curve_max, 2), "steps": steps}
            say(f"the slowest run takes {per_step * 1000:.1f} ms a step and {curve_max:.1f} s a curve point: "
                f"{steps} steps fit the time left")
        if steps is None and step == CALIBRATE[0]:
            synchronize(device)
            window = (time.time(), measuring)  # (curve points inside the window are not steps)
        tick = time.time()
        for group in opt.param_groups:
            group["lr"] = TRAIN["lr"] * min(1.0, (step + 1) / TRAIN["warmup"])
        idx = torch.randint(pool, (args.batch,), generator=generator, device=device)
        noise = torch.randn(prepared["means"][idx].shape, generator=generator, device=device)
        z = (prepared["means"][idx] + prepared["stds"][idx] * noise) * scale
        t = torch.randint(0, diffusion.num_timesteps, (args.batch,), generator=generator, device=device)
        loss, mse, vb = diffusion.training_losses(model, z, t, prepared["labels"][idx])
        opt.zero_grad(set_to_none=True)
        loss.mean().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        update_ema(ema_params, params, min(TRAIN["ema"], (1 + step) / (10 + step)))
        step += 1
        if step % 50 == 0 or step == steps:
            losses.append({"step": step, "mse": round(mse.mean().item(), 5), "vb": round(vb.mean().item(), 5)})
        trained += time.time() - tick
        if step % args.eval_every == 0:
            synchronize(device)
            point(step)
    shipped = copy.deepcopy(ema).cpu()
    round_as_shipped(shipped)
    final = measure(shipped.to(device).eval(), vae.decoder, classifier, prepared, args.final_samples_per_class,
                    args.sampling_steps or FINAL["sampling_steps"])
    say(f"final, as shipped: {json.dumps(final)}")
    save_atomic(ema.state_dict(), out / "runs" / f"{name}.pt")
    result = {"arm": args.worker, "seed": args.seed, "steps": steps, "trainSeconds": round(trained, 1),
              **({"fit": fit} if fit else {}), "curve": curve, "losses": losses, "final": final,
              "hardware": hardware(device)}
    (out / "runs" / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")


def summarize(args, prepared, runs, seconds):
    """results.json: the protocol, each arm's size and cost, curves and final table (mean and each seed)."""
    num_classes = len(prepared["classes"])
    arms = {}
    for arm in args.arms:
        model = build(arm, num_classes, prepared["means"].shape[-1], prepared["means"].shape[1])
        mine = sorted((r for r in runs if r["arm"] == arm), key=lambda r: r["seed"])
        table = {g: {metric: {"mean": round(sum(r["final"][g][metric] for r in mine) / len(mine), 4),
                              "seeds": [r["final"][g][metric] for r in mine]}
                     for metric in ("accuracy", "frechetDistance")} for g in mine[0]["final"]}
        arms[arm] = {"architecture": architecture_of(model), "final": table, "runs": mine}
    steps = {r["steps"] for r in runs}
    assert len(steps) == 1, f"the runs trained different numbers of steps: {steps}"
    return {
        "what": "the paper's block-design study (Figure 5) and a U-Net of similar Gflops, on digits",
        "command": "python3 models/recipes/ablation.py " + " ".join(sys.argv[1:]),
        "hardware": runs[0]["hardware"], "torch": torch.__version__, "seconds": round(seconds, 1),
        "data": {**prepared["data"], "latent": "the shipped digits VAE's (models/digits), posterior samples × scale factor",
                 "frechetDistanceTrainVsHeldoutReal": round(prepared["frechet_floor"], 3)},
        "training": {**TRAIN, "batch": args.batch, "optimizer": "AdamW, weight decay 0, gradient norm clipped at 1",
                     "loss": "ε MSE + the variational bound for the learned variance (diffusion.py)",
                     "ema": f"{TRAIN['ema']}, warmed up as min(decay, (1 + step) / (10 + step))",
                     "steps": steps.pop(), "stepsChosenBy": (f"--steps {args.steps}" if args.steps else
                                                             f"the time left of --seconds {args.seconds} at the slowest run's speed"),
                     "seeds": list(args.seeds), "processes": "one per arm and seed, side by side on one device"},
        "protocol": {
            "curve": {"every": args.eval_every, "samplesPerClass": args.curve_samples_per_class,
                      "samplingSteps": args.sampling_steps or CURVE["sampling_steps"], "weights": "the EMA, float32"},
            "final": {"samplesPerClass": args.final_samples_per_class,
                      "samplingSteps": args.sampling_steps or FINAL["sampling_steps"],
                      "weights": "the EMA as shipped: float16, Linear weights int8 (a U-Net's convolutions too)"},
            "sampler": "DDIM, eta 0, classifier-free guidance on all ε channels", "guidanceScales": list(GUIDANCE_SCALES),
            "seed": EVAL_SEED,
            "measures": "the shipped digits classifier's accuracy on the class asked for; the Fréchet distance in its "
                        "penultimate features to the held-out real images (fewer samples read higher)",
        },
        "arms": arms,
    }


def plot(results, path):
    """The curves, one panel per guidance scale and measure, each run a thin line, each arm's mean a thick one."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no results.png (results.json holds the curves)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(g, m) for m in ("frechetDistance", "accuracy") for g in map(str, GUIDANCE_SCALES)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4))
    for ax, (g, metric) in zip(axes, panels):
        for i, (arm, a) in enumerate(results["arms"].items()):
            color = f"C{i}"
            for run in a["runs"]:
                ax.plot([p["step"] for p in run["curve"]], [p[g][metric] for p in run["curve"]], color=color, lw=0.6,
                        alpha=0.5)
            mean = [sum(r["curve"][k][g][metric] for r in a["runs"]) / len(a["runs"])
                    for k in range(len(a["runs"][0]["curve"]))]
            ax.plot([p["step"] for p in a["runs"][0]["curve"]], mean, color=color, lw=2,
                    label=f"{arm} ({a['architecture']['gflops']:.3f} Gflops)")
        ax.set_title(f"{'Fréchet distance' if metric == 'frechetDistance' else 'accuracy'}, guidance {g}")
        ax.set_xlabel("training step")
        if metric == "frechetDistance":
            ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


def shipped_name(arm):
    """The folder an arm ships as under models/, and its card's name: digits-adaln-zero, …, digits-unet."""
    return f"digits-{arm.lower()}"


def without_int8_graph(folder):
    """Remove a DiT arm's int8 graph (dit_int8.onnx) and what its card says of it, so that the folder holds the
    float32 graph and its weights only: the graph whose quality the ablation measured."""
    folder = pathlib.Path(folder)
    card = json.loads((folder / "card.json").read_text())
    name = card["files"].pop("ditInt8")
    onnx = card["onnx"]
    onnx.pop(name)
    onnx.pop("int8")
    for part in ("maxRelativeError", "cpu"):
        onnx["check"][part].pop(name)
    onnx["weights"] = onnx["weights"].replace(" for both DiT graphs", "")
    write_card(folder, card)
    (folder / name).unlink()


def export_arms(args, prepared, results, out):
    """Each arm's seed-0 model → out/models/digits-ARM/: its ONNX files as shipped (a DiT's float32 graph only),
    and a card with quality and training."""
    num_classes = len(prepared["classes"])
    latent = {"channels": prepared["means"].shape[1], "height": prepared["means"].shape[-1],
              "width": prepared["means"].shape[-1], "scaleFactor": prepared["scale_factor"]}
    seed = min(args.seeds)
    for arm in args.arms:
        model = build(arm, num_classes, latent["height"], latent["channels"])
        model.load_state_dict(torch.load(out / "runs" / f"{arm}-{seed}.pt", map_location="cpu"))
        model.eval()
        int8 = round_as_shipped(model)
        run = next(r for r in results["arms"][arm]["runs"] if r["seed"] == seed)
        kind = "a U-Net" if arm == "UNet" else f"a DiT of {arm} blocks"
        folder = out / "models" / shipped_name(arm)
        export_network(model, folder, shipped_name(arm),
                       f"Digits, {kind}: one arm of the block-design ablation (models/recipes/ablation.py), seed {seed}; "
                       "decode its latents with models/digits' VAE.", float16=True, int8=int8, latent=latent, extra={
                           "classes": [{"id": i, "name": c} for i, c in enumerate(prepared["classes"])],
                           "vae": {"from": "models/digits", "note": "the same latent and scale factor: decode with "
                                                                    "models/digits' vae_decoder.onnx"},
                           "quality": {**results["protocol"]["final"], "seed": seed,
                                       "byGuidanceScale": run["final"],
                                       "everySeed": {"seeds": results["training"]["seeds"],
                                                     "byGuidanceScale": results["arms"][arm]["final"]},
                                       "command": results["command"]},
                           "training": {**results["training"], "seed": seed, "seconds": run["trainSeconds"],
                                        "hardware": run["hardware"]},
                       })
        if arm != "UNet":
            without_int8_graph(folder)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="the output folder")
    parser.add_argument("--seconds", type=float, default=480,
                        help="the whole command's time budget, which the step count is fitted to (default 480)")
    parser.add_argument("--steps", type=int, help="train exactly this many steps (no fitting)")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--batch", type=int, default=TRAIN["batch"])
    parser.add_argument("--eval-every", type=int, default=EVAL_EVERY)
    parser.add_argument("--curve-samples-per-class", type=int, default=CURVE["samples_per_class"])
    parser.add_argument("--final-samples-per-class", type=int, default=FINAL["samples_per_class"])
    parser.add_argument("--sampling-steps", type=int,
                        help=f"DDIM steps of every measurement (default {CURVE['sampling_steps']} for the curves, "
                             f"{FINAL['sampling_steps']} at the end); for smoke tests")
    parser.add_argument("--export-only", action="store_true", help="only redo results.json, results.png and the "
                                                                   "exports from the finished runs in --out")
    parser.add_argument("--worker", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps is not None and args.steps % args.eval_every:
        parser.error(f"--steps {args.steps} is not a multiple of --eval-every {args.eval_every}")
    if args.worker:
        return worker(args)
    start = time.time()
    out = pathlib.Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.export_only:  # (prepared.pt is 20 MB: made again where it did not travel with the runs)
        prepared = torch.load(out / "prepared.pt") if (out / "prepared.pt").exists() else prepare(out, device)
    else:
        for stale in (out / "sync").glob("*/*.json"):
            stale.unlink()
        prepared = prepare(out, device)
        print(f"prepared {prepared['data']['train']} training latents in {time.time() - start:.1f} s", flush=True)
        deadline = start + args.seconds - EXPORT_SECONDS
        workers = [subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--worker", arm, "--seed", str(seed),
                                     "--deadline", str(deadline)], env={**os.environ, "OMP_NUM_THREADS": "1"})
                   for arm in args.arms for seed in args.seeds]
        while any(w.poll() is None for w in workers):
            if any(w.poll() not in (None, 0) for w in workers):
                for w in workers:
                    if w.poll() is None:
                        w.terminate()
                raise SystemExit("a run failed: the others were stopped (their output is above)")
            time.sleep(1)
    runs = [json.loads((out / "runs" / f"{arm}-{seed}.json").read_text()) for arm in args.arms for seed in args.seeds]
    results = summarize(args, prepared, runs, time.time() - start)
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}/results.json")
    for arm, a in results["arms"].items():
        print(f"{arm:16s} {a['architecture']['gflops']:.4f} Gflops {a['architecture']['parameters']:>9,} parameters  " +
              "  ".join(f"g{g}: accuracy {v['accuracy']['mean']:.3f} FD {v['frechetDistance']['mean']:.2f}"
                        for g, v in a["final"].items()), flush=True)
    plot(results, out / "results.png")
    export_arms(args, prepared, results, out)
    print(f"done in {time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
