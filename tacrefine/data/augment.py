"""Training-time augmentation of tactile pairs (TacRefineNet v2 style).

Why: a policy trained on clean simulated images overfits to exact force levels and
perfect sensors. Scaling the tactile amplitude (grip force and sensor gain vary), adding
read noise, killing taxels and jittering joint readings make it rely on the *shape* of
the contact, which is what carries the pose. Current and target images get independent
draws, as they come from different grasps. Everything is numpy with a caller-supplied
seeded generator, so a batch is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tacrefine.config import require, require_positive

#: Value of a shear channel at zero shear (tacrefine.sim.tactile stores shear offset by 128).
SHEAR_ZERO = 128.0
TACTILE_KEYS = ("cur_tactile", "tgt_tactile")
JOINT_KEYS = ("cur_joints", "tgt_joints")


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths.

    Attributes:
        enabled: master switch (off returns the batch unchanged).
        amplitude_scale: range ``(low, high)`` of a multiplicative factor drawn per image
            and finger; it scales the normal channel about 0 and shear channels about 128.
        noise_std: std of additive gaussian noise per taxel, in image counts (0-255).
        dead_taxel_prob: probability that a taxel reads no signal (0, or 128 on shear).
        joint_noise_std: std of additive gaussian noise on finger joints, metres.
    """

    enabled: bool = True
    amplitude_scale: tuple[float, float] = (0.8, 1.2)
    noise_std: float = 2.0
    dead_taxel_prob: float = 0.002
    joint_noise_std: float = 0.0002

    def __post_init__(self) -> None:
        lo_hi = self.amplitude_scale
        ok = (len(lo_hi) == 2 and all(isinstance(v, (int, float)) and np.isfinite(v) for v in lo_hi)
              and 0 < lo_hi[0] <= lo_hi[1])
        require(ok, "augment.amplitude_scale", "(low, high) with 0 < low <= high", lo_hi)
        require_positive("augment.noise_std", self.noise_std, allow_zero=True)
        require(isinstance(self.dead_taxel_prob, (int, float)) and 0.0 <= self.dead_taxel_prob < 1.0,
                "augment.dead_taxel_prob", "a probability in [0, 1)", self.dead_taxel_prob)
        require_positive("augment.joint_noise_std", self.joint_noise_std, allow_zero=True)


def augment_tactile(images: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Augment ``uint8 (B, F, C, H, W)`` images; returns new uint8 images (clipped to 0-255)."""
    if images.dtype != np.uint8 or images.ndim != 5:
        raise ValueError(f"tactile images must be uint8 (B, F, C, H, W), got {images.dtype} {images.shape}")
    b, f, c, h, w = images.shape
    # Work relative to each channel's zero level so that scaling and dead taxels mean "less signal".
    zero = np.zeros((1, 1, c, 1, 1), np.float32)
    zero[:, :, 1:] = SHEAR_ZERO
    signal = images.astype(np.float32) - zero
    lo, hi = cfg.amplitude_scale
    if hi > lo or lo != 1.0:
        signal *= rng.uniform(lo, hi, (b, f, 1, 1, 1)).astype(np.float32)
    if cfg.noise_std > 0:
        signal += rng.normal(0.0, cfg.noise_std, signal.shape).astype(np.float32)
    if cfg.dead_taxel_prob > 0:
        signal *= rng.random((b, f, 1, h, w)) >= cfg.dead_taxel_prob
    return np.clip(np.rint(signal + zero), 0, 255).astype(np.uint8)


def augment_joints(joints: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Add gaussian noise (metres) to joint readings; float32 out."""
    out = np.asarray(joints, np.float32)
    if cfg.joint_noise_std > 0:
        out = out + rng.normal(0.0, cfg.joint_noise_std, out.shape).astype(np.float32)
    return out.astype(np.float32, copy=True)


def augment(
    batch: dict[str, np.ndarray], cfg: AugmentConfig, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """A new batch with current and target tactile images and joints augmented.

    Other entries (labels, ids) are passed through untouched: the augmentation models the
    sensor, not the pose, so the labels stay correct. The input batch is not modified.
    """
    out = dict(batch)
    if not cfg.enabled:
        return out
    for key in TACTILE_KEYS:
        if key in batch:
            out[key] = augment_tactile(batch[key], cfg, rng)
    for key in JOINT_KEYS:
        if key in batch:
            out[key] = augment_joints(batch[key], cfg, rng)
    return out
