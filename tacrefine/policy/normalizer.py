"""Normalisation between physical units and the network's space, and the tactile input scale.

The network knows nothing of millimetres: :class:`Normalizer` standardises joints and
labels with statistics of the training split and converts back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch only where tensors are made: an exported policy uses Normalizer without torch
    import torch


@dataclass
class Normalizer:
    """Statistics of the training split that map physical values to the network's space.

    Attributes:
        label_mean, label_std: per refined DoF, in mm / deg.
        joint_mean, joint_std: per finger, in metres; current and target joints share them
            (they come from the same distribution of grasps).
    """

    label_mean: np.ndarray
    label_std: np.ndarray
    joint_mean: np.ndarray
    joint_std: np.ndarray

    #: Floors on the std so that a DoF or joint that never varies does not divide by ~0.
    MIN_LABEL_STD = 1e-3
    MIN_JOINT_STD = 1e-6

    def __post_init__(self) -> None:
        self.label_mean = np.asarray(self.label_mean, dtype=np.float32).reshape(-1)
        self.label_std = np.maximum(np.asarray(self.label_std, dtype=np.float32).reshape(-1),
                                    self.MIN_LABEL_STD)
        self.joint_mean = np.asarray(self.joint_mean, dtype=np.float32).reshape(-1)
        self.joint_std = np.maximum(np.asarray(self.joint_std, dtype=np.float32).reshape(-1),
                                    self.MIN_JOINT_STD)
        if self.label_mean.shape != self.label_std.shape or self.joint_mean.shape != self.joint_std.shape:
            raise ValueError("Normalizer: mean and std shapes differ")

    @classmethod
    def fit(cls, labels: np.ndarray, joints: np.ndarray, mask: np.ndarray | None = None) -> Normalizer:
        """Statistics from ``labels`` (N, n_dofs) mm/deg and ``joints`` (M, fingers) metres.

        ``mask`` (N, n_dofs): 1 where the DoF is refined for that sample's object. Label
        statistics of a DoF use only the samples that refine it (an object that does not
        refine pitch has pitch labels of ~0, which would shrink pitch's spread); a DoF
        that no sample refines gets mean 0 and std 1.
        """
        labels = np.asarray(labels, dtype=np.float64)
        joints = np.asarray(joints, dtype=np.float64)
        if mask is None:
            mean, std = labels.mean(0), labels.std(0)
        else:
            m = np.asarray(mask, dtype=np.float64).reshape(labels.shape)
            count = m.sum(0)
            safe = np.maximum(count, 1.0)
            mean = np.where(count > 0, (labels * m).sum(0) / safe, 0.0)
            var = ((labels - mean) ** 2 * m).sum(0) / safe
            std = np.where(count > 0, np.sqrt(var), 1.0)
        return cls(mean, std, joints.mean(0), joints.std(0))

    def proprio(self, cur_joints: np.ndarray, tgt_joints: np.ndarray) -> np.ndarray:
        """Standardised ``(..., 2F)`` proprioception: current joints then target joints."""
        cur = (np.asarray(cur_joints, np.float32) - self.joint_mean) / self.joint_std
        tgt = (np.asarray(tgt_joints, np.float32) - self.joint_mean) / self.joint_std
        return np.concatenate([cur, tgt], axis=-1).astype(np.float32)

    def normalize_label(self, label: np.ndarray) -> np.ndarray:
        return ((np.asarray(label, np.float32) - self.label_mean) / self.label_std).astype(np.float32)

    def denormalize_label(self, value: np.ndarray) -> np.ndarray:
        return (np.asarray(value, np.float32) * self.label_std + self.label_mean).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        """Plain lists, so a checkpoint holding them loads with ``weights_only=True``."""
        return {k: getattr(self, k).astype(float).tolist()
                for k in ("label_mean", "label_std", "joint_mean", "joint_std")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalizer:
        return cls(**{k: np.asarray(data[k], dtype=np.float32)
                      for k in ("label_mean", "label_std", "joint_mean", "joint_std")})


def tactile_to_tensor(tactile: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images (0-255) -> float32 tensor in [0, 1], the network's tactile input.

    A NumPy array is converted by NumPy (the same float32 values as torch's conversion, bit for
    bit): torch would split a batch this size over its intra-op threads, and in the training's
    batch-preparing thread that wakes a second thread team that competes with the training step
    for the cores (the batch took ~15 ms instead of ~3 ms)."""
    import torch

    if isinstance(tactile, np.ndarray):
        scaled = tactile.astype(np.float32)  # a copy: the input is never changed
        scaled *= np.float32(1.0 / 255.0)
        return torch.from_numpy(scaled)
    return torch.as_tensor(tactile).to(torch.float32) * (1.0 / 255.0)  # never in place: may alias the input

