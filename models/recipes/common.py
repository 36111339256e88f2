"""What the recipe's scripts share: the dataset loader, distributed setup, and the run folder."""
import json
import lzma
import os
import pathlib

import numpy as np
import torch
import torch.distributed as dist

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = REPO / ".cache" / "data"  # made by `deno run -A models/recipes/data.ts`
RUNS = REPO / "runs"  # checkpoints and logs (git-ignored)
# The instruction-set extensions that decide how ONNX Runtime runs int8 (named as lib/cpu.ts names them)
CPU_FEATURES = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
                "amx_int8": "AMX-INT8"}


def describe_cpu():
    """This machine's CPU as the cards and bench results name it: model, cores, int8-relevant features."""
    try:
        info = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    field = lambda name: next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith(name)), "")
    flags = set(field("flags").split())
    features = [name for flag, name in CPU_FEATURES.items() if flag in flags]
    vnni = "" if {"avx512_vnni", "avx_vnni"} & flags else ", no VNNI"
    return f"{field('model name') or 'unknown CPU'}, {os.cpu_count()} cores, {', '.join(features) or 'no AVX2'}{vnni}"


class Dataset:
    """All images of one dataset on one device, as float [-1, 1] NCHW, with labels and the held-out split."""

    def __init__(self, name, device):
        folder = DATA / name
        if not (folder / "meta.json").exists():
            raise SystemExit(f"no data at {folder}: run `deno run -A models/recipes/data.ts {name}` first")
        self.meta = json.loads((folder / "meta.json").read_text())
        m = self.meta
        raw = np.frombuffer(lzma.decompress((folder / "images.u8.xz").read_bytes()), dtype=np.uint8)
        images = torch.from_numpy(raw.reshape(m["count"], m["height"], m["width"], m["channels"]).copy())
        self.images = (images.permute(0, 3, 1, 2).float() / 127.5 - 1.0).to(device)
        self.labels = torch.tensor(m["labels"], dtype=torch.long, device=device)
        self.groups = torch.tensor(m["groups"], dtype=torch.long, device=device)
        heldout = torch.tensor(m["heldout"], dtype=torch.bool, device=device)
        self.train = torch.nonzero(~heldout).squeeze(1)
        self.heldout = torch.nonzero(heldout).squeeze(1)
        self.classes = m["classes"]


class Distributed:
    """One process per GPU under torchrun (RANK/WORLD_SIZE set), or a single process without it."""

    def __init__(self):
        self.enabled = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
        if self.enabled:
            dist.init_process_group("nccl")
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
            local = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        else:
            self.rank, self.world = 0, 1
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.main = self.rank == 0

    def agree(self, flag):
        """True on every rank if it is true on any (so all ranks stop at the same step)."""
        if not self.enabled:
            return flag
        value = torch.tensor(float(flag), device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def slowest(self, value):
        """The largest of a number over all ranks (so all ranks agree on a timing)."""
        if not self.enabled:
            return value
        tensor = torch.tensor(float(value), device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tensor.item()

    def wrap(self, model):
        if not self.enabled:
            return model
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index])

    def close(self):
        if self.enabled:
            dist.destroy_process_group()


def hardware(device):
    """What a measurement ran on: the GPU's name, or the CPU's model name, core count and PyTorch version."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    names = [line.split(":", 1)[1].strip() for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")]
    return f"CPU: {names[0] if names else 'unknown'}, {len(names)} cores, PyTorch {torch.__version__}"


def save_atomic(obj, path):
    """torch.save through a temporary name, so a crash never leaves half a checkpoint."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
