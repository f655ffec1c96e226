"""The training loop of TacRefineNet, readable top to bottom (CleanRL style).

One run = one directory holding ``config.yaml`` (resolved), ``metrics.csv``,
``curves.png``, ``last.pt`` and ``best.pt``.

Reproducibility and resuming: every epoch draws its batches (and augmentations) from a
generator seeded with ``(train.seed, epoch)``, the learning rate is a function of the
global step, and ``last.pt`` stores weights, optimiser state and torch's RNG state after
each epoch. Resuming from ``last.pt`` therefore replays exactly the batches and updates
the uninterrupted run would have made, bit for bit (same thread count assumed: the sums
inside the network are split across ``train.num_threads`` threads, so weights and metrics
of runs with different thread counts differ in the last bits and drift apart from there).

Every epoch row also records ``wall_s``, the wall seconds since training began (data
loading included, continued across resumes), so the curve of validation error against
wall time is part of the metrics (:func:`time_to_precision` reads it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from tacrefine.config import ConfigError, require, save_config, to_dict
from tacrefine.data.augment import augment, mirror_plan
from tacrefine.data.pairs import PairSampler, split_by_sample
from tacrefine.data.samples import GraspSamples
from tacrefine.geometry import validate_dofs
from tacrefine.lock import locked_output
from tacrefine.policy.checkpoint import CheckpointError, load_checkpoint, plain, save_checkpoint
from tacrefine.policy.model import Normalizer, TacRefineNet, count_parameters
from tacrefine.training.config import RunConfig, load_run_config
from tacrefine.training.distributed import Placement, mean_across, setup, teardown, wrap
from tacrefine.training.finetune import freeze_encoder, init_from_checkpoint, mixed_sampler
from tacrefine.training.reporting import METRIC_COLUMNS, plot_curves, write_metrics
from tacrefine.training.resume_check import check_resume_config
from tacrefine.training.steps import (
    Batch,
    dof_weights,
    learning_rate,
    masked_loss,
    to_tensors,
    training_batches,
    training_loss,
)
from tacrefine.training.throughput import measure_training_throughput
from tacrefine.training.validation import (
    error_stats,
    evaluate,
    flattened,
    time_to_precision,
    validation_calibration,
)

logger = logging.getLogger(__name__)

#: Overrides accepted by :func:`resume_run`; anything else would change the replayed run.
RESUME_OVERRIDABLE = ("train.epochs", "train.progress", "data.path")
#: the training curves (``curves.png``) are redrawn at most this often, and after the last epoch
CURVES_EVERY_S = 60.0


@dataclass
class TrainResult:
    """What a finished (or already complete) run reports."""

    run_dir: Path
    epochs_done: int
    best_val_loss: float
    best_epoch: int
    history: list[dict[str, float]]
    parameters: int
    initial_error: dict[str, float]
    stopped_early: bool = False

    @property
    def last(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}


def fit_normalizer(samples: GraspSamples, train_idx: np.ndarray, sampler: PairSampler, n_pairs: int,
                   rng: np.random.Generator) -> Normalizer:
    """Label statistics from ``n_pairs`` training pairs (each DoF over the pairs whose object
    refines it); joint statistics from training grasps."""
    pairs = sampler.sample(n_pairs, rng)
    return Normalizer.fit(pairs["label"], samples.joints[np.asarray(train_idx)], pairs["dof_mask"])


def _dataset_hash_of(manifest: dict[str, Any]) -> str:
    """Hash of an in-memory manifest (datasets handed to :func:`train` without a directory)."""
    return "memory:" + hashlib.sha256(json.dumps(plain(manifest), sort_keys=True).encode()).hexdigest()[:16]


def load_data(cfg: RunConfig) -> tuple[GraspSamples, dict[str, Any], str]:
    """Samples, manifest and manifest hash of ``cfg.data.path`` (one directory, or the union
    of a list of them: :func:`tacrefine.data.union.load_union`)."""
    from tacrefine.data.storage import manifest_hash
    from tacrefine.data.stream import load_for_training
    from tacrefine.data.union import load_union

    many = isinstance(cfg.data.path, tuple)
    paths = [Path(p) for p in cfg.data.path] if many else [Path(cfg.data.path)]
    for i, path in enumerate(paths):
        require(path.is_dir(), f"data.path[{i}]" if many else "data.path",
                "an existing dataset directory (generate one with scripts/generate_data.py)", str(path))
    if many:
        return load_union(paths, cfg.data.stream)
    samples, manifest = load_for_training(paths[0], cfg.data.stream)
    return samples, manifest, manifest_hash(paths[0])


def manifest_meta(manifest: dict[str, Any], key: str) -> Any:
    """A metadata entry of a dataset manifest (``manifest["metadata"][key]``, else top level)."""
    meta = manifest.get("metadata")
    if isinstance(meta, dict) and key in meta:
        return meta[key]
    return manifest.get(key)


def resolve_dofs(cfg: RunConfig, manifest: dict[str, Any]) -> tuple[str, ...]:
    """``data.refined_dofs`` if given, else the dofs recorded in the manifest."""
    if cfg.data.refined_dofs is not None:
        return tuple(cfg.data.refined_dofs)
    recorded = manifest_meta(manifest, "refined_dofs")
    require(recorded is not None, "data.refined_dofs",
            "a list of dofs (the dataset manifest does not record refined_dofs)", None)
    try:
        return validate_dofs(recorded, "manifest refined_dofs")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@locked_output(lambda a: a["cfg"].train.out_dir, "training")
def train(cfg: RunConfig, resume: bool = False, overwrite: bool = False,
          data: tuple[GraspSamples, dict[str, Any]] | None = None) -> TrainResult:
    """Train TacRefineNet as configured; with ``resume`` continue from ``out_dir/last.pt``.

    Args:
        cfg: the run configuration.
        resume: continue the run in ``cfg.train.out_dir`` (normally via :func:`resume_run`).
        overwrite: allow starting afresh in a directory that already holds a run.
        data: ``(samples, manifest)`` to use instead of loading ``cfg.data.path`` (tests,
            notebooks); its hash is then taken over the manifest.

    Runs on ``train.device``; launched by ``torchrun`` it trains data-parallel across the
    processes (:mod:`tacrefine.training.distributed`). torch's intra-op thread count is
    set to ``train.num_threads`` shared by the processes of one machine, and restored
    afterwards.
    """
    place = setup(cfg.train.device)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.train.num_threads // place.local_world_size))
    try:
        return _train(cfg, resume, overwrite, data, place)
    finally:
        torch.set_num_threads(old_threads)
        teardown(place)


def _train(cfg: RunConfig, resume: bool, overwrite: bool,
           data: tuple[GraspSamples, dict[str, Any]] | None, place: Placement) -> TrainResult:
    t_start = plotted_at = time.perf_counter()
    run_dir = Path(cfg.train.out_dir)
    if data is None:
        samples, manifest, dataset_hash = load_data(cfg)
    else:
        samples, manifest = data
        dataset_hash = _dataset_hash_of(manifest)
    dofs = resolve_dofs(cfg, manifest)
    tactile_shape = tuple(int(s) for s in samples.tactile.shape[1:])
    model_cfg = cfg.model.resolved(dofs, num_fingers=tactile_shape[0], in_channels=tactile_shape[1])
    cfg = dataclasses.replace(cfg, model=model_cfg, data=dataclasses.replace(cfg.data, refined_dofs=dofs))

    # --- split, samplers, fixed validation pairs (independent of the training seed) ---
    train_idx, val_idx = split_by_sample(samples, cfg.data.val_fraction, cfg.data.split_seed)
    require(len(train_idx) >= 2 and len(val_idx) >= 2, "data.val_fraction",
            f"a fraction leaving >= 2 samples on each side ({len(samples)} samples)", cfg.data.val_fraction)
    train_sampler = mixed_sampler(cfg, PairSampler(samples, train_idx, dofs), dofs, tactile_shape)
    mirrors = {axis: mirror_plan(manifest_meta(manifest, "gripper"), tactile_shape[1], axis)
               for axis in cfg.augment.mirrors}
    mirror = (mirrors, dofs) if mirrors else None
    val_rng = np.random.default_rng([cfg.data.split_seed, 2])
    val_pairs = PairSampler(samples, val_idx, dofs).fixed_pairs(cfg.data.val_pairs, val_rng)

    # --- model, optimiser, state ---
    torch.manual_seed(cfg.train.seed)
    model = TacRefineNet(model_cfg).to(place.device)
    init_normalizer = None
    if cfg.finetune.init and not resume:  # fine-tuning starts from a trained policy
        init_normalizer, _ = init_from_checkpoint(model, to_dict(model_cfg), cfg.finetune.init)
    if cfg.finetune.freeze_encoder:
        freeze_encoder(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.optim.lr,
                                  weight_decay=cfg.optim.weight_decay)
    history: list[dict[str, float]] = []
    best_val, best_epoch, start_epoch, stopped_early = math.inf, -1, 0, False
    if resume:
        ckpt = load_checkpoint(run_dir / "last.pt")
        needed = ("optimizer_state", "torch_rng_state", "history", "best_val_loss")
        missing = [k for k in needed if k not in ckpt]
        if missing:
            raise CheckpointError(f"checkpoint {ckpt['path']!r} cannot resume training: lacks {missing}")
        check_resume_config(ckpt.get("train_config"), to_dict(cfg), (*RESUME_OVERRIDABLE, "train.out_dir"),
                            str(run_dir))
        if ckpt.get("dataset_hash") != dataset_hash:
            raise CheckpointError(f"checkpoint {ckpt['path']!r} was trained on dataset "
                                  f"{ckpt.get('dataset_hash')!r}, but {cfg.data.path!r} is {dataset_hash!r}; "
                                  "resuming needs the same data")
        try:
            model.load_state_dict(ckpt["model_state"])
            optimizer.load_state_dict(ckpt["optimizer_state"])
        except (RuntimeError, ValueError, KeyError) as exc:  # e.g. "size mismatch" of another width
            raise CheckpointError(f"checkpoint {ckpt['path']!r} does not fit the run's model: "
                                  f"{str(exc).strip().splitlines()[0]}") from exc
        torch.set_rng_state(ckpt["torch_rng_state"])
        normalizer = Normalizer.from_dict(ckpt["normalizer"])
        history = list(ckpt["history"])
        best_val, best_epoch = float(ckpt["best_val_loss"]), int(ckpt.get("best_epoch", -1))
        start_epoch = int(ckpt["epoch"])
        stopped_early = bool(ckpt.get("stopped_early", False))
        t_start -= float(history[-1].get("wall_s", 0.0)) if history else 0.0  # wall time continues
    else:
        if (run_dir / "last.pt").exists() and not overwrite:
            raise FileExistsError(f"{run_dir} already holds a run; resume it (--resume {run_dir}), "
                                  "choose another train.out_dir, or pass --overwrite")
        normalizer = init_normalizer or fit_normalizer(samples, train_idx, train_sampler, cfg.data.norm_pairs,
                                                       np.random.default_rng([cfg.train.seed, 1]))
    if place.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    net = wrap(model, place)  # DDP: starts from rank 0's weights, averages gradients

    initial = error_stats(np.zeros_like(val_pairs["label"]), val_pairs["label"], dofs, val_pairs["dof_mask"])
    n_params = count_parameters(model)
    logger.info("TacRefineNet: %d parameters; dofs %s; %d train / %d val grasps; tactile %s; "
                "validation error without correction: %s", n_params, list(dofs), len(train_idx), len(val_idx),
                tactile_shape, {k: round(v, 3) for k, v in initial.items()})

    spe, total_steps = cfg.train.steps_per_epoch, cfg.train.epochs * cfg.train.steps_per_epoch
    weights = dof_weights(dofs, cfg.optim.rotation_weight, cfg.optim.dof_weights).to(place.device)
    meta = {
        "model_config": to_dict(model_cfg), "refined_dofs": list(dofs), "tactile_shape": list(tactile_shape),
        "normalizer": normalizer.to_dict(), "sensor": plain(manifest_meta(manifest, "sensor")),
        "gripper": plain(manifest_meta(manifest, "gripper")), "object_names": list(samples.object_names),
        "object_classes": list(samples.object_classes),
        "object_dofs": plain(manifest_meta(manifest, "object_dofs")),
        "dataset_hash": dataset_hash, "train_config": to_dict(cfg), "world_size": place.world_size,
        "initial_error": {k: float(v) for k, v in initial.items()}, "parameters": n_params,
        # a network trained on mirrored pairs is read mirrored too (LearnedPolicy's ``mirror``)
        "reading": {"mirror": True, "map": mirrors["y"].to_dict()} if "y" in mirrors else {"mirror": False},
    }
    for epoch in range(start_epoch, cfg.train.epochs):
        if stopped_early:
            break
        # Each process draws its own batches; a function of (seed, epoch, rank) so that resuming
        # replays them exactly.
        rng = np.random.default_rng([cfg.train.seed, 0, epoch, *([place.rank] if place.distributed else [])])
        if place.distributed:  # per-rank dropout streams, also replayed exactly on resume
            torch.manual_seed(int(np.random.SeedSequence([cfg.train.seed, 4, epoch, place.rank]).generate_state(1)[0]))
        model.train()
        t0, loss_sum = time.perf_counter(), 0.0
        bar = tqdm(total=spe, desc=f"epoch {epoch + 1}/{cfg.train.epochs}",
                   disable=not (cfg.train.progress and place.is_main), leave=False, dynamic_ncols=True)
        lr = cfg.optim.lr

        def make_batch(rng: np.random.Generator = rng) -> Batch:
            batch = augment(train_sampler.sample(cfg.train.batch_size, rng), cfg.augment, rng, mirror)
            return to_tensors(batch, normalizer, place.device)

        for step, b in enumerate(training_batches(make_batch, spe, cfg.train.prefetch)):
            bar.update(1)
            lr = learning_rate(epoch * spe + step, total_steps, cfg.optim.lr, cfg.optim.warmup_steps,
                               cfg.optim.schedule, cfg.optim.min_lr_fraction)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, mse = training_loss(net, b, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.optim.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            loss_sum += mse.item()
            if step % 10 == 0:
                bar.set_postfix(loss=f"{mse.item():.4f}", lr=f"{lr:.2e}")
        bar.close()
        elapsed = time.perf_counter() - t0
        val_sigma: list[float] = []  # the error head's scores, from the same validation pass
        row: dict[str, float] = {"epoch": epoch + 1, "step": (epoch + 1) * spe, "lr": lr,
                                 "train_loss": mean_across(loss_sum / spe, place),
                                 **evaluate(model, normalizer, val_pairs, dofs, cfg.train.val_batch_size,
                                            sigma_out=val_sigma),
                                 "samples_per_s": spe * cfg.train.batch_size * place.world_size / elapsed,
                                 "epoch_time_s": elapsed}
        row["wall_s"] = time.perf_counter() - t_start
        history.append(row)
        if row["val_loss"] < best_val:
            best_val, best_epoch = row["val_loss"], epoch + 1
        stopped_early = flattened(history, cfg.train.early_stop_patience, cfg.train.early_stop_min_delta)
        ckpt = {**meta, "model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
                "torch_rng_state": torch.get_rng_state(), "epoch": epoch + 1, "history": history,
                "best_val_loss": best_val, "best_epoch": best_epoch, "stopped_early": stopped_early}
        if not place.is_main:
            continue  # rank 0 alone writes the run directory
        # the unfamiliar flag's threshold from held-out grasps (tacrefine calibrate refines it)
        ckpt.update(validation_calibration(model, normalizer, val_pairs, dofs, cfg.train.val_batch_size,
                                           scores=val_sigma) or {})
        save_checkpoint(run_dir / "last.pt", ckpt)
        if best_epoch == epoch + 1:
            save_checkpoint(run_dir / "best.pt", ckpt)
        write_metrics(run_dir, history)
        last_epoch = stopped_early or epoch + 1 == cfg.train.epochs
        if last_epoch or time.perf_counter() - plotted_at >= CURVES_EVERY_S:  # a plot costs ~0.5 s
            plot_curves(history, run_dir / "curves.png")
            plotted_at = time.perf_counter()
        logger.info("epoch %d/%d  train %.4f  val %.4f  pos %.3f/%.3f mm  rot %.3f/%.3f deg (median/p90)  "
                    "%.0f samples/s", epoch + 1, cfg.train.epochs, row["train_loss"], row["val_loss"],
                    row["val_pos_median_mm"], row["val_pos_p90_mm"], row["val_rot_median_deg"],
                    row["val_rot_p90_deg"], row["samples_per_s"])
        if stopped_early:
            logger.info("early stop after epoch %d: validation loss within %.0f %% of its best for %d epochs",
                        epoch + 1, 100 * cfg.train.early_stop_min_delta, cfg.train.early_stop_patience)
    epochs_done = len(history) if stopped_early else max(start_epoch, cfg.train.epochs)
    return TrainResult(run_dir=run_dir, epochs_done=epochs_done,
                       best_val_loss=best_val, best_epoch=best_epoch, history=history, parameters=n_params,
                       initial_error=initial, stopped_early=stopped_early)


def finished_run(run_dir: str | Path) -> TrainResult:
    """What the run in ``run_dir`` reports, read from its ``last.pt`` alone (no data loaded): for
    a run trained in other processes (torchrun). Checkpoints older than this function carry no
    uncorrected error; :func:`resume_run` gives the same result for those (loading the data)."""
    run_dir = Path(run_dir)
    ckpt = load_checkpoint(run_dir / "last.pt")
    if not isinstance(ckpt.get("initial_error"), dict) or "parameters" not in ckpt:
        return resume_run(run_dir)
    history = list(ckpt["history"])
    stopped = bool(ckpt.get("stopped_early", False))
    return TrainResult(run_dir=run_dir, epochs_done=len(history) if stopped else int(ckpt["epoch"]),
                       best_val_loss=float(ckpt["best_val_loss"]), best_epoch=int(ckpt["best_epoch"]),
                       history=history, parameters=int(ckpt["parameters"]),
                       initial_error=dict(ckpt["initial_error"]), stopped_early=stopped)


def resume_run(run_dir: str | Path, overrides: tuple[str, ...] | list[str] = (),
               data: tuple[GraspSamples, dict[str, Any]] | None = None) -> TrainResult:
    """Continue the run in ``run_dir`` from its ``config.yaml`` and ``last.pt``.

    Only ``train.epochs`` (to extend a run; this changes the cosine schedule),
    ``train.progress`` and ``data.path`` (a moved dataset; its hash must still match)
    may be overridden.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file() or not (run_dir / "last.pt").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory to resume (needs config.yaml and last.pt)")
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        require(key in RESUME_OVERRIDABLE, key, f"when resuming, only {list(RESUME_OVERRIDABLE)} may change",
                item)
    cfg = load_run_config(config_path, overrides)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, out_dir=str(run_dir)))
    return train(cfg, resume=True, data=data)


__all__ = ["METRIC_COLUMNS", "Batch", "TrainResult", "dof_weights", "error_stats", "evaluate", "learning_rate",
           "finished_run", "flattened", "load_data", "masked_loss", "measure_training_throughput", "plot_curves",
           "resume_run", "time_to_precision", "to_tensors", "train", "training_batches", "training_loss"]
