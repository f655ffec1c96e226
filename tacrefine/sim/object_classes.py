"""Object classes: a registry of named classes, each with the DoF that touch refines for it.

The paper's classes (TacRefineNet v2) refine rods ``{z, roll}``, plates ``{z, roll, pitch}``
and discs ``{y, z, pitch}``: what a pad cannot feel on such a shape is not refined (a rod
slid along its axis or turned about it reads the same; so does a disc turned about its
axis). The parallel-jaw feature classes (``box``, ``prism``, ``edge``) and user parts
(``custom``) refine the jaw task's ``{y, z, roll}``. An object may state its own DoF
(:attr:`ObjectSpec.refined_dofs`); otherwise its class decides.

Add a class with :func:`register_object_class`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tacrefine.dofs import profile_dofs
from tacrefine.registry import Registry


@dataclass(frozen=True)
class ObjectClass:
    """A named object class.

    Attributes:
        name: registry name (an object's ``category``).
        refined_dofs: the DoF refined for objects of this class (canonical order).
        description: what the class is and why these DoF.
    """

    name: str
    refined_dofs: tuple[str, ...]
    description: str = ""


OBJECT_CLASSES: Registry[ObjectClass] = Registry("object class")


def register_object_class(name: str, refined_dofs: str | Sequence[str], description: str = "", *,
                          replace: bool = False) -> ObjectClass:
    """Add a class; ``refined_dofs`` is a DoF profile name (``"rod"``) or a list of DoF."""
    dofs = profile_dofs(refined_dofs, f"object_classes.{name}.refined_dofs")
    return OBJECT_CLASSES.register(name, ObjectClass(name, dofs, description), replace=replace)


def class_dofs(name: str, field: str = "category") -> tuple[str, ...]:
    """Refined DoF of class ``name``."""
    return OBJECT_CLASSES.get(name, field).refined_dofs


register_object_class("rod", "rod", "a cylinder lying across the pads (the paper's rods)")
register_object_class("plate", "plate", "a thin plate, wider than the pads, held by its faces (the paper's plates)")
register_object_class("disc", "disc", "a disc held by its faces (the paper's discs)")
register_object_class("box", "jaw", "parallel-jaw feature: a square block")
register_object_class("prism", "jaw", "parallel-jaw feature: a triangular prism")
register_object_class("edge", "jaw", "parallel-jaw feature: shaped top edges (T, L, wedge, hexagon)")
register_object_class("custom", "jaw", "a user part (URDF or mesh); refines the jaw task's DoF unless told")
