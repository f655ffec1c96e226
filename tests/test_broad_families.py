"""The broader families (issue 17): pure functions of their seed, valid parts that the hand
they are made for accepts, the DoF their shape shows, and the older families untouched."""

from __future__ import annotations

import numpy as np
import pytest

from tacrefine.config import to_dict
from tacrefine.sim import broad_families
from tacrefine.sim.families import FAMILIES, HAND_FAMILIES, JAW_FAMILIES, make_part
from tacrefine.sim.hands import hand_config
from tacrefine.sim.objects import ObjectSpec
from tacrefine.sim.user_parts import check_fits

JAW_NEW = ("polygons", "arms", "steps", "slants", "frames", "sections")
HAND_NEW = ("section_rods", "feature_plates", "feature_discs")


def test_new_families_are_registered_for_their_hand():
    assert set(JAW_NEW) <= set(JAW_FAMILIES) and set(HAND_NEW) <= set(HAND_FAMILIES)
    assert not set(JAW_NEW + HAND_NEW) & set(JAW_FAMILIES[:7] + HAND_FAMILIES[:3])  # the first ones come first


@pytest.mark.parametrize("name", JAW_NEW + HAND_NEW)
def test_a_new_part_is_a_function_of_its_seed(name):
    assert to_dict(make_part(name, 11)) == to_dict(make_part(name, 11))
    shapes = {repr(to_dict(make_part(name, s))["parts"]) for s in range(40)}
    assert len(shapes) == 40  # every seed a different part


@pytest.mark.parametrize("name,hand", [(n, "parallel_jaw") for n in JAW_NEW] + [(n, "three_finger") for n in HAND_NEW])
def test_new_parts_are_valid_and_fit_their_hand(name, hand):
    cfg = hand_config(hand)
    for seed in range(60):
        spec = make_part(name, seed)
        assert isinstance(spec, ObjectSpec) and spec.parts
        check_fits(spec, cfg.max_opening_mm, cfg.release_clearance_mm)  # raises if the open hand cannot clear it
        for part in spec.parts:
            assert part.kind in ("box", "cylinder", "hull")
            if part.kind == "hull":
                assert np.ptp(np.asarray(part.vertices), axis=0).min() > 0  # a solid, not a flat sheet
        if hand == "parallel_jaw":  # the outline stays under the 16 mm pads
            ys = [abs(v[1]) for p in spec.parts[1:] if p.kind == "hull" for v in p.vertices]
            assert max(ys, default=0.0) <= broad_families.JAW_HALF_SPAN_MM + 1e-6
            assert spec.dofs == ("y", "z", "roll")


def test_hand_parts_refine_what_their_shape_shows():
    # a rod whose section is not round shows its turn about the axis (pitch); a round rod does not
    assert all(make_part("section_rods", s).dofs == ("z", "roll", "pitch") for s in range(20))
    assert make_part("rods", 0).dofs == ("z", "roll")
    discs = [make_part("feature_discs", s) for s in range(40)]
    assert {d.dofs for d in discs} == {("y", "z", "roll", "pitch"), ("y", "z", "pitch")}
    assert all(make_part("feature_plates", s).dofs == ("z", "roll", "pitch") for s in range(20))


def test_every_family_has_its_own_seed_stream():
    # families draw from SeedSequence([crc32(name), seed]): adding families changes no other's parts
    assert len(FAMILIES) == len(set(FAMILIES)) >= 19
    first = [to_dict(make_part(n, 3)) for n in ("jaw_rods", "plates", "edges")]
    assert first == [to_dict(make_part(n, 3)) for n in ("jaw_rods", "plates", "edges")]


def test_the_family_lists_do_not_depend_on_which_module_is_imported_first():
    """What "all families" means to a dataset config must not change with import order."""
    import subprocess
    import sys

    show = "from tacrefine.sim.families import JAW_FAMILIES, HAND_FAMILIES; print(JAW_FAMILIES, HAND_FAMILIES)"
    lists = {subprocess.run([sys.executable, "-c", f"{first}; {show}"], capture_output=True, text=True,
                            check=True, timeout=120).stdout
             for first in ("import tacrefine.sim.spectral_families", "import tacrefine.sim.broad_families",
                           "import tacrefine.sim.families")}
    assert len(lists) == 1 and "jaw_rods" in lists.pop()
