"""Object lists as configs and command lines give them: names, family specs and user parts.

An object list mixes built-in names (``rod_r4``), family parts (``plates-17``), family specs
(``family:plates:0-99``) and user parts given as mappings (``{name, urdf | mesh, ...}``).
Configs keep it in two fields so that it survives YAML round trips and worker processes:
``objects`` (names only) and ``user_objects`` (the user mappings those names refer to).
Every file is checked here, when the config is built; resolving a mapping is cached per
process (keyed by the mapping and the file's size and time), so workers and envs built
from the same config agree without measuring twice.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tacrefine.config import ConfigError, require
from tacrefine.sim.mesh_io import MESH_SUFFIXES, UNITS
from tacrefine.sim.objects import OBJECTS, ObjectSpec, expand_object_items, get_object

#: What ``--object PATH`` accepts.
PART_SUFFIXES = (".urdf", *MESH_SUFFIXES)


def part_mapping(path: str, name: str | None = None, units: str | None = None) -> dict[str, Any]:
    """The user mapping of a part file given on a command line (``--object PATH``, ``--units``)."""
    suffix = Path(path).suffix.lower()
    require(suffix in PART_SUFFIXES, "--object", f"a path ending in one of {list(PART_SUFFIXES)}", path)
    key = "urdf" if suffix == ".urdf" else "mesh"
    mapping = {"name": name or Path(path).stem, key: str(Path(path).resolve())}
    if units is not None:
        require(units in UNITS, "--units", f"one of {list(UNITS)}", units)
        if key == "mesh":  # a URDF is in metres (refused by name in resolve_user_part)
            mapping["units"] = units
        else:
            raise ConfigError(f"--units: {path!r} is a URDF, which is in metres; --units applies to mesh files")
    return mapping


def _file_stamp(data: Mapping[str, Any]) -> tuple:
    path = data.get("urdf") or data.get("mesh")
    try:
        stat = os.stat(path) if isinstance(path, str) else None
    except OSError:
        stat = None
    return (stat.st_size, stat.st_mtime_ns) if stat else ()


@functools.lru_cache(maxsize=512)
def _resolve(key: str, stamp: tuple) -> ObjectSpec:
    from tacrefine.sim.user_parts import resolve_user_part

    return resolve_user_part(json.loads(key))


def user_spec(data: Mapping[str, Any]) -> ObjectSpec:
    """The :class:`ObjectSpec` of one user mapping (checked, grasp inferred; cached)."""
    require(isinstance(data, Mapping) and "name" in data, "objects[]", "a mapping with at least 'name'", data)
    try:
        key = json.dumps(dict(data), sort_keys=True)
    except TypeError as exc:
        raise ConfigError(f"objects.{data['name']}: holds values that are not plain numbers, strings or lists "
                          f"({exc})") from exc
    return _resolve(key, _file_stamp(data))


def user_specs(field: str, mappings: Iterable[Mapping[str, Any]]) -> dict[str, ObjectSpec]:
    """User parts by name; names that shadow a built-in object or repeat are refused."""
    specs: dict[str, ObjectSpec] = {}
    for data in mappings:
        spec = user_spec(data)
        if spec.name in OBJECTS:
            raise ConfigError(f"{field}.{spec.name}: a user part may not take the name of a built-in object; "
                              f"allowed: a name not among {sorted(OBJECTS)}")
        if spec.name in specs:
            raise ConfigError(f"{field}: user part {spec.name!r} is defined more than once; allowed: distinct names")
        specs[spec.name] = spec
    return specs


def usable_items(items: Sequence[Any], user_objects: Sequence[Mapping[str, Any]], max_opening_mm: float,
                 clearance_mm: float) -> tuple[list[Any], dict[str, str]]:
    """``(kept, {name: reason})``: the items of an object list (range specs spelt out) whose part
    loads and fits a hand opening ``max_opening_mm`` per finger, and why each other one does not.
    For pools of found shapes, where some always will not do (``data.skip_unusable``)."""
    from tacrefine.sim.user_parts import check_fits

    if isinstance(items, (str, Mapping)):
        items = [items]
    users = {str(m.get("name")): m for m in user_objects if isinstance(m, Mapping)}
    kept: list[Any] = []
    skipped: dict[str, str] = {}
    for item in expand_object_items(list(items)):
        name = str(item.get("name")) if isinstance(item, Mapping) else str(item)
        try:
            if isinstance(item, Mapping):
                spec = user_spec(item)
            elif name in users:
                spec = user_spec(users[name])
            else:
                spec = get_object(name)
            check_fits(spec, max_opening_mm, clearance_mm)
        except ConfigError as exc:
            skipped[name] = str(exc)
            continue
        kept.append(item)
    return kept, skipped


def normalise_object_list(field: str, items: Sequence[Any],
                          user_objects: Sequence[Mapping[str, Any]] = ()) -> tuple[tuple[str, ...], tuple[dict, ...]]:
    """``(names, user mappings)`` of an object list (see the module docstring), every name known,
    none repeated, every file checked."""
    if isinstance(items, (str, Mapping)):
        items = [items]
    mappings = [dict(m) for m in user_objects]
    names: list[str] = []
    for item in expand_object_items(list(items)):
        if isinstance(item, Mapping):
            mappings.append(dict(item))
            names.append(str(item.get("name")))
        else:
            require(isinstance(item, str), f"{field}[]", "an object name, a family spec or a user part mapping",
                    item)
            names.append(item)
    specs = user_specs(field, mappings)
    require(len(names) > 0, field, "at least one object", list(names))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{field}: {repeated} given more than once; allowed: distinct object names")
    for name in names:
        get_object(name, specs)
    used = set(names)
    return tuple(names), tuple(m for m in mappings if m["name"] in used)
