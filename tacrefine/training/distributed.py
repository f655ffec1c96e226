"""Where training runs: the device, and data-parallel training over several processes.

One process trains on ``train.device``. Under ``torchrun`` (``WORLD_SIZE`` > 1) every
process joins one process group (gloo on CPU, NCCL on CUDA), wraps the model in
``DistributedDataParallel`` and draws its own batches from a generator seeded with
``(train.seed, epoch, rank)``; gradients are averaged across processes at every step.

Effective batch size = ``train.batch_size`` x the number of processes. The learning rate
is used as configured (never rescaled behind the user's back); for N processes the usual
rule is to scale ``optim.lr`` by N (linear scaling) with warm-up, as ``docs/training.md``
explains. Only rank 0 writes the run directory (config, metrics, plots, checkpoints).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from tacrefine.config import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; an explicit device that is absent is refused."""
    if name not in DEVICES:
        raise ConfigError(f"train.device: got {name!r}; allowed: {', '.join(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("train.device: got 'cuda' but torch sees no CUDA device; allowed: auto, cpu")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("train.device: got 'mps' but torch sees no Apple GPU; allowed: auto, cpu")
    return torch.device(name)


@dataclass(frozen=True)
class Placement:
    """This process's share of a run."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the run directory."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def setup(device_name: str) -> Placement:
    """Join torchrun's process group when launched by it; otherwise a single process."""
    world = _env_int("WORLD_SIZE", 1)
    local_rank = _env_int("LOCAL_RANK", 0)
    device = resolve_device(device_name, local_rank)
    if world <= 1:
        return Placement(device)
    import torch.distributed as dist

    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Placement(device, dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_WORLD_SIZE", world))


def wrap(model: torch.nn.Module, place: Placement) -> torch.nn.Module:
    """The model as the training step sees it: DDP across processes, else itself."""
    if not place.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [place.device.index] if place.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def mean_across(value: float, place: Placement) -> float:
    """The mean of ``value`` over all processes (e.g. the epoch's training loss)."""
    if not place.distributed:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=place.device)
    dist.all_reduce(t)
    return float(t.item()) / place.world_size


def barrier(place: Placement) -> None:
    if place.distributed:
        import torch.distributed as dist

        dist.barrier()


def teardown(place: Placement) -> None:
    if place.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
