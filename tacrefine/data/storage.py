"""On-disk datasets: HDF5 shards plus a JSON manifest, every file written atomically.

Layout of a dataset directory (full schema in ``docs/dataset.md``)::

    manifest.json          schema version, metadata, one entry per finished shard
    config.yaml            resolved generation config (simulated datasets only)
    shard-00000.h5         GraspSamples fields as HDF5 datasets
    shard-00000.json       the shard's record (its manifest entry), written by the worker that
    shard-00001.h5 ...     made it (simulated datasets; see tacrefine.data.records)

Why shards plus a manifest: generation runs in parallel and can be killed at any time.
A shard file appears only when complete (temp file + ``os.replace``), and it counts only
once the manifest lists it with its sha256, so a reader never sees half a dataset and a
resumed run knows exactly what is done. The manifest hash identifies the dataset in
training checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tacrefine.config import atomic_write_bytes
from tacrefine.data.samples import GraspSamples

SCHEMA_VERSION = 1
FORMAT_NAME = "tacrefine-grasps"
MANIFEST_NAME = "manifest.json"
SHARD_PATTERN = re.compile(r"^shard-(\d{5,})\.h5$")

#: Canonical dtype of each stored field (shapes are checked by GraspSamples).
FIELDS: dict[str, np.dtype] = {
    "tactile": np.dtype(np.uint8),
    "joints": np.dtype(np.float32),
    "grasp": np.dtype(np.float64),
    "offset": np.dtype(np.float64),
    "object_id": np.dtype(np.int32),
}
#: Fields a shard may lack (written since the DoF mask existed); read as ``None``.
OPTIONAL_FIELDS: dict[str, np.dtype] = {"dof_mask": np.dtype(np.uint8)}
_RIGID_TOL = 1e-6


class DatasetError(RuntimeError):
    """A dataset on disk is missing, corrupt or inconsistent; the message names the file."""


def shard_name(index: int) -> str:
    """File name of shard ``index`` (``shard-00042.h5``)."""
    return f"shard-{index:05d}.h5"


def shard_label(entry_or_index: dict | int) -> str:
    """How problems name a shard: ``shard 00042 (shard-00042.h5)``."""
    if isinstance(entry_or_index, dict):
        index = entry_or_index.get("index", -1)
        file = entry_or_index.get("file", "?")
    else:
        index, file = entry_or_index, shard_name(entry_or_index)
    return f"shard {int(index):05d} ({file})"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large shards do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (best effort: not every platform can open directories)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- shards -------------------------------------------------------------------------------
def _canonical(samples: GraspSamples) -> dict[str, np.ndarray]:
    """The arrays to store, in canonical dtypes; refuses lossy conversions (float images)."""
    if samples.tactile.dtype != np.uint8:
        raise DatasetError(f"tactile must be uint8 images (0-255), got {samples.tactile.dtype}")
    if not np.issubdtype(samples.object_id.dtype, np.integer):
        raise DatasetError(f"object_id must be integers, got {samples.object_id.dtype}")
    arrays = {n: np.ascontiguousarray(getattr(samples, n), dtype=dt) for n, dt in FIELDS.items()}
    for n, dt in OPTIONAL_FIELDS.items():
        if getattr(samples, n) is not None:
            arrays[n] = np.ascontiguousarray(getattr(samples, n), dtype=dt)
    n_names = len(samples.object_names)
    if len(arrays["object_id"]) and (arrays["object_id"].min() < 0 or arrays["object_id"].max() >= n_names):
        raise DatasetError(f"object_id must index object_names ({n_names} names)")
    return arrays


def write_shard(
    root: str | Path,
    index: int,
    samples: GraspSamples,
    *,
    seed: int | None = None,
    n_rejected: int = 0,
    extra: dict[str, Any] | None = None,
    compression: str = "gzip",
    contiguous_images: bool = True,
) -> dict[str, Any]:
    """Write ``samples`` as shard ``index`` of the dataset at ``root``, atomically.

    The small fields are compressed (``compression``); the tactile images are stored
    uncompressed and contiguous so that training can read any sample's images with one
    read (:mod:`tacrefine.data.stream`). ``contiguous_images=False`` compresses them in
    chunks too (a third of the size on disk, but a random row costs decompressing its chunk:
    the layout of shards written before streaming existed).

    Returns the manifest entry (``file, index, n_samples, sha256, n_rejected, objects`` plus
    ``extra``); pass it to :func:`record_shard` to make the shard part of the dataset.
    The file bytes depend only on the data and arguments (no timestamps), so a shard
    regenerated from the same seed has the same checksum.
    """
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise DatasetError(f"shard index must be an integer >= 0, got {index!r}")
    if compression not in ("gzip", "lzf"):
        raise DatasetError(f"compression must be 'gzip' or 'lzf', got {compression!r}")
    n = len(samples)
    if n == 0:
        raise DatasetError(f"{shard_label(int(index))}: refusing to write an empty shard")
    arrays = _canonical(samples)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / shard_name(int(index))
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=f".{final.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    opts: dict[str, Any] = {"compression": compression, "shuffle": True}
    if compression == "gzip":
        opts["compression_opts"] = 4
    try:
        with h5py.File(tmp, "w") as fh:
            for name, data in arrays.items():
                if name == "tactile" and contiguous_images:
                    fh.create_dataset(name, data=data, track_times=False)
                    continue
                rows = max(1, min(n, 256 if name == "tactile" else 4096))
                fh.create_dataset(name, data=data, chunks=(rows, *data.shape[1:]), track_times=False, **opts)
            fh.attrs["schema_version"] = SCHEMA_VERSION
            fh.attrs["format"] = FORMAT_NAME
            fh.attrs["shard_index"] = int(index)
            fh.attrs["object_names"] = json.dumps(list(samples.object_names))
            if samples.object_classes:
                fh.attrs["object_classes"] = json.dumps(list(samples.object_classes))
            fh.attrs["n_rejected"] = int(n_rejected)
            if seed is not None:
                fh.attrs["seed"] = int(seed)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        digest = sha256_file(tmp)
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes owner-only files; datasets are shared
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    present = sorted({int(i) for i in arrays["object_id"]})
    entry: dict[str, Any] = {
        "file": final.name,
        "index": int(index),
        "n_samples": int(n),
        "sha256": digest,
        "n_rejected": int(n_rejected),
        "objects": [samples.object_names[i] for i in present],
    }
    entry.update(extra or {})
    return entry


def read_shard_attrs(path: str | Path) -> dict[str, Any]:
    """The attributes of a shard file (``object_names`` decoded from JSON)."""
    with h5py.File(path, "r") as fh:
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in fh.attrs.items()}
    attrs["object_names"] = json.loads(attrs.get("object_names", "[]"))
    return attrs


def read_shard(path: str | Path) -> GraspSamples:
    """Load one shard file into memory (no checksum check: see :func:`load_dataset`)."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as fh:
            missing = [name for name in FIELDS if name not in fh]
            if missing:
                raise DatasetError(f"{path.name}: missing datasets {missing}")
            arrays = {name: fh[name][()] for name in FIELDS}
            arrays.update({name: fh[name][()] for name in OPTIONAL_FIELDS if name in fh})
            names = json.loads(fh.attrs.get("object_names", "[]"))
            classes = json.loads(fh.attrs.get("object_classes", "[]"))
    except DatasetError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"{path.name}: unreadable HDF5 file ({exc})") from exc
    try:
        return GraspSamples(**arrays, object_names=list(names), object_classes=list(classes))
    except ValueError as exc:
        raise DatasetError(f"{path.name}: {exc}") from exc


# -- manifest -----------------------------------------------------------------------------
def manifest_path(root: str | Path) -> Path:
    return Path(root) / MANIFEST_NAME


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """Rewrite ``manifest.json`` atomically (entries sorted by index, sample count updated)."""
    manifest["shards"] = sorted(manifest["shards"], key=lambda e: e["index"])
    manifest["n_samples"] = int(sum(e["n_samples"] for e in manifest["shards"]))
    payload = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    atomic_write_bytes(manifest_path(root), payload.encode("utf-8"))


def init_manifest(root: str | Path, metadata: dict[str, Any], n_shards_planned: int | None = None) -> dict:
    """Start an empty dataset at ``root`` with the caller's ``metadata`` (JSON-serialisable).

    ``n_shards_planned`` lets :func:`validate_dataset` report shards that were never written.
    """
    root = Path(root)
    if manifest_path(root).exists():
        raise DatasetError(f"{manifest_path(root)} already exists; refusing to overwrite a dataset")
    try:
        meta = json.loads(json.dumps(metadata))
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"dataset metadata must be JSON-serialisable: {exc}") from exc
    manifest = {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "n_shards_planned": n_shards_planned,
        "n_samples": 0,
        "metadata": meta,
        "shards": [],
    }
    root.mkdir(parents=True, exist_ok=True)
    write_manifest(root, manifest)
    return manifest


def read_manifest(root: str | Path) -> dict[str, Any]:
    """Parse and sanity-check ``manifest.json``; :class:`DatasetError` says what is wrong."""
    path = manifest_path(root)
    if not path.is_file():
        raise DatasetError(f"{path}: no manifest (not a dataset directory, or generation never started)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise DatasetError(f"{path}: not a {FORMAT_NAME} manifest")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise DatasetError(f"{path}: schema version {manifest.get('schema_version')!r}, "
                           f"this code reads version {SCHEMA_VERSION}")
    shards = manifest.get("shards")
    keys = ("file", "index", "n_samples", "sha256")
    if not isinstance(shards, list) or not all(isinstance(e, dict) and set(keys) <= set(e) for e in shards):
        raise DatasetError(f"{path}: 'shards' must be a list of entries with {list(keys)}")
    dup = [i for i, c in Counter(e["index"] for e in shards).items() if c > 1]
    if dup:
        raise DatasetError(f"{path}: shard indices listed twice: {sorted(dup)}")
    return manifest


def record_shard(root: str | Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Add (or replace, by index) a shard entry in the manifest; atomic rewrite."""
    return record_shards(root, [entry])


def record_shards(root: str | Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Add (or replace, by index) several shard entries in one atomic rewrite of the manifest."""
    root = Path(root)
    manifest = read_manifest(root)
    new = {e["index"] for e in entries}
    manifest["shards"] = [e for e in manifest["shards"] if e["index"] not in new] + [dict(e) for e in entries]
    write_manifest(root, manifest)
    return manifest


def drop_shards(root: str | Path, indices: list[int]) -> dict[str, Any]:
    """Remove entries from the manifest (files are left alone); atomic rewrite."""
    root = Path(root)
    manifest = read_manifest(root)
    drop = set(indices)
    manifest["shards"] = [e for e in manifest["shards"] if e["index"] not in drop]
    write_manifest(root, manifest)
    return manifest


def manifest_hash(root: str | Path) -> str:
    """sha256 of ``manifest.json``; it covers every shard checksum, so it names the data."""
    path = manifest_path(root)
    if not path.is_file():
        raise DatasetError(f"{path}: no manifest")
    return sha256_file(path)


def remove_partial_files(root: str | Path) -> list[Path]:
    """Delete temp files of interrupted writes and shard files the manifest does not list.

    Such files come from a run killed between writing a shard and recording it; they are
    safe to drop because unrecorded shards are regenerated.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    listed: set[str] = set()
    if manifest_path(root).is_file():
        listed = {e["file"] for e in read_manifest(root)["shards"]}
    removed = []
    for path in root.iterdir():
        stray_tmp = path.name.startswith(".") and path.name.endswith(".tmp")
        if stray_tmp or (SHARD_PATTERN.match(path.name) and path.name not in listed):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


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
        missing = sorted(set(range(planned)) - {e["index"] for e in manifest["shards"]})
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


def load_dataset(root: str | Path, allow_incomplete: bool = False) -> tuple[GraspSamples, dict[str, Any]]:
    """Load every shard of the dataset at ``root`` into one :class:`GraspSamples`.

    Raises :class:`DatasetError` naming each bad shard (missing, checksum mismatch,
    unreadable, inconsistent) and, unless ``allow_incomplete``, when planned shards are
    missing. Returns the samples and the manifest.
    """
    root = Path(root)
    manifest, loaded = valid_shards(root, allow_incomplete)
    samples = GraspSamples.concatenate([loaded[i] for i in sorted(loaded)])
    return samples, manifest


def valid_shards(root: Path, allow_incomplete: bool = False,
                 images: bool = True) -> tuple[dict[str, Any], dict[int, GraspSamples]]:
    """The manifest and every shard's samples by index, after :func:`check_shards`; raises
    :class:`DatasetError` listing every problem (shards planned but not generated too, unless
    ``allow_incomplete``) or when there is no shard. Shared by loading and streaming."""
    report, kept = check_shards(root, keep=True, images=images)
    problems = report.problems()
    if allow_incomplete:
        problems = [p for p in problems if not p.endswith("planned but not generated")]
    if problems:
        raise DatasetError(f"dataset {root} is invalid:\n  " + "\n  ".join(problems))
    assert report.manifest is not None
    if not kept:
        raise DatasetError(f"dataset {root} has no shards")
    return report.manifest, kept
