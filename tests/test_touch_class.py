"""Class inference from what the pads can feel (issue 17): a part's refined DoF are those whose
small move changes the pads' contact images."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tacrefine.sim import touch_class
from tacrefine.sim.families import make_part
from tacrefine.sim.objects import get_object, object_from_dict
from tacrefine.sim.urdf_export import export_urdf


def _scores(name: str, grasp_height_mm: float | None = None) -> dict[str, float]:
    spec = get_object(name)
    tool = np.eye(4)
    tool[2, 3] = -(spec.grasp_height_mm if grasp_height_mm is None else grasp_height_mm)
    return touch_class.observability(touch_class.part_surface(spec.parts, tool, np.zeros((0, 3))))


def test_what_touch_observes_on_the_paper_shapes():
    rod, plate, disc = _scores("rod_d10_l110"), _scores("plate_t4_w60"), _scores("disc_d40_t4")
    observed = touch_class.OBSERVED_CHANGE
    # a round rod: turning about its axis and sliding along it are not felt
    assert rod["pitch"] < 0.2 * observed and rod["y"] < 0.2 * observed
    assert rod["z"] > observed and rod["roll"] > observed
    # a plate wider than the pads: sliding sideways is not felt; its edge and tilt are
    assert plate["y"] < 0.2 * observed and min(plate["z"], plate["roll"], plate["pitch"]) > observed
    # a disc face-on: turning about its axis is not felt (its sideways move is)
    assert disc["roll"] < 0.5 * observed and min(disc["y"], disc["z"], disc["pitch"]) > observed


def _square_rod():
    for seed in range(50):
        spec = make_part("section_rods", seed)
        corners = [v for v in spec.parts[-1].vertices if v[1] > 0]
        if len(corners) == 4 and abs(np.ptp([v[0] for v in corners]) - np.ptp([v[2] for v in corners])) < 0.5:
            return spec  # a square section (turned at some phase)
    raise AssertionError("no square section among 50 seeds")


@pytest.mark.parametrize("kind", ["round rod", "square rod", "plate", "disc"])
def test_class_of_a_part_given_by_path(kind, tmp_path, caplog):
    spec = {"round rod": lambda: get_object("rod_d10_l110"), "square rod": _square_rod,
            "plate": lambda: get_object("plate_t4_w60"), "disc": lambda: get_object("disc_d40_t4")}[kind]()
    path = export_urdf(spec, tmp_path)
    with caplog.at_level(logging.INFO, logger="tacrefine.sim.touch_class"):
        part = object_from_dict({"name": "by_path", "urdf": str(path)})
    expected = {"round rod": ("rod", ("z", "roll")), "square rod": ("rod", ("z", "roll", "pitch")),
                "plate": ("plate", ("z", "roll", "pitch")), "disc": ("disc", ("y", "z", "pitch"))}[kind]
    assert (part.category, part.dofs) == expected
    unclear = [r for r in caplog.records if "class unclear" in r.getMessage()]
    if kind == "square rod":  # a rod that shows its turn: said so, and pitch refined
        assert unclear and "pitch" in unclear[0].getMessage()
    else:
        assert not unclear, [r.getMessage() for r in unclear]
