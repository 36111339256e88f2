"""PyTorch's time for one guided denoising step of a shipped DiT, the reference column of bench/bench.ts.

One step is one forward pass of the recipe's DiT (models/recipes/models.py) at batch 2·n: n samples of class 0
and n of the null class, t = 500, x random normal; the weights are the initializers of MODEL_DIR/dit.onnx, so
PyTorch and ONNX Runtime run the same network. Also measures this machine's fp32 matrix-multiply rate through
torch (the chain of [1024×256]·[256×1024] and [1024×1024]·[1024×256] products that bench.ts runs in ONNX
Runtime). Prints one JSON object:

    {"torch", "threads", "openblas_threads", "stepMs": {"1": median ms, ...}, "matmulGflops"}

    /usr/bin/python3 bench/torch_step.py models/digits --n 1 8 32 --repeats 10 --warmup 2

Threads come from the environment: DIT_TORCH_THREADS (torch.set_num_threads), OPENBLAS_NUM_THREADS and
OMP_NUM_THREADS as the caller sets them. `--check OUT_JSON` times nothing: it writes one seeded forward pass at
batch 2 ({"x", "t", "y", "out"}, tensors as {shape, data}) for comparing ONNX Runtime against PyTorch.
Needs torch (1.13 or later), onnx and numpy: Debian's python3-torch python3-onnx libopenblas0-pthread.
"""
import argparse
import json
import os
import pathlib
import statistics
import sys
import time

import torch

if "DIT_TORCH_THREADS" in os.environ:
    torch.set_num_threads(int(os.environ["DIT_TORCH_THREADS"]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "models" / "recipes"))
from export import load_shipped_dit  # noqa: E402


def load_dit(model_dir):
    """The recipe's DiT with the shipped weights (export.py's loader), attention written out as in the graph."""
    dit, card = load_shipped_dit(model_dir)
    for block in dit.blocks:
        block.attn.fused = False  # torch 1.13 has no scaled_dot_product_attention
    return dit, card


def median_ms(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def step_ms(dit, card, n, repeats, warmup):
    """Median ms of one DiT forward at batch 2·n, the two halves of a classifier-free-guided step."""
    latent = card["latent"]
    x = torch.randn(2 * n, latent["channels"], latent["height"], latent["width"])
    t = torch.full((2 * n,), 500, dtype=torch.int64)
    y = torch.tensor([0] * n + [card["nullClassId"]] * n)
    return median_ms(lambda: dit(x, t, y), repeats, warmup)


def matmul_gflops(repeats, warmup, count=4):
    """fp32 GFLOP/s of `count` chained [1024×256]·[256×1024] and [1024×1024]·[1024×256] products."""
    g = torch.Generator().manual_seed(9)
    x = torch.randn(1024, 256, generator=g)
    pairs = [(torch.randn(256, 1024, generator=g) * 0.05, torch.randn(1024, 256, generator=g) * 0.05)
             for _ in range(count)]

    def chain():
        h = x
        for a, b in pairs:
            h = (h @ a) @ b
        return h

    return count * 2 * 2 * 1024 * 256 * 1024 / median_ms(chain, repeats, warmup) / 1e6


def write_check(dit, card, path):
    torch.manual_seed(0)
    latent = card["latent"]
    x = torch.randn(2, latent["channels"], latent["height"], latent["width"])
    t, y = [999, 17], [0, card["nullClassId"]]
    out = dit(x, torch.tensor(t), torch.tensor(y))
    as_json = lambda v: {"shape": list(v.shape), "data": v.flatten().tolist()}  # noqa: E731
    pathlib.Path(path).write_text(json.dumps({"x": as_json(x), "t": t, "y": y, "out": as_json(out)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=pathlib.Path)
    parser.add_argument("--n", type=int, nargs="+", default=[1, 8, 32], help="guided batch sizes (batch 2·n)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per measurement (median reported)")
    parser.add_argument("--repeats-large", type=int, default=None, metavar="R",
                        help="timed runs for n ≥ 32 (default: --repeats)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before each measurement")
    parser.add_argument("--check", metavar="OUT_JSON", help="write one seeded forward pass at batch 2 and exit")
    args = parser.parse_args()

    dit, card = load_dit(args.model_dir)
    with torch.no_grad():
        if args.check:
            return write_check(dit, card, args.check)
        repeats = {n: args.repeats_large if n >= 32 and args.repeats_large else args.repeats for n in args.n}
        steps = {str(n): step_ms(dit, card, n, repeats[n], args.warmup) for n in args.n}
        gflops = matmul_gflops(args.repeats, args.warmup)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "stepMs": steps,
                      "matmulGflops": gflops}))


if __name__ == "__main__":
    main()
