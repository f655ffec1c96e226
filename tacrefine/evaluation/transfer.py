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

Two scores: closed-loop success at 2 mm / 2 deg in ``GripRefine-v0(sensor="real_like",
domain_randomization=True)`` (at most ``max_steps`` re-grasps, the same episode seeds for
every policy), and the single-step residual on held-out real-like pairs. Everything runs
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
    """Sizes of the transfer benchmark (defaults: about 10 min on one busy CPU core).

    Attributes:
        objects: objects of every dataset and of the closed-loop episodes.
        sim_per_object: simulated (ideal sensor) grasps per object for pre-training.
        real_per_object: real-like grasps per object for fine-tuning / real-only training
            (``len(objects) * real_per_object`` must stay <= 1000).
        test_per_object: held-out real-like grasps per object for the pair residuals.
        pretrain_steps: optimiser steps of ``sim_only`` and ``real_only``.
        finetune_steps: optimiser steps of fine-tuning.
        episodes_per_object: closed-loop episodes per object and policy.
        max_steps: re-grasps per episode.
        seed: root seed (data, training, episodes).
    """

    objects: tuple[str, ...] = ("rod_r4", "plate_w6", "box_8x8", "t_shape")
    sim_per_object: int = 750
    real_per_object: int = 250
    test_per_object: int = 100
    pretrain_steps: int = 1200
    finetune_steps: int = 400
    episodes_per_object: int = 10
    max_steps: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("sim_per_object", "real_per_object", "test_per_object", "pretrain_steps", "finetune_steps",
                     "episodes_per_object", "max_steps"):
            require_int(f"transfer.{name}", getattr(self, name), 1)
        require_int("transfer.seed", self.seed, 0)
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
                      workers=1, offset_range_mm=(0.0, 5.0, 5.0), offset_range_deg=(10.0, 0.0, 0.0),
                      refined_dofs=("y", "z", "roll"), cell=CellConfig(sensor=resolve_sensor(sensor)))
    generate_dataset(data, out, progress=progress)
    return out


def _train(data: Path, out: Path, steps: int, seed: int, init: Path | None = None, lr: float = 2e-3) -> Path:
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
    train(load_run_config(None, overrides))
    return out / "best.pt"


def pair_residuals(checkpoint: Path, test: Path, n_pairs: int = 2000, seed: int = 0) -> dict[str, float]:
    """Single-step residual of a checkpoint on held-out pairs: medians and share within 2 mm / 2 deg."""
    from tacrefine.data.pairs import PairSampler
    from tacrefine.data.storage import load_dataset
    from tacrefine.training.checkpoint import load_model
    from tacrefine.training.loop import to_tensors

    model, normalizer, ckpt = load_model(checkpoint)
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


def closed_loop(spec: str, cfg: TransferConfig) -> dict[str, Any]:
    """Success at 2 mm / 2 deg on the real-like domain, same episode seeds for every policy."""
    import warnings

    import gymnasium as gym

    import tacrefine

    finals = []
    for k, name in enumerate(cfg.objects):
        env = gym.make("tacrefine/GripRefine-v0", objects=[name], sensor="real_like", domain_randomization=True,
                       success_position_mm=THRESHOLD[0], success_rotation_deg=THRESHOLD[1],
                       max_episode_steps=cfg.max_steps, **ENV_KWARGS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sim_only was trained with another sensor: that is the point
            policy = tacrefine.load_policy(spec, env=env, sensor_mismatch="warn")
        for e in range(cfg.episodes_per_object):
            obs, info = env.reset(seed=10_000 * (cfg.seed + 1) + 100 * k + e)
            start = (info["position_error_mm"], info["rotation_error_deg"])
            for _ in range(cfg.max_steps):
                obs, _, terminated, truncated, info = env.step(policy.act(obs))
                if terminated or truncated:
                    break
            finals.append((*start, info["position_error_mm"], info["rotation_error_deg"], bool(info["is_success"])))
        env.close()
    arr = np.array(finals, dtype=float)
    return {"episodes": len(finals), "success_2mm_2deg": float(arr[:, 4].mean()),
            "final_pos_median_mm": float(np.median(arr[:, 2])), "final_rot_median_deg": float(np.median(arr[:, 3])),
            "start_pos_median_mm": float(np.median(arr[:, 0])), "start_rot_median_deg": float(np.median(arr[:, 1]))}


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
                                   init=ckpts["sim_only"], lr=1e-3)
        rows = {}
        for name in POLICIES:
            rows[name] = {**timed(f"pairs {name}", pair_residuals, ckpts[name], test, seed=cfg.seed),
                          **timed(f"closed loop {name}", closed_loop, str(ckpts[name]), cfg)}
    n_real = len(cfg.objects) * cfg.real_per_object
    result = {"schema": "tacrefine.benchmark.transfer", "schema_version": 1, "config": to_dict(cfg),
              "real_like_samples": n_real, "sim_samples": len(cfg.objects) * cfg.sim_per_object,
              "domain": {"sensor": "real_like", "domain_randomization": True, "trained_sim_sensor": "piezo_11x9"},
              "threshold_mm_deg": list(THRESHOLD), "policies": rows,
              "finetuned_minus_sim_only_success": rows["finetuned"]["success_2mm_2deg"]
              - rows["sim_only"]["success_2mm_2deg"],
              "timings_s": timings, "seconds": round(time.perf_counter() - t0, 1)}
    if out is not None:
        path = Path(out) / "transfer.json"
        atomic_write_bytes(path, (json.dumps(result, indent=2) + "\n").encode())
        result["path"] = str(path)
    return result


def transfer_table(result: dict[str, Any]) -> str:
    """The three policies on the real-like domain as a terminal table."""
    head = (f"{'policy':<11} {'success 2mm/2deg':>17} {'final pos mm':>13} {'final rot deg':>14} "
            f"{'pairs <=2/2':>12} {'pair pos mm':>12} {'pair rot deg':>13}")
    lines = [head, "-" * len(head)]
    for name, r in result["policies"].items():
        lines.append(f"{name:<11} {r['success_2mm_2deg'] * 100:>16.1f}% {r['final_pos_median_mm']:>13.2f} "
                     f"{r['final_rot_median_deg']:>14.2f} {r['pair_within_2mm_2deg'] * 100:>11.1f}% "
                     f"{r['pair_pos_median_mm']:>12.2f} {r['pair_rot_median_deg']:>13.2f}")
    lines.append(f"(closed loop: {result['policies']['sim_only']['episodes']} episodes per policy, medians; "
                 f"real-like training samples: {result['real_like_samples']}, simulated: {result['sim_samples']}; "
                 f"{result['seconds']:.0f} s)")
    return "\n".join(lines)


__all__ = ["TransferConfig", "closed_loop", "pair_residuals", "run_transfer", "transfer_table"]
