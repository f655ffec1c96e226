"""PyBullet's random_urdfs as training parts: names, ranges, and pools that leave out what the hand cannot take."""

from __future__ import annotations

from pathlib import Path

import pytest

from tacrefine.config import ConfigError, from_dict
from tacrefine.data.plan import DataConfig
from tacrefine.sim.objects import expand_object_items, get_object
from tacrefine.sim.pybullet_parts import expand_range_spec, random_urdf_path
from tacrefine.sim.unseen_testonly import random_urdf_entries

#: in pybullet_data 3.2.x: 102 and 104 fit the open jaw; 101 is thicker than the jaw opens;
#: 103 does not come to rest on a table
FITS, TOO_THICK, RESTLESS = 104, 101, 103


def test_a_range_spec_spells_out_names_in_order():
    assert expand_range_spec("pybullet:random_urdfs:100-102") == ["random_100", "random_101", "random_102"]
    assert len(expand_range_spec("pybullet:random_urdfs")) == 1000
    items = expand_object_items(["rod_r4", "pybullet:random_urdfs:7-8", "family:edges:0-1"])
    assert items == ["rod_r4", "random_007", "random_008", "edges-0", "edges-1"]


@pytest.mark.parametrize("spec", ["pybullet:random_urdfs:5-2", "pybullet:random_urdfs:990-1000",
                                  "pybullet:meshes:0-3", "pybullet:random_urdfs:a-b"])
def test_a_bad_range_is_refused_naming_what_is_allowed(spec):
    with pytest.raises(ConfigError, match="pybullet:random_urdfs:A-B"):
        expand_object_items([spec])


def test_a_name_is_the_same_file_the_benchmark_gives_by_path():
    spec = get_object(f"random_{FITS}")
    entry = random_urdf_entries([FITS])[0]
    assert entry["name"] == spec.name == f"random_{FITS}"
    assert Path(spec.urdf) == Path(entry["urdf"]) == random_urdf_path(FITS)
    assert spec.thickness_mm > 0 and spec.grasp_height_mm > 0  # inferred from the file


def test_without_skip_unusable_a_part_too_thick_is_refused_by_name():
    with pytest.raises(ConfigError, match=f"random_{TOO_THICK}.*thick"):
        DataConfig(objects=("rod_r4", f"random_{TOO_THICK}"), samples_per_object=2, hand="parallel_jaw")


def test_skip_unusable_leaves_out_and_names_what_the_hand_cannot_take():
    cfg = DataConfig(objects=("rod_r4", f"pybullet:random_urdfs:{TOO_THICK}-{FITS}"), samples_per_object=2,
                     hand="parallel_jaw", skip_unusable=True, refined_dofs=("y", "z", "roll"))
    assert cfg.objects == ("rod_r4", "random_102", f"random_{FITS}")
    assert sorted(cfg.skipped_objects) == [f"random_{TOO_THICK}", f"random_{RESTLESS}"]
    assert "thick" in cfg.skipped_objects[f"random_{TOO_THICK}"]
    assert "rest" in cfg.skipped_objects[f"random_{RESTLESS}"]
    # the stored config rebuilds to the same parts (workers, resume)
    again = from_dict(DataConfig, {"objects": list(cfg.objects), "skip_unusable": True, "hand": "parallel_jaw",
                                   "samples_per_object": 2, "refined_dofs": ["y", "z", "roll"],
                                   "skipped_objects": dict(cfg.skipped_objects)})
    assert again.objects == cfg.objects and again.skipped_objects == cfg.skipped_objects


def test_a_pool_with_nothing_usable_is_refused():
    with pytest.raises(ConfigError, match="data.objects"):
        DataConfig(objects=(f"random_{TOO_THICK}",), samples_per_object=2, hand="parallel_jaw", skip_unusable=True)


def test_a_shape_with_nothing_between_the_fingers_is_refused_not_crashed():
    """random_urdfs/769: nothing of it lies in the fingers' path at the inferred grasp height (once
    a bare ValueError from an empty array, which a skip_unusable pool could not leave out)."""
    with pytest.raises(ConfigError, match="random_769.*between the fingers"):
        get_object("random_769")
