"""Transfer benchmark: simulation pre-training + fine-tuning on a little "real-like" data.

TacRefineNet's central result is that a policy pre-trained in simulation and fine-tuned on
a small amount of real data beats simulation alone. We reproduce it in a controlled
stand-in for the real world: the ``real_like`` sensor profile (elastomer spread, gain and
offset maps, saturation, hysteresis, noise) plus the env's domain randomisation (friction,
mass, pad stiffness, sensor gain and noise per episode). Three policies are compared on
that domain:

* ``sim_only``: trained on the ideal ``piezo_11x9`` array (same grid) in simulation;
* ``real_only``: trained from scratch on at most ``real_samples`` real-like grasps;
* ``finetuned``: ``sim_only`` fine-tuned on the same real-like grasps (``finetune.init``).

Scores: closed-loop success in ``GripRefine-v0(sensor="real_like", domain_randomization=True)``
at 2 mm / 2 deg after the first correction and after at most ``max_steps`` re-grasps, and
at 1 mm / 1 deg at the end (the same episode seeds for every policy); and the single-step
residual on held-out real-like pairs. Everything runs
in a temporary directory from fixed seeds; figures are machine-dependent and never used
in tests.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import atomic_write_bytes, require, require_int, to_dict

POLICIES = ("sim_only", "real_only", "finetuned")
THRESHOLD = (2.0, 2.0)  # mm, deg


@dataclass(frozen=True)
class TransferConfig:
    """Sizes of the transfer benchmark (defaults: about 8 min on one CPU core).

    Attributes:
        objects: objects of every dataset and of the closed-loop episodes.
        sim_per_object: simulated (ideal sensor) grasps per object for pre-training.
        real_per_object: real-like grasps per object for fine-tuning / real-only training
            (``len(objects) * real_per_object`` must stay <= 1000).
        test_per_object: held-out real-like grasps per object for the pair residuals.
        pretrain_steps: optimiser steps of ``sim_only`` and ``real_only``.
        finetune_steps: optimiser steps of fine-tuning.
        finetune_sim_ratio: share of simulated pairs in fine-tuning batches, relative to the
            real-like ones (``finetune.mix``; 0 fine-tunes on real-like pairs alone).
        episodes_per_object: closed-loop episodes per object and policy.
        max_steps: re-grasps per episode.
        seed: root seed (data, training, episodes).
    """

    objects: tuple[str, ...] = ("rod_r4", "plate_w6", "box_8x8", "t_shape")
    sim_per_object: int = 1000
    real_per_object: int = 250
    test_per_object: int = 100
    pretrain_steps: int = 3000
    finetune_steps: int = 1000
    finetune_sim_ratio: float = 0.5
    episodes_per_object: int = 25
    max_steps: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("sim_per_object", "real_per_object", "test_per_object", "pretrain_steps", "finetune_steps",
                     "episodes_per_object", "max_steps"):
            require_int(f"transfer.{name}", getattr(self, name), 1)
        require_int("transfer.seed", self.seed, 0)
        require(isinstance(self.finetune_sim_ratio, (int, float)) and 0 <= self.finetune_sim_ratio < 100,
                "transfer.finetune_sim_ratio", "a number in [0, 100)", self.finetune_sim_ratio)
        n_real = len(self.objects) * self.real_per_object
        require(n_real <= 1000, "transfer.real_per_object", "at most 1000 real-like samples in all "
                f"({len(self.objects)} objects)", self.real_per_object)


SMALL_MODEL = {"width": 32, "conv_channels": [16, 32, 32], "conv_strides": [1, 2, 1], "token_grid": [3, 3],
               "num_heads": 2, "proprio_hidden": 32, "head_hidden": 64}
ENV_KWARGS = {"refined_dofs": ("y", "z", "roll"), "offset_range": {"y": 5.0, "z": 5.0, "roll": 10.0}}


def _generate(out: Path, sensor: str, cfg: TransferConfig, per_object: int, seed: int, progress: bool) -> Path:
    from tacrefine.data.generate import DataConfig, generate_dataset
    from tacrefine.sim.cell import CellConfig
    from tacrefine.sim.sensor_profiles import resolve_sensor

    data = DataConfig(objects=cfg.objects, samples_per_object=per_object, shard_size=per_object, seed=seed,
                      workers=1, offset_range=dict(ENV_KWARGS["offset_range"]), refined_dofs=ENV_KWARGS["refined_dofs"],
                      cell=CellConfig(sensor=resolve_sensor(sensor)))
    generate_dataset(data, out, progress=progress)
    return out


def _train(data: Path, out: Path, steps: int, seed: int, init: Path | None = None, lr: float = 2e-3,
           mix: Path | None = None, mix_ratio: float = 0.5) -> Path:
    from tacrefine.training.config import load_run_config
    from tacrefine.training.loop import train

    epochs = 4
    overrides = [f"data.path={data}", f"train.out_dir={out}", f"train.epochs={epochs}",
                 f"train.steps_per_epoch={max(1, steps // epochs)}", "train.batch_size=128", "train.progress=false",
                 f"train.seed={seed}", "train.num_threads=1", "data.val_pairs=512", "data.norm_pairs=2048",
                 f"optim.lr={lr!r}", f"optim.warmup_steps={0 if init else 50}"]
    overrides += [f"model.{k}={json.dumps(v)}" for k, v in SMALL_MODEL.items()]
    if init is not None:
        overrides.append(f"finetune.init={init}")
    if mix is not None:  # keep rehearsing simulation while adapting: 500-1000 grasps alone overfit
        overrides.append(f"finetune.mix=[{{path: '{mix}', ratio: {mix_ratio!r}}}]")
    train(load_run_config(None, overrides))
    return out / "best.pt"


def pair_residuals(checkpoint: Path, test: Path, n_pairs: int = 2000, seed: int = 0) -> dict[str, float]:
    """Single-step residual of a checkpoint on held-out pairs: medians and share within 2 mm / 2 deg."""
    from tacrefine.data.pairs import PairSampler
    from tacrefine.data.storage import load_dataset
    from tacrefine.policy.checkpoint import load_model
    from tacrefine.training.loop import to_tensors

    model, normalizer, ckpt = load_model(checkpoint)
    if ckpt.get("ensemble"):
        raise ValueError(f"pair_residuals scores one network; {str(checkpoint)!r} is an ensemble")
    samples, _ = load_dataset(test)
    dofs = tuple(ckpt["refined_dofs"])
    pairs = PairSampler(samples, np.arange(len(samples)), dofs).fixed_pairs(n_pairs, seed)
    import torch

    with torch.inference_mode():
        b = to_tensors(pairs, normalizer)
        pred = normalizer.denormalize_label(model(b.cur, b.tgt, b.proprio).numpy())
    diff = pred - pairs["label"]
    trans = [i for i, d in enumerate(dofs) if d in ("x", "y", "z")]
    rot = [i for i, d in enumerate(dofs) if d not in ("x", "y", "z")]
    pos, ang = np.linalg.norm(diff[:, trans], axis=1), np.linalg.norm(diff[:, rot], axis=1)
    return {"pair_pos_median_mm": float(np.median(pos)), "pair_rot_median_deg": float(np.median(ang)),
            "pair_within_2mm_2deg": float(np.mean((pos <= THRESHOLD[0]) & (ang <= THRESHOLD[1])))}


def _within(pos: float, rot: float, ok: bool, limit: tuple[float, float]) -> bool:
    return bool(ok and pos <= limit[0] and rot <= limit[1])


def closed_loop(spec: str, cfg: TransferConfig) -> dict[str, Any]:
    """Closed-loop episodes on the real-like domain, the same episode seeds for every policy.

    The env refines until 1 mm / 1 deg (or ``max_steps``); scored are the share within
    2 mm / 2 deg after the first correction and at the end, and within 1 mm / 1 deg at the end.
    """
    import warnings

    import gymnasium as gym

    import tacrefine

    rows = []
    for k, name in enumerate(cfg.objects):
        env = gym.make("tacrefine/GripRefine-v0", objects=[name], sensor="real_like", domain_randomization=True,
                       max_episode_steps=cfg.max_steps, **ENV_KWARGS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sim_only was trained with another sensor: that is the point
            policy = tacrefine.load_policy(spec, env=env, sensor_mismatch="warn")
        for e in range(cfg.episodes_per_object):
            obs, info = env.reset(seed=10_000 * (cfg.seed + 1) + 100 * k + e)
            first = None
            for _ in range(cfg.max_steps):
                obs, _, terminated, truncated, info = env.step(policy.act(obs))
                ok = info["failure"] is None
                first = first or (info["position_error_mm"], info["rotation_error_deg"], ok)
                if terminated or truncated:
                    break
            rows.append((*first, info["position_error_mm"], info["rotation_error_deg"], ok))
        env.close()
    first_ok = [_within(p, r, ok, THRESHOLD) for p, r, ok, *_ in rows]
    final = [(p, r, ok) for *_, p, r, ok in rows]
    return {"episodes": len(rows),
            "success_2mm_2deg_first_step": float(np.mean(first_ok)),
            "success_2mm_2deg": float(np.mean([_within(p, r, ok, THRESHOLD) for p, r, ok in final])),
            "success_1mm_1deg": float(np.mean([_within(p, r, ok, (1.0, 1.0)) for p, r, ok in final])),
            "first_pos_median_mm": float(np.median([x[0] for x in rows])),
            "first_rot_median_deg": float(np.median([x[1] for x in rows])),
            "final_pos_median_mm": float(np.median([x[0] for x in final])),
            "final_rot_median_deg": float(np.median([x[1] for x in final]))}


def run_transfer(cfg: TransferConfig | None = None, out: str | Path | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Generate the three datasets, train the three policies, score them; returns the result dict."""
    cfg = cfg or TransferConfig()
    say = print if progress else (lambda *a, **k: None)
    logging.getLogger("tacrefine.training.loop").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tacrefine-transfer-") as tmp:
        root = Path(tmp)

        def timed(label: str, fn, *args, **kwargs):
            say(f"transfer: {label} ...", flush=True)
            start = time.perf_counter()
            value = fn(*args, **kwargs)
            timings[label] = round(time.perf_counter() - start, 1)
            return value

        sim = timed("simulated data (piezo_11x9)", _generate, root / "sim", "piezo_11x9", cfg, cfg.sim_per_object,
                    cfg.seed * 10 + 1, False)
        real = timed("real-like data", _generate, root / "real", "real_like", cfg, cfg.real_per_object,
                     cfg.seed * 10 + 2, False)
        test = timed("held-out real-like data", _generate, root / "test", "real_like", cfg, cfg.test_per_object,
                     cfg.seed * 10 + 3, False)
        ckpts = {"sim_only": timed("train sim_only", _train, sim, root / "sim_only", cfg.pretrain_steps, cfg.seed)}
        ckpts["real_only"] = timed("train real_only", _train, real, root / "real_only", cfg.pretrain_steps, cfg.seed)
        ckpts["finetuned"] = timed("fine-tune", _train, real, root / "finetuned", cfg.finetune_steps, cfg.seed,
                                   init=ckpts["sim_only"], lr=1e-3, mix=sim if cfg.finetune_sim_ratio > 0 else None,
                                   mix_ratio=cfg.finetune_sim_ratio)
        rows = {}
        for name in POLICIES:
            rows[name] = {**timed(f"pairs {name}", pair_residuals, ckpts[name], test, seed=cfg.seed),
                          **timed(f"closed loop {name}", closed_loop, str(ckpts[name]), cfg)}
    n_real = len(cfg.objects) * cfg.real_per_object
    result = {"schema": "tacrefine.benchmark.transfer", "schema_version": 1, "config": to_dict(cfg),
              "real_like_samples": n_real, "sim_samples": len(cfg.objects) * cfg.sim_per_object,
              "domain": {"sensor": "real_like", "domain_randomization": True, "trained_sim_sensor": "piezo_11x9"},
              "threshold_mm_deg": list(THRESHOLD), "policies": rows,
              "finetuned_minus_sim_only": {k: rows["finetuned"][k] - rows["sim_only"][k] for k in
                                           ("success_2mm_2deg_first_step", "success_2mm_2deg", "success_1mm_1deg",
                                            "pair_within_2mm_2deg")},
              "timings_s": timings, "seconds": round(time.perf_counter() - t0, 1)}
    if out is not None:
        path = Path(out) / "transfer.json"
        atomic_write_bytes(path, (json.dumps(result, indent=2) + "\n").encode())
        result["path"] = str(path)
    return result


def transfer_table(result: dict[str, Any]) -> str:
    """The three policies on the real-like domain as a terminal table."""
    head = (f"{'policy':<10} {'2mm/2deg 1st step':>17} {'2mm/2deg end':>12} {'1mm/1deg end':>12} "
            f"{'1st step mm/deg':>15} {'end mm/deg':>11} {'pairs <=2/2':>11}")
    lines = [head, "-" * len(head)]
    for name, r in result["policies"].items():
        lines.append(f"{name:<10} {r['success_2mm_2deg_first_step'] * 100:>16.1f}% "
                     f"{r['success_2mm_2deg'] * 100:>11.1f}% "
                     f"{r['success_1mm_1deg'] * 100:>11.1f}% "
                     f"{r['first_pos_median_mm']:>7.2f}/{r['first_rot_median_deg']:<7.2f} "
                     f"{r['final_pos_median_mm']:>5.2f}/{r['final_rot_median_deg']:<5.2f} "
                     f"{r['pair_within_2mm_2deg'] * 100:>10.1f}%")
    cfg = result["config"]
    lines.append(f"(closed loop: {result['policies']['sim_only']['episodes']} episodes per policy, at most "
                 f"{cfg['max_steps']} re-grasps, errors are medians; pairs: single-step residual on held-out "
                 f"real-like pairs; real-like training samples: {result['real_like_samples']}, simulated: "
                 f"{result['sim_samples']}; {result['seconds']:.0f} s)")
    return "\n".join(lines)


__all__ = ["TransferConfig", "closed_loop", "pair_residuals", "run_transfer", "transfer_table"]
