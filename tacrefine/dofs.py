"""Degrees of freedom: named DoF profiles and per-DoF values as ``{dof: value}`` mappings.

Every per-DoF quantity (offset half-ranges, largest steps, loss weights...) takes one form
from config to model head: a mapping from DoF name (``x, y, z, roll, pitch, yaw``) to a
number, mm for translations and degrees for rotations. :func:`per_dof` validates and
completes such a mapping; :func:`to_si` turns one into the 6-vector (m, rad) that the
geometry uses.

A *DoF profile* is a named set of refined DoF: the paper's classes refine rods
``{z, roll}``, plates ``{z, roll, pitch}`` and discs ``{y, z, pitch}``; the parallel-jaw
task refines ``{y, z, roll}``; ``hand`` is the union the three-finger task acts over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tacrefine.config import ConfigError, require, require_positive
from tacrefine.geometry import DOF_NAMES, TRANSLATION_DOFS, validate_dofs
from tacrefine.registry import Registry

#: Default offset half-range per DoF around a grasp (mm / deg).
DEFAULT_OFFSET_RANGE: dict[str, float] = {"x": 3.0, "y": 5.0, "z": 5.0, "roll": 10.0, "pitch": 5.0, "yaw": 5.0}
#: Default largest wrist step per action component (action = +-1), mm / deg.
DEFAULT_MAX_STEP: dict[str, float] = {"x": 5.0, "y": 5.0, "z": 5.0, "roll": 10.0, "pitch": 10.0, "yaw": 10.0}


@dataclass(frozen=True)
class DofProfile:
    """A named set of refined DoF.

    Attributes:
        name: registry name.
        dofs: the DoF, in canonical order (x, y, z, roll, pitch, yaw).
        description: why these DoF (what touch can observe).
    """

    name: str
    dofs: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dofs", validate_dofs(self.dofs, f"dof_profiles.{self.name}.dofs"))


DOF_PROFILES: Registry[DofProfile] = Registry("dof profile")


def register_dof_profile(name: str, dofs: Sequence[str], description: str = "", *, replace: bool = False) -> DofProfile:
    """Add a named DoF set (for a new object class or task)."""
    return DOF_PROFILES.register(name, DofProfile(name, tuple(dofs), description), replace=replace)


register_dof_profile("jaw", ("y", "z", "roll"), "parallel-jaw task: a feature's outline in the pad plane")
register_dof_profile("rod", ("z", "roll"), "a rod across the pads: sliding along it and turning about it are not felt")
register_dof_profile("plate", ("z", "roll", "pitch"), "a plate wider than the pads: its edge and its tilt are felt")
register_dof_profile("disc", ("y", "z", "pitch"), "a disc face-on: its round outline hides the turn about its axis")
register_dof_profile("hand", ("y", "z", "roll", "pitch"), "union of the paper's rod, plate and disc DoF")


def profile_dofs(name_or_dofs: str | Sequence[str], field: str = "refined_dofs") -> tuple[str, ...]:
    """DoF of a profile name, or a DoF list validated and put in canonical order."""
    if isinstance(name_or_dofs, str):
        if name_or_dofs in DOF_NAMES:
            return (name_or_dofs,)
        return DOF_PROFILES.get(name_or_dofs, field).dofs
    return validate_dofs(name_or_dofs, field)


def union(dof_sets: Iterable[Sequence[str]]) -> tuple[str, ...]:
    """The union of several DoF sets, in canonical order."""
    seen = {d for dofs in dof_sets for d in dofs}
    return tuple(d for d in DOF_NAMES if d in seen)


def per_dof(values: Mapping[str, float] | None, dofs: Sequence[str], field: str,
            defaults: Mapping[str, float] | None = None, allow_zero: bool = False) -> dict[str, float]:
    """A validated ``{dof: value}`` mapping over ``dofs`` (canonical order), missing ones from
    ``defaults``. Keys outside the six DoF, non-numbers and non-positive values are refused."""
    merged = dict(defaults or {})
    if values is not None:
        require(isinstance(values, Mapping), field, "a mapping of DoF name to a number (mm or deg)", values)
        unknown = sorted(set(values) - set(DOF_NAMES))
        require(not unknown, field, f"keys among {list(DOF_NAMES)}", unknown)
        merged.update(values)
    out = {}
    for d in validate_dofs(dofs, field):
        if d not in merged:
            raise ConfigError(f"{field}.{d}: missing; give a value (mm or deg) for every DoF of {list(dofs)}")
        try:
            value = float(merged[d])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{field}.{d}: got {merged[d]!r}; allowed: a number (mm or deg)") from exc
        require(np.isfinite(value), f"{field}.{d}", "a finite number", value)
        require_positive(f"{field}.{d}", value, allow_zero=allow_zero)
        out[d] = value
    return out


def to_si(values: Mapping[str, float]) -> np.ndarray:
    """``{dof: mm or deg}`` -> full 6-vector in metres / radians (zeros for absent DoF)."""
    full = np.zeros(6)
    for d, v in values.items():
        i = DOF_NAMES.index(d)
        full[i] = float(v) * (1e-3 if d in TRANSLATION_DOFS else np.pi / 180.0)
    return full


def dof_mask(active: Iterable[str], over: Sequence[str]) -> np.ndarray:
    """``float32`` mask over ``over``: 1 where the DoF is in ``active`` (refined), else 0."""
    active = set(active)
    return np.array([1.0 if d in active else 0.0 for d in over], dtype=np.float32)
