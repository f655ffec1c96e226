"""The env survives what users throw at it: ungraspable parts, lost objects, offset inertial
frames, URDF masses, clashing names, and keeps random targets where the data lives."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from tacrefine.envs.grip_refine import UngraspableObjectError

import tacrefine  # noqa: F401  (registers the env ids)
from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.policy.registry import load_policy
from tacrefine.sim.cell import GraspCell
from tacrefine.sim.objects import object_from_dict

PLATE_URDF = """<?xml version="1.0"?>
<robot name="{name}">
  <link name="base">
    <inertial>
      <origin xyz="{ix} {iy} {iz}" rpy="{ir} 0 0"/>
      <mass value="{mass}"/>
      <inertia ixx="1e-5" ixy="0" ixz="0" iyy="1e-5" iyz="0" izz="1e-5"/>
    </inertial>
    <collision><origin xyz="0 0 0.0025"/><geometry><box size="0.03 0.03 0.005"/></geometry></collision>
    <collision><origin xyz="0 0 0.02"/><geometry><box size="0.004 0.010 0.030"/></geometry></collision>
    <visual><origin xyz="0 0 0.02"/><geometry><box size="0.004 0.010 0.030"/></geometry></visual>
  </link>
</robot>
"""


def write_plate(path, name="myplate", inertial=(0.0, 0.0, 0.0), rot=0.0, mass=0.08):
    path.write_text(PLATE_URDF.format(name=name, ix=inertial[0], iy=inertial[1], iz=inertial[2], ir=rot, mass=mass))
    # everything given (the frame too): nothing inferred, so these tests see the env alone
    return {"name": name, "urdf": str(path), "grasp_height_mm": 34.0, "thickness_mm": 4.0,
            "frame_in_file": [0, 0, 0, 0, 0, 0]}


def oracle_success_rate(env, seeds) -> float:
    policy = load_policy("baseline:oracle", env=env)
    wins = 0
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        for _ in range(5):
            obs, _, terminated, truncated, info = env.step(policy.act(obs))
            if terminated or truncated:
                break
        wins += bool(info["is_success"])
    return wins / len(seeds)


def test_offset_inertial_frame_is_grasped_like_a_centred_one(tmp_path):
    centred = write_plate(tmp_path / "c.urdf", "centred")
    offset = write_plate(tmp_path / "o.urdf", "offset", inertial=(0.004, -0.006, 0.012), rot=0.3)
    cell = GraspCell(extra_objects={s["name"]: object_from_dict(s) for s in (centred, offset)})
    try:
        for name in ("centred", "offset"):
            cell.load_object(name)
            pose = cell.object_pose()
            # the object frame sits on the table: its origin at z = 0 (the base's bottom face)
            assert abs(pose[2, 3]) < 2e-4, name
            result = cell.grasp_offset(np.zeros(6))
            assert result.ok, (name, result.failure)
            # at the nominal grasp the feature is centred between the pads and 34 mm deep
            nominal = object_from_dict(centred).nominal_grasp()
            error = geometry.grasp_error(result.grasp, nominal, geometry.DOF_NAMES)
            assert error["full_position_error_mm"] < 1.0, (name, error)
    finally:
        cell.close()
    seeds = range(6)
    rates = []
    for spec in (centred, offset):
        env = gym.make("tacrefine/GripRefine-v0", objects=[spec])
        rates.append(oracle_success_rate(env, seeds))
        env.close()
    assert rates[1] >= rates[0] >= 5 / 6


def test_urdf_mass_is_kept_and_randomisation_scales_it(tmp_path):
    spec = write_plate(tmp_path / "heavy.urdf", "heavy", mass=0.25)
    env = gym.make("tacrefine/GripRefine-v0", objects=[spec])
    env.reset(seed=0)
    cell = env.unwrapped.cell
    assert cell.client.getDynamicsInfo(cell.object, -1)[0] == pytest.approx(0.25)
    env.close()
    env = gym.make("tacrefine/GripRefine-v0", objects=[{**spec, "mass": 0.1}], domain_randomization=True)
    masses = set()
    for seed in range(4):
        env.reset(seed=seed)
        cell = env.unwrapped.cell
        mass = cell.client.getDynamicsInfo(cell.object, -1)[0]
        assert 0.07 - 1e-9 <= mass <= 0.13 + 1e-9
        masses.add(round(mass, 6))
    assert len(masses) == 4  # randomised around the given mass, not around a default
    env.close()


def test_object_that_cannot_be_grasped_is_refused_by_name(tmp_path):
    # grasp height far above the part: the pads close on air
    spec = {**write_plate(tmp_path / "p.urdf", "floaty"), "grasp_height_mm": 90.0}
    env = gym.make("tacrefine/GripRefine-v0", objects=[spec])
    with pytest.raises(UngraspableObjectError, match="'floaty'"):
        env.reset(seed=0)
    env.close()


def test_reset_refuses_a_grasp_whose_pads_touch_but_feel_nothing(tmp_path):
    # a fin at y = 7.4 mm: inside the 16 mm pad (so the pads touch it) but outside the
    # 13.2 mm taxel grid (so no taxel reads it)
    text = PLATE_URDF.format(name="fin", ix=0, iy=0, iz=0, ir=0, mass=0.06).replace(
        '<origin xyz="0 0 0.02"/><geometry><box size="0.004 0.010 0.030"/>',
        '<origin xyz="0 0.0074 0.02"/><geometry><box size="0.004 0.001 0.030"/>')
    (tmp_path / "fin.urdf").write_text(text)
    spec = {"name": "fin", "urdf": str(tmp_path / "fin.urdf"), "grasp_height_mm": 34.0, "thickness_mm": 4.0,
            "frame_in_file": [0, 0, 0, 0, 0, 0]}
    cell = GraspCell(extra_objects={"fin": object_from_dict(spec)})
    try:
        cell.load_object("fin")
        result = cell.grasp_offset(np.zeros(6))
        assert result.ok and np.all(result.pad_forces > 0)  # the cell alone calls this a grasp
        assert result.tactile.max() == 0
    finally:
        cell.close()
    env = gym.make("tacrefine/GripRefine-v0", objects=[spec])
    with pytest.raises(UngraspableObjectError, match="'fin'.*reads nothing"):
        env.reset(seed=0)
    env.close()


@pytest.mark.parametrize("env_id", tacrefine.ENV_IDS)
def test_observation_stays_in_space_after_the_object_is_lost(env_id):
    env = gym.make(env_id)
    lost = 0
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        assert env.observation_space.contains(obs)
        for _ in range(10):
            obs, _, terminated, truncated, info = env.step(np.ones(env.action_space.shape, np.float32))
            assert env.observation_space.contains(obs), (seed, info["failure"], obs["proprio"])
            if terminated or truncated:
                lost += info["failure"] is not None
                break
    assert lost >= 10  # all-ones actions do lose the object, so the lost state is covered
    env.close()


def test_random_target_start_lies_within_the_data_range():
    env = gym.make("tacrefine/GripRefine-v0", objects=["plate_w6"], target_mode="random")
    half = env.unwrapped.offset_range  # mm / deg over y, z, roll
    nominal = env.unwrapped.object_specs[0].nominal_grasp()
    for seed in range(8):
        env.reset(seed=seed)
        for result in (env.unwrapped._target, env.unwrapped._current):
            per_dof = geometry.grasp_error(result.grasp, nominal, geometry.DOF_NAMES)["per_dof_error"]
            values = np.abs([per_dof[d] for d in env.unwrapped.refined_dofs])
            assert np.all(values <= half * 1.15 + 0.6), (seed, values)  # settling moves it a little
    env.close()


def test_user_names_may_not_shadow_builtins_or_repeat(tmp_path):
    spec = write_plate(tmp_path / "p.urdf", "rod_r4")
    with pytest.raises(ConfigError, match=r"objects\.rod_r4.*built-in"):
        gym.make("tacrefine/GripRefine-v0", objects=[spec])
    twin = write_plate(tmp_path / "q.urdf", "twin")
    with pytest.raises(ConfigError, match=r"twin.*more than once"):
        gym.make("tacrefine/GripRefine-v0", objects=[twin, twin])
    with pytest.raises(ConfigError, match=r"rod_r4.*more than once"):
        gym.make("tacrefine/GripRefine-v0", objects=["rod_r4", "rod_r4"])
