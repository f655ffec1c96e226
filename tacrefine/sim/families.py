"""Procedural object families: seeded generators giving thousands of distinct parts.

A family part is named ``<family>-<seed>`` (``plates-17``) and is a pure function of that
name: the generator draws every dimension from ``SeedSequence([family id, seed])``. Any
object list accepts such names, and a *family spec* that expands to many of them:

* ``family:plates`` -- the family's training seeds ``0 .. 99``;
* ``family:plates:0-499`` -- seeds 0 to 499 (inclusive);
* ``family:plates:heldout`` -- :data:`HELD_OUT_COUNT` seeds from :data:`HELD_OUT_START` on.

Seeds from :data:`HELD_OUT_START` up are held out: no shipped training run uses them, so
evaluating on them measures parts never seen. Families for the three-finger hand follow the
paper's classes (``rods``, ``plates``, ``discs``, built like :mod:`.paper_objects`);
families for the parallel jaw put a feature on the jaw objects' base plate (``jaw_rods``,
``jaw_plates``, ``jaw_discs``, ``edges``, ``prisms``, ``convex``, ``compound``).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tacrefine.config import ConfigError
from tacrefine.sim.family_registry import (  # the registry lives there; re-exported from its old home
    FAMILIES,
    _box_yz,
    _jaw_spec,
    family,
)
from tacrefine.sim.family_registry import (
    HAND_FAMILIES as HAND_FAMILIES,
)
from tacrefine.sim.family_registry import (
    JAW_FAMILIES as JAW_FAMILIES,
)
from tacrefine.sim.family_registry import (
    Generator as Generator,
)
from tacrefine.sim.objects import (
    FEATURE_BOTTOM_MM,
    PART_SOURCES,
    ObjectSpec,
    PartSource,
    ShapePart,
    _extrusion,
    _feature_box,
)

HELD_OUT_START = 100_000
HELD_OUT_COUNT = 20
DEFAULT_TRAIN_COUNT = 100
_NAME = re.compile(r"^([a-z_]+)-(\d+)$")
_SPEC = re.compile(r"^family:([a-z_]+)(?::(?:(\d+)-(\d+)|(heldout)))?$")


def make_part(family_name: str, seed: int) -> ObjectSpec:
    """Part ``seed`` of ``family_name`` (a pure function of both)."""
    if family_name not in FAMILIES:
        raise ConfigError(f"family {family_name!r} is unknown; known families: {sorted(FAMILIES)}")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"family seed: got {seed!r}; allowed: an integer >= 0")
    rng = np.random.default_rng(np.random.SeedSequence([zlib.crc32(family_name.encode()), seed]))
    return replace(FAMILIES[family_name](rng), name=f"{family_name}-{seed}")


def part_from_name(name: str) -> ObjectSpec | None:
    """The family part called ``name`` (``plates-17``), or None when it is no family name."""
    match = _NAME.match(name)
    if match is None or match.group(1) not in FAMILIES:
        return None
    return make_part(match.group(1), int(match.group(2)))


def is_family_spec(item: object) -> bool:
    return isinstance(item, str) and item.startswith("family:")


def expand_family_spec(spec: str) -> list[str]:
    """``family:plates[:A-B|:heldout]`` -> the part names it stands for (module docstring)."""
    match = _SPEC.match(spec)
    if match is None or match.group(1) not in FAMILIES:
        raise ConfigError(f"objects: {spec!r} is no family spec; allowed: family:NAME, family:NAME:A-B or "
                          f"family:NAME:heldout with NAME among {sorted(FAMILIES)}")
    name, first, last, held = match.groups()
    if held:
        seeds = range(HELD_OUT_START, HELD_OUT_START + HELD_OUT_COUNT)
    elif first is not None:
        if int(last) < int(first):
            raise ConfigError(f"objects: {spec!r}: the seed range is empty; allowed: A-B with A <= B")
        seeds = range(int(first), int(last) + 1)
    else:
        seeds = range(DEFAULT_TRAIN_COUNT)
    return [f"{name}-{s}" for s in seeds]


def expand_object_list(items: Sequence) -> list:
    """Replace every family spec in ``items`` by its part names (other items kept, in order)."""
    out: list = []
    for item in items:
        out.extend(expand_family_spec(item) if is_family_spec(item) else [item])
    return out


# -- the hand's families: the paper's classes ---------------------------------------------
@family("rods", "hand")
def _rods(rng: np.random.Generator) -> ObjectSpec:
    from tacrefine.sim import paper_objects as paper

    return paper.rod(round(float(rng.uniform(5.0, 16.0)), 2), round(float(rng.uniform(80.0, 130.0)), 1))


@family("plates", "hand")
def _plates(rng: np.random.Generator) -> ObjectSpec:
    """Upright plates whose top edge (what the pads feel) is straight, slanted, rounded,
    notched or has a hole below it."""
    from tacrefine.sim import paper_objects as paper

    t = round(float(rng.uniform(2.0, 6.0)), 2)
    w = round(float(rng.uniform(40.0, 60.0)), 1)
    h = round(float(rng.uniform(34.0, 46.0)), 1)
    spec = paper.plate(t, w, h)
    base = spec.parts[0]
    top = paper.BASE_THICK_MM + h
    kind = ["straight", "polygonal", "rounded", "notched", "holed"][int(rng.integers(5))]
    if kind == "straight":
        return spec
    if kind in ("polygonal", "rounded"):
        if kind == "polygonal":  # a gable or a slant across the top
            peak_y = float(rng.uniform(-w / 4, w / 4))
            rise = float(rng.uniform(2.0, 6.0))
            outline = [(-w / 2, paper.BASE_THICK_MM), (w / 2, paper.BASE_THICK_MM), (w / 2, top - rise),
                       (peak_y, top), (-w / 2, top - float(rng.uniform(0.0, rise)))]
        else:  # an arc of large radius across the top
            radius = float(rng.uniform(w / 1.5, 2 * w))
            sag = radius - math.sqrt(radius**2 - (w / 2) ** 2)
            ys = np.linspace(-w / 2, w / 2, 13)
            arc = [(float(y), top - sag + math.sqrt(radius**2 - y**2) - radius + sag) for y in ys]
            outline = [(-w / 2, paper.BASE_THICK_MM), (w / 2, paper.BASE_THICK_MM)] + arc[::-1]
        return replace(spec, parts=(base, _extrusion(outline, t)))
    if kind == "notched":  # a notch in the top edge, beside the grasp centre
        depth = float(rng.uniform(2.0, 5.0))
        gap = float(rng.uniform(2.0, 5.0))
        at = float(rng.choice([-1.0, 1.0]) * rng.uniform(gap / 2 + 1.0, 7.0))
        left_w, right_w = at - gap / 2 + w / 2, w / 2 - at - gap / 2
        lower = _box_yz(t, w, paper.BASE_THICK_MM, top - depth, 0.0)
        left = _box_yz(t, left_w, top - depth, top, -w / 2 + left_w / 2)
        right = _box_yz(t, right_w, top - depth, top, w / 2 - right_w / 2)
        return replace(spec, parts=(base, lower, left, right), grasp_height_mm=top - 2.0)
    # holed: a window below the top edge, inside the pads' reach
    hole_w, hole_h = float(rng.uniform(3.0, 8.0)), float(rng.uniform(3.0, 6.0))
    hole_top = top - float(rng.uniform(3.0, 5.0))
    at = float(rng.uniform(-6.0, 6.0))
    parts = (base, _box_yz(t, w, paper.BASE_THICK_MM, hole_top - hole_h, 0.0),
             _box_yz(t, w, hole_top, top, 0.0),
             _box_yz(t, at - hole_w / 2 + w / 2, hole_top - hole_h, hole_top, (at - hole_w / 2 - w / 2) / 2),
             _box_yz(t, w / 2 - at - hole_w / 2, hole_top - hole_h, hole_top, (at + hole_w / 2 + w / 2) / 2))
    return replace(spec, parts=parts)


@family("discs", "hand")
def _discs(rng: np.random.Generator) -> ObjectSpec:
    from tacrefine.sim import paper_objects as paper

    return paper.disc(round(float(rng.uniform(28.0, 52.0)), 1), round(float(rng.uniform(2.0, 6.0)), 2))


# -- the parallel jaw's families: a feature on a 30 x 30 mm base plate ---------------------
@family("jaw_rods", "jaw")
def _jaw_rods(rng: np.random.Generator) -> ObjectSpec:
    r, h = float(rng.uniform(2.5, 6.0)), float(rng.uniform(24.0, 32.0))
    rod = ShapePart("cylinder", (r, h), (0.0, 0.0, FEATURE_BOTTOM_MM + h / 2))
    return _jaw_spec("rod", (rod,), FEATURE_BOTTOM_MM + h, 2 * r)


@family("jaw_plates", "jaw")
def _jaw_plates(rng: np.random.Generator) -> ObjectSpec:
    """Narrow plates (narrower than the pads, so sliding sideways is felt) with a straight,
    polygonal, rounded, notched or holed top."""
    t, w, h = float(rng.uniform(3.0, 6.0)), float(rng.uniform(5.0, 12.0)), float(rng.uniform(24.0, 32.0))
    z0, top = FEATURE_BOTTOM_MM, FEATURE_BOTTOM_MM + h
    kind = ["straight", "polygonal", "rounded", "notched", "holed"][int(rng.integers(5))]
    if kind == "straight":
        parts: tuple[ShapePart, ...] = (_feature_box(t, w, h),)
    elif kind == "polygonal":
        left, right = top - float(rng.uniform(0.0, 4.0)), top - float(rng.uniform(0.0, 4.0))
        peak = float(rng.uniform(-w / 3, w / 3))
        parts = (_extrusion([(-w / 2, z0), (w / 2, z0), (w / 2, right), (peak, top), (-w / 2, left)], t),)
    elif kind == "rounded":
        r = float(rng.uniform(1.0, w / 2))
        corners = [(s * (w / 2 - r) + s * r * math.sin(a), top - r + r * math.cos(a))
                   for s in (-1, 1) for a in np.linspace(0, math.pi / 2, 5)]
        parts = (_extrusion([(-w / 2, z0), (w / 2, z0), *corners], t),)
    elif kind == "notched":
        depth, gap = float(rng.uniform(2.0, 4.0)), float(rng.uniform(1.5, max(w / 2.5, 1.6)))
        side = (w - gap) / 2
        parts = (_feature_box(t, w, h - depth), _feature_box(t, side, depth, y=-(gap + side) / 2, z0=top - depth),
                 _feature_box(t, side, depth, y=(gap + side) / 2, z0=top - depth))
        return _jaw_spec("plate", parts, top, t, grasp_below_top=depth / 2 + 1.0)
    else:  # holed: a window 2-4 mm below the top edge
        hole_w, hole_h, lip = float(rng.uniform(1.5, w - 3.0)), float(rng.uniform(2.0, 4.0)), float(rng.uniform(2, 4))
        side = (w - hole_w) / 2
        parts = (_feature_box(t, w, h - lip - hole_h), _feature_box(t, w, lip, z0=top - lip),
                 _feature_box(t, side, hole_h, y=-(hole_w + side) / 2, z0=top - lip - hole_h),
                 _feature_box(t, side, hole_h, y=(hole_w + side) / 2, z0=top - lip - hole_h))
    return _jaw_spec("plate", parts, top, t)


@family("jaw_discs", "jaw")
def _jaw_discs(rng: np.random.Generator) -> ObjectSpec:
    r, t = float(rng.uniform(4.5, 8.0)), float(rng.uniform(3.0, 6.0))
    top = FEATURE_BOTTOM_MM + float(rng.uniform(26.0, 32.0))
    centre = top - r
    post = _feature_box(2.0, 3.0, centre - FEATURE_BOTTOM_MM)
    disc = ShapePart("cylinder", (r, t), (0.0, 0.0, centre), (0.0, 90.0, 0.0))
    return _jaw_spec("disc", (post, disc), top, t, grasp_below_top=r)


@family("edges", "jaw")
def _edges(rng: np.random.Generator) -> ObjectSpec:
    """T-, L- and step-shaped tops: a bar on a stem."""
    t, h = float(rng.uniform(3.0, 6.0)), float(rng.uniform(24.0, 32.0))
    top = FEATURE_BOTTOM_MM + h
    bar_w, bar_h = float(rng.uniform(8.0, 13.0)), float(rng.uniform(2.5, 5.0))
    stem_w = float(rng.uniform(2.5, bar_w - 3.0))
    stem_y = float(rng.uniform(-(bar_w - stem_w) / 2, (bar_w - stem_w) / 2))
    parts = (_feature_box(t, stem_w, h - bar_h, y=stem_y), _feature_box(t, bar_w, bar_h, z0=top - bar_h))
    return _jaw_spec("edge", parts, top, t)


@family("prisms", "jaw")
def _prisms(rng: np.random.Generator) -> ObjectSpec:
    """Triangles and trapezoids extruded along the closing axis."""
    t, h = float(rng.uniform(3.0, 7.0)), float(rng.uniform(20.0, 30.0))
    z0, top = FEATURE_BOTTOM_MM, FEATURE_BOTTOM_MM + h
    half = float(rng.uniform(4.0, 7.0))
    top_half = float(rng.uniform(0.0, half * 0.6))
    apex = float(rng.uniform(-half / 3, half / 3))
    outline = [(-half, z0), (half, z0), (apex + top_half, top), (apex - top_half, top)]
    if top_half < 0.5:
        outline = outline[:2] + [(apex, top)]
    return _jaw_spec("prism", (_extrusion(outline, t),), top, t, grasp_below_top=2.0)


@family("convex", "jaw")
def _convex(rng: np.random.Generator) -> ObjectSpec:
    """A random convex hull between two parallel faces (the jaw closes on them)."""
    t, h, w = float(rng.uniform(3.0, 7.0)), float(rng.uniform(20.0, 30.0)), float(rng.uniform(6.0, 12.0))
    z0, top = FEATURE_BOTTOM_MM, FEATURE_BOTTOM_MM + h
    pts = [(-w / 2, z0), (w / 2, z0)]
    for _ in range(int(rng.integers(3, 7))):
        pts.append((float(rng.uniform(-w / 2, w / 2)), float(rng.uniform(z0 + h / 2, top))))
    pts.append((float(rng.uniform(-w / 3, w / 3)), top))
    return _jaw_spec("custom", (_extrusion(pts, t),), top, t, grasp_below_top=1.5)


@family("compound", "jaw")
def _compound(rng: np.random.Generator) -> ObjectSpec:
    """Two or three blocks stacked off-centre (steps and overhangs under the pads)."""
    t = float(rng.uniform(3.0, 6.0))
    z = FEATURE_BOTTOM_MM
    parts = []
    heights = rng.uniform(6.0, 14.0, int(rng.integers(2, 4)))
    heights = heights * (float(rng.uniform(22.0, 30.0)) / heights.sum())
    for hh in heights:
        w = float(rng.uniform(3.0, 11.0))
        y = float(rng.uniform(-(11.0 - w) / 2, (11.0 - w) / 2))
        parts.append(_feature_box(t, w, float(hh), y=y, z0=z))
        z += float(hh)
    return _jaw_spec("custom", tuple(parts), z, t)


PART_SOURCES.register("family", PartSource(
    from_name=part_from_name, expand=expand_object_list,
    hint=lambda: f"a family part <family>-<seed> with family among {sorted(FAMILIES)}"))


# the broader families register themselves here (they build on the helpers above)
from tacrefine.sim import broad_families as _broad_families  # noqa: E402,F401
from tacrefine.sim import spectral_families as _spectral_families  # noqa: E402,F401
