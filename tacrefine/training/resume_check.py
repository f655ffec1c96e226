"""Resuming replays the recorded run: the run's ``config.yaml`` must match its checkpoint.

Why: ``config.yaml`` is a text file anyone can edit; the checkpoint records the configuration
the weights and optimiser state were made with (``train_config``). Resuming from an edited
file (``lr: 0.5`` where the run used 0.002) silently trains another run on top of this one.
So every field is compared with the recorded one, and any difference outside the documented
resumable fields (:data:`tacrefine.training.loop.RESUME_OVERRIDABLE`, plus ``train.out_dir``:
a run folder may be moved) is refused naming the field and both values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tacrefine.config import ConfigError

_MISSING = object()


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_differences(recorded: Mapping[str, Any], current: Mapping[str, Any],
                       resumable: Iterable[str]) -> list[tuple[str, Any, Any]]:
    """``(field, recorded, current)`` for every dotted field that differs, except ``resumable``
    ones (a field the recording lacks, written by an older version, is not compared)."""
    skip = set(resumable)
    a, b = _flatten(recorded), _flatten(current)
    diffs = []
    for name in sorted(set(a) | set(b)):
        if name in skip or any(name.startswith(s + ".") for s in skip) or name not in a:
            continue
        old, new = a[name], b.get(name, _MISSING)
        if new is _MISSING or old != new:
            diffs.append((name, old, None if new is _MISSING else new))
    return diffs


def check_resume_config(recorded: Mapping[str, Any] | None, current: Mapping[str, Any],
                        resumable: Iterable[str], where: str) -> None:
    """Raise :class:`ConfigError` if ``current`` differs from the checkpoint's ``recorded`` config."""
    if not isinstance(recorded, Mapping):
        return  # checkpoints written before the config was recorded: nothing to compare with
    resumable = tuple(resumable)
    diffs = config_differences(recorded, current, resumable)
    if diffs:
        lines = "; ".join(f"{name}: checkpoint {old!r}, config.yaml {new!r}" for name, old, new in diffs)
        raise ConfigError(f"{where}: the run's config.yaml differs from the configuration recorded in its "
                          f"checkpoint in {lines}; resuming would train another run on top of this one. "
                          f"Restore those values, or start a new run (only {list(resumable)} may change "
                          "when resuming)")
