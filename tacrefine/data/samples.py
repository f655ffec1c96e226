"""In-memory container for recorded grasps: the contract between recording and learning.

Everything that produces grasps (simulation, a real robot) fills a :class:`GraspSamples`;
everything that learns from them reads one. See ``docs/dataset.md`` for the on-disk form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class GraspSamples:
    """A batch of recorded grasps, all of objects named in ``object_names``.

    Attributes:
        tactile: ``uint8 (N, fingers, channels, rows, cols)`` tactile images (0-255).
        joints: ``float32 (N, fingers)`` finger joint positions in metres (pad surface to
            the wrist's centre plane).
        grasp: ``float64 (N, 4, 4)`` ground-truth object pose in the wrist frame.
        offset: ``float64 (N, 6)`` commanded wrist offset from the nominal grasp
            ``(x, y, z [m], roll, pitch, yaw [rad])``; informational (labels use ``grasp``).
        object_id: ``int32 (N,)`` index into ``object_names``.
        object_names: names of the objects, shared by every sample.
    """

    tactile: np.ndarray
    joints: np.ndarray
    grasp: np.ndarray
    offset: np.ndarray
    object_id: np.ndarray
    object_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.tactile)
        checks = {
            "tactile": (self.tactile.ndim == 5 and self.tactile.dtype == np.uint8),
            "joints": self.joints.shape == (n, self.tactile.shape[1] if n else self.joints.shape[-1]),
            "grasp": self.grasp.shape == (n, 4, 4),
            "offset": self.offset.shape == (n, 6),
            "object_id": self.object_id.shape == (n,),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"GraspSamples: inconsistent fields {bad} for {n} samples")

    def __len__(self) -> int:
        return len(self.tactile)

    @staticmethod
    def concatenate(parts: list[GraspSamples]) -> GraspSamples:
        """Join sample sets, remapping object ids onto the union of object names."""
        names: list[str] = []
        for part in parts:
            names += [n for n in part.object_names if n not in names]
        ids = [
            np.array([names.index(part.object_names[i]) for i in part.object_id], dtype=np.int32)
            for part in parts
        ]
        return GraspSamples(
            tactile=np.concatenate([p.tactile for p in parts]),
            joints=np.concatenate([p.joints for p in parts]),
            grasp=np.concatenate([p.grasp for p in parts]),
            offset=np.concatenate([p.offset for p in parts]),
            object_id=np.concatenate(ids) if ids else np.zeros(0, np.int32),
            object_names=names,
        )
