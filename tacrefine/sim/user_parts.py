"""A user's part by path (URDF or a mesh file): checked, and what its grasp needs inferred from geometry.

The rule, applied to every field the user does not give (``docs/user_parts.md`` has it with
pictures in words):

1. **Rest pose.** The part is dropped onto a table in its file orientation and left to
   settle; the orientation it comes to rest in is the object's upright (z up). A part that
   does not come to rest is refused.
2. **Grasp height** (``grasp_height_mm``): the tool centre goes 1 mm below the part's top,
   so the top edge crosses the pads (what makes height and roll felt, as on the built-in
   parts); never lower than :data:`MIN_GRASP_HEIGHT_MM` above the table, where the
   fingertips would hit it.
3. **Closing axis and centre** (``frame_in_file``): the hand closes along the horizontal
   direction in which the part is narrowest over the heights the fingers sweep, centred on
   the part's top (on the middle of its extent across the pads, and of what lies under
   the pads along the closing axis).
4. **Thickness** (``thickness_mm``): the section's extent along the closing axis; the part
   fits when the open hand clears it (:func:`check_fits`).
5. **Class** (``category``) **and refined DoF** (``refined_dofs``): what the pads can feel
   (:mod:`tacrefine.sim.touch_class`): the DoF whose small move changes the pads' contact
   images are refined, and the class is the paper's class with exactly those DoF (a bar on
   supports whose turn about its axis is felt is a rod refining ``z, roll, pitch``); a part
   no wider than the pads (:data:`PAD_WIDTH_MM`) keeps the geometric class below and refines
   the felt ones of the jaw's ``y, z, roll``. Geometric class: ``rod`` when the section is
   round, ``disc`` when the part seen along the closing axis is round at the top, ``plate``
   when the section is at least twice as wide as thick, ``custom`` otherwise. An unclear
   class (its DoF differ from the felt ones) is logged.

Lengths the user gives (``grasp_height_mm``, ``thickness_mm``, the translation of
``frame_in_file``) are measured on the file as it is and scaled with ``mesh_scale``, like
the part itself. Every problem is a :class:`ConfigError` naming the file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pybullet as pb
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.transform import Rotation

from tacrefine import geometry
from tacrefine.config import ConfigError, require
from tacrefine.sim.measure_cache import cached_measure
from tacrefine.sim.mesh_io import MESH_SUFFIXES, read_mesh, unit_scale
from tacrefine.sim.objects import PART_SOURCES, ObjectSpec, PartSource
from tacrefine.sim.part_bodies import build_object, object_parts
from tacrefine.sim.raycast import convex_body_from_parts
from tacrefine.sim.touch_class import classify_part, say_unclear
from tacrefine.sim.world import World

#: the lowest grasp height: pads reach 8 mm below the tool centre, offsets move it 5 mm more
MIN_GRASP_HEIGHT_MM = 14.0
#: the tool centre sits this far below the part's top
TOP_MARGIN_MM = 1.0
#: the part's top: points this close below its highest point
TOP_BAND_MM = 1.5
#: the pads' width: a part narrower than this has its sideways position felt
PAD_WIDTH_MM = 16.0
#: half the pads' height (the band of the part they can touch)
PAD_HALF_MM = 8.0
#: taller than this, a part would reach the palm at the grasp height
MAX_HEIGHT_ABOVE_GRASP_MM = 45.0
#: half the fingers' width plus the largest sideways offset: the part's section the fingers sweep
FINGER_REACH_MM = 14.0
SETTLE_SECONDS = 4.0
RAY_PITCH_MM = 0.5
ALLOWED_FIELDS = ("name", "category", "urdf", "mesh", "mesh_scale", "mass", "friction", "grasp_height_mm",
                  "thickness_mm", "frame_in_file", "refined_dofs", "units", "concavity")


@dataclass(frozen=True)
class PartGeometry:
    """What the inference measured (object frame, mm)."""

    frame_in_file: tuple[float, ...]
    grasp_height_mm: float
    thickness_mm: float
    width_mm: float
    height_mm: float
    category: str
    refined_dofs: tuple[str, ...] | None = None
    #: why the class is unclear (empty when clear): said again when read from the cache
    touch_note: str = ""


def _from_cache(name: str, **fields: Any) -> PartGeometry:
    """A measurement read from the cache; an unclear class is said as when it was measured."""
    geometry_ = PartGeometry(**fields)
    say_unclear(name, geometry_.touch_note, tuple(geometry_.refined_dofs or ()))
    return geometry_


def _source(spec: ObjectSpec) -> str:
    return str(spec.urdf if spec.urdf is not None else spec.mesh)


def _load(world: World, spec: ObjectSpec) -> int:
    """Build the part in ``world``, turning PyBullet's terse failures into errors naming the file."""
    path = _source(spec)
    if spec.mesh is not None and Path(path).suffix.lower() not in MESH_SUFFIXES:
        raise ConfigError(f"objects.{spec.name}.mesh: {path!r} is not a mesh file; allowed: {list(MESH_SUFFIXES)}")
    try:
        body = build_object(world.client, spec)
    except pb.error as exc:
        kind = "URDF" if spec.urdf is not None else "mesh"
        raise ConfigError(f"objects.{spec.name}: {path!r} could not be loaded as a {kind} ({exc}); "
                          f"allowed: a readable URDF or mesh ({', '.join(MESH_SUFFIXES)}) file") from exc
    links = range(-1, world.client.getNumJoints(body))
    if not any(world.client.getCollisionShapeData(body, link) for link in links):
        raise ConfigError(f"objects.{spec.name}: {path!r} has no collision geometry; the hand cannot touch it")
    masses = [world.client.getDynamicsInfo(body, link)[0] for link in links]
    if min(masses) < 0:
        raise ConfigError(f"objects.{spec.name}: {path!r} has a negative link mass ({min(masses):g} kg); "
                          f"allowed: masses >= 0 with a positive total")
    if sum(masses) <= 0:
        raise ConfigError(f"objects.{spec.name}: {path!r} has zero mass (a fixed body); give it a mass")
    return body


def _settle(world: World, body: int, name: str, path: str) -> np.ndarray:
    """Drop the part onto the table and return its link pose at rest (refused if it never rests)."""
    c = world.client
    aabb_low = c.getAABB(body)[0][2]
    pos, quat = c.getBasePositionAndOrientation(body)
    c.resetBasePositionAndOrientation(body, [pos[0], pos[1], pos[2] - aabb_low + 1e-3], quat)
    calm = 0
    for _ in range(int(SETTLE_SECONDS / world.time_step)):
        c.stepSimulation()
        lin, ang = c.getBaseVelocity(body)
        calm = calm + 1 if np.linalg.norm(lin) < 2e-3 and np.linalg.norm(ang) < 5e-2 else 0
        if calm >= 24:
            break
    else:
        raise ConfigError(f"objects.{name}: {path!r} does not come to rest on a table within {SETTLE_SECONDS} s; "
                          f"give frame_in_file and grasp_height_mm for a pose it rests in")
    info = c.getDynamicsInfo(body, -1)
    base = geometry.make_pose(*c.getBasePositionAndOrientation(body))
    return base @ geometry.invert(geometry.make_pose(info[3], info[4]))


def _surface_points(world: World, body: int, spec: ObjectSpec) -> np.ndarray:
    """Points on the part's collision surface (world frame), from rays cast along +-x, +-y, +-z:
    against its exact convex pieces (as the taxels cast them) when it has them, else through
    the engine's ray test (which sees shapes inflated by their margin)."""
    c = world.client
    parts = object_parts(spec)
    exact = None
    if parts:
        info = c.getDynamicsInfo(body, -1)
        exact = convex_body_from_parts(parts, geometry.invert(geometry.make_pose(info[3], info[4])))
        base_pose = geometry.make_pose(*c.getBasePositionAndOrientation(body))
    low, high = np.array(c.getAABB(body)[0]), np.array(c.getAABB(body)[1])
    for link in range(c.getNumJoints(body)):
        low = np.minimum(low, c.getAABB(body, link)[0])
        high = np.maximum(high, c.getAABB(body, link)[1])
    low, high = low - 2e-3, high + 2e-3
    points = []
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        n_u = int(np.ceil((high[u] - low[u]) / (RAY_PITCH_MM / 1000))) + 1
        n_v = int(np.ceil((high[v] - low[v]) / (RAY_PITCH_MM / 1000))) + 1
        step = max(1, int(np.ceil(np.sqrt(n_u * n_v / 40000))))  # at most ~40k rays per direction
        gu, gv = np.meshgrid(np.linspace(low[u], high[u], n_u)[::step], np.linspace(low[v], high[v], n_v)[::step])
        start = np.zeros((gu.size, 3))
        start[:, u], start[:, v] = gu.ravel(), gv.ravel()
        for a, b in ((low[axis], high[axis]), (high[axis], low[axis])):
            frm, to = start.copy(), start.copy()
            frm[:, axis], to[:, axis] = a, b
            if exact is not None:
                frac = exact.first_hit(frm, to, base_pose)
                hit = np.isfinite(frac)
                points.extend(frm[hit] + frac[hit, None] * (to[hit] - frm[hit]))
                continue
            for i in range(0, len(frm), 8000):
                for hit in c.rayTestBatch(frm[i:i + 8000].tolist(), to[i:i + 8000].tolist()):
                    if hit[0] == body:
                        points.append(hit[3])
    return np.asarray(points, dtype=float).reshape(-1, 3)


def _is_round(points_2d: np.ndarray) -> bool:
    """The outline's convex hull fills about pi/4 of its bounding box (a circle, or a half circle
    in its half box), where a rectangle fills all of it and a triangle half."""
    if len(points_2d) < 8 or np.ptp(points_2d, axis=0).min() <= 0:
        return False
    try:
        area = ConvexHull(points_2d).volume
    except QhullError:
        return False
    return 0.70 <= area / np.prod(np.ptp(points_2d, axis=0)) <= 0.86


def _thinnest_direction(xy: np.ndarray) -> float:
    """Yaw (rad, in [-90, 90) deg) of the horizontal direction in which ``xy`` is narrowest (the
    closing axis); among near-ties (within 0.2 mm) the one nearest the file's x axis."""
    yaws = np.radians(np.arange(-90.0, 90.0, 2.0))
    dirs = np.stack([np.cos(yaws), np.sin(yaws)], axis=1)
    widths = np.ptp(xy @ dirs.T, axis=0)
    near = np.flatnonzero(widths <= widths.min() + 2e-4)
    return float(yaws[near[np.argmin(np.abs(yaws[near]))]])


def measure(spec: ObjectSpec, grasp_height_mm: float | None = None) -> PartGeometry:
    """Rest the part on a table in a private world and infer its grasp (module docstring).

    ``grasp_height_mm`` (object frame, scaled) replaces rule 2 when the user gives it.
    """
    world = World()
    try:
        body = _load(world, spec)
        link_at_rest = _settle(world, body, spec.name, _source(spec))
        world.client.removeBody(world.table)  # rays from below must reach the part's underside
        pts = _surface_points(world, body, spec)
    finally:
        world.close()
    if len(pts) < 20:
        raise ConfigError(f"objects.{spec.name}: {_source(spec)!r}: rays found almost no surface; the part is "
                          f"smaller than {RAY_PITCH_MM} mm or has no closed collision geometry")
    bottom, top = pts[:, 2].min(), pts[:, 2].max()
    height_mm = (top - bottom) * 1000
    if grasp_height_mm is None:
        grasp_height_mm = max(height_mm - TOP_MARGIN_MM, MIN_GRASP_HEIGHT_MM)
    grasp_z = bottom + grasp_height_mm / 1000
    pad_zone = pts[np.abs(pts[:, 2] - grasp_z) <= PAD_HALF_MM / 1000]  # what the pads can touch
    if len(pad_zone) < 8:
        raise ConfigError(f"objects.{spec.name}: {_source(spec)!r} is {height_mm:.1f} mm tall; nothing of it lies "
                          f"at the grasp height {grasp_height_mm:.1f} mm; give grasp_height_mm")
    # centre on the part's top (what the pads meet first, 1 mm below it), not on the middle of
    # a wide band: a slanted or saddle-shaped top may lie far from the band's middle
    zone_top = pad_zone[:, 2].max()  # the part's top, or the pads' upper edge on a taller part
    near_top = pad_zone[pad_zone[:, 2] >= zone_top - TOP_BAND_MM / 1000][:, :2]
    top_centre = (near_top.min(axis=0) + near_top.max(axis=0)) / 2
    xy = pad_zone[:, :2]
    yaw = _thinnest_direction(pts[pts[:, 2] >= grasp_z - (PAD_HALF_MM + 5.0) / 1000][:, :2])
    rot = Rotation.from_euler("z", yaw).as_matrix()[:2, :2]
    top_local = (near_top - top_centre) @ rot
    local = (xy - top_centre) @ rot  # columns: along the closing axis, across it
    across = (top_local[:, 1].min() + top_local[:, 1].max()) / 2
    under_pads = local[np.abs(local[:, 1] - across) <= PAD_WIDTH_MM / 2000]
    along = (under_pads[:, 0].min() + under_pads[:, 0].max()) / 2 if len(under_pads) else 0.0
    centre = top_centre + rot @ np.array([along, across])
    local = (xy - centre) @ rot
    width_mm = float(np.ptp(local[:, 1]) * 1000)
    # the opening must clear everything the fingers sweep: their width plus a sideways offset,
    # from below their tips (with a downward offset) up to the top
    swept = pts[pts[:, 2] >= grasp_z - (PAD_HALF_MM + 5.0) / 1000][:, :2]
    swept = (swept - centre) @ rot
    swept = swept[np.abs(swept[:, 1]) <= FINGER_REACH_MM / 1000]
    if not len(swept):  # a part whose outline leaves the fingers' path empty (random_urdfs/769)
        raise ConfigError(f"objects.{spec.name}: {_source(spec)!r}: nothing of it lies between the fingers at the "
                          f"grasp height {grasp_height_mm:.1f} mm; give frame_in_file and grasp_height_mm for a "
                          f"grasp")
    thickness_mm = float(2 * np.abs(swept[:, 0]).max() * 1000)
    # the object frame in the world: on the table under the section's centre, x = closing axis
    object_world = np.eye(4)
    object_world[:3, :3] = Rotation.from_euler("z", yaw).as_matrix()
    object_world[:3, 3] = [centre[0], centre[1], bottom]
    frame = geometry.invert(link_at_rest) @ object_world
    euler = Rotation.from_matrix(frame[:3, :3]).as_euler("xyz", degrees=True)
    frame_in_file = tuple(float(v) for v in np.concatenate([frame[:3, 3] * 1000, euler]))
    touch = classify_part(spec, link_at_rest, object_world, pts, float(grasp_height_mm),
                          _classify(pts, object_world, thickness_mm, width_mm, local), width_mm < PAD_WIDTH_MM)
    return PartGeometry(frame_in_file, float(grasp_height_mm), thickness_mm, width_mm, height_mm, touch.category,
                        touch.refined_dofs, touch.reason)


def _classify(pts: np.ndarray, object_world: np.ndarray, thickness_mm: float, width_mm: float,
              section: np.ndarray) -> str:
    """Rule 5 of the module docstring."""
    if thickness_mm > 0.75 * width_mm and _is_round(section):
        return "rod"
    in_object = (pts - object_world[:3, 3]) @ object_world[:3, :3]
    top = in_object[:, 2].max()
    cap = in_object[in_object[:, 2] >= top - width_mm / 2000]
    if width_mm >= thickness_mm and _is_round(cap[:, 1:]):
        return "disc"
    if width_mm >= 2 * thickness_mm:
        return "plate"
    return "custom"


def check_fits(spec: ObjectSpec, max_opening_mm: float, clearance_mm: float) -> None:
    """Refuse a part wider along the closing axis than the open hand clears (both sizes named)."""
    needed = spec.thickness_mm / 2 + clearance_mm + 2.0  # how far each finger opens before a grasp
    if needed > max_opening_mm:
        largest = 2 * (max_opening_mm - clearance_mm - 2.0)
        source = f" ({_source(spec)})" if spec.urdf or spec.mesh else ""
        hint = ""
        if spec.mesh is not None and 0 < spec.thickness_mm / 1000 <= largest:
            hint = " (1,000 times too thick: if the file is in millimetres, give units: mm / --units mm)"
        raise ConfigError(f"objects.{spec.name}{source}: {spec.thickness_mm:.1f} mm thick along the closing axis; "
                          f"the hand takes parts up to {largest:.1f} mm (fingers open {max_opening_mm:.1f} mm "
                          f"each){hint}; scale the part down (mesh_scale) or grasp it elsewhere")


def resolve_user_part(data: Mapping[str, Any]) -> ObjectSpec:
    """An :class:`ObjectSpec` from a user mapping, with missing grasp fields inferred."""
    require(isinstance(data, Mapping) and "name" in data, "objects[]", "a mapping with at least 'name'", data)
    data = dict(data)
    name = data["name"]
    unknown = sorted(set(data) - set(ALLOWED_FIELDS))
    if unknown:
        raise ConfigError(f"objects.{name}.{unknown[0]}: unknown field; allowed: {sorted(ALLOWED_FIELDS)}")
    scale = data.get("mesh_scale", 1.0)
    source = data.get("urdf", data.get("mesh"))
    ok = isinstance(scale, (int, float)) and not isinstance(scale, bool) and np.isfinite(scale) and scale > 0
    require(ok, f"objects.{name}.mesh_scale" + (f" ({source})" if source else ""), "a finite number > 0", scale)
    units = data.pop("units", None)
    if units is not None and "mesh" not in data:
        raise ConfigError(f"objects.{name}.units: only a mesh part has units (a URDF is in metres; scale its "
                          f"meshes with <mesh scale=...>)")
    mesh_path = Path(data["mesh"]) if isinstance(data.get("mesh"), str) else None
    if units is None and mesh_path and mesh_path.suffix.lower() in MESH_SUFFIXES and mesh_path.is_file():
        units = read_mesh(data["mesh"], f"objects.{name}").declared_units  # a 3MF / DAE file's own unit
    if "mesh" in data:  # the file's lengths in metres: units, then the user's scale
        data["mesh_scale"] = scale * unit_scale(units or "m", f"objects.{name}.units ({source})")
    if "frame_in_file" in data:
        data["frame_in_file"] = tuple(float(v) for v in data["frame_in_file"])
    given = {k: data.pop(k) for k in ("grasp_height_mm", "thickness_mm", "category", "frame_in_file") if k in data}
    plain = ObjectSpec(**{"category": "custom", **data})  # validates names, numbers, paths
    if plain.parts:
        return plain
    for key in ("grasp_height_mm", "thickness_mm"):
        if key in given:
            require(isinstance(given[key], (int, float)) and given[key] > 0, f"objects.{name}.{key}",
                    "a finite number > 0 (mm, on the unscaled file)", given[key])
    if "frame_in_file" in given:
        frame = list(given["frame_in_file"])
        require(len(frame) == 6, f"objects.{name}.frame_in_file", "six numbers", frame)
        frame[:3] = [v * scale for v in frame[:3]]
        measured = None
    else:
        height = given["grasp_height_mm"] * scale if "grasp_height_mm" in given else None
        measured = cached_measure(plain, height, measure, functools.partial(_from_cache, plain.name))
        frame = [round(v, 4) for v in measured.frame_in_file]
    fields: dict[str, Any] = {"frame_in_file": tuple(frame)}
    for key in ("grasp_height_mm", "thickness_mm"):
        if key in given:
            fields[key] = float(given[key]) * scale
        elif measured is not None:
            fields[key] = round(getattr(measured, key), 3)
    if "category" in given:
        fields["category"] = given["category"]
    elif measured is not None:
        fields["category"] = measured.category
        if "refined_dofs" not in data:  # what the pads can feel (tacrefine.sim.touch_class)
            fields["refined_dofs"] = measured.refined_dofs
    return ObjectSpec(**{**data, "category": "custom", **fields})


PART_SOURCES.register("user part", PartSource(from_mapping=resolve_user_part))
