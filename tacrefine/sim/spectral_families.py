"""Shapes drawn from a random spectrum instead of a list of kinds (issue 17, item 4).

Every earlier family picks a kind from a list (a polygon, arms, a stepped top, a notch...),
and a policy trained on lists knows the kinds on the list. These families draw the outline
itself: a radius (or a top edge's height) that is a sum of one to three sinusoids with random
frequencies, amplitudes and phases. One rule gives smooth lobes, many small bumps, lopsided and
nearly polygonal outlines alike, so the training set covers the space between the listed kinds.
The benchmark's test-only parts (:mod:`tacrefine.sim.unseen_testonly`: gears, letters,
sawteeth, stars, arches, toothed rims) are built by rules of their own, which these do not use.

Outlines that are not convex are cut into convex fans about their centre (a fan grows while it
stays convex), because a simulated body is a set of convex pieces.

* ``spectral`` (parallel jaw): a feature outline on the 30 x 30 mm base, under the pads;
* ``spectral_rods`` (three-finger hand): a paper rod whose section has a random spectrum;
* ``spectral_plates``: a paper plate whose top edge height has one;
* ``spectral_discs``: a paper disc whose rim has one.
"""

from __future__ import annotations

import math

import numpy as np

from tacrefine.sim.broad_families import Outline, _disc_spec, _place_on_post, _u, _with_parts, section_rod
from tacrefine.sim.family_registry import _box_yz, _jaw_spec, family
from tacrefine.sim.objects import ObjectSpec, _extrusion


def spectrum(rng: np.random.Generator, angles: np.ndarray, max_frequency: int, depth: float) -> np.ndarray:
    """A zero-mean profile over ``angles`` (rad): one to three cosines, integer frequencies
    2..``max_frequency``, scaled so that its peak-to-peak height is ``depth``."""
    terms = int(rng.integers(1, 4))
    profile = np.zeros_like(angles)
    for _ in range(terms):
        k = int(rng.integers(2, max_frequency + 1))
        profile += rng.uniform(0.3, 1.0) * np.cos(k * angles + rng.uniform(0.0, 2 * math.pi))
    profile -= profile.mean()
    span = float(np.ptp(profile))
    return profile * (depth / span) if span > 1e-9 else profile


def radial_outline(rng: np.random.Generator, radius: float, depth: float, max_frequency: int,
                   points: int) -> np.ndarray:
    """``points`` corners (y, z) about the origin whose radius is ``radius`` plus a random
    spectrum of peak-to-peak ``depth`` (mm); counter-clockwise."""
    angles = np.linspace(0.0, 2 * math.pi, points, endpoint=False)
    r = radius + spectrum(rng, angles, max_frequency, depth)
    return np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1)


def _turns_left(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    return float((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])) > 1e-9


def convex_fans(outline: np.ndarray, centre: tuple[float, float] = (0.0, 0.0)) -> list[Outline]:
    """Cut a star-shaped, counter-clockwise outline into convex pieces that share ``centre``:
    each piece is the centre and a run of consecutive corners, grown while it stays convex."""
    c = np.asarray(centre, np.float64)
    n = len(outline)
    pieces: list[Outline] = []
    start = 0
    while start < n:
        run = [outline[start], outline[(start + 1) % n]]
        end = start + 1
        while end < n:
            nxt = outline[(end + 1) % n]
            poly = [c, *run, nxt]
            if all(_turns_left(poly[i], poly[(i + 1) % len(poly)], poly[(i + 2) % len(poly)])
                   for i in range(len(poly))):
                run.append(nxt)
                end += 1
            else:
                break
        pieces.append([(float(c[0]), float(c[1]))] + [(float(p[0]), float(p[1])) for p in run])
        start = end
    return pieces


# -- the parallel jaw -------------------------------------------------------------------------
@family("spectral", "jaw")
def _spectral(rng: np.random.Generator) -> ObjectSpec:
    """A feature whose outline's radius has a random spectrum (lobes, bumps, lopsided)."""
    thick = _u(rng, 3.0, 6.0)
    radius = _u(rng, 4.0, 6.5)
    outline = radial_outline(rng, radius, _u(rng, 1.0, 0.9 * radius), int(rng.integers(3, 11)), 72)
    pieces, top = _place_on_post(convex_fans(outline), thick, rng)
    return _jaw_spec("edge", pieces, top, thick, grasp_below_top=_u(rng, 1.0, 4.0))


# -- the three-finger hand: the paper's kinds -------------------------------------------------
@family("spectral_rods", "hand")
def _spectral_rods(rng: np.random.Generator) -> ObjectSpec:
    """A paper rod whose section's radius has a random spectrum (its turn about the axis is felt)."""
    length = _u(rng, 80.0, 130.0)
    radius = _u(rng, 3.0, 6.0)
    section = radial_outline(rng, radius, _u(rng, 1.0, 0.8 * radius), int(rng.integers(2, 9)), 64)
    section *= min(1.0, 8.0 / float(np.abs(section).max()))  # at most 16 mm across
    return section_rod(convex_fans(section), length)


@family("spectral_plates", "hand")
def _spectral_plates(rng: np.random.Generator) -> ObjectSpec:
    """A paper plate whose top edge's height has a random spectrum across the pads' reach."""
    from tacrefine.sim import paper_objects as paper

    t, w, h = _u(rng, 2.0, 6.0), _u(rng, 40.0, 60.0), _u(rng, 34.0, 46.0)
    spec = paper.plate(t, w, h)
    z0, top = paper.BASE_THICK_MM, paper.BASE_THICK_MM + h
    depth = _u(rng, 1.5, 5.0)
    reach = 18.0  # the profiled span, +-reach mm about the grasp centre
    ys = np.linspace(-reach, reach, 37)
    # periods from 8 mm (four slices each) to 18 mm
    profile = spectrum(rng, ys / reach * math.pi, 9, depth)
    heights = top - (profile.max() - profile)  # the highest point is the plate's top
    floor = top - depth - 1.0
    parts = [_box_yz(t, w, z0, floor, 0.0),
             _box_yz(t, w / 2 - reach, floor - 0.5, float(heights[0]), -(w / 2 + reach) / 2),
             _box_yz(t, w / 2 - reach, floor - 0.5, float(heights[-1]), (w / 2 + reach) / 2)]
    for k in range(len(ys) - 1):
        parts.append(_extrusion([(float(ys[k]), floor - 0.5), (float(ys[k + 1]), floor - 0.5),
                                 (float(ys[k + 1]), float(heights[k + 1])), (float(ys[k]), float(heights[k]))], t))
    return _with_parts(spec, (spec.parts[0], *parts), top - 2.0)


@family("spectral_discs", "hand")
def _spectral_discs(rng: np.random.Generator) -> ObjectSpec:
    """A paper disc whose rim's radius has a random spectrum (the turn about its axis is felt)."""
    from tacrefine.sim import paper_objects as paper

    diameter, t = _u(rng, 28.0, 52.0), _u(rng, 2.0, 6.0)
    spec = paper.disc(diameter, t)
    r = diameter / 2
    centre = paper.BASE_THICK_MM + 6.0 + r
    rim = radial_outline(rng, r - 1.0, _u(rng, 0.8, 3.0), int(rng.integers(3, 13)), 96)
    rim[:, 1] += centre
    pieces = tuple(_extrusion(piece, t) for piece in convex_fans(rim, (0.0, centre)))
    return _disc_spec(spec, (spec.parts[0], spec.parts[1], *pieces), float(rim[:, 1].max()),
                      ("y", "z", "roll", "pitch"))


__all__ = ["convex_fans", "radial_outline", "spectrum"]
