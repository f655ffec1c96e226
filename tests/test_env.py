"""GripRefine-v0 honours the Gymnasium contract and the task's promises."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tacrefine
from tacrefine.config import ConfigError
from tacrefine.sim.cell import GraspCell
from tacrefine.sim.objects import DEFAULT_OBJECT_SET

FAST = {"objects": ["rod_r4", "t_shape"]}


@pytest.mark.parametrize("env_id", tacrefine.ENV_IDS)
def test_gymnasium_checker_passes(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", tacrefine.ENV_IDS)
def test_max_episode_steps_is_set_at_registration(env_id):
    assert gym.spec(env_id).max_episode_steps is not None


@pytest.mark.parametrize("target_mode", ["fixed", "random"])
def test_same_seed_same_actions_same_everything(target_mode):
    def rollout() -> list:
        env = gym.make("tacrefine/GripRefine-v0", target_mode=target_mode, noise=True, domain_randomization=True)
        obs, info = env.reset(seed=11)
        env.action_space.seed(5)
        trace = [(obs, info)]
        for _ in range(10):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample() * 0.3)
            trace.append((obs, reward, terminated, truncated, info))
            if terminated or truncated:
                obs, info = env.reset()
                trace.append((obs, info))
        env.close()
        return trace

    first, second = rollout(), rollout()
    assert len(first) == len(second)
    for a, b in zip(first, second):
        for x, y in zip(a, b):
            if isinstance(x, dict) and "tactile" in x:
                assert all(np.array_equal(x[k], y[k]) for k in x)
            else:
                assert x == y


def test_render_rgb_array_shape_and_close_twice():
    env = gym.make("tacrefine/GripRefine-v0", render_mode="rgb_array", render_size=(96, 64), **FAST)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8
    assert frame.std() > 5, "the frame shows a scene, not a blank"
    env.close()
    env.close()


@pytest.mark.parametrize(
    ("action", "message"),
    [(np.array([np.nan, 0, 0]), "NaN or infinite"), (np.array([0, np.inf, 0]), "NaN or infinite"),
     (np.zeros(4), "shape"), (np.zeros((1, 3)), "shape"), ("left", "numeric")],
)
def test_bad_actions_are_refused_and_env_keeps_working(action, message):
    env = gym.make("tacrefine/GripRefine-v0", **FAST)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.unwrapped.step(action)
    obs, reward, terminated, truncated, info = env.step(np.zeros(3, dtype=np.float32))
    assert env.observation_space.contains(obs) and np.isfinite(reward)
    env.close()


def test_lost_object_terminates_with_reason_and_env_recovers():
    env = gym.make("tacrefine/GripRefine-v0", max_step={"z": 30.0}, **FAST)
    env.reset(seed=0)
    # pull the wrist 30 mm back along the approach axis: the pads close on air
    obs, reward, terminated, truncated, info = env.step(np.array([0.0, -1.0, 0.0], dtype=np.float32))
    assert terminated and info["failure"] == "not_in_contact" and not info["is_success"]
    assert reward < 0
    obs, info = env.reset(seed=1)
    assert info["failure"] is None and obs["tactile"].sum() > 0


def test_oracle_succeeds_within_three_steps_on_every_default_object():
    env = gym.make("tacrefine/GripRefine-v0")
    policy = tacrefine.load_policy("baseline:oracle", env=env)
    for i, name in enumerate(DEFAULT_OBJECT_SET):
        obs, info = env.reset(seed=100 + i, options={"object": name})
        for _ in range(3):
            obs, reward, terminated, truncated, info = env.step(policy.act(obs))
            if terminated:
                break
        assert info["is_success"], (name, info)
    env.close()


def test_servo_reduces_error_and_beats_noop():
    env = gym.make("tacrefine/GripRefine-v0")
    finals = {}
    starts = []
    for spec in ("baseline:noop", "baseline:servo"):
        policy = tacrefine.load_policy(spec, env=env)
        errors = []
        for seed in range(24):
            obs, info = env.reset(seed=seed)
            if spec == "baseline:noop":
                starts.append(info["position_error_mm"])
            policy.reset()
            for _ in range(5):
                obs, _, terminated, _, info = env.step(policy.act(obs))
                if terminated:
                    break
            errors.append(info["position_error_mm"])
        finals[spec] = np.mean(errors)
    assert finals["baseline:servo"] < 0.6 * np.mean(starts)
    assert finals["baseline:servo"] < finals["baseline:noop"]
    env.close()


def test_observation_is_touch_and_proprioception_only():
    env = gym.make("tacrefine/GripRefine-v0", **FAST)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"tactile", "target_tactile", "proprio", "dof_mask"}  # dof_mask: the class, not the pose
    assert obs["dof_mask"].tolist() == [1.0, 1.0, 1.0]
    assert obs["proprio"].shape == (4,)
    env.close()


def test_world_position_leaks_nowhere():
    cell = GraspCell()
    cell.load_object("l_shape")
    offset = np.array([0.0, 0.002, -0.001, np.radians(4.0), 0.0, 0.0])
    readings, spots = [], []
    for seed in (1, 2, 3):
        placed = cell.place_object(np.random.default_rng(seed))  # another spot and heading each time
        spots.append(placed[:2, 3])
        result = cell.grasp_offset(offset)
        readings.append((result.tactile.astype(int), result.joints))
    assert min(np.linalg.norm(spots[i] - spots[j]) for i, j in ((0, 1), (0, 2), (1, 2))) > 0.01
    for tactile, joints in readings[1:]:
        assert np.abs(tactile - readings[0][0]).max() <= 2
        assert np.abs(tactile - readings[0][0]).mean() < 0.2
        assert np.allclose(joints, readings[0][1], atol=2e-5)
    cell.close()


def test_vector_envs_and_pickling():
    fns = [lambda: gym.make("tacrefine/GripRefine-v0", **FAST) for _ in range(2)]
    for vec_cls in (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv):
        vec = vec_cls(fns)
        obs, info = vec.reset(seed=[0, 1])
        assert obs["tactile"].shape[0] == 2
        obs, reward, terminated, truncated, info = vec.step(np.zeros((2, 3), dtype=np.float32))
        assert reward.shape == (2,)
        vec.close()
    env = gym.make("tacrefine/GripRefine-v0", **FAST).unwrapped
    clone = pickle.loads(pickle.dumps(env))
    a, _ = env.reset(seed=4)
    b, _ = clone.reset(seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    env.close()
    clone.close()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"refined_dofs": ("y", "q")}, "refined_dofs"), ({"target_mode": "sometimes"}, "target_mode"),
     ({"success_position_mm": 0.0}, "success_position_mm"), ({"sensor": {"pitch_mm": -1}}, "sensor.pitch_mm"),
     ({"objects": ["teapot"]}, "teapot"), ({"max_step": {"y": 0.0}}, "max_step.y"),
     ({"render_mode": "video"}, "render_mode")],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises((ConfigError, ValueError), match=field):
        gym.make("tacrefine/GripRefine-v0", **kwargs)


def test_any_subset_of_dofs_and_noise_switch():
    env = gym.make("tacrefine/GripRefine-v0", refined_dofs=("z", "roll", "pitch"), noise=True, **FAST)
    obs, info = env.reset(seed=0)
    assert env.action_space.shape == (3,)
    assert obs["tactile"].min() >= 0 and set(info["per_dof_error"]) == {"x", "y", "z", "roll", "pitch", "yaw"}
    env.close()


def test_reset_does_not_depend_on_how_the_last_episode_ended():
    env = gym.make("tacrefine/GripRefine-v0", **FAST)
    first, _ = env.reset(seed=3, options={"object": "rod_r4"})
    for action in ([1.0, -1.0, 0.5], [-0.3, 0.2, -1.0]):
        env.step(np.array(action, dtype=np.float32))
    again, _ = env.reset(seed=3, options={"object": "rod_r4"})
    assert all(np.array_equal(first[k], again[k]) for k in first)
    env.close()
