"""Per-shard records and resuming: each worker writes its shard's checksummed record next to
the shard; the manifest is assembled from the records by the driver, now and then.

Why: with one manifest rewritten by one process after every shard, the manifest becomes
the bottleneck of a large run (every update rewrites every entry, and every worker waits
on the driver). A record (``shard-00042.json``: the shard's manifest entry with its
sha256) is written atomically by the worker that made the shard, after the shard file;
a shard with a valid record is done even if the run died before the manifest caught up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tacrefine.config import atomic_write_bytes, save_config
from tacrefine.data import storage
from tacrefine.data.plan import DataConfig, ShardSpec, generation_metadata
from tacrefine.data.storage import DatasetError


def record_path(root: str | Path, index: int) -> Path:
    """``shard-00042.json`` beside ``shard-00042.h5``."""
    return Path(root) / (Path(storage.shard_name(index)).stem + ".json")


def write_record(root: str | Path, entry: dict[str, Any]) -> None:
    """Write a finished shard's record atomically (after its file: a record never names a
    file that is not complete)."""
    atomic_write_bytes(record_path(root, entry["index"]), (json.dumps(entry, indent=1) + "\n").encode("utf-8"))


def left_out_entry(spec: ShardSpec, seed: int, reason: str, rejected: dict[str, int]) -> dict[str, Any]:
    """The record of a planned shard whose pool part was left out (``data.skip_unusable``):
    it is done (a resume does not retry it) but has no file and no samples; the manifest
    lists it under ``left_out``."""
    return {"index": spec.index, "object": spec.object_name, "seed": seed, "n_samples": 0,
            "n_rejected": int(sum(rejected.values())), "left_out": reason,
            "rejected_by_reason": dict(sorted(rejected.items()))}


def read_records(root: str | Path) -> dict[int, dict[str, Any]]:
    """Every readable record in ``root`` by shard index (unreadable ones count as absent)."""
    found: dict[int, dict[str, Any]] = {}
    for path in Path(root).glob("shard-*.json"):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            index = int(entry["index"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if path.name == record_path(root, index).name and (entry.get("file") == storage.shard_name(index)
                                                           or "left_out" in entry):
            found[index] = entry
    return found


def _json_normal(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _is_valid(root: Path, entry: dict[str, Any], spec: ShardSpec | None) -> bool:
    if spec is None:
        return False
    if "left_out" in entry:  # the same part, left out before: done
        return entry.get("object") == spec.object_name and entry.get("n_samples") == 0
    path = root / entry["file"]
    n = entry.get("n_samples")
    planned = n == spec.n_samples or ("gave_up" in entry and isinstance(n, int) and 0 < n < spec.n_samples)
    return planned and path.is_file() and storage.sha256_file(path) == entry.get("sha256")


def prepare_output(cfg: DataConfig, out: Path, plan: list[ShardSpec]) -> set[int]:
    """Create or resume the dataset at ``out``; returns the indices of shards already done.

    A shard is done when its file matches the checksum in its record or manifest entry;
    the manifest is rewritten to list exactly those. Temp files, unrecorded shards and
    bad shards (missing, corrupt) are removed and will be redone. A directory holding a
    dataset made with another config is refused.
    """
    metadata = generation_metadata(cfg)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a directory")
    if not storage.manifest_path(out).is_file():
        if out.is_dir():
            for path in out.iterdir():  # leftovers of a run killed while writing its first manifest
                if path.name.startswith(".") and path.name.endswith(".tmp"):
                    path.unlink()
            if any(out.iterdir()):
                raise DatasetError(f"{out}: directory is not empty and holds no {storage.MANIFEST_NAME}; "
                                   f"choose a new or empty output directory")
        storage.init_manifest(out, metadata, n_shards_planned=len(plan))
        save_config(cfg, out / "config.yaml")
        return set()
    manifest = storage.read_manifest(out)
    old = manifest.get("metadata", {}).get("generation") or {}
    new = _json_normal(metadata["generation"])
    if old != new:
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise DatasetError(f"{out}: holds a dataset generated with a different config (differs in {diff}); "
                           f"use a new output directory or the same config")
    if not (out / "config.yaml").is_file():
        save_config(cfg, out / "config.yaml")
    by_index = {s.index: s for s in plan}
    candidates = {e["index"]: e for e in manifest["shards"] + manifest.get("left_out", [])}
    candidates.update(read_records(out))  # shards finished after the manifest's last update
    done = {i: e for i, e in candidates.items() if _is_valid(out, e, by_index.get(i))}
    storage.set_entries(manifest, list(done.values()))
    storage.write_manifest(out, manifest)
    storage.remove_partial_files(out)  # unlisted or bad shard files, temp files
    for path in out.glob("shard-*.json"):
        if path.name not in {record_path(out, i).name for i in done}:
            path.unlink(missing_ok=True)
    return set(done)


def update_manifest(out: Path, entries: list[dict[str, Any]]) -> None:
    """Add finished shards' entries to the manifest in one atomic rewrite."""
    if entries:
        storage.record_shards(out, entries)
