"""Dataset validation: every shard against the manifest (presence, checksum, fields, rigid
grasps), each problem named; loading and the ``dataset check`` command share it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.data.manifest import read_manifest
from tacrefine.data.samples import GraspSamples
from tacrefine.data.shard_format import (
    FIELDS,
    DatasetError,
    read_shard,
    read_shard_attrs,
    sha256_file,
    shard_label,
)

#: How far a stored grasp may be from a rigid transform (rotation part orthonormal, last row 0 0 0 1).
_RIGID_TOL = 1e-6


# -- checking and loading -----------------------------------------------------------------
@dataclass
class ValidationReport:
    """Problems found in a dataset, per shard (by index) and for the dataset as a whole."""

    manifest: dict[str, Any] | None
    shard_problems: dict[int, list[str]] = field(default_factory=dict)
    dataset_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        out = list(self.dataset_problems)
        for index in sorted(self.shard_problems):
            out += self.shard_problems[index]
        return out


def _rigid_problems(grasp: np.ndarray) -> list[str]:
    """NaN / non-rigid grasp matrices: the labels are computed from them."""
    problems = []
    finite = np.isfinite(grasp).all(axis=(1, 2))
    if not finite.all():
        problems.append(f"{int((~finite).sum())} grasp matrices contain NaN or inf")
    g = grasp[finite]
    if len(g):
        rot = g[:, :3, :3]
        ortho = np.abs(np.einsum("nji,njk->nik", rot, rot) - np.eye(3)).max(axis=(1, 2))
        det = np.linalg.det(rot)
        bottom = np.abs(g[:, 3, :] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=1)
        bad = (ortho > _RIGID_TOL) | (det <= 0) | (bottom > _RIGID_TOL)
        if bad.any():
            problems.append(f"{int(bad.sum())} grasp matrices are not rigid transforms "
                            f"(max |R^T R - I| = {ortho.max():.2e})")
    return problems


def _check_shard(root: Path, entry: dict[str, Any]) -> tuple[GraspSamples | None, list[str]]:
    """Checksum, readability and content checks of one manifest entry."""
    label = shard_label(entry)
    path = root / entry["file"]
    if not path.is_file():
        return None, [f"{label}: file is missing"]
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        return None, [f"{label}: checksum mismatch (corrupt or modified file): "
                      f"manifest {entry['sha256'][:12]}..., file {digest[:12]}..."]
    try:
        samples = read_shard(path)
        attrs = read_shard_attrs(path)
    except DatasetError as exc:
        return None, [f"{label}: {exc}"]
    problems = []
    if len(samples) != entry["n_samples"]:
        problems.append(f"{label}: holds {len(samples)} samples, manifest says {entry['n_samples']}")
    if attrs.get("shard_index") != entry["index"]:
        problems.append(f"{label}: file says shard index {attrs.get('shard_index')!r}, "
                        f"manifest {entry['index']}")
    for name, dtype in FIELDS.items():
        if getattr(samples, name).dtype != dtype:
            problems.append(f"{label}: {name} has dtype {getattr(samples, name).dtype}, expected {dtype}")
    n_names = len(samples.object_names)
    if len(samples.object_id) and (samples.object_id.min() < 0 or samples.object_id.max() >= n_names):
        problems.append(f"{label}: object_id outside object_names ({n_names} names)")
    for name in ("joints", "offset"):
        if not np.isfinite(getattr(samples, name)).all():
            problems.append(f"{label}: {name} contains NaN or inf")
    problems += [f"{label}: {p}" for p in _rigid_problems(samples.grasp)]
    return samples, problems


def check_shards(root: Path, keep: bool, images: bool = True) -> tuple[ValidationReport, dict[int, GraspSamples]]:
    """Check every shard of the dataset at ``root``; with ``keep``, also return each valid
    shard's samples by index (``images=False``: their ``tactile`` is an empty stand-in of
    the right shape, so checking a large dataset holds one shard's images at a time)."""
    try:
        manifest = read_manifest(root)
    except DatasetError as exc:
        return ValidationReport(None, dataset_problems=[str(exc)]), {}
    report = ValidationReport(manifest)
    loaded: dict[int, GraspSamples] = {}
    shapes: dict[int, tuple[int, ...]] = {}
    for entry in manifest["shards"]:
        samples, problems = _check_shard(root, entry)
        if problems:
            report.shard_problems[entry["index"]] = problems
        if samples is not None:
            shapes[entry["index"]] = samples.tactile.shape[1:]
            if keep:
                if not images:
                    samples.tactile = np.broadcast_to(np.zeros((), np.uint8), samples.tactile.shape)
                loaded[entry["index"]] = samples
    expected = manifest.get("metadata", {}).get("tactile_shape")
    if expected is not None:
        reference = tuple(expected)
    elif shapes:
        reference = Counter(shapes.values()).most_common(1)[0][0]
    else:
        reference = None
    for index, shape in shapes.items():
        if tuple(shape) != reference:
            entry = next(e for e in manifest["shards"] if e["index"] == index)
            report.shard_problems.setdefault(index, []).append(
                f"{shard_label(entry)}: tactile images have shape {tuple(shape)} "
                f"(fingers, channels, rows, cols), the dataset's is {reference}")
    planned = manifest.get("n_shards_planned")
    if planned is not None:
        accounted = {e["index"] for e in manifest["shards"] + manifest.get("left_out", [])}
        missing = sorted(set(range(planned)) - accounted)
        for index in missing:
            problem = f"{shard_label(index)}: planned but not generated"
            report.shard_problems.setdefault(index, []).append(problem)
    return report, loaded


def check_dataset(root: str | Path) -> ValidationReport:
    """Every problem of the dataset at ``root``, grouped by shard (see :func:`validate_dataset`)."""
    return check_shards(Path(root), keep=False)[0]


def validate_dataset(root: str | Path) -> list[str]:
    """Problems of the dataset at ``root`` (empty list = valid); each names its shard.

    Checked: manifest readable, every listed file present with its sha256, readable HDF5
    with all fields in canonical dtypes, sample counts, tactile shapes consistent across
    shards, finite values, rigid grasp matrices, planned shards present.
    """
    return check_dataset(root).problems()
