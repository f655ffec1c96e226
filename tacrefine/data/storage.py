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

from pathlib import Path
from typing import Any

from tacrefine.data.manifest import (  # noqa: F401  (the dataset's public names, re-exported)
    drop_shards,
    init_manifest,
    manifest_hash,
    manifest_path,
    read_manifest,
    record_shard,
    record_shards,
    remove_partial_files,
    set_entries,
    write_manifest,
)
from tacrefine.data.samples import GraspSamples
from tacrefine.data.shard_format import (  # noqa: F401
    FIELDS,
    FORMAT_NAME,
    MANIFEST_NAME,
    OPTIONAL_FIELDS,
    SCHEMA_VERSION,
    SHARD_PATTERN,
    DatasetError,
    read_shard,
    read_shard_attrs,
    sha256_file,
    shard_label,
    shard_name,
    write_shard,
)
from tacrefine.data.validation import ValidationReport, check_dataset, check_shards, validate_dataset  # noqa: F401


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
