"""The no-oracle protocol's scoring: harm, worst part, flag recall / false alarms; the selfcheck spec."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tacrefine
from tacrefine.evaluation.episodes.deployable import NO_ORACLE, summarize
from tacrefine.policy.assessment import SelfCheckingPolicy


def _rec(policy, part, ok5, ok1, harmed, flag):
    return {"policy": policy, "part": part, "status": "ok", "5mm_5deg": ok5, "1mm_1deg": ok1, "harmed": harmed,
            "unfamiliar": flag}


def test_summary_rates_worst_part_and_flag_quality():
    recs = [_rec("p", "a", True, True, False, False), _rec("p", "a", True, False, False, True),
            _rec("p", "b", False, False, True, True), _rec("p", "b", True, True, False, False),
            {"policy": "p", "part": "c", "status": "reset_failed"}]
    s = summarize(recs)["p"]
    assert s["episodes"] == 4 and s["5mm_5deg"] == 0.75 and s["1mm_1deg"] == 0.5 and s["harm"] == 0.25
    assert s["worst_part"] == "b" and s["worst_part_success"] == 0.5
    assert s["flag_recall_5mm_5deg"] == 1.0 and s["flag_false_alarm_5mm_5deg"] == pytest.approx(1 / 3)
    assert s["flag_recall_1mm_1deg"] == 1.0 and s["flag_false_alarm_1mm_1deg"] == 0.0


def test_selfcheck_spec_wraps_a_policy_that_can_assess_itself():
    env = gym.make("tacrefine/GripRefine-v0", objects=["rod_r4"], disable_env_checker=True, **NO_ORACLE)
    try:
        policy = tacrefine.load_policy("selfcheck:pretrained", env=env, max_steps=3)
        assert isinstance(policy, SelfCheckingPolicy) and policy.max_steps == 3
        assert isinstance(tacrefine.load_policy("selfcheck:baseline:servo", env=env), SelfCheckingPolicy)
        with pytest.raises(ValueError, match="cannot assess itself"):
            tacrefine.load_policy("selfcheck:baseline:noop", env=env)
        obs, _ = env.reset(seed=0)
        policy.reset()
        action = policy.act(obs)
        assert action.shape == env.action_space.shape and np.all(np.abs(action) <= 1)
        assert policy.assessment is not None and policy.assessment.source == "correction"
    finally:
        env.close()
