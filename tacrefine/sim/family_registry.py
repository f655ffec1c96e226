"""The registry of procedural part families and the helpers every family module builds on.

Kept apart from :mod:`.families` so that family modules (:mod:`.broad_families`) can register
generators without importing the module that loads them (no import circle).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tacrefine.sim.objects import JAW_DOFS, ObjectSpec, ShapePart, _base

Generator = Callable[[np.random.Generator], ObjectSpec]
FAMILIES: dict[str, Generator] = {}
#: which families suit which hand (the jaw's pads are 16 mm wide; the hand's task is the paper's)
JAW_FAMILIES: list[str] = []
HAND_FAMILIES: list[str] = []


#: the modules that register families, in the order their families are listed: the lists
#: (hence what "all families" means to a dataset config) must not depend on which module was
#: imported first
FAMILY_MODULES = ("tacrefine.sim.families", "tacrefine.sim.broad_families", "tacrefine.sim.spectral_families")
_ORDER: dict[str, tuple[int, int]] = {}


def family(name: str, hand: str) -> Callable[[Generator], Generator]:
    """Register a generator under ``name`` for ``hand`` (``"jaw"`` or ``"hand"``); the hand's
    list stays ordered by :data:`FAMILY_MODULES`, then by registration within a module."""

    def wrap(fn: Generator) -> Generator:
        module = fn.__module__
        rank = FAMILY_MODULES.index(module) if module in FAMILY_MODULES else len(FAMILY_MODULES)
        _ORDER[name] = (rank, len(_ORDER))
        FAMILIES[name] = fn
        listed = JAW_FAMILIES if hand == "jaw" else HAND_FAMILIES
        if name not in listed:
            listed.append(name)
        listed.sort(key=lambda n: _ORDER[n])  # in place: importers hold these very lists
        return fn

    return wrap


def _box_yz(thick: float, width: float, z0: float, z1: float, y: float) -> ShapePart:
    return ShapePart("box", (thick / 2, width / 2, (z1 - z0) / 2), (0.0, y, (z0 + z1) / 2))


def _jaw_spec(category: str, parts: tuple[ShapePart, ...], top: float, thickness: float,
              grasp_below_top: float = 1.0, mass: float | None = None) -> ObjectSpec:
    dofs = JAW_DOFS if category in ("rod", "plate", "disc") else None
    return ObjectSpec("family", category, (_base(), *parts), mass=mass, grasp_height_mm=top - grasp_below_top,
                      thickness_mm=thickness, refined_dofs=dofs)
