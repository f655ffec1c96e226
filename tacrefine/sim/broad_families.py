"""More procedural families: the shapes the first families lack (issue 17, item 4).

The first families (:mod:`.families`) make rods, plates, discs and convex or stacked
blocks. A policy trained on them alone turns a hexagon's small roll error into a large one
and is lost on cross-shaped or lobed parts. These families add, registered like the others
(a part is a pure function of ``<family>-<seed>``; every older family is unchanged):

for the parallel jaw (a feature on the 30 x 30 mm base, under the 16 mm pads):

* ``polygons`` -- regular 5-, 6- and 8-gons on a post, at any phase;
* ``arms`` -- non-convex outlines: a hub with 2-5 arms, or 2-5 round lobes;
* ``steps`` -- columns of different heights side by side (stepped tops, slanted or flat);
* ``slants`` -- tops slanted by 8-40 deg, asymmetric roofs, slanted blocks on a narrower stem;
* ``frames`` -- holes: polygonal rings on a post, forks with two or three prongs;
* ``sections`` -- upright posts whose section is not round (square, rectangle, triangle,
  hexagon, octagon, ellipse) at any yaw, with a flat or slanted top;

for the three-finger hand (the paper's kinds at real-world sizes, :mod:`.paper_objects`):

* ``section_rods`` -- rods whose section is not round: turning about the axis is felt, so
  they refine ``z, roll, pitch`` (a round rod refines ``z, roll``);
* ``feature_plates`` -- plates whose top edge is stepped, crenellated, lobed, or has two windows;
* ``feature_discs`` -- polygonal discs, discs with a flat or a notch on top (the turn about
  their axis is felt: ``y, z, roll, pitch``) and washers (a hole: ``y, z, pitch``).

Every jaw part keeps its outline within +-7.5 mm of the pads' centre line (the pads are
16 mm wide) and below 10 mm along the closing axis.
"""

from __future__ import annotations

import math

import numpy as np

from tacrefine.sim.family_registry import _box_yz, _jaw_spec, family
from tacrefine.sim.objects import FEATURE_BOTTOM_MM, ObjectSpec, ShapePart, _extrusion, _feature_box

#: half the widest jaw outline (mm): inside the 16 mm pads
JAW_HALF_SPAN_MM = 7.5
Outline = list[tuple[float, float]]


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _polygon(n: int, radius: float, phase: float, cy: float = 0.0, cz: float = 0.0) -> Outline:
    """``n`` corners on a circle in the y-z plane, the first ``phase`` rad from straight up."""
    return [(cy + radius * math.sin(phase + 2 * math.pi * k / n), cz + radius * math.cos(phase + 2 * math.pi * k / n))
            for k in range(n)]


def _bar(a: tuple[float, float], b: tuple[float, float], width: float) -> Outline:
    """A rectangle of ``width`` from point ``a`` to point ``b`` (y-z plane)."""
    d = np.subtract(b, a)
    n = np.array([d[1], -d[0]]) / max(float(np.hypot(*d)), 1e-9) * width / 2
    return [tuple(map(float, p)) for p in (a + n, b + n, b - n, a - n)]


def _place_on_post(outlines: list[Outline], thick: float, rng: np.random.Generator,
                   post_to: float = 0.0) -> tuple[tuple[ShapePart, ...], float]:
    """Scale outlines drawn about (0, 0) into the pads' span, lift them so the top stands
    24-32 mm above the base and hold them on a post reaching ``post_to`` (outline frame).
    Returns the pieces and the top's height."""
    pts = np.array([p for o in outlines for p in o])
    scale = min(1.0, JAW_HALF_SPAN_MM / float(np.abs(pts).max()))
    top = FEATURE_BOTTOM_MM + _u(rng, 24.0, 32.0)
    lift = top - scale * float(pts[:, 1].max())
    pieces = [_extrusion([(scale * y, lift + scale * z) for y, z in o], thick) for o in outlines]
    post = _feature_box(min(2.0, thick), _u(rng, 2.0, 3.5), lift + scale * post_to - FEATURE_BOTTOM_MM)
    return (post, *pieces), top


# -- the parallel jaw -------------------------------------------------------------------------
@family("polygons", "jaw")
def _polygons(rng: np.random.Generator) -> ObjectSpec:
    """A regular 5-, 6- or 8-gon at any phase (the hexagon's kind)."""
    n = int(rng.choice([5, 6, 8]))
    radius, thick = _u(rng, 5.0, 7.5), _u(rng, 3.0, 6.0)
    outline = _polygon(n, radius, _u(rng, 0.0, 2 * math.pi / n))
    parts, top = _place_on_post([outline], thick, rng)
    return _jaw_spec("edge", parts, top, thick, grasp_below_top=_u(rng, 1.0, 4.5))


@family("arms", "jaw")
def _arms(rng: np.random.Generator) -> ObjectSpec:
    """Non-convex outlines: a hub with 2-5 arms (crosses, stars, Ys) or 2-5 round lobes."""
    thick = _u(rng, 3.0, 6.0)
    count = int(rng.integers(2, 6))
    phase = _u(rng, 0.0, 2 * math.pi)
    angles = [phase + 2 * math.pi * k / count + _u(rng, -0.3, 0.3) for k in range(count)]
    if rng.random() < 0.5:
        hub = _u(rng, 1.2, 2.5)
        outlines = [_polygon(8, hub, 0.0)]
        for a in angles:
            length = _u(rng, 3.5, 7.5)
            outlines.append(_bar((0.0, 0.0), (length * math.sin(a), length * math.cos(a)), _u(rng, 1.5, 3.5)))
    else:
        reach = _u(rng, 2.5, 4.5)
        outlines = [_polygon(8, reach * _u(rng, 0.5, 0.9), 0.0)]
        for a in angles:
            outlines.append(_polygon(12, _u(rng, 1.8, 3.2), 0.0, reach * math.sin(a), reach * math.cos(a)))
    parts, top = _place_on_post(outlines, thick, rng)
    return _jaw_spec("edge", parts, top, thick, grasp_below_top=_u(rng, 1.0, 4.0))


@family("steps", "jaw")
def _steps(rng: np.random.Generator) -> ObjectSpec:
    """2-4 columns side by side whose tops differ (stairs, gaps in height), flat or slanted."""
    thick = _u(rng, 3.0, 6.0)
    count = int(rng.integers(2, 5))
    widths = rng.dirichlet(np.full(count, 3.0)) * _u(rng, 8.0, 14.0)
    base_h = _u(rng, 20.0, 28.0)
    drops = rng.uniform(1.5, 6.0, count) * (rng.random(count) < 0.8)
    drops[int(rng.integers(count))] = 0.0  # one column reaches the top
    y = -float(widths.sum()) / 2
    z0, parts = FEATURE_BOTTOM_MM, []
    for w, drop in zip(widths, drops):
        h = base_h - float(drop)
        tilt = _u(rng, -1.5, 1.5) if rng.random() < 0.4 else 0.0
        parts.append(_extrusion([(y, z0), (y + w, z0), (y + w, z0 + h + tilt), (y, z0 + h - tilt)], thick))
        y += float(w)
    top = z0 + base_h + 1.5
    return _jaw_spec("edge", tuple(parts), top, thick, grasp_below_top=_u(rng, 2.0, 4.0))


@family("slants", "jaw")
def _slants(rng: np.random.Generator) -> ObjectSpec:
    """Tops slanted by 8-40 deg, asymmetric roofs, slanted blocks overhanging a narrower stem."""
    thick, w = _u(rng, 3.0, 6.0), _u(rng, 6.0, 13.0)
    z0, h = FEATURE_BOTTOM_MM, _u(rng, 20.0, 28.0)
    kind = ["slant", "roof", "overhang"][int(rng.integers(3))]
    slope = math.tan(math.radians(_u(rng, 8.0, 40.0))) * float(rng.choice([-1.0, 1.0]))
    if kind == "roof":
        apex = _u(rng, -w / 3, w / 3)
        left, right = math.tan(math.radians(_u(rng, 8.0, 35.0))), math.tan(math.radians(_u(rng, 8.0, 35.0)))
        outline = [(-w / 2, z0), (w / 2, z0), (w / 2, z0 + h - right * (w / 2 - apex)), (apex, z0 + h),
                   (-w / 2, z0 + h - left * (apex + w / 2))]
        return _jaw_spec("edge", (_extrusion(outline, thick),), z0 + h, thick, grasp_below_top=_u(rng, 1.5, 3.5))
    top_l, top_r = z0 + h + slope * w / 2, z0 + h - slope * w / 2
    if kind == "slant":
        parts: tuple[ShapePart, ...] = (_extrusion([(-w / 2, z0), (w / 2, z0), (w / 2, top_r), (-w / 2, top_l)],
                                                   thick),)
    else:
        block = _u(rng, 4.0, 7.0)
        stem_w = _u(rng, 2.0, w - 3.0)
        stem_y = _u(rng, -(w - stem_w) / 2, (w - stem_w) / 2)
        low = min(top_l, top_r) - block
        parts = (_feature_box(thick, stem_w, low - z0, y=stem_y),
                 _extrusion([(-w / 2, low), (w / 2, low), (w / 2, top_r), (-w / 2, top_l)], thick))
    return _jaw_spec("edge", parts, z0 + h, thick, grasp_below_top=_u(rng, 1.0, 2.5))


@family("frames", "jaw")
def _frames(rng: np.random.Generator) -> ObjectSpec:
    """Holes: a polygonal ring on a post, or a fork whose two or three prongs leave gaps."""
    thick = _u(rng, 3.0, 6.0)
    if rng.random() < 0.5:
        n = int(rng.choice([6, 8, 10, 12]))
        outer = _u(rng, 5.0, 7.5)
        inner = outer * _u(rng, 0.35, 0.65)
        phase = _u(rng, 0.0, 2 * math.pi / n)
        out_pts, in_pts = _polygon(n, outer, phase), _polygon(n, inner, phase)
        segments = [[out_pts[k], out_pts[(k + 1) % n], in_pts[(k + 1) % n], in_pts[k]] for k in range(n)]
        parts, top = _place_on_post(segments, thick, rng, post_to=-(inner + outer) / 2)
        return _jaw_spec("edge", parts, top, thick, grasp_below_top=_u(rng, 1.0, 3.0))
    prongs = int(rng.integers(2, 4))
    widths, gaps = rng.uniform(1.5, 3.5, prongs), rng.uniform(1.5, 4.0, prongs - 1)
    span = float(widths.sum() + gaps.sum())
    z0, h = FEATURE_BOTTOM_MM, _u(rng, 18.0, 24.0)
    parts_list = [_feature_box(thick, span, h)]
    y = -span / 2
    tallest = 0.0
    for k, w in enumerate(widths):
        length = _u(rng, 3.0, 8.0)
        tallest = max(tallest, length)
        parts_list.append(_feature_box(thick, float(w), length, y=y + float(w) / 2, z0=z0 + h))
        y += float(w) + (float(gaps[k]) if k < prongs - 1 else 0.0)
    return _jaw_spec("edge", tuple(parts_list), z0 + h + tallest, thick, grasp_below_top=_u(rng, 1.5, 3.5))


_SECTIONS = ("square", "rectangle", "triangle", "hexagon", "octagon", "ellipse")


def _section(kind: str, size: float, rng: np.random.Generator) -> np.ndarray:
    """A section outline (2-D, about the origin) of ``kind`` and about ``size`` across."""
    corners = {"square": 4, "rectangle": 4, "triangle": 3, "hexagon": 6, "octagon": 8, "ellipse": 16}[kind]
    pts = np.array(_polygon(corners, size / 2, math.pi / corners))
    if kind == "rectangle":
        pts[:, 0] *= _u(rng, 1.4, 2.2)
    elif kind == "ellipse":
        pts[:, 0] *= _u(rng, 1.4, 2.0)
    return pts


@family("sections", "jaw")
def _sections(rng: np.random.Generator) -> ObjectSpec:
    """Upright posts whose section is not round, at any yaw, with a flat or slanted top."""
    kind = _SECTIONS[int(rng.integers(len(_SECTIONS)))]
    section = _section(kind, _u(rng, 4.0, 9.0), rng)
    yaw = _u(rng, 0.0, math.pi)
    c, s = math.cos(yaw), math.sin(yaw)
    xy = section @ np.array([[c, s], [-s, c]])
    xy *= min(1.0, 5.0 / float(np.abs(xy[:, 0]).max()), JAW_HALF_SPAN_MM / float(np.abs(xy[:, 1]).max()))
    z0, h = FEATURE_BOTTOM_MM, _u(rng, 24.0, 32.0)
    slope = math.tan(math.radians(_u(rng, -20.0, 20.0))) if rng.random() < 0.5 else 0.0
    verts = tuple((float(x), float(y), z0) for x, y in xy) + tuple((float(x), float(y), z0 + h + slope * float(y))
                                                                   for x, y in xy)
    return _jaw_spec("rod", (ShapePart("hull", vertices=verts),), z0 + h, float(np.ptp(xy[:, 0])),
                     grasp_below_top=_u(rng, 1.5, 3.0))


# -- the three-finger hand: the paper's kinds -------------------------------------------------
@family("section_rods", "hand")
def _section_rods(rng: np.random.Generator) -> ObjectSpec:
    """A paper rod whose section is not round (turned about its axis at any phase)."""

    kind = _SECTIONS[int(rng.integers(len(_SECTIONS)))]
    length = round(_u(rng, 80.0, 130.0), 1)
    section = _section(kind, _u(rng, 6.0, 16.0), rng)
    turn = _u(rng, 0.0, math.pi)
    c, s = math.cos(turn), math.sin(turn)
    xz = section @ np.array([[c, s], [-s, c]])
    xz *= min(1.0, 8.0 / float(np.abs(xz).max()))  # at most 16 mm across, like the paper's thickest rod
    return section_rod([[(float(x), float(z)) for x, z in xz]], length)


def section_rod(pieces: list[Outline], length: float) -> ObjectSpec:
    """A paper rod along y whose section is the union of the convex ``pieces`` (x, z about the
    axis, mm): turning about the axis is felt, so it refines ``z, roll, pitch``."""
    from tacrefine.sim import paper_objects as paper

    spec = paper.rod(10.0, length)
    axis_z = spec.grasp_height_mm
    bars = tuple(ShapePart("hull", vertices=tuple((x, sy * length / 2, axis_z + z) for sy in (-1, 1) for x, z in p))
                 for p in pieces)
    xs = [x for p in pieces for x, _ in p]
    return ObjectSpec("family", "rod", (*spec.parts[:-1], *bars), mass=paper.MASS_KG, grasp_height_mm=axis_z,
                      thickness_mm=float(max(xs) - min(xs)), refined_dofs=("z", "roll", "pitch"))


@family("feature_plates", "hand")
def _feature_plates(rng: np.random.Generator) -> ObjectSpec:
    """Upright paper plates whose top edge is stepped, crenellated, lobed, or has two windows
    below it (all within the pads' reach of the grasp centre)."""
    from tacrefine.sim import paper_objects as paper

    t, w, h = round(_u(rng, 2.0, 6.0), 2), round(_u(rng, 40.0, 60.0), 1), round(_u(rng, 34.0, 46.0), 1)
    spec = paper.plate(t, w, h)
    base, z0 = spec.parts[0], paper.BASE_THICK_MM
    top = z0 + h
    kind = ["stepped", "crenellated", "lobed", "windows"][int(rng.integers(4))]
    if kind == "stepped":  # the top edge changes height at 1-2 places near the centre
        cuts = np.sort(rng.uniform(-9.0, 9.0, int(rng.integers(1, 3))))
        edges = [-w / 2, *cuts.tolist(), w / 2]
        levels = [top - (_u(rng, 1.5, 5.0) if k % 2 else 0.0) for k in range(len(edges) - 1)]
        if rng.random() < 0.5:
            levels = levels[::-1]
        parts = tuple(_box_yz(t, b - a, z0, lv, (a + b) / 2) for a, b, lv in zip(edges[:-1], edges[1:], levels))
        return _with_parts(spec, (base, *parts), top - 2.0)
    if kind == "crenellated":  # 2-4 notches across the middle 30 mm
        depth = _u(rng, 2.0, 4.0)
        count = int(rng.integers(2, 5))
        pitch = 30.0 / count
        gap = _u(rng, 1.5, min(5.0, pitch - 1.5))
        parts = [_box_yz(t, w, z0, top - depth, 0.0)]
        edges = [-w / 2] + [-15.0 + pitch * (k + 0.5) + sgn * gap / 2 for k in range(count) for sgn in (-1, 1)]
        edges.append(w / 2)
        for a, b in zip(edges[0::2], edges[1::2]):
            parts.append(_box_yz(t, b - a, top - depth, top, (a + b) / 2))
        return _with_parts(spec, (base, *parts), top - depth / 2 - 1.0)
    if kind == "lobed":  # 2-3 round bumps rising from a straight top
        count = int(rng.integers(2, 4))
        shoulder = top - _u(rng, 3.0, 6.0)
        parts = [_box_yz(t, w, z0, shoulder, 0.0)]
        for k in range(count):
            cy = -12.0 + 24.0 * k / max(count - 1, 1) + _u(rng, -2.0, 2.0)
            r = _u(rng, 3.5, 7.0)
            arc = [(cy + r * math.cos(a), shoulder + (top - shoulder) * math.sin(a))
                   for a in np.linspace(0, math.pi, 9)]
            parts.append(_extrusion(arc, t))
        return _with_parts(spec, (base, *parts), top - 2.0)
    # two windows side by side under the top edge
    hole_h, lip = _u(rng, 3.0, 5.0), _u(rng, 2.0, 4.0)
    hole_w = [_u(rng, 3.0, 7.0), _u(rng, 3.0, 7.0)]
    mid = _u(rng, 2.0, 5.0)
    hole_top = top - lip
    lo = hole_top - hole_h
    y_edges = [-w / 2, -mid / 2 - hole_w[0], -mid / 2, mid / 2, mid / 2 + hole_w[1], w / 2]
    parts = [_box_yz(t, w, z0, lo, 0.0), _box_yz(t, w, hole_top, top, 0.0)]
    for a, b in ((y_edges[0], y_edges[1]), (y_edges[2], y_edges[3]), (y_edges[4], y_edges[5])):
        parts.append(_box_yz(t, b - a, lo, hole_top, (a + b) / 2))
    return _with_parts(spec, (base, *parts), top - 2.0)


def _with_parts(spec: ObjectSpec, parts: tuple[ShapePart, ...], grasp_height_mm: float) -> ObjectSpec:
    """``spec`` built from ``parts`` instead, grasped at ``grasp_height_mm``."""
    from dataclasses import replace

    return replace(spec, parts=parts, grasp_height_mm=grasp_height_mm)


@family("feature_discs", "hand")
def _feature_discs(rng: np.random.Generator) -> ObjectSpec:
    """Paper discs with a feature on the rim under the pads (polygon, flat, notch: the turn
    about the axis is felt) or a hole in the middle (a washer: it is not)."""
    from tacrefine.sim import paper_objects as paper

    diameter, t = round(_u(rng, 28.0, 52.0), 1), round(_u(rng, 2.0, 6.0), 2)
    spec = paper.disc(diameter, t)
    base, post = spec.parts[0], spec.parts[1]
    r = diameter / 2
    centre = paper.BASE_THICK_MM + 6.0 + r
    kind = ["polygon", "flat", "notch", "washer"][int(rng.integers(4))]
    felt = ("y", "z", "roll", "pitch")
    if kind == "polygon":
        n = int(rng.choice([5, 6, 8]))
        outline = _polygon(n, r, _u(rng, 0.0, 2 * math.pi / n), 0.0, centre)
        top = max(z for _, z in outline)
        return _disc_spec(spec, (base, post, _extrusion(outline, t)), top, felt)
    circle = _polygon(32, r, 0.0, 0.0, centre)
    if kind == "flat":  # the rim cut flat 1.5-4 mm below its top, at a small angle
        tilt = math.radians(_u(rng, -20.0, 20.0))
        cut = r - _u(rng, 1.5, 4.0)
        normal = (math.sin(tilt), math.cos(tilt))
        kept = [p for p in circle if (p[0] * normal[0] + (p[1] - centre) * normal[1]) <= cut]
        chord = math.sqrt(r * r - cut * cut)
        ends = [(cut * normal[0] + s * chord * normal[1], centre + cut * normal[1] - s * chord * normal[0])
                for s in (-1, 1)]
        outline = kept + ends
        return _disc_spec(spec, (base, post, _extrusion(outline, t)), max(z for _, z in outline), felt)
    if kind == "notch":  # a notch in the rim near the top: a body cut flat, two caps beside the gap
        gap, at, depth = _u(rng, 2.0, 5.0), _u(rng, -4.0, 4.0), _u(rng, 2.0, 4.0)
        cut = centre + r - depth
        chord = math.sqrt(r * r - (r - depth) ** 2)
        body = [p for p in circle if p[1] <= cut] + [(-chord, cut), (chord, cut)]
        caps = []
        for lo, hi in ((-chord, at - gap / 2), (at + gap / 2, chord)):
            rim = [p for p in circle if p[1] >= cut and lo <= p[0] <= hi]
            ends = [(y, centre + math.sqrt(r * r - y * y)) for y in (lo, hi)]
            caps.append(_extrusion(rim + ends + [(lo, cut), (hi, cut)], t))
        return _disc_spec(spec, (base, post, _extrusion(body, t), *caps), centre + r, felt)
    n = 12
    inner = r * _u(rng, 0.3, 0.55)
    out_pts, in_pts = _polygon(n, r, 0.0, 0.0, centre), _polygon(n, inner, 0.0, 0.0, centre)
    rings = tuple(_extrusion([out_pts[k], out_pts[(k + 1) % n], in_pts[(k + 1) % n], in_pts[k]], t)
                  for k in range(n))
    return _disc_spec(spec, (base, post, *rings), centre + r * math.cos(math.pi / n), ("y", "z", "pitch"))


def _disc_spec(spec: ObjectSpec, parts: tuple[ShapePart, ...], top: float, dofs: tuple[str, ...]) -> ObjectSpec:
    from dataclasses import replace

    return replace(spec, parts=parts, grasp_height_mm=top - 4.0, refined_dofs=dofs)
