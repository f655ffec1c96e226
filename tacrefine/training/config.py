"""Configuration of a training run: one validated dataclass per component.

``RunConfig`` composes them; it is read from YAML (``configs/*.yaml``) with dotted
command-line overrides by :func:`load_run_config` and saved, resolved, as ``config.yaml``
in the run directory so that every run can be repeated and resumed from its own folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tacrefine.config import ConfigError, load_config, require, require_choice, require_int, require_positive
from tacrefine.data.augment import AugmentConfig
from tacrefine.geometry import DOF_NAMES, validate_dofs
from tacrefine.policy.model import ModelConfig
from tacrefine.training.finetune import FinetuneConfig


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class DataRef:
    """Which dataset to learn from and how to split it.

    Attributes:
        path: dataset directory (manifest + shards), or a list of them read as their union
            (:mod:`tacrefine.data.union`); a one-entry list is that one directory.
        val_fraction: share of *samples* (grasps) held out; validation pairs combine held-out
            grasps only, so validation measures generalisation to unseen grasps.
        split_seed: seed of the split, separate from ``train.seed`` so that runs with
            different training seeds are scored on the same held-out grasps.
        refined_dofs: DoF to learn; ``null`` = those recorded in the dataset manifest.
        val_pairs: size of the fixed validation pair set.
        norm_pairs: training pairs drawn to estimate the label mean / std.
        stream: read the tactile images from the shards as batches need them (``true``:
            memory grows with the dataset by ~0.2 KB of pose fields per sample only), load
            them all into memory (``false``), or ``auto``: stream unless the dataset's
            shards compress their images in chunks (written before streaming existed).
            Batches are the same either way.
    """

    path: str | tuple[str, ...] = "data/default"
    val_fraction: float = 0.1
    split_seed: int = 0
    refined_dofs: tuple[str, ...] | None = None
    val_pairs: int = 2048
    norm_pairs: int = 8192
    stream: bool | str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.path, (list, tuple)):
            require(bool(self.path), "data.path", "a directory path or a non-empty list of them", self.path)
            for i, item in enumerate(self.path):
                require(isinstance(item, str) and bool(item), f"data.path[{i}]", "a non-empty directory path",
                        item)
            require(len(set(self.path)) == len(self.path), "data.path", "a list without repeats", self.path)
            object.__setattr__(self, "path", self.path[0] if len(self.path) == 1 else tuple(self.path))
        require(isinstance(self.path, (str, tuple)) and bool(self.path), "data.path",
                "a non-empty directory path or a list of them", self.path)
        require(_is_number(self.val_fraction) and 0.0 < self.val_fraction < 1.0, "data.val_fraction",
                "a number in (0, 1)", self.val_fraction)
        require_int("data.split_seed", self.split_seed, 0)
        if self.refined_dofs is not None:
            try:
                dofs = validate_dofs(self.refined_dofs, "data.refined_dofs")
                object.__setattr__(self, "refined_dofs", dofs)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        require_int("data.val_pairs", self.val_pairs, 1)
        require_int("data.norm_pairs", self.norm_pairs, 2)
        require(isinstance(self.stream, bool) or self.stream == "auto", "data.stream", "auto, true or false",
                self.stream)


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up and cosine decay, computed from the global step.

    The learning rate is a pure function of the step (no scheduler object), so resuming
    needs nothing but the step count.

    Attributes:
        lr: peak learning rate.
        weight_decay: AdamW decoupled weight decay.
        warmup_steps: steps of linear warm-up from 0 to ``lr``.
        schedule: ``cosine`` (decay to ``min_lr_fraction * lr`` at the last step) or
            ``constant``.
        min_lr_fraction: final learning rate as a fraction of ``lr`` (cosine only).
        grad_clip: max global gradient norm; 0 disables clipping.
        rotation_weight: weight of the rotation DoF in the (normalised) MSE, translations
            weigh 1. Rotations are the harder part of the task relative to their tolerance
            (0.5 deg is a smaller share of the label spread than 0.5 mm), so they may get more.
        dof_weights: per-DoF loss weights ``{dof: weight}`` overriding the above for the DoF
            they name (e.g. ``{pitch: 2.0}``).
    """

    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    schedule: str = "cosine"
    min_lr_fraction: float = 0.02
    grad_clip: float = 1.0
    rotation_weight: float = 1.0
    dof_weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_positive("optim.lr", self.lr)
        require_positive("optim.weight_decay", self.weight_decay, allow_zero=True)
        require_int("optim.warmup_steps", self.warmup_steps, 0)
        require_choice("optim.schedule", self.schedule, ("cosine", "constant"))
        require(_is_number(self.min_lr_fraction) and 0.0 <= self.min_lr_fraction <= 1.0,
                "optim.min_lr_fraction", "a number in [0, 1]", self.min_lr_fraction)
        require_positive("optim.grad_clip", self.grad_clip, allow_zero=True)
        require_positive("optim.rotation_weight", self.rotation_weight)
        require(isinstance(self.dof_weights, dict), "optim.dof_weights", "a mapping {dof: weight}",
                self.dof_weights)
        unknown = sorted(set(self.dof_weights) - set(DOF_NAMES))
        require(not unknown, "optim.dof_weights", f"keys among {list(DOF_NAMES)}", unknown)
        for dof, value in self.dof_weights.items():
            require(_is_number(value) and value > 0, f"optim.dof_weights.{dof}", "a number > 0", value)
        object.__setattr__(self, "dof_weights", {d: float(v) for d, v in self.dof_weights.items()})


@dataclass(frozen=True)
class TrainConfig:
    """Length, batch, seed and output of a run.

    Attributes:
        epochs: number of epochs; each ends with validation and checkpoints.
        steps_per_epoch: optimiser steps per epoch (pairs are drawn fresh every step, so an
            "epoch" is a reporting interval, not a pass over a fixed list).
        batch_size: pairs per step.
        val_batch_size: pairs per forward pass during validation.
        seed: seeds model initialisation and the per-epoch batch generators.
        num_threads: torch intra-op threads per machine (shared by its processes under torchrun).
        device: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``mps``.
        out_dir: the run directory (config, metrics, curves, checkpoints).
        progress: show tqdm progress bars.
        early_stop_patience: stop once ``val_loss`` has not improved on its best by more
            than ``early_stop_min_delta`` (relative) for this many epochs; 0 (the default)
            never stops early. Off by default because the cosine schedule makes the last
            epochs the best ones: a flat stretch mid-run is usually followed by a drop. A
            stopped run records it in ``last.pt`` and resuming it does not train further.
        early_stop_min_delta: relative improvement of ``val_loss`` that counts (0.02 = 2 %).
        prefetch: draw and augment the next batch in a background thread while the network
            trains on the current one (same batches, same order: one thread draws them all).
    """

    epochs: int = 20
    steps_per_epoch: int = 250
    batch_size: int = 256
    val_batch_size: int = 1024
    seed: int = 0
    num_threads: int = 2
    out_dir: str = "runs/tacrefinenet"
    progress: bool = True
    device: str = "auto"
    early_stop_patience: int = 0
    early_stop_min_delta: float = 0.02
    prefetch: bool = True

    def __post_init__(self) -> None:
        require_int("train.epochs", self.epochs, 1)
        require_int("train.steps_per_epoch", self.steps_per_epoch, 1)
        require_int("train.batch_size", self.batch_size, 1)
        require_int("train.val_batch_size", self.val_batch_size, 1)
        require_int("train.seed", self.seed, 0)
        require_int("train.num_threads", self.num_threads, 1)
        require_choice("train.device", self.device, ("auto", "cpu", "cuda", "mps"))
        require_int("train.early_stop_patience", self.early_stop_patience, 0)
        require(_is_number(self.early_stop_min_delta) and 0.0 <= self.early_stop_min_delta < 1.0,
                "train.early_stop_min_delta", "a number in [0, 1)", self.early_stop_min_delta)
        require(isinstance(self.prefetch, bool), "train.prefetch", "true or false", self.prefetch)
        require(isinstance(self.out_dir, str) and bool(self.out_dir), "train.out_dir",
                "a non-empty directory path", self.out_dir)


@dataclass(frozen=True)
class RunConfig:
    """A whole training run: data, model, optimiser, augmentation and schedule."""

    data: DataRef = field(default_factory=DataRef)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)


def load_run_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """Defaults, then the YAML file at ``path``, then ``section.field=value`` overrides."""
    return load_config(RunConfig, path, overrides)
