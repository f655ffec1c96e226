"""Validated dataclass configs: YAML in, dotted command-line overrides, YAML out.

Every component owns one dataclass (LeRobot style). Each dataclass validates itself in
``__post_init__`` and raises :class:`ConfigError` naming the field and what is allowed,
so a bad value fails where it is read, not deep inside a run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and the allowed values."""


def require(condition: bool, field: str, allowed: str, value: Any = None) -> None:
    """Raise :class:`ConfigError` for ``field`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f"{field}: got {value!r}; allowed: {allowed}")


def require_positive(field: str, value: float, allow_zero: bool = False) -> None:
    """Finite and > 0 (or >= 0 with ``allow_zero``)."""
    ok = isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    require(ok, field, "a finite number " + (">= 0" if allow_zero else "> 0"), value)


def require_int(field: str, value: Any, minimum: int) -> None:
    """An integer (not a bool) >= ``minimum``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    require(ok, field, f"an integer >= {minimum}", value)


def require_choice(field: str, value: Any, choices: Iterable[Any]) -> None:
    choices = list(choices)
    require(value in choices, field, f"one of {choices}", value)


def _convert(tp: Any, value: Any, field: str) -> Any:
    """Turn plain YAML data into the annotated type (nested dataclasses, tuples, numbers)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if hasattr(tp, "from_value"):  # configs that also accept a name or a file (sensor profiles)
            return tp.from_value(value, field)
        require(isinstance(value, dict), field, f"a mapping for {tp.__name__}", value)
        return from_dict(tp, value, prefix=field + ".")
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, field) if len(args) == 1 else value
    if origin in (tuple, list, Sequence):
        require(isinstance(value, (list, tuple)), field, "a list", value)
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        items = [_convert(inner, v, f"{field}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        require(isinstance(value, dict), field, "a mapping", value)
        return dict(value)
    if tp is float:
        require(isinstance(value, (int, float)) and not isinstance(value, bool), field, "a number", value)
        return float(value)
    if tp is int:
        require(isinstance(value, int) and not isinstance(value, bool), field, "an integer", value)
        return int(value)
    if tp is bool:
        require(isinstance(value, bool), field, "true or false", value)
        return value
    if tp is str:
        require(isinstance(value, str), field, "a string", value)
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, refusing unknown keys by name."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown field; allowed fields: {sorted(names)}")
    kwargs = {k: _convert(hints[k], v, prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data form of a dataclass config (tuples become lists), for YAML and JSON."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["train.lr=1e-3", "data.objects=[rod_r4]"]`` -> nested dict (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected the form section.field=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw else ""
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Defaults of ``cls``, updated by a YAML file, updated by dotted overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        data = read_yaml_mapping(path)
    data = merge(data, parse_overrides(overrides))
    return from_dict(cls, data)


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A config file's top-level mapping (``yaml.safe_load``); a missing file or another shape is refused."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    with open(path, encoding="utf-8") as fh:
        loaded = yaml.safe_load(fh) or {}
    require(isinstance(loaded, dict), str(path), "a YAML mapping at the top level", type(loaded).__name__)
    return loaded


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write a file so that readers see either the old or the whole new content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files owner-only; keep the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    text = yaml.safe_dump(to_dict(cfg), sort_keys=False)
    atomic_write_bytes(path, text.encode("utf-8"))
