"""The dataset manifest: the JSON file that lists every finished shard with its checksum; a
shard counts only once listed, so a reader never sees half a dataset."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tacrefine.config import atomic_write_bytes
from tacrefine.data.shard_format import (
    FORMAT_NAME,
    MANIFEST_NAME,
    SCHEMA_VERSION,
    SHARD_PATTERN,
    DatasetError,
    sha256_file,
)


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


def set_entries(manifest: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Make ``entries`` the manifest's listing: shards under ``shards``, entries of left-out pool
    parts (a ``left_out`` reason, no file) under ``left_out``, each by index. A manifest that
    never had a left-out part gets no ``left_out`` key (its bytes, hence its hash, unchanged)."""
    ordered = sorted(entries, key=lambda e: e["index"])
    manifest["shards"] = [e for e in ordered if "left_out" not in e]
    left_out = [e for e in ordered if "left_out" in e]
    if left_out or "left_out" in manifest:
        manifest["left_out"] = left_out


def record_shards(root: str | Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Add (or replace, by index) several shard entries in one atomic rewrite of the manifest
    (left-out pool parts under ``left_out``: :func:`set_entries`)."""
    root = Path(root)
    manifest = read_manifest(root)
    new = {e["index"] for e in entries}
    old = [e for e in manifest["shards"] + manifest.get("left_out", []) if e["index"] not in new]
    set_entries(manifest, old + [dict(e) for e in entries])
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
