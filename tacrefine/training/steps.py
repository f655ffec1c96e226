"""One training step's pieces: a batch as tensors, the masked loss, the DoF weights, the
learning-rate schedule and the batch stream (with one batch prepared ahead in a thread).

Split from :mod:`tacrefine.training.loop` so the loop reads top to bottom; every name is
still importable from there.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tacrefine.geometry import ROTATION_DOFS
from tacrefine.policy.model import Normalizer, tactile_to_tensor
from tacrefine.training.assess_loss import error_head_loss


@dataclass
class Batch:
    """One batch as network tensors (normalised) plus the physical labels for metrics."""

    cur: torch.Tensor
    tgt: torch.Tensor
    proprio: torch.Tensor
    label: torch.Tensor  # normalised
    label_phys: np.ndarray  # mm / deg
    mask: torch.Tensor  # 1 where the pair's object refines the DoF


def to_tensors(batch: dict[str, np.ndarray], normalizer: Normalizer, device: torch.device | None = None) -> Batch:
    """Pair-sampler dict -> network inputs: images / 255, standardised joints and labels (on ``device``)."""
    b = Batch(
        cur=tactile_to_tensor(batch["cur_tactile"]),
        tgt=tactile_to_tensor(batch["tgt_tactile"]),
        proprio=torch.from_numpy(normalizer.proprio(batch["cur_joints"], batch["tgt_joints"])),
        label=torch.from_numpy(normalizer.normalize_label(batch["label"])),
        label_phys=np.asarray(batch["label"], dtype=np.float32),
        mask=torch.from_numpy(np.asarray(batch.get("dof_mask", np.ones_like(batch["label"])), np.float32)),
    )
    if device is not None and device.type != "cpu":
        b = Batch(cur=b.cur.to(device), tgt=b.tgt.to(device), proprio=b.proprio.to(device),
                  label=b.label.to(device), label_phys=b.label_phys, mask=b.mask.to(device))
    return b


def masked_loss(pred: torch.Tensor, b: Batch, weights: torch.Tensor) -> torch.Tensor:
    """Weighted MSE over the DoF each pair's object refines (mean over active entries)."""
    w = b.mask * weights
    return ((pred - b.label).square() * w).sum() / b.mask.sum().clamp_min(1.0)


def training_loss(net: torch.nn.Module, b: Batch, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss to minimise, increment MSE to log)``: the masked MSE of the increment plus,
    when the model has an error head, that head's NLL (which reaches only the head)."""
    pred, log_var = net(b.cur, b.tgt, b.proprio, b.mask, with_error=True)
    mse = masked_loss(pred, b, weights)
    return (mse if log_var is None else mse + error_head_loss(log_var, pred, b.label, b.mask)), mse


def dof_weights(dofs: tuple[str, ...], rotation_weight: float,
                per_dof: dict[str, float] | None = None) -> torch.Tensor:
    """Per-DoF loss weights, normalised to mean 1 so the loss scale does not depend on them.

    ``per_dof`` (``{dof: weight}``) sets DoF explicitly; the others weigh 1 (translations)
    or ``rotation_weight`` (rotations).
    """
    per_dof = per_dof or {}
    w = torch.tensor([per_dof.get(d, rotation_weight if d in ROTATION_DOFS else 1.0) for d in dofs],
                     dtype=torch.float32)
    return w / w.mean()


def learning_rate(step: int, total_steps: int, lr: float, warmup_steps: int, schedule: str,
                  min_lr_fraction: float) -> float:
    """Linear warm-up to ``lr``, then constant or cosine decay to ``min_lr_fraction * lr``."""
    if warmup_steps and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return lr * (min_lr_fraction + (1.0 - min_lr_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def training_batches(make: Any, steps: int, prefetch: bool) -> Iterator[Batch]:
    """``make()`` called ``steps`` times in order; with ``prefetch`` the next call runs in a
    background thread while the caller trains on the current batch. One thread makes every
    batch in turn, so the random stream (and thus every batch) is the same either way."""
    if not prefetch:
        for _ in range(steps):
            yield make()
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches") as pool:
        pending = pool.submit(make) if steps > 0 else None
        for i in range(steps):
            assert pending is not None
            batch = pending.result()
            pending = pool.submit(make) if i + 1 < steps else None
            yield batch
