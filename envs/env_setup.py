"""What the grasp-refinement envs share besides the episode loop: argument resolution
(objects, DoF, per-DoF values) and the check that a grasp can start an episode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.dofs import per_dof, to_si, union
from tacrefine.sim.cell import GraspResult
from tacrefine.sim.objects import OBJECTS, ObjectSpec, get_object

#: ``refined_dofs`` value that refines each object's own (class) DoF within one env
PER_CLASS = "per_class"


class UngraspableObjectError(RuntimeError):
    """``reset`` could not grasp the object (the message names it and what went wrong)."""


def grasp_problem(result: GraspResult) -> str | None:
    """Why a grasp cannot serve as a demonstration or start: lost, or a pad that feels nothing."""
    if not result.ok:
        return result.failure or "lost"
    normal = result.tactile[:, 0].reshape(result.tactile.shape[0], -1)
    if not bool((normal > 0).any(axis=1).all()):
        return "a pad reads nothing"
    return None


def per_dof_array(values: Mapping[str, float] | None, defaults: Mapping[str, float], dofs: Sequence[str],
                  field: str) -> np.ndarray:
    """Per-DoF physical values (mm / deg) for ``dofs`` as an array (see :func:`tacrefine.dofs.per_dof`)."""
    mapping = per_dof(values, dofs, field, defaults, allow_zero=field == "offset_range")
    return np.array([mapping[d] for d in dofs], dtype=float)


def to_si_over(values_mm_deg: np.ndarray, dofs: Sequence[str]) -> np.ndarray:
    """mm / deg over ``dofs`` -> full 6-vector in m / rad."""
    return to_si(dict(zip(dofs, np.asarray(values_mm_deg, dtype=float))))


def resolve_objects(objects: Any, default: Sequence[str]) -> list[ObjectSpec]:
    """Object specs from a name, a list of names, user mappings or specs (default: ``default``);
    user objects may not take a built-in name, and names must be distinct."""
    if objects is None:
        objects = default
    if isinstance(objects, (str, ObjectSpec, Mapping)):
        objects = [objects]
    from tacrefine.sim.families import expand_object_list
    from tacrefine.sim.object_lists import user_spec

    specs: list[ObjectSpec] = []
    for item in expand_object_list(objects):  # family:NAME[:A-B] specs become their parts
        if isinstance(item, (Mapping, ObjectSpec)):
            spec = user_spec(item) if isinstance(item, Mapping) else item  # checked once per process
            if spec.name in OBJECTS and spec != OBJECTS[spec.name]:
                raise ConfigError(f"objects.{spec.name}: a user object may not take the name of a built-in "
                                  f"one; allowed: a name not among {sorted(OBJECTS)}")
            specs.append(spec)
        else:
            specs.append(get_object(item))
    if not specs:
        raise ConfigError("objects: got an empty list; allowed: at least one object name or mapping")
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"objects: {repeated} given more than once; allowed: distinct object names")
    return specs


def resolve_dofs(refined_dofs: str | Sequence[str], specs: Sequence[ObjectSpec],
                 always: Sequence[str] = ()) -> tuple[tuple[str, ...], bool]:
    """The action's DoF and whether each object refines its own subset of them.

    ``"per_class"``: ``always`` united with the objects' DoF, each episode refining its
    object's own (a fixed ``always`` keeps the action space the same whatever the objects);
    a DoF list: every object refines exactly that list (the jaw task's way).
    """
    if isinstance(refined_dofs, str) and refined_dofs == PER_CLASS:
        return union([always, *(s.dofs for s in specs)]), True
    if isinstance(refined_dofs, str):
        raise ConfigError(f"refined_dofs: got {refined_dofs!r}; allowed: {PER_CLASS!r} or a list of DoF "
                          f"among {list(geometry.DOF_NAMES)}")
    return geometry.validate_dofs(refined_dofs), False
