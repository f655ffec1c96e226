"""A user's URDF or mesh file as convex pieces, so it is built like a built-in part.

Why: PyBullet builds a URDF's shapes with a 1 mm collision margin that ``changeDynamics``
cannot reach (the shapes sit inside a compound per link), and a hull loaded from a file
keeps up to ~1.7 mm for ray tests. A 5 mm wedge then touches the fingers as if it were
7 mm thick, and the taxel rays see rounded edges: the same part felt differently by path
than built in. So a part given by path is read into :class:`~tacrefine.sim.objects.ShapePart`
pieces (boxes, cylinders, spheres, convex hulls; in the file's base-link frame, scaled) and
built by the very code that builds the built-in parts: the project's thin margin, and the
closed-form taxel rays (:mod:`tacrefine.sim.raycast`).

URDF primitives are used as they are. A mesh file (read by :mod:`tacrefine.sim.mesh_io`:
OBJ, STL, PLY, GLB / glTF, DAE, 3MF) gives pieces (an OBJ's objects / groups, a scene's
meshes), each used as its convex hull when convex (a V-HACD output stays its set of hulls)
and decomposed by CoACD otherwise (:mod:`tacrefine.sim.decompose`, cached on disk), so a hole
or a slot is felt as one.
Links joined by fixed joints become one rigid body. A file that cannot be rebuilt (a
movable joint, a capsule or plane, more than :data:`MAX_FILE_PIECES` pieces) is loaded by
PyBullet as before; :func:`file_shapes` says why.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet as pb
from scipy.spatial.transform import Rotation

from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.sim.decompose import DEFAULT_CONCAVITY, convex_pieces
from tacrefine.sim.mesh_io import MESH_SUFFIXES, read_mesh, unit_hint
from tacrefine.sim.objects import PART_SOURCES, ObjectSpec, PartSource, ShapePart

logger = logging.getLogger(__name__)

#: more pieces than this are left to PyBullet (a mesh that was never decomposed into hulls)
MAX_FILE_PIECES = 256
#: a mesh part's largest extent must lie in this range (metres), else its unit is likely wrong
MIN_EXTENT_M, MAX_EXTENT_M = 1e-3, 1.0


@dataclass(frozen=True)
class FileShapes:
    """A file's collision geometry as convex pieces (base-link frame, mm), or why not.

    Attributes:
        parts: the pieces; empty when the file cannot be rebuilt (``reason``).
        mass: the file's own total mass (kg; None for a mesh file).
        inertial_pose: the base link's inertial frame in its link frame (4x4, metres; at
            the centre of mass of all links). The file's inertia tensor is not kept.
        reason: why the file is loaded by PyBullet as it is ('' when rebuilt).
    """

    parts: tuple[ShapePart, ...]
    mass: float | None = None
    inertial_pose: np.ndarray | None = None
    reason: str = ""


def mesh_hulls(path: str | Path, scale: np.ndarray | float, where: str,
               concavity: float | None = None) -> list[np.ndarray]:
    """The convex pieces of a mesh file as vertex arrays (metres, scaled): each piece of the
    file (:mod:`tacrefine.sim.mesh_io`) as its hull when convex, else decomposed
    (:mod:`tacrefine.sim.decompose`); refused by name when bad."""
    mesh = read_mesh(path, where)
    where = f"{where}: mesh {str(path)!r}"
    hulls = []
    for piece in mesh.pieces:
        hulls.extend(h * np.asarray(scale, dtype=float)
                     for h in convex_pieces(piece, DEFAULT_CONCAVITY if concavity is None else concavity, where))
    return hulls


def _check_extent(spec: ObjectSpec) -> None:
    """Refuse a mesh part far too large or small for a hand (1 mm to 1 m), naming the unit that fits."""
    pieces = read_mesh(spec.mesh, f"objects.{spec.name}").pieces
    points = np.concatenate([p.vertices for p in pieces]) * spec.mesh_scale
    extent = float(np.ptp(points, axis=0).max())
    if not MIN_EXTENT_M <= extent <= MAX_EXTENT_M:
        raise ConfigError(f"objects.{spec.name}: mesh {spec.mesh!r} is {extent * 1000:.6g} mm across as read "
                          f"(mesh_scale x units = {spec.mesh_scale:g} m per file unit); allowed: "
                          f"{MIN_EXTENT_M * 1000:g} mm to {MAX_EXTENT_M * 1000:g} mm"
                          f"{unit_hint(extent, spec.mesh_scale)}")


def _hull_part(vertices_m: np.ndarray, pose: np.ndarray) -> ShapePart:
    moved = vertices_m @ pose[:3, :3].T + pose[:3, 3]
    return ShapePart("hull", vertices=tuple(tuple(float(round(v * 1000, 6)) for v in p) for p in moved))


def _primitive_part(kind: int, dims, pose: np.ndarray) -> ShapePart | None:
    position = tuple(float(round(v * 1000, 6)) for v in pose[:3, 3])
    with warnings.catch_warnings():  # at 90 deg of pitch any split of roll and yaw is the same turn
        warnings.simplefilter("ignore", UserWarning)
        rpy = tuple(float(v) for v in Rotation.from_matrix(pose[:3, :3]).as_euler("xyz", degrees=True))
    if kind == pb.GEOM_BOX:
        return ShapePart("box", tuple(float(d * 500) for d in dims[:3]), position, rpy)
    if kind == pb.GEOM_CYLINDER:
        return ShapePart("cylinder", (float(dims[1] * 1000), float(dims[0] * 1000)), position, rpy)
    if kind == pb.GEOM_SPHERE:
        return ShapePart("sphere", (float(dims[0] * 1000),), position, rpy)
    return None


_KIND_NAMES = {pb.GEOM_CAPSULE: "a capsule", pb.GEOM_PLANE: "a plane"}


def _urdf_shapes(spec: ObjectSpec) -> FileShapes:
    """Load the URDF in a private client and read every link's collision shapes."""
    from pybullet_utils.bullet_client import BulletClient

    from tacrefine.sim.world import _quiet_stdout  # PyBullet prints "argv[0]=" on connect

    for mesh in referenced_meshes(spec.urdf):
        if not mesh.is_file():
            raise ConfigError(f"objects.{spec.name} ({spec.urdf}): the URDF names mesh {str(mesh)!r}, which does "
                              f"not exist (mesh paths are relative to the URDF's folder)")
    with _quiet_stdout():
        client = BulletClient(connection_mode=pb.DIRECT)
    try:
        # implicit cylinders: PyBullet otherwise turns a URDF cylinder into a faceted hull
        body = client.loadURDF(spec.urdf, globalScaling=spec.mesh_scale, flags=pb.URDF_USE_IMPLICIT_CYLINDER)
        movable = [client.getJointInfo(body, j)[1].decode() for j in range(client.getNumJoints(body))
                   if client.getJointInfo(body, j)[2] != pb.JOINT_FIXED]
        if movable:
            return FileShapes((), reason=f"it has movable joints ({', '.join(movable)})")
        base_info = client.getDynamicsInfo(body, -1)
        inertial = geometry.make_pose(base_info[3], base_info[4])
        # the base link frame in the world, as loaded (PyBullet reports the inertial frame)
        link0 = geometry.make_pose(*client.getBasePositionAndOrientation(body)) @ geometry.invert(inertial)
        parts: list[ShapePart] = []
        masses, centres = [], []
        for link in range(-1, client.getNumJoints(body)):
            masses.append(client.getDynamicsInfo(body, link)[0])
            if link == -1:
                com = geometry.make_pose(*client.getBasePositionAndOrientation(body))
            else:
                state = client.getLinkState(body, link, computeForwardKinematics=1)
                com = geometry.make_pose(state[0], state[1])
            com_in_base = geometry.invert(link0) @ com
            centres.append(com_in_base[:3, 3])
            for shape in client.getCollisionShapeData(body, link):
                kind, dims, file = shape[2], shape[3], shape[4].decode(errors="replace")
                # the shape's frame is given relative to the link's inertial frame
                pose = com_in_base @ geometry.make_pose(shape[5], shape[6])
                if kind == pb.GEOM_MESH and Path(file).suffix.lower() not in MESH_SUFFIXES:
                    return FileShapes((), reason=f"its mesh {file!r} is none of {list(MESH_SUFFIXES)}")
                if kind == pb.GEOM_MESH:
                    where = f"objects.{spec.name} ({spec.urdf})"
                    hulls = mesh_hulls(file, np.asarray(dims), where, spec.concavity)
                    parts.extend(_hull_part(h, pose) for h in hulls)
                    continue
                part = _primitive_part(kind, dims, pose)
                if part is None:
                    return FileShapes((), reason=f"it holds {_KIND_NAMES.get(kind, f'shape type {kind}')}")
                parts.append(part)
        if len(masses) > 1 and sum(masses) > 0:  # links on fixed joints: one body, centre of mass of all
            inertial = inertial.copy()
            inertial[:3, 3] = np.average(centres, axis=0, weights=masses)
        return FileShapes(tuple(parts), mass=float(sum(masses)), inertial_pose=inertial)
    finally:
        client.disconnect()


def _read(spec: ObjectSpec) -> FileShapes:
    if spec.urdf is not None:
        try:
            return _urdf_shapes(spec)
        except pb.error:
            return FileShapes((), reason="PyBullet could not load it")  # reported when it is built
    _check_extent(spec)
    hulls = mesh_hulls(spec.mesh, spec.mesh_scale, f"objects.{spec.name}", spec.concavity)
    return FileShapes(tuple(_hull_part(h, np.eye(4)) for h in hulls), inertial_pose=np.eye(4))


@functools.lru_cache(maxsize=256)
def _cached(spec: ObjectSpec, stamp: tuple) -> FileShapes:
    shapes = _read(spec)
    if len(shapes.parts) > MAX_FILE_PIECES:
        return FileShapes((), reason=f"it has {len(shapes.parts)} convex pieces; at most {MAX_FILE_PIECES} are "
                                     f"rebuilt")
    return shapes


def _stamp(path: str | Path) -> tuple:
    """``(path, size, mtime_ns)`` of a file (``(path,)`` when it cannot be read): its version."""
    try:
        stat = os.stat(path)
    except OSError:
        return (str(path),)
    return (str(path), stat.st_size, stat.st_mtime_ns)


def referenced_meshes(urdf: str) -> list[Path]:
    """The mesh files a URDF names (``<mesh filename=...>``, relative to the URDF's folder, a
    ``package://`` or ``file://`` prefix dropped): the shape depends on them as on the URDF."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(urdf).getroot()
    except (OSError, ET.ParseError):
        return []
    out = []
    for mesh in root.iter("mesh"):
        name = re.sub(r"^(package|file)://", "", mesh.get("filename", ""))
        if name:
            out.append(Path(urdf).parent / name)
    return out


def file_shapes(spec: ObjectSpec) -> FileShapes:
    """The convex pieces of a part given by path (cached per version of the file and of the
    meshes a URDF names); see the module docstring."""
    path = spec.urdf if spec.urdf is not None else spec.mesh
    if path is None:
        raise ValueError(f"file_shapes: {spec.name!r} is built from parts, not from a file")
    meshes = referenced_meshes(spec.urdf) if spec.urdf is not None else []
    return _cached(spec, (_stamp(path), *(_stamp(m) for m in meshes)))


def _file_parts(spec: ObjectSpec) -> tuple[ShapePart, ...]:
    return file_shapes(spec).parts


PART_SOURCES.register("file", PartSource(shapes=_file_parts))
