"""PyBullet bodies from part specs: one rigid body of convex pieces, felt by the sensors."""

from __future__ import annotations

import os
from collections.abc import Hashable

import numpy as np
import pybullet as pb

from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.sim.mesh_cache import _hull_mesh_file
from tacrefine.sim.objects import (
    COLLISION_MARGIN_M,
    DEFAULT_MASS_KG,
    MAX_PIECES,
    PART_SOURCES,
    ObjectSpec,
    ShapePart,
)
from tacrefine.sim.world import SENSED_GROUP


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
    """The convex pieces ``spec`` is built from: its own, or those the part source that reads
    its file gives (:mod:`tacrefine.sim.file_shapes`); empty for a file PyBullet must load as it is."""
    if spec.parts:
        return spec.parts
    for source in PART_SOURCES.items():
        if source[1].shapes is not None:
            return source[1].shapes(spec)
    return ()


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
