"""The object library: named objects in classes, and user objects from URDF or mesh files.

Built-in objects stand on a square base plate (so they rest stably on the table while
the hand opens between grasps) and carry a graspable *feature* on top. Features are
extrusions along the object's x axis (the closing axis at the nominal grasp), so what a
pad feels is the feature's outline in the y-z plane: a rod's line, a plate's rectangle,
a T's bar, a wedge's slanted edge.

Object frame: origin at the centre of the base's bottom face, z up. The nominal grasp
puts the tool centre point on the object's z axis at ``grasp_height_mm`` with the wrist
approach axis pointing down and the closing axis along the object's x axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from tacrefine import geometry
from tacrefine.config import ConfigError, require, require_choice, require_positive
from tacrefine.limits import check_part_sizes
from tacrefine.registry import Registry
from tacrefine.sim.mesh_cache import _hull_mesh_file  # noqa: F401  (its old home; tests use it)
from tacrefine.sim.object_classes import OBJECT_CLASSES, class_dofs

#: Names of the object classes registered at import (the registry itself is open:
#: :data:`tacrefine.sim.object_classes.OBJECT_CLASSES`).
CATEGORIES = OBJECT_CLASSES.names()
BASE_HALF_MM = (15.0, 15.0, 2.5)
FEATURE_BOTTOM_MM = 2 * BASE_HALF_MM[2]
COLLISION_MARGIN_M = 5e-5
#: Most convex pieces in one compound shape (PyBullet's limit; more crash the engine): an
#: object of more pieces is built as a base and links fixed to it, each of at most this many.
MAX_PIECES = 16
#: Mass of a part (or mesh) object whose spec gives none, kg.
DEFAULT_MASS_KG = 0.06


@dataclass(frozen=True)
class ShapePart:
    """One convex piece of an object, in millimetres and degrees (object frame).

    ``kind``: ``box`` (size = half extents x, y, z), ``cylinder`` (size = radius, length;
    axis along the part's z), ``sphere`` (size = radius), ``hull`` (``vertices`` in mm; the
    convex hull is used).
    """

    kind: str
    size: tuple[float, ...] = ()
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    vertices: tuple[tuple[float, float, float], ...] = ()


@dataclass(frozen=True)
class ObjectSpec:
    """A graspable object.

    Attributes:
        name: unique name.
        category: a registered object class (:data:`OBJECT_CLASSES`); it decides the
            refined DoF unless ``refined_dofs`` is given.
        parts: convex pieces (built-in objects).
        urdf: path of a URDF file (user objects), or
        mesh: path of a mesh file (:data:`tacrefine.sim.mesh_io.MESH_SUFFIXES`), with
            ``mesh_scale`` (metres per file unit: a part's ``units`` are folded into it).
        mass: total mass in kg; ``None``: a URDF keeps its own link masses, other objects
            weigh :data:`DEFAULT_MASS_KG`. Given for a URDF, every link is scaled so the
            masses add up to it.
        friction: lateral friction coefficient of the object.
        grasp_height_mm: height of the tool centre point above the object origin at the
            nominal grasp.
        thickness_mm: extent along the closing axis at the nominal grasp (sets how far the
            hand opens).
        refined_dofs: the DoF refined for this object; None = its class's.
        frame_in_file: where the object frame sits in the file's own (base link) frame, as
            ``(x, y, z)`` mm and ``(roll, pitch, yaw)`` deg; empty = the same frame. A user part
            rests on the table in its object frame (z up) and is grasped about its z axis (see
            :mod:`tacrefine.sim.user_parts`, which infers it).
        concavity: how much concavity the convex decomposition of a non-convex mesh leaves in
            a piece (CoACD's threshold, relative to the part's size; lower: finer, slower);
            None = :data:`tacrefine.sim.decompose.DEFAULT_CONCAVITY`.
    """

    name: str
    category: str
    parts: tuple[ShapePart, ...] = ()
    urdf: str | None = None
    mesh: str | None = None
    mesh_scale: float = 1.0
    mass: float | None = None
    friction: float = 0.9
    grasp_height_mm: float = 34.0
    thickness_mm: float = 8.0
    refined_dofs: tuple[str, ...] | None = None
    frame_in_file: tuple[float, ...] = ()
    concavity: float | None = None

    def __post_init__(self) -> None:
        field_ = f"objects.{self.name}"
        require_choice(f"{field_}.category", self.category, OBJECT_CLASSES.names())
        if self.refined_dofs is not None:
            object.__setattr__(self, "refined_dofs", geometry.validate_dofs(self.refined_dofs,
                                                                            f"{field_}.refined_dofs"))
        if self.mass is not None:
            require_positive(f"{field_}.mass", self.mass)
        require_positive(f"{field_}.friction", self.friction, allow_zero=True)
        require_positive(f"{field_}.thickness_mm", self.thickness_mm)
        require_positive(f"{field_}.mesh_scale", self.mesh_scale)
        if self.concavity is not None:
            require(0.001 <= self.concavity <= 1.0, f"{field_}.concavity", "a number in [0.001, 1]", self.concavity)
        require(len(self.frame_in_file) in (0, 6), f"{field_}.frame_in_file",
                "empty or six numbers: x, y, z (mm), roll, pitch, yaw (deg)", self.frame_in_file)
        check_part_sizes(self)
        sources = sum([bool(self.parts), self.urdf is not None, self.mesh is not None])
        require(sources == 1, field_, "exactly one of parts, urdf or mesh", self)
        for key in ("urdf", "mesh"):
            path = getattr(self, key)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{field_}.{key}: file {path!r} does not exist")

    @property
    def dofs(self) -> tuple[str, ...]:
        """The DoF refined for this object: its own, else its class's."""
        return self.refined_dofs if self.refined_dofs is not None else class_dofs(self.category)

    def frame_pose(self) -> np.ndarray:
        """:attr:`frame_in_file` as a 4x4 pose (metres)."""
        if not self.frame_in_file:
            return np.eye(4)
        values = np.asarray(self.frame_in_file, dtype=float)
        pose = np.eye(4)
        pose[:3, :3] = Rotation.from_euler("xyz", values[3:], degrees=True).as_matrix()
        pose[:3, 3] = values[:3] / 1000.0
        return pose

    def nominal_grasp(self) -> np.ndarray:
        """Object pose in the wrist frame at the nominal grasp (see module docstring)."""
        wrist_in_object = np.eye(4)
        wrist_in_object[:3, :3] = np.diag([1.0, -1.0, -1.0])  # approach axis points down
        wrist_in_object[2, 3] = self.grasp_height_mm / 1000.0
        return geometry.invert(wrist_in_object)


def _base() -> ShapePart:
    return ShapePart("box", BASE_HALF_MM, (0.0, 0.0, BASE_HALF_MM[2]))


def _feature_box(thick: float, width: float, height: float, y: float = 0.0, z0: float = FEATURE_BOTTOM_MM) -> ShapePart:
    return ShapePart("box", (thick / 2, width / 2, height / 2), (0.0, y, z0 + height / 2))


def _extrusion(outline_yz: list[tuple[float, float]], thick: float) -> ShapePart:
    verts = tuple((sx * thick / 2, y, z) for sx in (-1, 1) for (y, z) in outline_yz)
    return ShapePart("hull", vertices=verts)


#: The jaw task's DoF: its rods stand upright and its plates are narrower than the pads, so
#: (unlike the paper's rods and plates) their outline shows y, z and roll.
JAW_DOFS = ("y", "z", "roll")


def _builtin_objects() -> dict[str, ObjectSpec]:
    top = FEATURE_BOTTOM_MM + 30.0  # features are 30 mm tall
    grasp = top - 1.0  # tool centre 1 mm below the top edge: the edge crosses the pads
    objs: list[ObjectSpec] = []
    for r in (3.0, 4.0, 5.0):
        part = ShapePart("cylinder", (r, 30.0), (0.0, 0.0, FEATURE_BOTTOM_MM + 15.0))
        objs.append(ObjectSpec(f"rod_r{int(r)}", "rod", (_base(), part), mass=0.05, grasp_height_mm=grasp,
                               thickness_mm=2 * r, refined_dofs=JAW_DOFS))
    for w in (6.0, 10.0):
        objs.append(ObjectSpec(f"plate_w{int(w)}", "plate", (_base(), _feature_box(4.0, w, 30.0)),
                               grasp_height_mm=grasp, thickness_mm=4.0, refined_dofs=JAW_DOFS))
    for r in (5.0, 7.0):  # discs stand on edge on a thin post; their axis is the closing axis
        centre = top - r
        post = _feature_box(2.0, 3.0, centre - FEATURE_BOTTOM_MM)
        disc = ShapePart("cylinder", (r, 5.0), (0.0, 0.0, centre), (0.0, 90.0, 0.0))
        objs.append(ObjectSpec(f"disc_r{int(r)}", "disc", (_base(), post, disc), grasp_height_mm=top - r,
                               thickness_mm=5.0))
    objs.append(ObjectSpec("box_8x8", "box", (_base(), _feature_box(8.0, 8.0, 30.0)), grasp_height_mm=grasp,
                           thickness_mm=8.0))
    tri = _extrusion([(-6.0, FEATURE_BOTTOM_MM), (6.0, FEATURE_BOTTOM_MM), (0.0, top)], 6.0)
    objs.append(ObjectSpec("prism_tri", "prism", (_base(), tri), grasp_height_mm=top - 3.0, thickness_mm=6.0))
    objs.append(ObjectSpec("t_shape", "edge", (_base(), _feature_box(5.0, 4.0, 26.0),
                                               _feature_box(5.0, 12.0, 4.0, z0=top - 4.0)),
                           grasp_height_mm=grasp, thickness_mm=5.0))
    objs.append(ObjectSpec("l_shape", "edge", (_base(), _feature_box(5.0, 4.0, 26.0, y=-3.0),
                                               _feature_box(5.0, 10.0, 4.0, y=0.0, z0=top - 4.0)),
                           grasp_height_mm=grasp, thickness_mm=5.0))
    slope = math.tan(math.radians(20.0))
    wedge = _extrusion([(-5.0, FEATURE_BOTTOM_MM), (5.0, FEATURE_BOTTOM_MM), (5.0, top - 10 * slope), (-5.0, top)],
                       5.0)
    objs.append(ObjectSpec("wedge", "edge", (_base(), wedge), grasp_height_mm=top - 5 * slope - 1.0,
                           thickness_mm=5.0))
    hex_r = 7.0
    hex_centre = top - hex_r
    outline = [(hex_r * math.sin(a), hex_centre + hex_r * math.cos(a)) for a in np.radians(np.arange(0, 360, 60))]
    post = _feature_box(2.0, 3.0, hex_centre - FEATURE_BOTTOM_MM)
    objs.append(ObjectSpec("hexagon", "edge", (_base(), post, _extrusion(outline, 5.0)),
                           grasp_height_mm=hex_centre + 3.0, thickness_mm=5.0))
    return {o.name: o for o in objs}


@dataclass(frozen=True)
class PartSource:
    """A supplier of parts beyond the built-in names; it registers itself in :data:`PART_SOURCES`.

    Attributes:
        from_name: the part a name stands for (``None`` when the name is not this source's).
        expand: list items the source spells out into names (``family:NAME[:A-B]``), others kept.
        from_mapping: a part from config data (a user's file part).
        shapes: the convex pieces of a spec that names a file.
        hint: what the source accepts, for the error that lists the known names.
    """

    from_name: Callable[[str], ObjectSpec | None] | None = None
    expand: Callable[[Sequence], list] | None = None
    from_mapping: Callable[[Mapping[str, Any]], ObjectSpec] | None = None
    shapes: Callable[[ObjectSpec], tuple[ShapePart, ...]] | None = None
    hint: Callable[[], str] | None = None


#: Built-in objects by name: the parallel-jaw feature objects, then the paper's classes
#: (registered by :mod:`tacrefine.sim.paper_objects`).
_JAW = _builtin_objects()
OBJECTS: Registry[ObjectSpec] = Registry("object", providers=("tacrefine.sim.paper_objects",), entries=_JAW)
#: The parallel-jaw task's objects (feature on a base plate), in library order.
JAW_OBJECTS: tuple[str, ...] = tuple(_JAW)

#: Objects whose refined DoF (y, z, roll) are all observable by a parallel-jaw pad. Discs
#: are left out: their outline is round, so roll cannot be felt (the paper's hard case).
DEFAULT_OBJECT_SET: tuple[str, ...] = tuple(n for n in JAW_OBJECTS if _JAW[n].category != "disc")

#: Where parts come from besides :data:`OBJECTS`: generated families, users' files.
PART_SOURCES: Registry[PartSource] = Registry(
    "part source", providers=("tacrefine.sim.families", "tacrefine.sim.user_parts", "tacrefine.sim.file_shapes",
                                "tacrefine.sim.pybullet_parts"))


def __getattr__(name: str) -> Any:
    # PAPER_OBJECT_SET: the paper's rods, plates and discs at real-world sizes (the three-finger
    # hand's task); computed on first use, once their supplier has registered them.
    if name == "PAPER_OBJECT_SET":
        return tuple(n for n in OBJECTS if n not in JAW_OBJECTS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _sources(role: str) -> list[PartSource]:
    return [source for _, source in PART_SOURCES.items() if getattr(source, role) is not None]


def get_object(name: str | ObjectSpec, extra: dict[str, ObjectSpec] | None = None) -> ObjectSpec:
    """Resolve a name among built-in and ``extra`` (user) objects, then the part sources;
    unknown names are refused with the list of known ones."""
    if isinstance(name, ObjectSpec):
        return name
    known = {**dict(OBJECTS.items()), **(extra or {})}
    if name not in known:
        for source in _sources("from_name"):
            part = source.from_name(name) if isinstance(name, str) else None
            if part is not None:
                return part
        hints = "".join(f", or {source.hint()}" for source in _sources("hint"))
        raise ConfigError(f"object {name!r} is unknown; known objects: {sorted(known)}{hints}")
    return known[name]


def expand_object_items(items: Sequence) -> list:
    """An object list with every source's range spec spelt out into part names
    (``family:NAME[:A-B]``, ``pybullet:random_urdfs:A-B``); other items kept, in order."""
    out = list(items)
    for source in _sources("expand"):
        out = list(source.expand(out))
    return out


def validate_object_names(field: str, names: Sequence[str]) -> tuple[str, ...]:
    """A non-empty tuple of distinct known object names (unknown ones are refused by name)."""
    names = tuple(expand_object_items(names))
    require(len(names) > 0 and len(set(names)) == len(names), field, "a non-empty list of distinct object names",
            list(names))
    for name in names:
        get_object(name)
    return names


def object_from_dict(data: dict) -> ObjectSpec:
    """User object from config data (``name``, ``urdf`` or ``mesh`` path, and optional fields);
    grasp fields not given are inferred from the part's geometry (:mod:`tacrefine.sim.user_parts`)."""
    readers = _sources("from_mapping")
    if not readers:
        raise ConfigError("objects: a part given as a mapping needs a part source that reads files; none is "
                          "registered")
    return readers[0].from_mapping(data)

