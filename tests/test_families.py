"""Procedural object families: pure functions of their seed, thousands of distinct parts,
family specs in object lists, held-out seeds, and every family graspable."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tacrefine  # noqa: F401  (registers the env ids)
from tacrefine.config import ConfigError, to_dict
from tacrefine.sim.cell import CellConfig, GraspCell
from tacrefine.sim.families import (
    FAMILIES,
    HAND_FAMILIES,
    HELD_OUT_START,
    JAW_FAMILIES,
    expand_family_spec,
    make_part,
)
from tacrefine.sim.hands import hand_config
from tacrefine.sim.objects import get_object, validate_object_names


def test_a_part_is_a_function_of_its_family_and_seed():
    assert to_dict(make_part("jaw_plates", 7)) == to_dict(make_part("jaw_plates", 7))
    assert get_object("jaw_plates-7") == make_part("jaw_plates", 7)
    assert make_part("jaw_plates", 7).name == "jaw_plates-7"
    assert to_dict(make_part("jaw_plates", 7))["parts"] != to_dict(make_part("jaw_plates", 8))["parts"]


def test_families_give_thousands_of_distinct_parts():
    shapes = set()
    for name in FAMILIES:
        for seed in range(300):
            spec = to_dict(make_part(name, seed))
            shapes.add(repr((spec["parts"], spec["grasp_height_mm"], spec["thickness_mm"])))
    assert len(shapes) >= 0.99 * 300 * len(FAMILIES) >= 2900


def test_family_specs_expand_in_object_lists():
    assert expand_family_spec("family:rods:3-5") == ["rods-3", "rods-4", "rods-5"]
    assert len(expand_family_spec("family:plates")) == 100
    held = expand_family_spec("family:plates:heldout")
    assert all(int(n.split("-")[1]) >= HELD_OUT_START for n in held) and len(held) >= 10
    names = validate_object_names("data.objects", ["rod_r4", "family:edges:0-2"])
    assert names == ("rod_r4", "edges-0", "edges-1", "edges-2")
    with pytest.raises(ConfigError, match="family:teapots.*known|teapots"):
        validate_object_names("data.objects", ["family:teapots"])
    with pytest.raises(ConfigError, match="seed range is empty"):
        expand_family_spec("family:rods:5-3")
    with pytest.raises(ConfigError, match="unknown"):
        get_object("teapots-3")


def test_env_takes_a_family_spec():
    env = gym.make("tacrefine/GripRefine-v0", objects="family:convex:0-4")
    assert [s.name for s in env.unwrapped.object_specs] == [f"convex-{i}" for i in range(5)]
    obs, info = env.reset(seed=1)
    assert info["object"].startswith("convex-")
    env.close()


@pytest.mark.parametrize("hand,families", [("parallel_jaw", JAW_FAMILIES), ("three_finger", HAND_FAMILIES)])
def test_every_family_part_is_grasped_and_felt_by_every_pad(hand, families):
    cell = GraspCell(CellConfig(gripper=hand_config(hand)))
    rng = np.random.default_rng(0)
    try:
        for name in families:
            for seed in (0, 1, HELD_OUT_START):
                cell.load_object(make_part(name, seed))
                cell.place_object(rng)
                result = cell.grasp_offset(np.zeros(6), rng=rng)
                assert result.ok, (name, seed, result.failure)
                felt = (result.tactile[:, 0].reshape(result.tactile.shape[0], -1) > 0).sum(axis=1)
                assert felt.min() >= 2, (name, seed, felt)
    finally:
        cell.close()


def test_an_exported_part_given_by_path_is_grasped_like_the_part(tmp_path):
    from tacrefine.sim.objects import object_from_dict
    from tacrefine.sim.urdf_export import export_urdf

    spec = make_part("edges", HELD_OUT_START)
    path = export_urdf(spec, tmp_path)
    by_path = object_from_dict({"name": "file_edge", "urdf": str(path)})
    assert by_path.thickness_mm == pytest.approx(spec.thickness_mm, abs=0.3)  # box primitives: exact
    assert by_path.grasp_height_mm == pytest.approx(spec.grasp_height_mm, abs=0.3)
    env = gym.make("tacrefine/GripRefine-v0", objects=[{"name": "file_edge", "urdf": str(path)}])
    obs, info = env.reset(seed=0)
    for _ in range(5):
        increment = env.unwrapped.oracle_increment() / env.unwrapped.action_scale
        obs, _, terminated, _, info = env.step(np.clip(increment, -1, 1))
        if terminated:
            break
    assert info["is_success"]
    env.close()
