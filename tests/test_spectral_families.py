"""The spectral families (issue 17, item 4): outlines drawn from a random spectrum, cut into
convex pieces that fill exactly the outline, pure functions of their seed, fitting their hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tacrefine.config import to_dict
from tacrefine.sim.broad_families import JAW_HALF_SPAN_MM
from tacrefine.sim.families import HAND_FAMILIES, JAW_FAMILIES, make_part
from tacrefine.sim.hands import hand_config
from tacrefine.sim.spectral_families import convex_fans, radial_outline, spectrum
from tacrefine.sim.user_parts import check_fits

JAW = ("spectral",)
HAND = ("spectral_rods", "spectral_plates", "spectral_discs")


def _area(poly) -> float:
    p = np.asarray(poly, np.float64)
    return 0.5 * float(np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1]))


def _is_convex(poly) -> bool:
    p = np.asarray(poly, np.float64)
    d = np.roll(p, -1, axis=0) - p
    cross = d[:, 0] * np.roll(d[:, 1], -1) - d[:, 1] * np.roll(d[:, 0], -1)
    return bool(np.all(cross > -1e-9))


def test_spectrum_has_the_asked_depth_and_no_mean():
    rng = np.random.default_rng(0)
    angles = np.linspace(0, 2 * math.pi, 200, endpoint=False)
    for depth in (0.5, 2.0, 4.0):
        p = spectrum(rng, angles, 9, depth)
        assert np.ptp(p) == pytest.approx(depth) and abs(p.mean()) < 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_convex_fans_are_convex_and_fill_the_outline_exactly(seed):
    rng = np.random.default_rng(seed)
    outline = radial_outline(rng, 5.0, 4.0, 10, 72)  # deep lobes: far from convex
    assert not _is_convex(outline)
    pieces = convex_fans(outline)
    assert 1 < len(pieces) < len(outline)  # runs were merged, not one triangle per corner
    assert all(_is_convex(p) for p in pieces)
    assert sum(_area(p) for p in pieces) == pytest.approx(_area(outline), rel=1e-9)  # no gap, no overlap
    # every corner of the outline belongs to some piece
    corners = {tuple(np.round(c, 9)) for p in pieces for c in p}
    assert all(tuple(np.round(c, 9)) in corners for c in outline)


def test_spectral_families_are_registered_for_their_hand():
    assert set(JAW) <= set(JAW_FAMILIES) and set(HAND) <= set(HAND_FAMILIES)


@pytest.mark.parametrize("name", JAW + HAND)
def test_a_spectral_part_is_a_function_of_its_seed(name):
    assert to_dict(make_part(name, 5)) == to_dict(make_part(name, 5))
    assert len({repr(to_dict(make_part(name, s))["parts"]) for s in range(30)}) == 30


@pytest.mark.parametrize("name,hand", [(n, "parallel_jaw") for n in JAW] + [(n, "three_finger") for n in HAND])
def test_spectral_parts_fit_their_hand_and_refine_what_touch_shows(name, hand):
    cfg = hand_config(hand)
    for seed in range(40):
        spec = make_part(name, seed)
        check_fits(spec, cfg.max_opening_mm, cfg.release_clearance_mm)
        hulls = [np.asarray(p.vertices) for p in spec.parts if p.kind == "hull"]
        assert hulls and all(np.ptp(h, axis=0).min() > 0 for h in hulls)  # solids, not sheets
        if hand == "parallel_jaw":
            assert max(abs(v[1]) for h in hulls for v in h) <= JAW_HALF_SPAN_MM + 1e-6  # under the pads
            assert spec.dofs == ("y", "z", "roll")
        else:
            assert spec.dofs == {"spectral_rods": ("z", "roll", "pitch"), "spectral_plates": ("z", "roll", "pitch"),
                                 "spectral_discs": ("y", "z", "roll", "pitch")}[name]
