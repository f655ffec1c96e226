"""Vectorised ray casting against convex primitives (box, cylinder, sphere, convex hull).

The tactile pads need one short ray per taxel per reading. For objects built from convex
primitives (every built-in object) the intersections have closed forms, evaluated here for
all rays at once in NumPy: several times faster than a round trip through the engine's
ray test, and bit-for-bit independent of the engine's broadphase. Objects loaded from
URDF or mesh files keep using the engine's ray test (see :class:`TactileSensor`). Both
paths agree on the built-in objects, which the tests check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

_EPS = 1e-12
#: a face whose normal is this close to perpendicular to the rays counts as an outline face
_SIDE_COS = 0.25
#: parts whose faces lie this close along the ray (fraction) count as one surface
_SAME_FACE = 0.02
#: rays whose directions agree this closely (|cos|) share one outline (one pad, or opposed pads)
_PARALLEL_COS = 1 - 1e-6
#: rounding allowance (m) of :meth:`ConvexPart.clear_of`: far above the ~1e-16 m of the
#: transforms and intersections, far below half a taxel
_CLEAR_MARGIN = 1e-6
#: outward normals of a cylinder's end caps (its axis is z)
_CAP_NORMALS = np.array([[0, 0, 1.0], [0, 0, -1.0]])
_CAP_NORMALS.flags.writeable = False


# Reductions of the (rays, few) arrays below. NumPy's ``a.max(axis=1)`` and kin loop over
# every row of a handful of values, and ``a.min(axis=0)`` over the few values of every row
# too (about 20 us for 500 rays, several per part and reading); the same reduction of the
# transposed copy, or the columns added in turn, is one vectorised pass per column (a few
# us). Exact: max, min and any compare the same values (a tie between 0.0 and -0.0 could
# keep the other zero, which no later step tells apart: they are compared, clipped, scaled
# and added to non-zero values); the sums add the columns left to right as NumPy's row sum
# does, and ``tests/test_raycast.py`` checks every helper against NumPy's own reduction.
def row_max(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=1)``."""
    return np.ascontiguousarray(a.T).max(axis=0)


def row_min(a: np.ndarray, initial: float | None = None) -> np.ndarray:
    """``a.min(axis=1)`` (with ``initial`` as NumPy's, for rows of no values)."""
    columns = np.ascontiguousarray(a.T)
    return columns.min(axis=0) if initial is None else columns.min(axis=0, initial=initial)


def _distance_to_box(point: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """``np.linalg.norm(np.clip(point, lo, hi) - point)`` without the wrappers' overhead: the
    same clamp (a zero's sign aside, which squaring drops) and NumPy's own ``sqrt(x.dot(x))``."""
    offset = np.minimum(np.maximum(point, lo), hi) - point
    return math.sqrt(offset.dot(offset))


def column_min(a: np.ndarray) -> np.ndarray:
    """``a.min(axis=0)`` of a tall array (many rays, few coordinates)."""
    return np.ascontiguousarray(a.T).min(axis=1)


def column_max(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=0)`` of a tall array (many rays, few coordinates)."""
    return np.ascontiguousarray(a.T).max(axis=1)


def row_any(a: np.ndarray) -> np.ndarray:
    """``a.any(axis=1)``."""
    return np.ascontiguousarray(a.T).any(axis=0)


def row_sum(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=1)`` for 1 to 3 columns: ``(a0 + a1) + a2``, NumPy's order for so few."""
    if not 1 <= a.shape[1] <= 3:
        return a.sum(axis=1)
    out = a[:, 0].copy()
    for j in range(1, a.shape[1]):
        out += a[:, j]
    return out


def row_norms(a: np.ndarray) -> np.ndarray:
    """``np.linalg.norm(a, axis=1)`` for 1 to 3 columns (the square root of :func:`row_sum` of squares)."""
    return np.sqrt(row_sum(a * a))


class ConvexPart:
    """One convex piece in its body's frame; :meth:`interval` clips rays against it."""

    def __init__(self, kind: str, pose: np.ndarray, size: Sequence[float] = (),
                 vertices: np.ndarray | None = None) -> None:
        self.kind = kind
        self.rot_t = pose[:3, :3].T.copy()  # body -> part
        self.pos = pose[:3, 3].copy()
        self.size = np.asarray(size, dtype=float)
        centre, self.radius = _bounding_sphere(kind, self.size, vertices)
        #: centre of a sphere of ``radius`` that holds the part (body frame; for culling rays)
        self.centre = self.pos + pose[:3, :3] @ centre
        #: half extents of the part's bounding box in its own frame; None for hulls (see :meth:`clear_of`)
        self.half_extents: np.ndarray | None = None
        if kind == "box":
            self.half_extents = self.size
        elif kind == "cylinder":
            self.half_extents = np.array([self.size[0], self.size[0], self.size[1] / 2])
        elif kind == "sphere":
            self.half_extents = np.full(3, self.size[0])
        if kind == "box":
            h = self.size
            self.normals = np.vstack([np.eye(3), -np.eye(3)])
            self.offsets = np.concatenate([h, h])
        elif kind == "hull":
            eq = ConvexHull(vertices).equations  # n . x + c <= 0 inside
            # a flat face comes as several triangles: one plane each is enough
            _, first = np.unique(np.round(eq, 9), axis=0, return_index=True)
            eq = eq[np.sort(first)]
            self.normals, self.offsets = eq[:, :3], -eq[:, 3]
        elif kind not in ("cylinder", "sphere"):
            raise ValueError(f"unsupported convex part {kind!r}")

    def clear_of(self, corners: np.ndarray, margin: float) -> bool:
        """True when the box with ``corners`` (body frame, ``(8, 3)``) lies more than ``margin``
        outside the part's bounding box along one of the part's own axes.

        Then no ray inside that box reads the part, so :meth:`ConvexBody.covered_hit` may skip
        it with ``margin`` = half a taxel (plus a micrometre for rounding). Why, for every ray
        point ``p`` the reading uses (on the segment, so inside the box), ``|p_i| > h_i +
        taxel/2`` on that axis ``i``: a box's axis ``i`` is either a face pair the ray must
        cross (then ``|p_i| <= h_i`` for any crossing ray: it crosses nothing) or an outline
        pair (then ``lateral <= h_i - |p_i| < -taxel/2``: coverage 0); a cylinder or sphere
        read through its surface holds ``p`` inside it (inside the box), and read through its
        outline (a disc's rim, a rod's ends) has ``lateral`` below ``-taxel/2`` the same way.
        Hulls have no such bound (a sharp vertex's outline reaches beyond its box): never skipped.
        """
        if self.half_extents is None:
            return False
        local = (corners - self.pos) @ self.rot_t.T
        return bool((column_min(local) > self.half_extents + margin).any()
                    or (column_max(local) < -self.half_extents - margin).any())

    def footprint(self, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each ray meets the part's face, and how far inside the part's outline it is.

        Returns ``(t, lateral)``: the entry parameter through the faces the ray crosses
        (``inf`` if it misses them) and the signed distance in metres from the ray to the
        part's outline as seen along the ray (positive inside). Faces nearly parallel to
        the ray form the outline; that distance is what lets a taxel that an edge crosses
        read in proportion to the part of it the object covers.
        """
        o = (origins - self.pos) @ self.rot_t.T
        d = dirs @ self.rot_t.T
        unit = d / row_norms(d)[:, None]
        groups = _direction_groups(unit)
        if len(groups) == 1:
            return self._footprint_parallel(o, d, unit)
        # every pad casts along its own normal: the outline depends on the direction
        t, lateral = np.empty(len(o)), np.empty(len(o))
        for idx in groups:
            t[idx], lateral[idx] = self._footprint_parallel(o[idx], d[idx], unit[idx])
        return t, lateral

    def _footprint_parallel(self, o: np.ndarray, d: np.ndarray, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`footprint` for rays in the part frame that are all parallel or antiparallel."""
        if self.kind in ("box", "hull"):
            side = np.abs(self.normals @ unit[0]) < _SIDE_COS
            # a needle-like piece along the rays may have no face turned to them (its tip is
            # sharper than the outline test): then its depth comes from every face
            front = ~side
            if not front.any():
                front = np.ones_like(side)
            t0, t1 = _planes(o, d, self.normals[front], self.offsets[front])
            at = o + np.clip(t0, 0, 1)[:, None] * d
            lateral = row_min(self.offsets[side] - at @ self.normals[side].T, initial=np.inf)
        elif self.kind == "sphere":
            t0, t1 = _quadric(o, d, float(self.size[0]), dims=3)
            lateral = np.where(t0 <= t1, np.inf, -np.inf)
        else:  # a cylinder: only the intersections its outline case needs are computed
            along = np.abs(unit[:, 2])
            if along.min() > 1 - _SIDE_COS:  # axis along the rays (a disc face-on): round outline
                t0, t1 = self._caps(o, d)
                at = o + np.clip(t0, 0, 1)[:, None] * d
                lateral = float(self.size[0]) - row_norms(at[:, :2])
            elif along.max() < _SIDE_COS:  # axis across the rays (a rod): the caps are the outline
                t0, t1 = _quadric(o, d, float(self.size[0]), dims=2)
                at = o + np.clip(t0, 0, 1)[:, None] * d
                lateral = self.size[1] / 2 - np.abs(at[:, 2])
            else:  # oblique: no outline estimate, hit or miss only
                q0, q1 = _quadric(o, d, float(self.size[0]), dims=2)
                z0, z1 = self._caps(o, d)
                t0, t1 = np.maximum(q0, z0), np.minimum(q1, z1)
                lateral = np.where(t0 <= t1, np.inf, -np.inf)
        crosses = (t0 <= t1) & (t1 >= 0) & (t0 <= 1)
        return np.where(crosses, np.clip(t0, 0, None), np.inf), lateral

    def _caps(self, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A cylinder's slab between its end caps (planes z = +-length / 2)."""
        return _planes(o, d, _CAP_NORMALS, np.full(2, self.size[1] / 2))

    def interval(self, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entry and exit parameters ``t`` of rays ``o + t d`` (body frame); empty where entry > exit."""
        o = (origins - self.pos) @ self.rot_t.T
        d = dirs @ self.rot_t.T
        if self.kind in ("box", "hull"):
            return _planes(o, d, self.normals, self.offsets)
        if self.kind == "sphere":
            return _quadric(o, d, float(self.size[0]), dims=3)
        t0, t1 = _quadric(o, d, float(self.size[0]), dims=2)
        z0, z1 = self._caps(o, d)
        return np.maximum(t0, z0), np.minimum(t1, z1)


def _direction_groups(unit: np.ndarray) -> list[np.ndarray]:
    """Indices of rays that share a line direction (parallel or antiparallel), one array per
    direction in order of first appearance; a pad's rays form one group."""
    groups = []
    left = np.arange(len(unit))
    while len(left):
        same = np.abs(unit[left] @ unit[left[0]]) > _PARALLEL_COS
        groups.append(left[same])
        left = left[~same]
    return groups


def _bounding_sphere(kind: str, size: np.ndarray, vertices: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Centre (part frame) and radius of a sphere that contains the part (for culling)."""
    if kind == "box":
        return np.zeros(3), float(np.linalg.norm(size))
    if kind == "sphere":
        return np.zeros(3), float(size[0])
    if kind == "cylinder":
        return np.zeros(3), float(np.hypot(size[0], size[1] / 2))
    centre = (vertices.min(axis=0) + vertices.max(axis=0)) / 2
    return centre, float(np.linalg.norm(vertices - centre, axis=1).max())


def _planes(o: np.ndarray, d: np.ndarray, normals: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intersection of the rays with the half-spaces ``n . x <= c``."""
    num = offsets[None, :] - o @ normals.T  # >= 0 where the origin is inside a plane
    den = d @ normals.T
    parallel = np.abs(den) < _EPS
    along_a_plane = parallel.any()  # rare: only then can den be 0 (and a ray lie outside a plane it never crosses)
    if along_a_plane:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = num / den
    else:
        t = num / den
    enter = np.where(den < -_EPS, t, -np.inf)
    leave = np.where(den > _EPS, t, np.inf)
    t0, t1 = row_max(enter), row_min(leave)
    if along_a_plane:
        t0[row_any(parallel & (num < 0))] = np.inf
    return t0, t1


def _quadric(o: np.ndarray, d: np.ndarray, radius: float, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Intersection with a sphere (dims=3) or an infinite z-aligned cylinder (dims=2)."""
    o, d = o[:, :dims], d[:, :dims]
    a = row_sum(d * d)
    b = 2 * row_sum(o * d)
    c = row_sum(o * o) - radius * radius
    disc = b * b - 4 * a * c
    safe_a = np.where(a > _EPS, a, 1.0)
    root = np.sqrt(np.clip(disc, 0, None))
    t0 = np.where(disc >= 0, (-b - root) / (2 * safe_a), np.inf)
    t1 = np.where(disc >= 0, (-b + root) / (2 * safe_a), -np.inf)
    # rays parallel to a cylinder's axis: inside for all t or never
    axial = a <= _EPS
    t0 = np.where(axial, np.where(c <= 0, -np.inf, np.inf), t0)
    t1 = np.where(axial, np.where(c <= 0, np.inf, -np.inf), t1)
    return t0, t1


class ConvexBody:
    """A rigid body made of convex parts; casts many rays at once."""

    def __init__(self, parts: Sequence[ConvexPart]) -> None:
        self.parts = list(parts)

    def first_hit(self, origins: np.ndarray, ends: np.ndarray, body_pose: np.ndarray) -> np.ndarray:
        """Hit fraction along each world-frame segment ``origin -> end`` (``inf`` = miss).

        A segment that starts inside the body hits at fraction 0, as the engine's ray test does.
        """
        rot, pos = body_pose[:3, :3], body_pose[:3, 3]
        o = (origins - pos) @ rot
        d = (ends - origins) @ rot
        best = np.full(len(o), np.inf)
        lo, hi = np.minimum(o, o + d).min(axis=0), np.maximum(o, o + d).max(axis=0)
        length2 = np.maximum((d * d).sum(axis=1), _EPS)
        for part in self.parts:
            if np.linalg.norm(np.clip(part.centre, lo, hi) - part.centre) > part.radius:
                continue  # the whole bundle of rays passes far from this part
            # only the segments that pass within the part's bounding sphere can hit it
            along = np.clip(((part.centre - o) * d).sum(axis=1) / length2, 0.0, 1.0)
            near = np.flatnonzero(np.linalg.norm(o + along[:, None] * d - part.centre, axis=1) <= part.radius)
            if not len(near):
                continue
            t0, t1 = part.interval(o[near], d[near])
            hit = (t0 <= t1) & (t1 >= 0) & (t0 <= 1)
            best[near] = np.where(hit, np.minimum(best[near], np.clip(t0, 0, None)), best[near])
        return best


    def covered_hit(self, origins: np.ndarray, ends: np.ndarray, body_pose: np.ndarray,
                    taxel_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Hit fraction of each segment and the share of its taxel (width ``taxel_m``) that
        the object covers, estimated from the distance to the outline (a straight edge
        across a square taxel: ``0.5 + distance / width``, clipped to [0, 1])."""
        rot, pos = body_pose[:3, :3], body_pose[:3, 3]
        o = (origins - pos) @ rot
        d = (ends - origins) @ rot
        lo, hi = column_min(np.minimum(o, o + d)), column_max(np.maximum(o, o + d))
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        ts, covers = [], []
        for part in self.parts:
            if _distance_to_box(part.centre, lo, hi) > part.radius + taxel_m:
                continue
            # exact: a part that no ray can read contributes t = inf and coverage 0, as if computed
            if part.clear_of(corners, taxel_m / 2 + _CLEAR_MARGIN):
                continue
            t, lateral = part.footprint(o, d)
            ts.append(t)
            covers.append(np.where(np.isfinite(t), np.clip(0.5 + lateral / taxel_m, 0.0, 1.0), 0.0))
        if not ts:
            return np.full(len(o), np.inf), np.zeros(len(o))
        t_all, c_all = np.stack(ts), np.stack(covers)
        t_all = np.where(c_all > 0, t_all, np.inf)
        best = t_all.min(axis=0)
        same = np.isfinite(t_all) & (t_all <= best + _SAME_FACE)  # abutting parts (a T's bar and stem) add up
        coverage = np.minimum(1.0, np.where(same, c_all, 0.0).sum(axis=0))
        return best, np.where(np.isfinite(best), coverage, 0.0)


def convex_body_from_parts(parts: Sequence, frame: np.ndarray | None = None) -> ConvexBody:
    """Build from :class:`tacrefine.sim.objects.ShapePart` (mm, degrees) into metres.

    ``frame``: the parts' frame in the body frame the rays are cast in (PyBullet's base
    frame is the inertial frame; default: the same frame).
    """
    out = []
    for p in parts:
        pose = np.eye(4)
        pose[:3, :3] = Rotation.from_euler("xyz", np.radians(p.rpy_deg)).as_matrix()
        pose[:3, 3] = np.asarray(p.position) / 1000.0
        if frame is not None:
            pose = frame @ pose
        size = np.asarray(p.size, dtype=float) / 1000.0
        verts = np.asarray(p.vertices, dtype=float) / 1000.0 if p.kind == "hull" else None
        out.append(ConvexPart(p.kind, pose, size, verts))
    return ConvexBody(out)
