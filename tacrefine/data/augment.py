"""Training-time augmentation of tactile pairs (TacRefineNet v2 style).

Why: a policy trained on clean simulated images overfits to exact force levels and
perfect sensors. Scaling the tactile amplitude (grip force and sensor gain vary), adding
read noise, killing taxels and jittering joint readings make it rely on the *shape* of
the contact, which is what carries the pose. Current and target images get independent
draws, as they come from different grasps. Everything is numpy with a caller-supplied
seeded generator, so a batch is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tacrefine.config import require, require_positive
from tacrefine.sim.hands.mirror import MirrorMap, gripper_mirror

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
        mirror_y: probability that a pair is mirrored in the wrist's y = 0 plane: both images
            flipped along their y axis and the label changed as a mirrored pose changes (y,
            roll and yaw negated), the images moved to the mirrored pads and the finger joints
            with them. A mirrored part is another valid part, so this adds shapes, not sensor
            variation. Only for a hand the mirror maps onto itself (:func:`mirror_plan`: the
            parallel jaw, the three-finger hand); 0 turns it off.
        mirror_x: the same in the wrist's x = 0 plane (the closing axis reversed): the pads'
            readings swap, the label's x, pitch and yaw change sign. Drawn independently of
            ``mirror_y``, so together they give all four images of a part. Only for a hand
            the mirror maps onto itself (the parallel jaw; not the three-finger hand, whose
            thumb faces two fingers).
    """

    enabled: bool = True
    amplitude_scale: tuple[float, float] = (0.8, 1.2)
    noise_std: float = 2.0
    dead_taxel_prob: float = 0.002
    joint_noise_std: float = 0.0002
    mirror_y: float = 0.0
    mirror_x: float = 0.0

    def __post_init__(self) -> None:
        lo_hi = self.amplitude_scale
        ok = (len(lo_hi) == 2 and all(isinstance(v, (int, float)) and np.isfinite(v) for v in lo_hi)
              and 0 < lo_hi[0] <= lo_hi[1])
        require(ok, "augment.amplitude_scale", "(low, high) with 0 < low <= high", lo_hi)
        require_positive("augment.noise_std", self.noise_std, allow_zero=True)
        require(isinstance(self.dead_taxel_prob, (int, float)) and 0.0 <= self.dead_taxel_prob < 1.0,
                "augment.dead_taxel_prob", "a probability in [0, 1)", self.dead_taxel_prob)
        require_positive("augment.joint_noise_std", self.joint_noise_std, allow_zero=True)
        for name in ("mirror_y", "mirror_x"):
            value = getattr(self, name)
            require(isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0,
                    f"augment.{name}", "a probability in [0, 1]", value)

    @property
    def mirrors(self) -> dict[str, float]:
        """The mirrors in use: wrist axis normal to the plane -> share of pairs mirrored."""
        return {axis: p for axis, p in (("y", self.mirror_y), ("x", self.mirror_x)) if self.enabled and p > 0}


def mirror_plan(gripper: dict | None, channels: int = 1, axis: str = "y") -> MirrorMap:
    """How the readings of the hand in a dataset's ``gripper`` metadata change under the mirror
    ``axis -> -axis`` (:func:`tacrefine.sim.hands.mirror.hand_mirror`: measured from the hand's
    URDF); raises ``ConfigError`` naming ``augment.mirror_<axis>`` for a hand the mirror does not
    map onto itself, and for shear channels (their shear would have to change sign, not modelled).

    In y the parallel jaw maps each pad onto itself and the three-finger hand swaps its two
    fingers, which sit side by side in y, with their joint readings; in x the jaw's pads swap.
    """
    return gripper_mirror(gripper, channels, f"augment.mirror_{axis}", axis)


def mirror_pairs(batch: dict[str, np.ndarray], chosen: np.ndarray, plan: MirrorMap,
                 dofs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``batch`` with the pairs ``chosen`` (boolean ``(B,)``) mirrored by ``plan``: images moved
    to the mirrored pads and flipped, finger joints permuted, labels signed as the mirror changes
    a pose (:func:`~tacrefine.sim.hands.mirror.mirror_increment`)."""
    out = dict(batch)
    for key in TACTILE_KEYS:
        if key in batch:
            images = np.array(batch[key], copy=True)
            images[chosen] = plan.mirror_images(images[chosen])
            out[key] = images
    for key in JOINT_KEYS:
        if key in batch:
            joints = np.array(batch[key], copy=True)
            joints[chosen] = plan.mirror_joints(joints[chosen])
            out[key] = joints
    if "label" in batch:
        label = np.array(batch["label"], np.float32, copy=True)
        label[chosen] = plan.mirror_increment(label[chosen], dofs)
        out["label"] = label
    return out


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
    batch: dict[str, np.ndarray], cfg: AugmentConfig, rng: np.random.Generator,
    mirror: tuple[Mapping[str, MirrorMap], tuple[str, ...]] | None = None,
) -> dict[str, np.ndarray]:
    """A new batch with current and target tactile images and joints augmented.

    Other entries (labels, ids) are passed through untouched: the sensor augmentations model
    the sensor, not the pose, so the labels stay correct. With ``cfg.mirror_y`` / ``mirror_x``
    and ``mirror`` = (the hand's :func:`mirror_plan` by axis, label DoF), a share of the pairs is
    mirrored in each plane, joints and labels included. The input batch is not modified.
    """
    out = dict(batch)
    if not cfg.enabled:
        return out
    for axis, share in cfg.mirrors.items():
        plans, dofs = mirror if mirror is not None else ({}, ())
        if axis not in plans:
            raise ValueError(f"augment.mirror_{axis} needs the hand's mirror plan in {axis} and the label DoF "
                             "(mirror=({axis: plan}, dofs))")
        n = len(next(iter(batch.values())))
        out = mirror_pairs(out, rng.random(n) < share, plans[axis], dofs)
    for key in TACTILE_KEYS:
        if key in batch:
            out[key] = augment_tactile(out[key], cfg, rng)
    for key in JOINT_KEYS:
        if key in batch:
            out[key] = augment_joints(out[key], cfg, rng)
    return out
