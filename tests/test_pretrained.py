"""The checkpoint that ships with the package loads safely and corrects grasps."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import tacrefine
from tacrefine.policy.registry import pretrained_checkpoint


def test_pretrained_checkpoint_ships_and_refines_grasps():
    assert pretrained_checkpoint().is_file()
    env = gym.make("tacrefine/GripRefine-v0")
    policy = tacrefine.load_policy("pretrained", env=env)
    starts, finals, successes = [], [], 0
    for seed in range(6):
        obs, info = env.reset(seed=1000 + seed)
        starts.append(info["position_error_mm"] + info["rotation_error_deg"])
        for _ in range(5):
            obs, _, terminated, _, info = env.step(policy.act(obs))
            if terminated:
                break
        finals.append(info["position_error_mm"] + info["rotation_error_deg"])
        successes += info["is_success"]
    assert np.mean(finals) < 0.2 * np.mean(starts)
    assert successes >= 5
    env.close()


def test_pretrained_picks_the_checkpoint_that_fits_and_names_what_differs():
    from types import SimpleNamespace

    from gymnasium import spaces

    from tacrefine.policy.registry import pretrained_checkpoints, select_pretrained

    env = gym.make("tacrefine/GripRefine-v0")
    assert select_pretrained(env) == pretrained_checkpoints()["parallel_jaw"]
    env.close()
    shape = (4, 1, 5, 7)  # a hand no shipped checkpoint was trained for
    odd = SimpleNamespace(
        unwrapped=SimpleNamespace(refined_dofs=("y", "z", "yaw"), action_scale=np.ones(3)),
        observation_space=spaces.Dict({"tactile": spaces.Box(0, 255, shape, np.uint8)}))
    try:
        tacrefine.load_policy("pretrained", env=odd)
    except ValueError as exc:
        text = str(exc)
    else:
        raise AssertionError("a checkpoint was accepted for a 4-finger hand")
    assert "no shipped pretrained checkpoint fits" in text
    for hand in pretrained_checkpoints():
        assert hand in text
    assert "fingers: checkpoint 2, env 4" in text and "env 5x7" in text and "cannot act on ['yaw']" in text


def test_pretrained_hand_checkpoint_fits_the_hand_env_and_refines_grasps():
    from tacrefine.policy.registry import pretrained_checkpoints, select_pretrained

    env = gym.make("tacrefine/GripRefineHand-v0")
    assert select_pretrained(env) == pretrained_checkpoints()["three_finger"]
    policy = tacrefine.load_policy("pretrained", env=env)
    classes, finals, successes = set(), [], 0
    for seed in range(6):
        obs, info = env.reset(seed=2000 + seed)
        classes.add(info["object_class"])
        for _ in range(5):
            action = policy.act(obs)
            assert np.all(action[obs["dof_mask"] == 0] == 0)  # DoF the class does not refine are left alone
            obs, _, terminated, _, info = env.step(action)
            if terminated:
                break
        finals.append(info["position_error_mm"] + info["rotation_error_deg"])
        successes += info["is_success"]
    assert successes >= 5 and np.median(finals) < 1.0
    assert len(classes) >= 2
    env.close()
