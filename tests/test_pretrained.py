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
