"""Measure a trained model's quality and record it in its card: `python models/recipes/evaluate.py --data NAME`.

Measures what ships: the DiT as exported into models/NAME (float16 or int8 weights, read back from its dit.onnx),
the VAE and classifier from runs/NAME/*.pt through export.py's float16 rounding (their ONNX files hold the same). For each guidance
scale (4 and 1) it draws SAMPLES_PER_CLASS samples of every class with 50 DDIM steps and reports:
- accuracy: how often the shipped classifier reads a sample as the class asked for;
- fréchetDistance: between samples and held-out real images, in the classifier's penultimate features;
- nearCopies: samples whose nearest training image of their class (in pixels) is closer than the median
  distance between a training image and its nearest other training image of that class (for emoji, not
  counting the other style of the same emoji): memorization, not generalization.
It also measures the classifier on held-out real images, and writes samples.png (a grid at guidance 4) and
training.png (the loss curves) beside the card.
"""
import argparse
import json
import pathlib

import numpy as np
import torch

from common import REPO, RUNS, Dataset, hardware
from diffusion import ddim_sample, linear_betas
from export import load_shipped_dit, onnx_state_dict, round_to_float16, write_card
from models import DiT, VAE, Classifier

SAMPLES_PER_CLASS = {"digits": 50, "emoji": 56}
GUIDANCE_SCALES = (4.0, 1.0)
STEPS = 50
SEED = 0


def load(name, folder, device, num_channels, num_classes, other_classifier=None):
    """The VAE and classifier of runs/NAME (float16-rounded, as exported) and the DiT as it ships in `folder`
    (its dit.onnx weights, float16 or int8); `other_classifier` swaps in another classifier: an exported
    classifier.onnx, or a checkpoint of `train.py classifier` (float16-rounded like the others). The checkpoints
    are returned too, runs/NAME/dit.pt among them where it is there (its training log; a shipped DiT re-measured in a
    checkout without it keeps its card's training record and training.png)."""
    stages = ("vae", "classifier", "dit") if (RUNS / name / "dit.pt").exists() else ("vae", "classifier")
    ckpt = {s: torch.load(RUNS / name / f"{s}.pt", map_location="cpu") for s in stages}
    vae = VAE(num_channels, ckpt["vae"]["config"]["widths"])
    vae.load_state_dict(ckpt["vae"]["state_dict"])
    classifier = Classifier(num_channels, num_classes)
    classifier.load_state_dict(ckpt["classifier"]["state_dict"])
    if other_classifier and other_classifier.endswith(".pt"):
        classifier.load_state_dict(torch.load(other_classifier, map_location="cpu")["state_dict"])
    for module in (vae, classifier):
        round_to_float16(module)
    if other_classifier and other_classifier.endswith(".onnx"):
        classifier.load_state_dict(onnx_state_dict(other_classifier), strict=True)
    dit, _ = load_shipped_dit(folder)
    for module in (vae, classifier, dit):
        module.to(device).eval()
    return vae, classifier, dit, ckpt


@torch.no_grad()
def classify(classifier, images, batch=500):
    outputs = [classifier(images[i:i + batch]) for i in range(0, len(images), batch)]
    return torch.cat([o[0] for o in outputs]), torch.cat([o[1] for o in outputs])


def frechet_distance(a, b):
    """‖μa − μb‖² + Tr(Σa + Σb − 2(Σa^½ Σb Σa^½)^½), in float64 with symmetric eigendecompositions."""
    a, b = a.double().cpu().numpy(), b.double().cpu().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(np.clip(middle, 0, None)).sum())


@torch.no_grad()
def near_copies(samples, sample_labels, data, mirror=()):
    """How many samples lie closer to a training image of their class than training images lie to each other.
    For a DiT that also trained on mirrored images (`mirror`: those classes), a mirrored training image counts as a
    training image too: a mirrored copy is still a copy."""
    train = data.images[data.train].flatten(1)
    train_labels, train_groups = data.labels[data.train], data.groups[data.train]
    count, thresholds = 0, {}
    for c in range(len(data.classes)):
        own = train[train_labels == c]
        d = torch.cdist(own, own)
        groups = train_groups[train_labels == c]
        d[groups[:, None] == groups[None, :]] = float("inf")  # the same image, or the same emoji's other style
        thresholds[c] = d.min(dim=1).values.median().item()
        if data.classes[c] in mirror:
            own = torch.cat([own, data.images[data.train[train_labels == c]].flip(-1).flatten(1)])
        mine = samples.flatten(1)[sample_labels == c]
        if len(mine):
            count += int((torch.cdist(mine, own).min(dim=1).values < thresholds[c]).sum())
    return count, thresholds


def heldout_near_copies(data, mirror=()):
    """The same near-copy count for held-out real images: what the rule flags in images nobody memorized."""
    count, _ = near_copies(data.images[data.heldout], data.labels[data.heldout], data, mirror)
    return {"count": count, "of": len(data.heldout)}


def save_grid(images, rows, path):
    """Samples as a PNG grid, one row per class."""
    from PIL import Image

    x = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().cpu()
    n, c, h, w = x.shape
    cols = n // rows
    grid = x[: rows * cols].reshape(rows, cols, c, h, w).permute(0, 3, 1, 4, 2).reshape(rows * h, cols * w, c)
    Image.fromarray(grid.squeeze(-1).numpy() if c == 1 else grid.numpy()).save(path)


def plot_curves(panels, path):
    """Loss curves side by side, log scale: `panels` is a list of (title, log, key), log a list of {step, key}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3))
    for ax, (title, log, key) in zip(axes, panels):
        ax.plot([r["step"] for r in log], [r[key] for r in log])
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def precision_table(quality):
    """The fp32 vs int8 comparison evaluate_precision.ts measures through ONNX Runtime, if it has run."""
    p = quality.get("byPrecision")
    if not p:
        return ""
    return f"""
Through ONNX Runtime on a CPU ({p['machine'].split(';')[0]}), as `loadDiT` runs it ({p['samples']} samples, guidance {p['guidanceScale']}, {p['samplingSteps']} DDIM steps, the same seed for both; measured by `{p['command']}`). The int8 weights are 7-bit, so CPUs with and without VNNI compute the same integer products:

| precision | classifier reads the class asked for |
| --- | --- |
| fp32 | {p['fp32']['accuracy']:.1%} |
| int8 | {p['int8']['accuracy']:.1%} |

int8 − fp32: {p['int8MinusFp32Points']:+.1f} points; the classifier gives the same label to the fp32 and int8 sample of a seed {p['sameLabelFp32AndInt8']:.1%} of the time.
"""


def sampler_table(card):
    """Quality against steps per sampler (evaluate_samplers.py, record_samplers.ts) and the default chosen from it."""
    b = card["quality"].get("bySampler")
    if not b:
        return ""
    rows = "\n".join(
        f"| {r['sampler']}{' (' + r['source'] + ')' if r.get('source') else ''} | {r['steps']} | "
        f"{r['networkEvaluations']} | {r['4.0']['accuracy']:.1%} | "
        f"{r['4.0']['frechetDistance']} | {r['1.0']['accuracy']:.1%} | {r['1.0']['frechetDistance']} | "
        f"{r['cpuSecondsPerImage']:.3f} |" for r in b["results"])
    s = card["sampling"]
    return f"""
Quality against sampling steps ({b['samples']} samples per row, the same seed and classes as above; measured on \
{b['hardware']} by `{b['command']}`, CPU time per image by `deno run -A models/recipes/record_samplers.ts`: \
{b['timing']}):

| sampler | steps | network evaluations per image | accuracy, guidance 4 | Fréchet distance, guidance 4 | accuracy, guidance 1 | Fréchet distance, guidance 1 | CPU s per image |
| --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

Default (`deno task sample`, `dit.sample` without `sampler`/`steps`): **{s['sampler']}, {s['steps']} steps**, chosen as \
{s['chosenBy']}.
"""


def write_readme(folder, card):
    """The model's README: what it is and its measured numbers, all read from the card."""
    a, q, t = card["architecture"], card["quality"], card["training"]
    g4, g1 = q["byGuidanceScale"]["4.0"], q["byGuidanceScale"]["1.0"]
    sources = "; ".join(f"{s['package']}@{s['version']} ({s['licence']}{', ' + s['credit'] if s.get('credit') else ''})"
                        for s in card["data"]["sources"])
    size = sum((folder / f).stat().st_size for f in card["files"].values() if not f.endswith(".png"))
    text = f"""# {card['name']}

{card['description']}

![samples at guidance 4](samples.png)

| | |
| --- | --- |
| DiT | hidden {a['hiddenSize']}, depth {a['depth']}, {a['numHeads']} heads, patch {a['patchSize']}, \
{a['parameters']:,} parameters, on a {a['inChannels']}×{a['inputSize']}×{a['inputSize']} latent |
| classes | {', '.join(c['name'] for c in card['classes'])}; null class {card['nullClassId']} |
| image | {card['image']['channels']}×{card['image']['height']}×{card['image']['width']}, VAE latent scale factor \
{card['latent']['scaleFactor']:.4f}, held-out reconstruction PSNR {card['vae']['heldoutPsnrDb']} dB |
| training | VAE {t['vae']['steps']} steps ({t['vae']['seconds']:.0f} s), classifier {t['classifier']['steps']} steps, \
DiT {t['dit']['steps']} steps ({t['dit']['seconds']:.0f} s) on one {t['dit']['hardware']} |
| files | {size / 1e6:.1f} MB: the DiT's weights ({card['onnx']['weights']}), the VAE, the classifier; sha256 in card.json |
| data | {card['data']['train']} training and {card['data']['heldout']} held-out images: {sources} |

Quality ({q['samplesPerClass']} samples per class, {q['samplingSteps']} DDIM steps, measured by \
`{q['command']}`):

| guidance scale | classifier reads the class asked for | Fréchet distance (classifier features) | near-copies of a training image |
| --- | --- | --- | --- |
| 4 | {g4['accuracy']:.1%} | {g4['frechetDistance']} | {g4['nearCopies']} of {g4['samples']} |
| 1 | {g1['accuracy']:.1%} | {g1['frechetDistance']} | {g1['nearCopies']} of {g1['samples']} |
{precision_table(q)}{sampler_table(card)}
The classifier reads {q['classifierAccuracyOnHeldoutReal']:.1%} of held-out real images right; the Fréchet distance \
between training and held-out real images is {q['frechetDistanceTrainVsHeldoutReal']}. A near-copy is a sample \
closer (in pixels) to a training image of its class than the median distance from a training image to its nearest \
other training image of that class; by the same rule {q['nearCopiesOfHeldoutReal']['count']} of \
{q['nearCopiesOfHeldoutReal']['of']} held-out real images count as near-copies, so only a rate well above that one \
would point to memorization. Everything else, including per-class accuracy, is in [card.json](card.json); \
[training.png](training.png) shows the loss curves. The recipe is in [../recipes](../recipes/README.md).
"""
    (folder / "README.md").write_text(text.replace("\\\n", ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(SAMPLES_PER_CLASS), required=True)
    parser.add_argument("--out", help="the exported model folder (default models/NAME)")
    parser.add_argument("--samples-per-class", type=int, help="override, for smoke tests")
    parser.add_argument("--sampling-steps", type=int, default=STEPS,
                        help=f"DDIM steps (default {STEPS}, the cards' protocol); other counts need --print-only")
    parser.add_argument("--print-only", action="store_true",
                        help="print the quality, write nothing (e.g. to choose a default step count)")
    parser.add_argument("--classifier", metavar="PATH",
                        help="measure with another classifier: an exported classifier.onnx (e.g. the previous model's) "
                             "or a train.py checkpoint (runs/RUN/classifier.pt); needs --print-only")
    parser.add_argument("--readme-only", action="store_true", help="only rewrite README.md from the card")
    parser.add_argument("--near-copy-baseline", action="store_true",
                        help="only measure the near-copy rule on held-out real images (no model needed) into the card")
    args = parser.parse_args()
    if args.sampling_steps != STEPS and not args.print_only:
        parser.error(f"the card records {STEPS}-step quality: give --print-only with --sampling-steps")
    if args.classifier and not args.print_only:
        parser.error("the card records its own classifier's reading: give --print-only with --classifier")
    if args.classifier and not (args.classifier.endswith((".onnx", ".pt")) and pathlib.Path(args.classifier).is_file()):
        parser.error(f"--classifier {args.classifier}: expected an existing classifier.onnx or train.py classifier.pt")
    folder = pathlib.Path(args.out) if args.out else REPO / "models" / args.data
    if args.readme_only or args.near_copy_baseline:
        card = json.loads((folder / "card.json").read_text())
        if args.near_copy_baseline:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            mirror = card["training"]["dit"]["config"].get("mirror", [])
            card["quality"]["nearCopiesOfHeldoutReal"] = heldout_near_copies(Dataset(args.data, device), mirror)
            write_card(folder, card)
        write_readme(folder, card)
        return
    torch.backends.cuda.matmul.allow_tf32 = False  # measure the float32 model
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = pathlib.Path(args.out) if args.out else REPO / "models" / args.data
    data = Dataset(args.data, device)
    num_classes = len(data.classes)
    vae, classifier, dit, ckpt = load(args.data, out, device, data.images.shape[1], num_classes, args.classifier)
    scale = ckpt["vae"]["scale_factor"]
    per_class = args.samples_per_class or SAMPLES_PER_CLASS[args.data]
    card = json.loads((out / "card.json").read_text())
    mirror = card["training"]["dit"]["config"].get("mirror", [])

    logits, real_features = classify(classifier, data.images[data.heldout])
    real_accuracy = (logits.argmax(1) == data.labels[data.heldout]).float().mean().item()
    quality = {"samplesPerClass": per_class, "samplingSteps": args.sampling_steps, "sampler": "DDIM, eta 0, guidance on all ε channels",
               "seed": SEED, "classifierAccuracyOnHeldoutReal": round(real_accuracy, 4), "byGuidanceScale": {}}
    labels = torch.arange(num_classes, device=device).repeat_interleave(per_class)
    h = dit.x_embedder.num_patches ** 0.5 * dit.patch_size
    for guidance in GUIDANCE_SCALES:
        generator = torch.Generator(device=device).manual_seed(SEED)
        latents = ddim_sample(dit, linear_betas(1000), labels, num_classes, (len(labels), 4, int(h), int(h)),
                              guidance, args.sampling_steps, generator)
        with torch.no_grad():
            images = torch.cat([vae.decoder(latents[i:i + 250] / scale) for i in range(0, len(latents), 250)])
        images = images.clamp(-1, 1)
        sample_logits, sample_features = classify(classifier, images)
        predicted = sample_logits.argmax(1)
        copies, thresholds = near_copies(images, labels, data, mirror)
        quality["byGuidanceScale"][str(guidance)] = {
            "accuracy": round((predicted == labels).float().mean().item(), 4),
            "accuracyByClass": {data.classes[c]: round((predicted[labels == c] == c).float().mean().item(), 4)
                                for c in range(num_classes)},
            "frechetDistance": round(frechet_distance(sample_features, real_features), 3),
            "nearCopies": copies,
            "samples": len(labels),
        }
        print(f"{args.data} guidance {guidance}: " + json.dumps(quality["byGuidanceScale"][str(guidance)]), flush=True)
        if guidance == GUIDANCE_SCALES[0] and not args.print_only:
            save_grid(images[torch.cat([torch.nonzero(labels == c)[:12].squeeze(1) for c in range(num_classes)])],
                      num_classes, out / "samples.png")
    quality["nearCopiesOfHeldoutReal"] = heldout_near_copies(data, mirror)
    # the floor a Fréchet distance can reach with this many images: held-out real vs training real
    _, train_features = classify(classifier, data.images[data.train])
    quality["frechetDistanceTrainVsHeldoutReal"] = round(frechet_distance(train_features, real_features), 3)
    quality["nearCopyThresholdByClass"] = {data.classes[c]: round(v, 3) for c, v in thresholds.items()}
    quality["hardware"] = hardware(device)
    quality["command"] = f"python3 models/recipes/evaluate.py --data {args.data}"
    if args.print_only:
        print(json.dumps(quality, ensure_ascii=False))
        return
    if "dit" in ckpt:
        stages = [("vae", "mse"), ("classifier", "loss"), ("dit", "mse"), ("dit", "vb")]
        plot_curves([(f"{stage}: {key}", ckpt[stage]["log"], key) for stage, key in stages], out / "training.png")
    card["quality"] = quality
    card["files"].update({"samples": "samples.png", "training": "training.png"})
    write_card(out, card)
    write_readme(out, card)
    print(f"wrote quality into {out}/card.json and {out}/README.md")


if __name__ == "__main__":
    main()
