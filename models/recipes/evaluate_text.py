"""Measure a text-conditioned model's fidelity and record it in its card: `python3 models/recipes/evaluate_text.py`.

Measures what ships: the text DiT and VAE decoder as exported into models/emoji-text (read back from their ONNX
files), on the GPU if there is one, float32. The yardstick is the emoji model's classifier as its card ships it
(models/emoji/classifier.onnx): its penultimate features place every real emoji image (.cache/data/emoji, all
three styles, training and held-out) in one space, and its logits read the category.

For prompts naming training emoji (TRAINING_NAMES of them, one name each, seeded) and for every held-out name
(captions.json's textHeldout: emoji whose images and names training never saw), at guidance 4 and 1, one sample
a prompt with DDIM (50 steps, the cards' protocol), from the same seeded noise:
- top-1 / top-5: the nearest real emoji (by the nearest of its images, in classifier features) is the one named /
  among the 5 nearest distinct emoji; chance is 1 / 5 in the number of distinct emoji;
- category: the classifier reads the named emoji's category from the sample;
- beside them, what the features can tell apart (anotherStyle): how often a real image, its own pixels left out,
  finds its own emoji in another style nearest / among the 5 nearest: the score of drawing the emoji right but
  not as a copy of one of its images.
Held-out names are also reported for the new combinations of seen words and for names with a word no training
caption has (captions.json's newCombinations, unseenWords). At guidance 4 the training names are also sampled with
DDIM and DPM-Solver++(2M) at DEFAULT_STEPS steps, the CPU budget, and the better of the two becomes the card's
default sampler. EVERYDAY prompts (what a learner would type) are drawn EVERYDAY_SAMPLES times each at guidance 4
into everyday.png, a grid with the prompt written beside each row, for a person to look at; the card lists, for each
sample, the classifier's category and the nearest real emoji, and the words the vocabulary lacks.

Writes quality and sampling into the card, everyday.png (also the README's picture), training.png (the loss curve,
if runs/emoji/text-dit.pt is here) and the model's README.md. `--print-only` writes nothing; `--looked-at TEXT`
only records what a person saw in everyday.png; `--samplers-only` only measures the default-sampler candidates
again; `--another-style-baseline` only measures anotherStyle (no model needed).
"""
import argparse
import json
import pathlib

import numpy as np
import torch

from common import REPO, RUNS, Dataset, hardware
from diffusion import ddim_sample, ddim_timesteps, linear_betas
from evaluate import classify, plot_curves
from export import decoder_path, load_shipped_dit, onnx_state_dict, write_card
from models import VAE, Classifier
from tokenizer import null_caption, split_words, tokenize
import samplers

GUIDANCE_SCALES = (4.0, 1.0)
STEPS = 50
DEFAULT_STEPS = 20  # the CPU budget: one 20-step guided prompt within 2 s on 2 AVX2 cores
TRAINING_NAMES = 300
SEED = 0
EVERYDAY_SAMPLES = 4
# Short prompts a learner would type first: common words and phrases, not Unicode names (a few are the names of
# held-out emoji, which the card says)
EVERYDAY = ["penguin", "rocket", "flag of canada", "hot pepper", "red heart", "pizza", "cat", "dog", "sun",
            "snowman", "birthday cake", "soccer ball", "smiling face", "crying face", "tree", "car", "guitar", "ghost"]


def load(folder, classifier_path, device):
    """The text DiT and its VAE decoder as models/emoji-text ships them, the classifier of the emoji card, and cards."""
    dit, card = load_shipped_dit(folder)
    decoder = VAE(card["image"]["channels"], card["vae"]["widths"]).decoder
    decoder.load_state_dict(onnx_state_dict(decoder_path(folder, card)), strict=True)
    classifier_card = json.loads((classifier_path.parent / "card.json").read_text())
    classifier = Classifier(card["image"]["channels"], len(classifier_card["classes"]))
    classifier.load_state_dict(onnx_state_dict(classifier_path), strict=True)
    vocabulary = json.loads((folder / card["files"]["vocabulary"]).read_text())
    return dit.to(device).eval(), decoder.to(device).eval(), classifier.to(device).eval(), card, vocabulary


class Gallery:
    """Every real emoji image in classifier features, with its emoji (unified) and category."""

    def __init__(self, data, classifier):
        _, self.features = classify(classifier, data.images)
        self.emoji = [i.split("/", 1)[1] for i in data.meta["ids"]]
        self.distinct = sorted(set(self.emoji))
        self.index = torch.tensor([self.distinct.index(e) for e in self.emoji], device=self.features.device)
        self.category = {e: int(c) for e, c in zip(self.emoji, data.labels.tolist())}

    def another_style(self, rows, k=5):
        """For the real images `rows`: how often the nearest other emoji (top-1) and the k nearest (top-k), each
        image's own pixels left out, are its own emoji in another style. What these features tell apart between
        emoji: the score of a sample that draws the named emoji as its other styles do, not as a copy of one."""
        d = torch.cdist(self.features[rows], self.features)  # [rows, images]
        d[torch.arange(len(rows)), rows] = float("inf")
        nearest, own = self.by_emoji(d).topk(k, largest=False).indices, self.index[rows, None]
        return {"top1": round((nearest[:, 0] == own[:, 0]).float().mean().item(), 4),
                "top5": round((nearest == own).any(1).float().mean().item(), 4), "images": len(rows)}

    def nearest(self, features, k=5):
        """The k nearest distinct emoji of each sample, nearest first (an emoji is as near as its nearest image)."""
        nearest = self.by_emoji(torch.cdist(features, self.features)).topk(k, largest=False).indices
        return [[self.distinct[j] for j in row] for row in nearest.tolist()]

    def by_emoji(self, d):
        """Distances to every image [n, images] → to every distinct emoji [n, emoji]: an emoji is as near as its
        nearest image."""
        per_emoji = torch.full((len(d), len(self.distinct)), float("inf"), device=d.device)
        return per_emoji.scatter_reduce_(1, self.index.expand_as(d), d, reduce="amin")


@torch.no_grad()
def draw(dit, decoder, scale, vocabulary, prompts, guidance, sampler, steps, seed, batch):
    """One image a prompt at `guidance`, all from noise seeded by `seed` (the same x_T for the same index)."""
    null = torch.tensor(null_caption(vocabulary)["ids"], device=scale.device)
    ids = torch.tensor([tokenize(vocabulary, p)["ids"] for p in prompts], device=scale.device)
    C = dit.in_channels
    h = int(dit.x_embedder.num_patches ** 0.5) * dit.patch_size
    generator = torch.Generator(device=scale.device).manual_seed(seed)
    x_T = torch.randn((len(prompts), C, h, h), generator=generator, device=scale.device)
    betas = linear_betas(1000)
    images = []
    for start in range(0, len(prompts), batch):
        y, x = ids[start:start + batch], x_T[start:start + batch]
        if sampler == "ddim":
            latents = ddim_sample(dit, betas, y, null, tuple(x.shape), guidance, steps, x_T=x)
        else:
            def eps_fn(x_t, t, y=y):
                n = x_t.shape[0]
                out = dit(torch.cat([x_t, x_t]), torch.full((2 * n,), t, device=x_t.device, dtype=torch.long),
                          torch.cat([y, null.expand_as(y)]))
                cond, uncond = out[:n, :C], out[n:, :C]
                return uncond + guidance * (cond - uncond)
            trajectory, _ = samplers.sample(eps_fn, np.cumprod(1.0 - betas), ddim_timesteps(1000, steps), sampler, x)
            latents = trajectory[-1][0]
        images.append(decoder(latents / scale).clamp(-1, 1))
    return torch.cat(images)


def fidelity(gallery, classifier, images, targets, categories):
    """top-1, top-5 (nearest distinct real emoji is one of the targets) and category accuracy of the samples."""
    logits, features = classify(classifier, images)
    nearest = gallery.nearest(features)
    top1 = sum(n[0] in t for n, t in zip(nearest, targets))
    top5 = sum(bool(set(n) & t) for n, t in zip(nearest, targets))
    category = sum(int(p) == c for p, c in zip(logits.argmax(1).tolist(), categories))
    n = len(targets)
    return {"top1": round(top1 / n, 4), "top5": round(top5 / n, 4), "category": round(category / n, 4), "prompts": n}


def prompt_sets(captions, count, seed):
    """(training names, held-out names), each {prompt: the emoji it names}: one name for each of `count` training
    emoji drawn with `seed` (its first training name: the Unicode name, as a rule), and every held-out name."""
    held = set(captions["textHeldout"])
    names = {}
    for e in captions["emoji"]:
        for name in e["names"]:
            names.setdefault(name, set()).add(e["unified"])
    training = [e for e in captions["emoji"] if not e["heldout"] and any(n not in held for n in e["names"])]
    chosen = np.random.RandomState(seed).choice(len(training), size=min(count, len(training)), replace=False)
    train_prompts = {}
    for i in sorted(chosen):
        name = next(n for n in training[i]["names"] if n not in held)
        train_prompts[name] = names[name]
    heldout_emoji = {e["unified"] for e in captions["emoji"] if e["heldout"]}
    heldout_prompts = {name: names[name] & heldout_emoji for name in captions["textHeldout"]}
    return train_prompts, heldout_prompts


def save_everyday(images, prompts, per_prompt, path):
    """A grid, one row per prompt, the prompt written on its left (a person looks at it)."""
    from PIL import Image, ImageDraw

    x = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    h, w = x.shape[1:3]
    label = 150
    sheet = Image.new("RGB", (label + per_prompt * w, len(prompts) * h), "white")
    pen = ImageDraw.Draw(sheet)
    for row, prompt in enumerate(prompts):
        pen.text((4, row * h + h // 2 - 6), prompt, fill="black")
        for col in range(per_prompt):
            sheet.paste(Image.fromarray(x[row * per_prompt + col]), (label + col * w, row * h))
    sheet.save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "emoji-text"), help="the text model's folder")
    parser.add_argument("--classifier", default=str(REPO / "models" / "emoji" / "classifier.onnx"),
                        help="the classifier whose features measure it (default: the emoji card's)")
    parser.add_argument("--data", default="emoji", help="the data folder under .cache/data (images and captions)")
    parser.add_argument("--run", help="the training run whose loss curve to plot: runs/RUN/text-dit.pt (default DATA)")
    parser.add_argument("--training-names", type=int, default=TRAINING_NAMES)
    parser.add_argument("--heldout-names", type=int, help="only the first N held-out names (smoke tests)")
    parser.add_argument("--sampling-steps", type=int, default=STEPS)
    parser.add_argument("--default-steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--everyday-samples", type=int, default=EVERYDAY_SAMPLES)
    parser.add_argument("--batch", type=int, default=512, help="prompts a network batch (twice as many rows)")
    parser.add_argument("--print-only", action="store_true", help="print the quality, write nothing")
    parser.add_argument("--samplers-only", action="store_true",
                        help="only measure the default-sampler candidates again (quality.bySampler) and the card's "
                             "sampling choice from them, e.g. after a sampler changed; the rest of the card stays")
    parser.add_argument("--another-style-baseline", action="store_true",
                        help="only measure how well the features retrieve a real emoji from its other styles "
                             "(quality.anotherStyle, no model needed) into the card, and rewrite README.md")
    parser.add_argument("--looked-at", metavar="TEXT",
                        help="only record what a person saw in everyday.png (which prompts came out right, which not) "
                             "in the card's quality.everyday.lookedAt, and rewrite README.md")
    args = parser.parse_args()
    if args.looked_at:
        folder = pathlib.Path(args.model)
        card = json.loads((folder / "card.json").read_text())
        card["quality"]["everyday"]["lookedAt"] = args.looked_at
        write_card(folder, card)
        write_readme(folder, card)
        return
    torch.backends.cuda.matmul.allow_tf32 = False  # measure the float32 model
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    folder, classifier_path = pathlib.Path(args.model), pathlib.Path(args.classifier)
    dit, decoder, classifier, card, vocabulary = load(folder, classifier_path, device)
    scale = torch.tensor(card["latent"]["scaleFactor"], device=device)
    data = Dataset(args.data, device)
    captions = json.loads((REPO / ".cache" / "data" / args.data / "captions.json").read_text())
    gallery = Gallery(data, classifier)
    train_prompts, heldout_prompts = prompt_sets(captions, args.training_names, SEED)
    if args.heldout_names:
        heldout_prompts = dict(list(heldout_prompts.items())[:args.heldout_names])
    another_style = {"trainingImages": gallery.another_style(data.train),
                     "heldoutImages": gallery.another_style(data.heldout)}
    if args.another_style_baseline:
        card["quality"]["anotherStyle"] = another_style
        write_card(folder, card)
        write_readme(folder, card)
        print(f"another style: {json.dumps(another_style)}; wrote it into {folder}/card.json and README.md")
        return
    combinations, unseen = set(captions["newCombinations"]), set(captions["unseenWords"])
    category_of = lambda emoji: gallery.category[sorted(emoji)[0]]  # noqa: E731 (an emoji's images share it)

    def measure(prompts, guidance, sampler, steps):
        images = draw(dit, decoder, scale, vocabulary, list(prompts), guidance, sampler, steps, SEED, args.batch)
        return images, fidelity(gallery, classifier, images, list(prompts.values()),
                                [category_of(e) for e in prompts.values()])

    def choose_sampler():
        """The default sampler within the CPU budget: DDIM or DPM-Solver++(2M) at DEFAULT_STEPS, training names,
        guidance 4; the better top-1 (then category) becomes the card's sampling."""
        candidates = {}
        for sampler in ("ddim", "dpm++2m"):
            _, candidates[sampler] = measure(train_prompts, 4.0, sampler, args.default_steps)
        print(f"{args.default_steps} steps at guidance 4: " + json.dumps(candidates), flush=True)
        best = max(candidates, key=lambda s: (candidates[s]["top1"], candidates[s]["category"]))
        by_sampler = {"guidanceScale": 4.0, "steps": args.default_steps, "prompts": "the training names", **candidates,
                      "hardware": hardware(device),
                      "command": "python3 models/recipes/evaluate_text.py" + (" --samplers-only" * args.samplers_only)}
        sampling = {"sampler": best, "steps": args.default_steps,
                    "chosenBy": f"the higher top-1 on the training names at guidance 4 of DDIM and DPM-Solver++(2M) "
                                f"at {args.default_steps} steps, the CPU budget (quality.bySampler)"}
        return by_sampler, sampling

    if args.samplers_only:
        card["quality"]["bySampler"], sampling = choose_sampler()
        if not args.print_only:
            card["sampling"] = sampling
            write_card(folder, card)
            write_readme(folder, card)
            print(f"wrote quality.bySampler and sampling into {folder}/card.json and {folder}/README.md")
        return

    quality = {
        "protocol": (f"one sample a prompt, {args.sampling_steps} DDIM steps (eta 0, guidance on every ε channel), seed "
                     f"{SEED}; retrieval in the features of the emoji card's classifier ({classifier_path.name}, "
                     f"sha256 {json.loads((classifier_path.parent / 'card.json').read_text())['sha256'][classifier_path.name][:16]}…) "
                     f"among the {len(gallery.emoji)} real images of {len(gallery.distinct)} emoji (three styles, "
                     "training and held-out): an emoji is as near as its nearest image; top-5 counts distinct emoji; "
                     "category: the classifier's reading of the sample against the named emoji's category"),
        "chance": {"top1": round(1 / len(gallery.distinct), 6), "top5": round(5 / len(gallery.distinct), 6),
                   "category": round(1 / len(data.classes), 4)},
        "trainingNames": f"{len(train_prompts)} training emoji drawn with seed {SEED}, each by its first training name",
        "heldoutNames": f"{len(heldout_prompts)} held-out names (captions.json textHeldout), each naming held-out emoji",
        "samplingSteps": args.sampling_steps,
        "anotherStyle": another_style,
        "byGuidanceScale": {},
    }
    for guidance in GUIDANCE_SCALES:
        row = {}
        _, row["trainingNames"] = measure(train_prompts, guidance, "ddim", args.sampling_steps)
        _, row["heldoutNames"] = measure(heldout_prompts, guidance, "ddim", args.sampling_steps)
        for name, keep in (("newCombinations", lambda p: p in combinations),
                           ("withUnseenWord", lambda p: any(w in unseen for w in p.split()))):
            subset = {p: e for p, e in heldout_prompts.items() if keep(p)}
            if subset:
                _, row[name] = measure(subset, guidance, "ddim", args.sampling_steps)
        quality["byGuidanceScale"][str(guidance)] = row
        print(f"guidance {guidance}: " + json.dumps(row), flush=True)

    quality["bySampler"], sampling = choose_sampler()

    # everyday prompts, for a person to look at
    everyday = [p for p in EVERYDAY for _ in range(args.everyday_samples)]
    images = draw(dit, decoder, scale, vocabulary, everyday, 4.0, "ddim", args.sampling_steps, SEED, args.batch)
    logits, features = classify(classifier, images)
    nearest = gallery.nearest(features, k=1)
    first_name = {e["unified"]: e["names"][0] for e in captions["emoji"]}
    def emoji_named(prompt):  # the emoji that have the prompt as a name (first names shown; held-out ones marked)
        words = " ".join(split_words(prompt))
        return sorted(first_name[e["unified"]] + (" (held out)" if e["heldout"] else "")
                      for e in captions["emoji"] if words in e["names"])
    quality["everyday"] = {
        "image": "everyday.png",
        "guidanceScale": 4.0,
        "prompts": [{
            "prompt": p,
            "unknownWords": tokenize(vocabulary, p)["unknown"],
            "names": emoji_named(p),
            "samples": [{"category": data.classes[int(logits[i].argmax())], "nearest": first_name[nearest[i][0]]}
                        for i in range(k * args.everyday_samples, (k + 1) * args.everyday_samples)],
        } for k, p in enumerate(EVERYDAY)],
        "lookedAt": "not yet: a person looks at everyday.png and writes here which prompts came out right",
    }
    quality["hardware"] = hardware(device)
    quality["command"] = "python3 models/recipes/evaluate_text.py"
    if args.print_only:
        print(json.dumps(quality, ensure_ascii=False))
        return
    save_everyday(images, EVERYDAY, args.everyday_samples, folder / "everyday.png")
    card["files"]["everyday"] = "everyday.png"
    checkpoint = RUNS / (args.run or args.data) / "text-dit.pt"
    if checkpoint.exists():
        log = torch.load(checkpoint, map_location="cpu")["log"]
        plot_curves([(f"text-dit: {key}", log, key) for key in ("mse", "vb")], folder / "training.png")
        card["files"]["training"] = "training.png"
    card["quality"] = quality
    card["sampling"] = sampling
    write_card(folder, card)
    write_readme(folder, card)
    print(f"wrote quality into {folder}/card.json, {folder}/everyday.png and {folder}/README.md")


def write_readme(folder, card):
    """The model's README, every number read from the card."""
    a, q, t = card["architecture"], card["quality"], card["training"]
    e = a["textEncoder"]
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    rows = []
    for g, row in q["byGuidanceScale"].items():
        for key, label in (("trainingNames", "training names"), ("heldoutNames", "held-out names"),
                           ("newCombinations", "… new combinations of seen words"),
                           ("withUnseenWord", "… with a word never seen")):
            if key in row:
                r = row[key]
                rows.append(f"| {float(g):g} | {label} ({r['prompts']}) | {pct(r['top1'])} | {pct(r['top5'])} | "
                            f"{pct(r['category'])} |")
    everyday = "\n".join(
        f"| {p['prompt']} | {', '.join(p['names']) or '—'} | {', '.join(p['unknownWords']) or '—'} | "
        f"{'; '.join(s['nearest'] + ' (' + s['category'] + ')' for s in p['samples'])} |"
        for p in q["everyday"]["prompts"])
    chance = q["chance"]
    pct2 = lambda v: f"{100 * v:.2f}%"  # noqa: E731
    size = sum((folder / f).stat().st_size for f in card["files"].values() if not f.endswith(".png"))
    other = q.get("anotherStyle")
    another = "" if not other else f"""
What these features can tell apart: a real emoji image, its own pixels left out, finds its own emoji (in another \
style) nearest {pct(other['trainingImages']['top1'])} of the time and among the 5 nearest \
{pct(other['trainingImages']['top5'])} ({other['trainingImages']['images']:,} training images; held-out: \
{pct(other['heldoutImages']['top1'])} and {pct(other['heldoutImages']['top5'])}). The classifier was trained on \
categories, so its features place emoji of one category near each other: a sample scores top-1 when it comes \
close to one particular image of the named emoji, and one that draws the emoji as its other styles do scores \
about this much."""
    text = f"""# {card['name']}

{card['description']}

![everyday prompts at guidance 4, four samples each](everyday.png)

```sh
deno task sample --model {card['name']} --prompt "hot pepper" --prompt penguin
```

| | |
| --- | --- |
| DiT | hidden {a['hiddenSize']}, depth {a['depth']}, {a['numHeads']} heads, patch {a['patchSize']}, {a['block']} blocks with \
cross-attention to the words{', c = t + the mean of the words' if a['pooledText'] else ''}; {a['parameters']:,} parameters \
({a['gflops']} Gflops a forward pass), on a {a['inChannels']}×{a['inputSize']}×{a['inputSize']} latent |
| text encoder | {e['depth']} transformer layers of width {e['width']}, {e['numHeads']} heads, over a {e['vocabSize']:,}-token \
word vocabulary, at most {e['maxLength']} words; trained with the DiT; caption dropout {a['captionDropoutProb']} |
| training | {t['text-dit']['steps']} steps ({t['text-dit']['seconds']:.0f} s) on one {t['text-dit']['hardware']} |
| files | {size / 1e6:.1f} MB: the DiT's weights ({card['onnx']['weights']}), {"the VAE decoder" if "vaeDecoder" in card["files"] else f"no VAE decoder (models/{card['vae']['from']}'s draws its latents)"}, the vocabulary; sha256 in card.json |
| default sampling | {card['sampling']['sampler']}, {card['sampling']['steps']} steps: {card['sampling']['chosenBy']} |

Fidelity ({q['protocol']}; chance: top-1 {pct2(chance["top1"])}, top-5 {pct2(chance["top5"])}, category \
{pct(chance['category'])}; measured on {q['hardware']} by `{q['command']}`):

| guidance | prompts | nearest real emoji is the one named (top-1) | among the 5 nearest (top-5) | category right |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}
{another}

Everyday prompts at guidance 4 (everyday.png; what the classifier's features find nearest, and the category it reads):

| prompt | emoji of that name | words the model never saw | nearest real emoji of each sample (category) |
| --- | --- | --- | --- |
{everyday}

Looked at: {q['everyday']['lookedAt']}. The recipe is in [../recipes](../recipes/README.md).
"""
    (folder / "README.md").write_text(text.replace("\\\n", ""))


if __name__ == "__main__":
    main()
