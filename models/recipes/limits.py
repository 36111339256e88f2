"""What limits a shipped model, measured: `python models/recipes/limits.py --data NAME [--model models/NAME]`.

Needs only the shipped ONNX files (their weights are read into models.py's VAE and classifier; no onnxruntime)
and the prepared data. Prints one JSON object:
- data: images per class, train and held-out, and per source (the style in each image id);
- real: the shipped classifier on training and held-out real images, overall and per class;
- reconstructions: held-out (and training) images through the shipped VAE (encoder mean, then decoder), with
  their PSNR, the classifier's accuracy on them and the Fréchet distance (evaluate.py's) to the held-out reals;
- frechetDistanceTrainVsHeldoutReal: the floor a Fréchet distance can reach with this data.
If the reconstructions score like the reals, the VAE is not what limits the samples: the DiT (or the data) is.
"""
import argparse
import collections
import json
import pathlib

import torch

from common import REPO, Dataset
from evaluate import classify, frechet_distance
from export import load_exported
from models import VAE, Classifier


def accuracy_by_class(logits, labels, classes, sources):
    """Overall, per class, and per source (style) where the data has more than one."""
    right = logits.argmax(1) == labels
    report = {"accuracy": round(right.float().mean().item(), 4),
              "accuracyByClass": {name: round(right[labels == c].float().mean().item(), 4)
                                  for c, name in enumerate(classes)}}
    if len(set(sources)) > 1:
        report["accuracyBySource"] = {s: round(right[[x == s for x in sources]].float().mean().item(), 4)
                                      for s in sorted(set(sources))}
    return report


@torch.no_grad()
def reconstruct(vae, images, batch=256):
    return torch.cat([vae.decoder(vae.encoder(images[i:i + batch])[0]).clamp(-1, 1)
                      for i in range(0, len(images), batch)])


def psnr(a, b):
    """Mean over images of the PSNR (dB), pixels in [0, 1] (as train.py's heldout_psnr)."""
    mse = (((a - b) / 2) ** 2).mean(dim=(1, 2, 3))
    return round(10 * torch.log10(1.0 / mse.clamp(min=1e-10)).mean().item(), 2)


def source_of(image_id, name):
    return image_id.split("/")[0] if "/" in image_id else name


def data_counts(data):
    m = data.meta
    table = collections.defaultdict(lambda: collections.Counter())
    for label, held, image_id in zip(m["labels"], m["heldout"], m["ids"]):
        source = source_of(image_id, m["name"])
        table[m["classes"][label]]["heldout" if held else "train"] += 1
        table[m["classes"][label]][source] += 1
    return {"images": m["count"], "train": len(data.train), "heldout": len(data.heldout),
            "distinctGroups": len(set(m["groups"])), "byClass": {c: dict(table[c]) for c in m["classes"]}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", help="the shipped model folder (default models/NAME)")
    parser.add_argument("--save-grid", help="write held-out reals and their reconstructions, row by row, to this PNG")
    args = parser.parse_args()
    torch.manual_seed(0)
    folder = pathlib.Path(args.model) if args.model else REPO / "models" / args.data
    card = json.loads((folder / "card.json").read_text())
    data = Dataset(args.data, torch.device("cpu"))
    channels, classes = data.images.shape[1], data.classes
    vae = VAE(channels, card["vae"]["widths"])
    load_exported(vae.encoder, folder / card["files"]["vaeEncoder"])
    load_exported(vae.decoder, folder / card["files"]["vaeDecoder"])
    classifier = load_exported(Classifier(channels, len(classes)), folder / card["files"]["classifier"])

    train, heldout = data.images[data.train], data.images[data.heldout]
    train_labels, heldout_labels = data.labels[data.train], data.labels[data.heldout]
    sources = [source_of(i, args.data) for i in data.meta["ids"]]
    train_sources, heldout_sources = [sources[i] for i in data.train], [sources[i] for i in data.heldout]
    logits_train, features_train = classify(classifier, train)
    logits_heldout, features_heldout = classify(classifier, heldout)
    recon_heldout, recon_train = reconstruct(vae, heldout), reconstruct(vae, train)
    logits_rh, features_rh = classify(classifier, recon_heldout)
    logits_rt, features_rt = classify(classifier, recon_train)
    report = {
        "command": f"python3 models/recipes/limits.py --data {args.data}",
        "data": data_counts(data),
        "real": {"train": accuracy_by_class(logits_train, train_labels, classes, train_sources),
                 "heldout": accuracy_by_class(logits_heldout, heldout_labels, classes, heldout_sources)},
        "reconstructions": {
            "heldout": {"psnrDb": psnr(recon_heldout, heldout),
                        **accuracy_by_class(logits_rh, heldout_labels, classes, heldout_sources),
                        "frechetDistanceToHeldoutReal": round(frechet_distance(features_rh, features_heldout), 3),
                        "frechetDistanceToTrainReal": round(frechet_distance(features_rh, features_train), 3)},
            "train": {"psnrDb": psnr(recon_train, train),
                      **accuracy_by_class(logits_rt, train_labels, classes, train_sources),
                      "frechetDistanceToHeldoutReal": round(frechet_distance(features_rt, features_heldout), 3),
                      "frechetDistanceToTrainReal": round(frechet_distance(features_rt, features_train), 3)},
        },
        "frechetDistanceTrainVsHeldoutReal": round(frechet_distance(features_train, features_heldout), 3),
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))
    if args.save_grid:
        from evaluate import save_grid
        # per class, 4 held-out reals then their 4 reconstructions
        picks = torch.cat([torch.nonzero(heldout_labels == c)[:4].squeeze(1) for c in range(len(classes))])
        rows = torch.stack([torch.cat([heldout[picks[r * 4:(r + 1) * 4]], recon_heldout[picks[r * 4:(r + 1) * 4]]])
                            for r in range(len(classes))]).flatten(0, 1)
        save_grid(rows, len(classes), args.save_grid)


if __name__ == "__main__":
    main()
