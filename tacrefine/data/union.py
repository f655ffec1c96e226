"""Several datasets read as one: their union, for training on old and new data together.

Training names its data by ``data.path``: one directory, or a list of directories read as
their union by :func:`load_union`. The union keeps each member's samples in the member's
order, one after the other, and remaps object ids onto the union of object names
(:meth:`GraspSamples.concatenate`). It is refused when the members disagree on what a sample
means: another tactile image shape, sensor or gripper, or an object name that two members
record with different classes or DoF masks. The union's hash is a hash over the members'
manifest hashes, in order, so resuming a run refuses a member that changed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.data.manifest import manifest_hash
from tacrefine.data.samples import GraspSamples
from tacrefine.data.shard_format import DatasetError
from tacrefine.data.stream import ShardTactile, apply_stream_choice, open_dataset
from tacrefine.geometry import DOF_NAMES, validate_dofs

#: Manifest metadata every member must share: they define what an image and a joint mean.
SHARED_META = ("tactile_shape", "sensor", "gripper")


def union_hash(member_hashes: Sequence[str]) -> str:
    """The union's dataset hash: over the members' hashes in order (order sets the sample order)."""
    digest = hashlib.sha256(json.dumps(list(member_hashes)).encode()).hexdigest()
    return "union:" + digest


def _meta(manifest: dict[str, Any]) -> dict[str, Any]:
    meta = manifest.get("metadata")
    return meta if isinstance(meta, dict) else {}


def object_signatures(samples: GraspSamples) -> dict[str, tuple[str | None, tuple[bool, ...] | None]]:
    """Per object name: its class and its DoF mask (``None`` where not recorded)."""
    ids, first = np.unique(samples.object_id, return_index=True)
    out: dict[str, tuple[str | None, tuple[bool, ...] | None]] = {
        name: (samples.class_of(i), None) for i, name in enumerate(samples.object_names)}
    for oid, row in zip(ids.tolist(), first.tolist(), strict=True):
        mask = None if samples.dof_mask is None else tuple(bool(b) for b in samples.dof_mask[row])
        out[samples.object_names[oid]] = (samples.class_of(oid), mask)
    return out


def _describe(signature: tuple[str | None, tuple[bool, ...] | None]) -> str:
    cls, mask = signature
    dofs = "unrecorded" if mask is None else [d for d, m in zip(DOF_NAMES, mask, strict=True) if m]
    return f"class {cls!r}, dofs {dofs}"


def _disagree(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    """Class or DoF mask differ, where both members record it."""
    return any(x is not None and y is not None and x != y for x, y in zip(a, b, strict=True))


def check_compatible(labels: Sequence[str], members: Sequence[tuple[GraspSamples, dict[str, Any]]]) -> None:
    """Refuse members that disagree on shared metadata or on an object's class or DoF mask,
    naming both datasets."""
    first_label, (_, first_manifest) = labels[0], members[0]
    for label, (_, manifest) in zip(labels[1:], members[1:], strict=True):
        for key in SHARED_META:
            a, b = _meta(first_manifest).get(key), _meta(manifest).get(key)
            if a != b:
                raise DatasetError(f"datasets {first_label} and {label} differ in {key} ({a!r} vs {b!r}); "
                                   "a union needs the same tactile images, sensor and gripper")
    seen: dict[str, tuple[str, tuple[str | None, tuple[bool, ...] | None]]] = {}
    for label, (samples, _) in zip(labels, members, strict=True):
        for name, sig in object_signatures(samples).items():
            if name in seen and _disagree(seen[name][1], sig):
                other, old = seen[name]
                raise DatasetError(f"object {name!r} is recorded with {_describe(old)} in dataset {other} but "
                                   f"with {_describe(sig)} in dataset {label}; rename it in one of them")
            seen.setdefault(name, (label, sig))


def union_manifest(labels: Sequence[str], hashes: Sequence[str],
                   members: Sequence[tuple[GraspSamples, dict[str, Any]]]) -> dict[str, Any]:
    """A manifest standing for the union: the first member's metadata with refined_dofs,
    object_dofs and object_categories joined over all members, and the members listed."""
    meta = copy.deepcopy(_meta(members[0][1]))
    dofs = {d for _, m in members for d in (_meta(m).get("refined_dofs") or ())}
    if dofs:
        meta["refined_dofs"] = list(validate_dofs(sorted(dofs), "manifest refined_dofs"))
    for key in ("object_dofs", "object_categories"):
        joined: dict[str, Any] = {}
        for _, m in members:
            value = _meta(m).get(key)
            if isinstance(value, dict):
                joined.update({k: v for k, v in value.items() if k not in joined})
        if joined:
            meta[key] = joined
    meta.pop("generation", None)  # one member's recipe; the members' own manifests keep theirs
    return {"format": members[0][1].get("format"), "schema_version": members[0][1].get("schema_version"),
            "n_samples": sum(len(s) for s, _ in members), "metadata": meta,
            "members": [{"path": lab, "hash": h, "n_samples": len(s)}
                        for lab, h, (s, _) in zip(labels, hashes, members, strict=True)]}


def load_union(paths: Sequence[str | Path], stream: bool | str = "auto",
               field: str = "data.path") -> tuple[GraspSamples, dict[str, Any], str]:
    """Samples, manifest and hash of the union of the datasets at ``paths`` (at least two).

    Every member is checked like one dataset (:func:`open_dataset`); the images stay in
    the shards or are loaded as ``stream`` says (:func:`apply_stream_choice`), for the
    union as a whole.
    """
    if len(paths) < 2:
        raise ValueError(f"{field}: a union needs at least two datasets; got {list(map(str, paths))}")
    labels = [str(p) for p in paths]
    if len(set(labels)) != len(labels):
        raise DatasetError(f"{field}: a dataset is listed twice ({labels}); its samples would count double")
    members, hashes = [], []
    for i, path in enumerate(paths):
        try:
            members.append(open_dataset(path))
            hashes.append(manifest_hash(path))
        except DatasetError as exc:
            raise DatasetError(f"{field}[{i}] ({path}): {exc}") from exc
    check_compatible(labels, members)
    tactile = ShardTactile.join([s.tactile for s, _ in members], prefixes=[f"{lab}: " for lab in labels])
    samples = GraspSamples.concatenate([s for s, _ in members], tactile=tactile)
    for s, _ in members:
        s.tactile.close()
    manifest = union_manifest(labels, hashes, members)
    return apply_stream_choice(samples, stream, " + ".join(labels)), manifest, union_hash(hashes)
