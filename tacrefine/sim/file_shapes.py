"""A user's URDF or mesh file as convex pieces, so it is built like a built-in part.

Why: PyBullet builds a URDF's shapes with a 1 mm collision margin that ``changeDynamics``
cannot reach (the shapes sit inside a compound per link), and a hull loaded from a file
keeps up to ~1.7 mm for ray tests. A 5 mm wedge then touches the fingers as if it were
7 mm thick, and the taxel rays see rounded edges: the same part felt differently by path
than built in. So a part given by path is read into :class:`~tacrefine.sim.objects.ShapePart`
pieces (boxes, cylinders, spheres, convex hulls; in the file's base-link frame, scaled) and
built by the very code that builds the built-in parts: the project's thin margin, and the
closed-form taxel rays (:mod:`tacrefine.sim.raycast`).

What a piece is follows PyBullet's own reading of the file: URDF primitives as they are;
an OBJ mesh is one convex hull per object or group in it (``o`` / ``g``, as PyBullet's
importer does: a V-HACD decomposition stays a set of hulls), an STL mesh one hull.
Links joined by fixed joints become one rigid body. A file that cannot be rebuilt (a
movable joint, a capsule or plane, more than :data:`MAX_FILE_PIECES` pieces) is loaded by
PyBullet as before; :func:`file_shapes` says why.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet as pb
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.transform import Rotation

from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.sim.objects import PART_SOURCES, ObjectSpec, PartSource, ShapePart

#: more pieces than this are left to PyBullet (a mesh that was never decomposed into hulls)
MAX_FILE_PIECES = 256


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


def _read_obj_groups(path: Path) -> list[np.ndarray]:
    """Vertices used by faces, one array per object or group (``o`` / ``g``) of an OBJ file."""
    vertices: list[list[float]] = []
    groups: list[list[int]] = [[]]
    for line in path.read_text(errors="replace").splitlines():
        head, _, rest = line.strip().partition(" ")
        if head == "v":
            vertices.append([float(v) for v in rest.split()[:3]])
        elif head in ("o", "g"):
            if groups[-1]:
                groups.append([])
        elif head == "f":
            for token in rest.split():
                index = int(token.split("/")[0])
                groups[-1].append(index - 1 if index > 0 else len(vertices) + index)
    verts = np.asarray(vertices, dtype=float).reshape(-1, 3)
    return [verts[sorted(set(g))] for g in groups if g]


def _read_stl(path: Path) -> np.ndarray:
    """Every vertex of an STL file (binary or ASCII)."""
    data = path.read_bytes()
    if len(data) >= 84:
        count = int(np.frombuffer(data[80:84], dtype="<u4")[0])
        if 84 + 50 * count == len(data):
            record = np.dtype([("normal", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
            return np.frombuffer(data, dtype=record, count=count, offset=84)["v"].reshape(-1, 3).astype(float)
    numbers = re.findall(rb"vertex\s+(\S+)\s+(\S+)\s+(\S+)", data)
    return np.asarray(numbers, dtype=float).reshape(-1, 3)


def mesh_hulls(path: str | Path, scale: np.ndarray | float, where: str) -> list[np.ndarray]:
    """The convex pieces of a mesh file as vertex arrays (metres, scaled); refused by name if empty."""
    path = Path(path)
    try:
        groups = _read_obj_groups(path) if path.suffix.lower() == ".obj" else [_read_stl(path)]
    except (OSError, ValueError, IndexError) as exc:
        raise ConfigError(f"{where}: mesh {str(path)!r} could not be read ({exc}); "
                          f"allowed: an OBJ or STL file") from exc
    hulls = []
    for verts in groups:
        verts = verts * np.asarray(scale, dtype=float)
        try:
            hull = ConvexHull(verts)
        except (QhullError, ValueError):
            continue  # flat or degenerate piece: no volume to touch (PyBullet's hull is as thin)
        hulls.append(verts[hull.vertices])
    if not hulls:
        raise ConfigError(f"{where}: mesh {str(path)!r} has no piece with a volume (no faces, or flat); "
                          f"the hand cannot touch it")
    return hulls


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
                if kind == pb.GEOM_MESH and Path(file).suffix.lower() not in (".obj", ".stl"):
                    return FileShapes((), reason=f"its mesh {file!r} is neither OBJ nor STL")
                if kind == pb.GEOM_MESH:
                    where = f"objects.{spec.name} ({spec.urdf})"
                    parts.extend(_hull_part(h, pose) for h in mesh_hulls(file, np.asarray(dims), where))
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
    hulls = mesh_hulls(spec.mesh, spec.mesh_scale, f"objects.{spec.name}")
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
