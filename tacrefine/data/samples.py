"""In-memory container for recorded grasps: the contract between recording and learning.

Everything that produces grasps (simulation, a real robot) fills a :class:`GraspSamples`;
everything that learns from them reads one. See ``docs/dataset.md`` for the on-disk form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tacrefine.geometry import DOF_NAMES, dof_indices


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
        dof_mask: ``bool (N, 6)`` over ``x y z roll pitch yaw``: the DoF refined for the
            sample's object (its class's set). Labels of the other DoF are not learned.
            ``None`` (recordings that do not say) means every DoF the dataset refines.
        object_classes: class of each entry of ``object_names`` (``[]`` = not recorded).
    """

    tactile: np.ndarray
    joints: np.ndarray
    grasp: np.ndarray
    offset: np.ndarray
    object_id: np.ndarray
    object_names: list[str] = field(default_factory=list)
    dof_mask: np.ndarray | None = None
    object_classes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.tactile)
        if self.dof_mask is not None:
            self.dof_mask = np.asarray(self.dof_mask).astype(bool)
            if self.dof_mask.shape != (n, len(DOF_NAMES)):
                raise ValueError(f"GraspSamples: dof_mask must be (N, 6) over {list(DOF_NAMES)}; "
                                 f"got {self.dof_mask.shape} for {n} samples")
        if self.object_classes and len(self.object_classes) != len(self.object_names):
            raise ValueError(f"GraspSamples: {len(self.object_classes)} object_classes for "
                             f"{len(self.object_names)} object_names")
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

    def mask_over(self, dofs: Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
        """``float32 (len(rows), len(dofs))``: 1 where the sample's object refines the DoF.

        Without a recorded ``dof_mask`` every DoF in ``dofs`` counts as refined.
        """
        n = len(self) if rows is None else len(rows)
        if self.dof_mask is None:
            return np.ones((n, len(dofs)), dtype=np.float32)
        mask = self.dof_mask if rows is None else self.dof_mask[rows]
        return mask[:, dof_indices(dofs)].astype(np.float32)

    def class_of(self, object_id: int) -> str | None:
        """The class of object ``object_id`` (``None`` when not recorded)."""
        return self.object_classes[object_id] if self.object_classes else None

    @staticmethod
    def concatenate(parts: list[GraspSamples], tactile: Any = None) -> GraspSamples:
        """Join sample sets, remapping object ids onto the union of object names.

        ``tactile``: the images of all parts, in order, to use instead of joining the parts'
        own (a reader that leaves them on disk, :class:`tacrefine.data.stream.ShardTactile`).
        """
        names: list[str] = []
        classes: dict[str, str] = {}
        for part in parts:
            names += [n for n in part.object_names if n not in names]
            for i, name in enumerate(part.object_names):
                if part.object_classes:
                    classes.setdefault(name, part.object_classes[i])
        masks = None
        if any(p.dof_mask is not None for p in parts):
            masks = np.concatenate([p.dof_mask if p.dof_mask is not None else np.ones((len(p), len(DOF_NAMES)), bool)
                                    for p in parts])
        where = {name: i for i, name in enumerate(names)}
        ids = [  # per part: its id -> the union's id, then one lookup per sample
            np.array([where[n] for n in part.object_names], dtype=np.int32)[part.object_id]
            if len(part) else np.zeros(0, np.int32)
            for part in parts
        ]
        return GraspSamples(
            tactile=np.concatenate([p.tactile for p in parts]) if tactile is None else tactile,
            joints=np.concatenate([p.joints for p in parts]),
            grasp=np.concatenate([p.grasp for p in parts]),
            offset=np.concatenate([p.offset for p in parts]),
            object_id=np.concatenate(ids) if ids else np.zeros(0, np.int32),
            object_names=names,
            dof_mask=masks,
            object_classes=[classes[n] for n in names] if len(classes) == len(names) else [],
        )
