"""GripRefineHand-v0: per-class DoF in one env, the paper's offsets, checkers, determinism."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import tacrefine
from tacrefine.dofs import to_si
from tacrefine.policy.baselines import NoopPolicy, OraclePolicy
from tacrefine.sim.cell import CellConfig, GraspCell
from tacrefine.sim.hands import hand_config
from tacrefine.sim.objects import OBJECTS, PAPER_OBJECT_SET

HAND = "tacrefine/GripRefineHand-v0"


@pytest.mark.parametrize("env_id", tacrefine.ENV_IDS)
def test_stable_baselines3_checker_passes(env_id):
    env = gym.make(env_id)
    sb3_check_env(env.unwrapped, warn=True, skip_render_check=True)
    env.close()


def test_hand_env_acts_over_the_union_and_masks_each_class():
    env = gym.make(HAND)
    base = env.unwrapped
    assert base.refined_dofs == ("y", "z", "roll", "pitch") and env.action_space.shape == (4,)
    assert env.observation_space["tactile"].shape[0] == 3 and env.observation_space["proprio"].shape == (6,)
    assert min(base.offset_ranges[d] for d in ("y", "z")) >= 8
    assert min(base.offset_ranges[d] for d in ("roll", "pitch")) >= 15
    seen = {}
    for seed in range(12):
        obs, info = env.reset(seed=seed)
        cls = info["object_class"]
        seen[cls] = obs["dof_mask"].tolist()
        assert info["refined_dofs"] == list(OBJECTS[info["object"]].dofs)
        per_dof = info["per_dof_error"]
        for dof, on in zip(base.refined_dofs, obs["dof_mask"]):
            if not on:  # not refined: not perturbed
                assert abs(per_dof[dof]) < 0.6, (info["object"], dof, per_dof[dof])
    assert seen == {"rod": [0, 1, 1, 0], "plate": [0, 1, 1, 1], "disc": [1, 1, 0, 1]}
    env.close()


def test_components_a_class_does_not_refine_are_ignored():
    def after(action):
        env = gym.make(HAND, objects=["rod_d8_l100"])
        env.reset(seed=3)
        _, _, _, _, info = env.step(np.asarray(action, np.float32))
        env.close()
        return info["per_dof_error"]

    still, pushed = after([0, 0, 0, 0]), after([1, 0, 0, -1])  # y and pitch: not a rod's DoF
    assert still == pushed


def test_oracle_reaches_a_millimetre_and_noop_rarely_succeeds():
    env = gym.make(HAND)
    oracle, noop, n = OraclePolicy(env), NoopPolicy(env), 24
    done, idle = 0, 0
    for seed in range(n):
        obs, info = env.reset(seed=100 + seed)
        idle += info["position_error_mm"] <= 5 and info["rotation_error_deg"] <= 5
        assert not np.any(noop.act(obs))
        for _ in range(3):
            obs, reward, terminated, truncated, info = env.step(oracle.act(obs))
            if terminated:
                break
        done += info["is_success"]
    assert done == n  # every refined DoF of every class can be corrected to 1 mm / 1 deg
    assert idle <= n / 3  # the offsets are wide enough that doing nothing rarely succeeds
    env.close()


def test_losing_the_object_costs_exactly_the_penalty():
    env = gym.make(HAND)
    losses = 0
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        for _ in range(4):
            obs, reward, terminated, truncated, info = env.step(np.ones(4, np.float32))
            if info["failure"] is not None:
                assert reward == -10.0
                losses += 1
            if terminated:
                break
    assert losses >= 3
    env.close()


def test_same_seed_same_episode_whatever_ran_before():
    def rollout(env, seed):
        obs, info = env.reset(seed=seed)
        trace = [obs, info]
        for action in ([0.3, -0.2, 0.1, 0.2], [-0.1, 0.1, -0.2, 0.0]):
            trace.extend(env.step(np.asarray(action, np.float32)))
        return trace

    fresh = gym.make(HAND, target_mode="random", domain_randomization=True)
    used = gym.make(HAND, target_mode="random", domain_randomization=True)
    for seed in (5, 6, 7):
        rollout(used, seed)
    a, b = rollout(fresh, 9), rollout(used, 9)
    for x, y in zip(a, b):
        if isinstance(x, dict) and "tactile" in x:
            assert all(np.array_equal(x[k], y[k]) for k in x)
        else:
            assert x == y
    fresh.close()
    used.close()


@pytest.mark.parametrize("action", [np.array([np.nan, 0, 0, 0]), np.zeros(3), np.zeros((1, 4))])
def test_bad_actions_are_refused(action):
    env = gym.make(HAND, objects=["plate_t3_w50"])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN|shape"):
        env.step(action)
    env.close()


def test_hand_argument_selects_the_hand_on_both_envs():
    jaw = gym.make(HAND, hand="parallel_jaw", objects=["plate_t3_w50"])
    assert jaw.observation_space["tactile"].shape[0] == 2
    obs, info = jaw.reset(seed=0)
    assert info["object_class"] == "plate" and obs["dof_mask"].tolist() == [0, 1, 1, 1]
    three = gym.make("tacrefine/GripRefine-v0", hand="three_finger", objects=["box_8x8"])
    assert three.observation_space["tactile"].shape[0] == 3
    obs, _ = three.reset(seed=0)
    assert obs["dof_mask"].tolist() == [1, 1, 1]
    for env in (jaw, three):
        env.close()
    with pytest.raises(ValueError, match="hand.*'claw'"):
        gym.make(HAND, hand="claw")


def test_refined_dofs_are_felt_and_the_others_are_not():
    # Moving the wrist 2 mm / 3 deg along a DoF the class refines changes what the pads
    # read; along the DoF it does not refine (a rod's axis, a plate's width, the turn about
    # a rod) it does not: that is why those DoF are left out.
    cell = GraspCell(CellConfig(gripper=hand_config("three_finger")))
    for name in ("rod_d8_l100", "plate_t4_w60", "disc_d40_t4"):
        cell.load_object(name)
        cell.place_object(None)
        base = cell.grasp_offset(np.zeros(6)).tactile.astype(float)
        for dof in ("y", "z", "roll", "pitch"):
            cell.place_object(None)
            moved = cell.grasp_offset(to_si({dof: 2.0 if dof in "yz" else 3.0})).tactile.astype(float)
            change = np.abs(moved - base).sum() / base.sum()
            if dof in OBJECTS[name].dofs:
                assert change > 0.04, (name, dof, change)
            elif OBJECTS[name].category in ("rod", "plate") and dof != "roll":
                assert change < 0.01, (name, dof, change)
    cell.close()


def test_paper_objects_are_the_hand_envs_default():
    assert set(gym.make(HAND).unwrapped.object_specs[i].name for i in range(15)) == set(PAPER_OBJECT_SET)


def test_servo_reads_each_pads_frame_and_corrects_pitch():
    from tacrefine.policy.baselines import TactileServoPolicy

    env = gym.make(HAND, objects=["plate_t4_w60", "disc_d40_t4"])
    servo = TactileServoPolicy(env)
    start, end = [], []
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        start.append(abs(info["per_dof_error"]["pitch"]))
        for _ in range(4):
            obs, _, terminated, _, info = env.step(servo.act(obs))
            if terminated:
                break
        end.append(abs(info["per_dof_error"]["pitch"]))
    assert np.median(end) < 0.5 * np.median(start), (start, end)
    env.close()
