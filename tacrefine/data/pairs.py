"""Training pairs by cross-combination, and their labels.

Any two grasps of the same object form a training pair: the current grasp and a target
grasp (the "demonstration"). The label is the wrist increment that turns the current
grasp into the target one, ``D = G_c @ G_t^-1`` (see :mod:`tacrefine.geometry`), given
over the refined DoF in **mm and degrees**. Because pairs are formed freely, N grasps of
an object give N^2 pairs, and any target within the sampled range is covered.

Labels cover the refined DoF of the whole dataset (the union over object classes); each
pair also carries its object's DoF mask (``dof_mask``, 1 where the object's class refines
the DoF), so that training learns a DoF only from objects that refine it.

Splits are made over *grasp samples*, never over pairs: a sample in the validation set
must not appear (as current or as target) in any training pair, or validation would
measure memorisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tacrefine import geometry
from tacrefine.data.samples import GraspSamples

#: Unit of a label component per DoF.
LABEL_UNITS = {"x": "mm", "y": "mm", "z": "mm", "roll": "deg", "pitch": "deg", "yaw": "deg"}


def label_scale(dofs: Sequence[str]) -> np.ndarray:
    """Factors from library units (m, rad) to label units (mm, deg) for ``dofs``."""
    return np.array([1000.0 if d in geometry.TRANSLATION_DOFS else 180.0 / np.pi for d in dofs])


def correction_labels(current: np.ndarray, target: np.ndarray, dofs: Sequence[str]) -> np.ndarray:
    """Labels ``(B, len(dofs))`` float32, mm / deg, for stacks of grasps ``(B, 4, 4)``."""
    dofs = geometry.validate_dofs(dofs)
    vec = geometry.batch_correction_vectors(np.asarray(current, np.float64), np.asarray(target, np.float64))
    return (vec[:, geometry.dof_indices(dofs)] * label_scale(dofs)).astype(np.float32)


def label_to_increment(label: np.ndarray, dofs: Sequence[str]) -> np.ndarray:
    """Inverse of the label units: one label (mm / deg over ``dofs``) -> full 6-vector in m / rad."""
    dofs = geometry.validate_dofs(dofs)
    return geometry.embed(np.asarray(label, np.float64) / label_scale(dofs), dofs)


def split_by_sample(samples: GraspSamples, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into (train, validation), stratified per object.

    Each object contributes ``round(val_fraction * n_object)`` samples to validation, but
    keeps at least one for training (and gives at least one to validation when
    ``val_fraction > 0`` and it has two or more samples). Sorted int64 index arrays.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction: got {val_fraction!r}; allowed: a number in [0, 1)")
    rng = np.random.default_rng(seed)
    train, val = [], []
    ids = np.asarray(samples.object_id)
    for obj in np.unique(ids):
        members = np.flatnonzero(ids == obj)
        members = members[rng.permutation(len(members))]
        n_val = int(round(val_fraction * len(members)))
        if val_fraction > 0 and len(members) >= 2:
            n_val = max(n_val, 1)
        n_val = min(n_val, len(members) - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return _sorted_indices(train), _sorted_indices(val)


def _sorted_indices(parts: list[np.ndarray]) -> np.ndarray:
    return np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)


class PairSampler:
    """Draws (current, target) pairs of the same object among ``indices`` of ``samples``.

    The current sample is uniform over ``indices``; the target is uniform over the samples
    of the same object among ``indices`` (it may be the current one: label 0).
    """

    def __init__(
        self, samples: GraspSamples, indices: Sequence[int] | np.ndarray, refined_dofs: Sequence[str]
    ) -> None:
        self.samples = samples
        self.refined_dofs = geometry.validate_dofs(refined_dofs)
        self.units = tuple(LABEL_UNITS[d] for d in self.refined_dofs)
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1 or len(idx) == 0:
            raise ValueError("PairSampler: indices must be a non-empty 1-d list of sample indices")
        if idx.min() < 0 or idx.max() >= len(samples):
            raise ValueError(f"PairSampler: indices must lie in [0, {len(samples)})")
        # Group by object: after a stable sort, the group of position p is [start[p], start[p] + size[p]).
        obj = samples.object_id[idx]
        order = np.argsort(obj, kind="stable")
        self._sorted = idx[order]
        _, first, counts = np.unique(obj[order], return_index=True, return_counts=True)
        group = np.repeat(np.arange(len(first)), counts)
        self._start = first[group]
        self._size = counts[group]

    def __len__(self) -> int:
        return len(self._sorted)

    @property
    def n_dofs(self) -> int:
        return len(self.refined_dofs)

    def draw_indices(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Sample indices ``(current, target)`` of ``batch_size`` same-object pairs."""
        if batch_size <= 0:
            raise ValueError(f"batch_size: got {batch_size!r}; allowed: an integer > 0")
        pos = rng.integers(0, len(self._sorted), batch_size)
        tgt_pos = self._start[pos] + (rng.random(batch_size) * self._size[pos]).astype(np.int64)
        return self._sorted[pos], self._sorted[tgt_pos]

    def batch(self, cur: np.ndarray, tgt: np.ndarray) -> dict[str, np.ndarray]:
        """The arrays of the pairs ``(cur[i], tgt[i])`` (sample indices)."""
        s = self.samples
        if np.any(s.object_id[cur] != s.object_id[tgt]):
            raise ValueError("PairSampler.batch: current and target must show the same object")
        return {
            "cur_tactile": s.tactile[cur],
            "tgt_tactile": s.tactile[tgt],
            "cur_joints": s.joints[cur].astype(np.float32),
            "tgt_joints": s.joints[tgt].astype(np.float32),
            "label": correction_labels(s.grasp[cur], s.grasp[tgt], self.refined_dofs),
            "dof_mask": s.mask_over(self.refined_dofs, cur),
            "object_id": s.object_id[cur].astype(np.int64),
            "cur_index": cur.astype(np.int64),
            "tgt_index": tgt.astype(np.int64),
        }

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A random batch: tactile uint8 ``(B, F, C, H, W)``, joints float32 ``(B, F)``,
        ``label`` float32 ``(B, n_dofs)`` in mm / deg, ``dof_mask`` float32 ``(B, n_dofs)``,
        ``object_id`` and the sample indices."""
        return self.batch(*self.draw_indices(batch_size, rng))

    def fixed_pairs(self, n: int, rng: np.random.Generator | int) -> dict[str, np.ndarray]:
        """``n`` pairs drawn once, for a validation set that stays the same across epochs."""
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        return self.sample(n, rng)
