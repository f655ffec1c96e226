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

import functools
import hashlib
import math
import os
import stat
import tempfile
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet as pb
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from tacrefine import geometry
from tacrefine.config import ConfigError, atomic_write_bytes, require, require_choice, require_positive
from tacrefine.sim.object_classes import OBJECT_CLASSES, class_dofs
from tacrefine.sim.world import SENSED_GROUP

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


#: Built-in objects by name: the parallel-jaw feature objects, then the paper's classes.
OBJECTS: dict[str, ObjectSpec] = _builtin_objects()
#: The parallel-jaw task's objects (feature on a base plate), in library order.
JAW_OBJECTS: tuple[str, ...] = tuple(OBJECTS)


def _with_paper_objects() -> None:
    from tacrefine.sim.paper_objects import paper_objects  # it builds on ObjectSpec above

    OBJECTS.update(paper_objects())


_with_paper_objects()
#: The paper's rods, plates and discs at real-world sizes (the three-finger hand's task).
PAPER_OBJECT_SET: tuple[str, ...] = tuple(n for n in OBJECTS if n not in JAW_OBJECTS)

#: Objects whose refined DoF (y, z, roll) are all observable by a parallel-jaw pad. Discs
#: are left out: their outline is round, so roll cannot be felt (the paper's hard case).
DEFAULT_OBJECT_SET: tuple[str, ...] = tuple(n for n in JAW_OBJECTS if OBJECTS[n].category != "disc")


def get_object(name: str | ObjectSpec, extra: dict[str, ObjectSpec] | None = None) -> ObjectSpec:
    """Resolve a name among built-in and ``extra`` (user) objects; unknown names are refused
    with the list of known ones."""
    if isinstance(name, ObjectSpec):
        return name
    known = {**OBJECTS, **(extra or {})}
    if name not in known:
        from tacrefine.sim.families import FAMILIES, part_from_name  # families build on this module

        part = part_from_name(name) if isinstance(name, str) else None
        if part is not None:
            return part
        raise ConfigError(f"object {name!r} is unknown; known objects: {sorted(known)}, or a family part "
                          f"<family>-<seed> with family among {sorted(FAMILIES)}")
    return known[name]


def validate_object_names(field: str, names: Sequence[str]) -> tuple[str, ...]:
    """A non-empty tuple of distinct known object names (unknown ones are refused by name)."""
    from tacrefine.sim.families import expand_object_list

    names = tuple(expand_object_list(names))  # family:NAME[:A-B] specs become their parts' names
    require(len(names) > 0 and len(set(names)) == len(names), field, "a non-empty list of distinct object names",
            list(names))
    for name in names:
        get_object(name)
    return names


def object_from_dict(data: dict) -> ObjectSpec:
    """User object from config data (``name``, ``urdf`` or ``mesh`` path, and optional fields);
    grasp fields not given are inferred from the part's geometry (:mod:`tacrefine.sim.user_parts`)."""
    from tacrefine.sim.user_parts import resolve_user_part

    return resolve_user_part(data)


def _mesh_cache_dir() -> Path:
    """The per-user folder of hull files: created owner-only (0700); refused when another user
    owns it (its files could be swapped for other shapes), tightened when it is ours but open."""
    user = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(tempfile.gettempdir()) / f"tacrefine-meshes-{user if user is not None else 0}"
    folder.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(folder)
    if user is not None:
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != user:
            raise RuntimeError(f"hull mesh cache {folder}: not a folder owned by this user (uid {user}; owner "
                               f"uid {st.st_uid}); remove it or set TMPDIR to a private folder")
        if st.st_mode & 0o077:
            os.chmod(folder, 0o700)
    return folder


@functools.lru_cache(maxsize=4096)
def _hull_obj(vertices_mm: tuple[tuple[float, float, float], ...]) -> tuple[bytes, str]:
    """The OBJ text of the hull of ``vertices_mm`` (in metres) and its content hash: a pure
    function of the vertices, computed once per process (every reset rebuilds the shapes)."""
    verts = np.asarray(vertices_mm, dtype=float)
    faces = ConvexHull(verts).simplices  # PyBullet only keeps vertices that faces use
    text = "".join(f"v {x / 1000:.9f} {y / 1000:.9f} {z / 1000:.9f}\n" for x, y, z in verts)
    text += "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces)
    payload = text.encode()
    return payload, hashlib.sha256(payload).hexdigest()[:16]


def _hull_mesh_file(vertices_mm: tuple[tuple[float, float, float], ...]) -> str:
    """An OBJ file holding ``vertices_mm`` (in metres), which PyBullet turns into a convex hull.

    Compound shapes accept hull pieces only as files, so each distinct hull is written once
    to a per-user cache named by its content hash (atomically, so concurrent workers agree);
    a file found there is used only if its content still has that hash (else it is rewritten).
    """
    payload, digest = _hull_obj(vertices_mm)
    path = _mesh_cache_dir() / f"{digest}.obj"
    try:
        intact = hashlib.sha256(path.read_bytes()).hexdigest()[:16] == digest
    except OSError:
        intact = False
    if not intact:  # missing, or truncated / changed (e.g. by an older, non-atomic writer)
        atomic_write_bytes(path, payload)
    return str(path)


def _compound_shapes(client, parts: tuple[ShapePart, ...], rgba: tuple[float, ...]) -> tuple[int, int]:
    """One collision shape (and one visual) for all ``parts``: the object is a single rigid body."""
    if len(parts) > MAX_PIECES:
        raise ConfigError(f"object parts: {len(parts)} convex pieces; allowed: at most {MAX_PIECES} (PyBullet's "
                          f"limit for one shape)")
    types, radii, halves, lengths, files, poses, orns = [], [], [], [], [], [], []
    for part in parts:
        radius, half, length, file = 0.0, [0.0, 0.0, 0.0], 0.0, ""
        if part.kind == "box":
            kind, half = pb.GEOM_BOX, [s / 1000 for s in part.size]
        elif part.kind == "cylinder":
            kind, radius, length = pb.GEOM_CYLINDER, part.size[0] / 1000, part.size[1] / 1000
        elif part.kind == "sphere":
            kind, radius = pb.GEOM_SPHERE, part.size[0] / 1000
        elif part.kind == "hull":
            kind, file = pb.GEOM_MESH, _hull_mesh_file(part.vertices)
        else:
            raise ConfigError(f"shape kind {part.kind!r} is unknown; allowed: box, cylinder, sphere, hull")
        types.append(kind)
        radii.append(radius)
        halves.append(half)
        lengths.append(length)
        files.append(file)
        poses.append([p / 1000 for p in part.position])
        orns.append(pb.getQuaternionFromEuler(np.radians(part.rpy_deg).tolist()))
    common = {"shapeTypes": types, "radii": radii, "halfExtents": halves, "lengths": lengths,
              "fileNames": files, "meshScales": [[1, 1, 1]] * len(types)}
    col = client.createCollisionShapeArray(**common, collisionFramePositions=poses,
                                           collisionFrameOrientations=orns)
    vis = client.createVisualShapeArray(**common, visualFramePositions=poses, visualFrameOrientations=orns,
                                        rgbaColors=[list(rgba)] * len(types))
    return col, vis


def _scale_link_masses(client, body: int, total: float) -> None:
    """Scale every link's mass so that they add up to ``total`` (proportions kept)."""
    links = range(-1, client.getNumJoints(body))
    masses = {link: client.getDynamicsInfo(body, link)[0] for link in links}
    own = sum(masses.values())
    for link, mass in masses.items():
        share = mass / own if own > 0 else 1.0 / len(masses)
        client.changeDynamics(body, link, mass=total * share)


def object_parts(spec: ObjectSpec) -> tuple[ShapePart, ...]:
    """The convex pieces ``spec`` is built from: its own, or those read from its file
    (:mod:`tacrefine.sim.file_shapes`); empty for a file PyBullet must load as it is."""
    if spec.parts:
        return spec.parts
    from tacrefine.sim.file_shapes import file_shapes  # it builds on ShapePart above

    return file_shapes(spec).parts


def build_object(client, spec: ObjectSpec, shape_cache: dict[Hashable, list[tuple[int, int]]] | None = None) -> int:
    """Create the object in ``client`` (at the origin) and make it felt by the sensors.

    Parts given by path are rebuilt from their convex pieces like the built-in ones (thin
    margin, same contacts and rays; see :mod:`tacrefine.sim.file_shapes`), keeping the
    file's mass and inertial frame (not its inertia tensor: PyBullet derives the inertia
    from the shapes' bounding box). Collision shapes outlive bodies in PyBullet, so a
    caller that rebuilds objects passes a ``shape_cache`` (per client) and each object's
    shapes are made only once. The cache is keyed by the pieces themselves (or the mesh
    file's version), not the name: a part whose file changed gets new shapes, matching its rays.
    """
    rgba = (0.25, 0.45, 0.85, 1.0)
    parts = object_parts(spec)
    if parts:
        inertial = np.eye(4)
        mass = DEFAULT_MASS_KG if spec.mass is None else spec.mass
        if not spec.parts:
            from tacrefine.sim.file_shapes import file_shapes

            shapes = file_shapes(spec)
            inertial = shapes.inertial_pose if shapes.inertial_pose is not None else inertial
            if spec.mass is None and shapes.mass is not None:
                mass = shapes.mass  # a URDF's own mass
        key: Hashable = ("parts", parts)
        if shape_cache is None or key not in shape_cache:
            # one compound per MAX_PIECES pieces: the first is the base, the others links
            # fixed to it at its own frame (a single rigid body of any number of pieces)
            chunks = [_compound_shapes(client, parts[i:i + MAX_PIECES], rgba)
                      for i in range(0, len(parts), MAX_PIECES)]
            if shape_cache is not None:
                shape_cache[key] = chunks
        chunks = shape_cache[key] if shape_cache is not None else chunks
        pos, quat = geometry.pose_to_pos_quat(inertial)
        links: dict[str, list] = {}
        if len(chunks) > 1:
            sizes = [min(MAX_PIECES, len(parts) - i) for i in range(0, len(parts), MAX_PIECES)]
            n = len(chunks) - 1
            # every link's centre of mass at the object's, so the whole keeps the file's
            links = {"linkMasses": [mass * k / len(parts) for k in sizes[1:]],
                     "linkCollisionShapeIndices": [c for c, _ in chunks[1:]],
                     "linkVisualShapeIndices": [v for _, v in chunks[1:]],
                     "linkPositions": [[0.0, 0.0, 0.0]] * n, "linkOrientations": [[0.0, 0.0, 0.0, 1.0]] * n,
                     "linkInertialFramePositions": [list(pos)] * n, "linkInertialFrameOrientations": [list(quat)] * n,
                     "linkParentIndices": [0] * n, "linkJointTypes": [pb.JOINT_FIXED] * n,
                     "linkJointAxis": [[0.0, 0.0, 1.0]] * n}
            mass = mass * sizes[0] / len(parts)
        col, vis = chunks[0]
        body = client.createMultiBody(mass, col, vis, baseInertialFramePosition=list(pos),
                                      baseInertialFrameOrientation=list(quat), **links)
    elif spec.urdf is not None:  # movable joints, shapes without a convex form: PyBullet's own reading
        body = client.loadURDF(spec.urdf, globalScaling=spec.mesh_scale)
        if spec.mass is not None:
            _scale_link_masses(client, body, spec.mass)
    else:  # a mesh of more than MAX_FILE_PIECES pieces: PyBullet's own reading
        scale = [spec.mesh_scale] * 3
        try:
            mesh_stat = os.stat(spec.mesh)
            key = ("mesh", spec.mesh, spec.mesh_scale, mesh_stat.st_size, mesh_stat.st_mtime_ns)
        except OSError:
            key = ("mesh", spec.mesh, spec.mesh_scale)
        if shape_cache is None or key not in shape_cache:
            col = client.createCollisionShape(pb.GEOM_MESH, fileName=spec.mesh, meshScale=scale)
            vis = client.createVisualShape(pb.GEOM_MESH, fileName=spec.mesh, meshScale=scale, rgbaColor=rgba)
            if shape_cache is not None:
                shape_cache[key] = [(col, vis)]
        col, vis = shape_cache[key][0] if shape_cache is not None else (col, vis)
        body = client.createMultiBody(DEFAULT_MASS_KG if spec.mass is None else spec.mass, col, vis)
    for link in range(-1, client.getNumJoints(body)):
        # Bullet inflates convex shapes by a margin (1 mm for hulls): far too round for
        # millimetre features, and the taxel rays would see another surface than contacts do.
        client.changeDynamics(body, link, lateralFriction=spec.friction, collisionMargin=COLLISION_MARGIN_M)
        client.setCollisionFilterGroupMask(body, link, 1 | SENSED_GROUP, -1)
    return body
