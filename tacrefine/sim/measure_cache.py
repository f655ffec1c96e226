"""On-disk memo of what measuring a part by path found (its grasp, size, class and DoF).

Inferring a part's grasp and what the pads can feel of it (:func:`tacrefine.sim.user_parts.measure`)
takes about a second of physics and ray casting per part, and every process that loads the part
paid it again: each evaluation worker, the benchmark's noisy condition, the next run of the
same command. The result is a pure function of the part's geometry, so it is kept once per
user (``$TACREFINE_CACHE_DIR/measured``, default ``~/.cache/tacrefine``), keyed by:

* the part's fields except its name, with every file (URDF, mesh, and the meshes a URDF
  names) replaced by the SHA-256 of its bytes, so a changed file is measured again;
* the simulator's source (every module of :mod:`tacrefine.sim`) and PyBullet's version, so a
  change of the inference never reads an old answer.

Entries are written atomically and checked on read (their key and every field's type); a
damaged entry is logged, measured again and replaced, never used.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tacrefine.config import atomic_write_bytes
from tacrefine.sim.mesh_cache import user_cache_folder
from tacrefine.source_digest import source_digest

log = logging.getLogger(__name__)

#: bump when the stored fields change meaning
FORMAT = 1
#: fields stored, with their JSON types
FIELDS = {"frame_in_file": list, "grasp_height_mm": float, "thickness_mm": float, "width_mm": float,
          "height_mm": float, "category": str, "refined_dofs": list, "touch_note": str}


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """The simulator's own source and PyBullet's version: what the measurement is a function of."""
    import pybullet

    return f"format {FORMAT}; pybullet {getattr(pybullet, '__version__', '?')}; " + source_digest(
        str(Path(__file__).parent))


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def part_key(spec: Any, grasp_height_mm: float | None) -> str | None:
    """The cache key of measuring ``spec`` (an :class:`ObjectSpec` with a file); ``None`` when
    a file it needs cannot be read (then nothing is cached and the measurement reports it)."""
    from tacrefine.sim.file_shapes import referenced_meshes  # (imports the part sources, which import this)

    fields = {k: v for k, v in dataclasses.asdict(spec).items() if k != "name"}
    try:
        for key in ("urdf", "mesh"):
            if fields.get(key):
                path = Path(fields[key])
                fields[key] = _file_digest(path)
                if key == "urdf":  # the meshes it names, as the journal keys them
                    fields["urdf_files"] = {str(m.relative_to(path.parent)) if m.is_relative_to(path.parent)
                                            else str(m): _file_digest(m) for m in referenced_meshes(str(path))}
    except OSError:
        return None
    text = json.dumps({"part": fields, "grasp_height_mm": grasp_height_mm, "code": _code_digest()},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _folder() -> Path:
    return user_cache_folder("measured", "part measurement cache")


def _read(path: Path, key: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(path.read_text())
        fields = entry["fields"]
        ok = entry.get("key") == key and all(
            isinstance(fields[name], kind) or (kind is float and isinstance(fields[name], int))
            or (name == "refined_dofs" and fields[name] is None) for name, kind in FIELDS.items())
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        log.warning("part measurement cache: %s is damaged or stale; measuring the part again", path)
        return None
    return fields


def cached_measure(spec: Any, grasp_height_mm: float | None, measure: Callable[..., Any],
                   make: Callable[..., Any]) -> Any:
    """``measure(spec, grasp_height_mm=...)``, read from the cache when this very part was
    measured before; ``make(**fields)`` rebuilds the result from a stored entry."""
    key = part_key(spec, grasp_height_mm)
    path = _folder() / f"{key}.json" if key else None
    if path is not None and path.is_file():
        fields = _read(path, key)
        if fields is not None:
            return make(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items() if k in FIELDS})
    result = measure(spec, grasp_height_mm=grasp_height_mm)
    if path is not None:
        stored = {name: getattr(result, name) for name in FIELDS}
        payload = json.dumps({"key": key, "fields": {k: list(v) if isinstance(v, tuple) else v
                                                      for k, v in stored.items()}}, sort_keys=True)
        try:
            atomic_write_bytes(path, payload.encode())
        except OSError as exc:  # a read-only cache costs time, never correctness
            log.warning("part measurement cache: could not write %s (%s)", path, exc)
    return result


def clear_memory() -> None:
    """Forget the per-process digest of the simulator's source (tests that edit it)."""
    _code_digest.cache_clear()


__all__ = ["FIELDS", "cached_measure", "clear_memory", "part_key"]
