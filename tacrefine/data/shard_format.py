"""The shard file: GraspSamples as HDF5 datasets, written atomically, read back checked
(layout in ``docs/dataset.md``; how shards make a dataset: :mod:`tacrefine.data.storage`)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

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
