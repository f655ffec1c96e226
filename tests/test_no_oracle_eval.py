"""The deployable (no-oracle) protocol as the evaluation's default, and the reports' trust figures:
worst part, harm rate, the unfamiliar flag's recall / false alarms, the oracle-stop column as a
secondary figure, and the plain-words warning that names scripts/adapt.py."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import tacrefine  # noqa: F401  (registers the env ids)
from tacrefine.config import ConfigError
from tacrefine.evaluation.episodes import runner
from tacrefine.evaluation.episodes.protocol import PRECISION_PROTOCOL, EvalConfig, threshold_keys
from tacrefine.evaluation.episodes.runner import EvaluationRun, harmed, oracle_success
from tacrefine.evaluation.results.markdown import SUMMARY_HEADER, console_summary, markdown
from tacrefine.evaluation.results.report import build_report
from tacrefine.evaluation.results.stats import policy_results
from tacrefine.evaluation.results.trust import TRUST_HEADER, unfamiliar_parts, unfamiliar_warnings
from tacrefine.policy.assessment import AssessConfig, SelfCheckingPolicy, make_assessment


def test_no_oracle_is_the_default_of_evalconfig_and_of_the_benchmark():
    assert EvalConfig().stop == "policy"
    assert PRECISION_PROTOCOL.stop == "policy"
    with pytest.raises(ConfigError, match="evaluation.stop"):
        EvalConfig(stop="sometimes")
    with pytest.raises(ConfigError, match="terminate_on_success"):
        EvalConfig(env_kwargs={"terminate_on_success": True})


def test_env_goes_on_after_success_when_told_and_still_scores_it():
    for terminate in (True, False):
        env = gym.make("tacrefine/GripRefine-v0", objects=["rod_r4"], terminate_on_success=terminate,
                       disable_env_checker=True)
        base = env.unwrapped
        env.reset(seed=1)
        for _ in range(5):
            action = np.clip(base.oracle_increment() / base.action_scale, -1, 1).astype(np.float32)
            _, reward, terminated, _, info = env.step(action)
            if info["is_success"]:
                break
        env.close()
        assert info["is_success"] and reward > 5  # success scores (the bonus) either way ...
        assert terminated == terminate  # ... but ends the episode only when asked


class _Truthful:
    """Estimates the true error (a test may read it) and proposes ``sign`` times its correction."""

    name = "truthful"

    def __init__(self, env, sign: float = 1.0, push: float = 0.0) -> None:
        self.base, self.sign, self.push = env.unwrapped, sign, push
        self.assess_config = AssessConfig(max_rejections=1)

    def reset(self) -> None:
        pass

    def assess(self, obs):
        inc = self.base.oracle_increment()
        return make_assessment(self.sign * inc + np.array([0.0, 0.0, self.push]), None, self.base.refined_dofs)


def _episode(policy_of, seed: int = 3) -> dict:
    cfg = EvalConfig(objects=("rod_r4",), target_modes=("fixed",), render=False, plots=False)
    env = runner.make_env(cfg, "fixed")
    try:
        assert env.unwrapped.terminate_on_success is False  # the policy stop rule: no oracle in the env
        policy = SelfCheckingPolicy(policy_of(env), env=env, max_steps=cfg.max_steps)
        record, _ = runner.run_episode(env, policy, spec="scripted", object_name="rod_r4", target_mode="fixed",
                                       seed=seed, episode=0, max_steps=cfg.max_steps, stop=cfg.stop)
        return record
    finally:
        env.close()


def test_the_policy_stops_the_episode_and_each_step_carries_its_assessment():
    record = _episode(_Truthful)
    assert record["stop"] == "policy" and record["stop_reason"] == "converged"
    assert record["steps"] < 5 and not record["terminated"]  # the policy ended it, not the env
    assert record["success"]["1mm_1deg"] and not record["harmed"] and record["unfamiliar"] is False
    assessed = [e["assessment"] for e in record["errors"]]
    assert len(assessed) == record["steps"] + 1  # every grasp it saw, the last one included
    assert assessed[-1]["estimated_error_mm"] + assessed[-1]["estimated_error_deg"] <= 0.6
    assert assessed[0]["estimated_error_mm"] > assessed[-1]["estimated_error_mm"]


def test_a_policy_that_makes_things_worse_goes_back_and_raises_the_flag():
    record = _episode(lambda env: _Truthful(env, sign=-1.0, push=6.0))
    assert record["unfamiliar"] is True and record["stop_reason"] in ("gave_up", "unverifiable", "budget")
    start, final = record["errors"][0], record["errors"][-1]
    assert final["rotation_error_deg"] <= start["rotation_error_deg"] + 3.0  # back near the start, not 6+ deg off


def _rec(obj: str, ok5: bool, ok1: bool, start: float, final: float, flag: bool | None, policy: str = "p",
         ever1: bool = False) -> dict:
    errors = [{"step": 0, "position_error_mm": start, "rotation_error_deg": start, "failure": None},
              {"step": 1, "position_error_mm": 0.5 if ever1 else start, "rotation_error_deg": 0.5 if ever1 else start,
               "failure": None},
              {"step": 2, "position_error_mm": final, "rotation_error_deg": final, "failure": None}]
    for e in errors:
        e.update(full_position_error_mm=e["position_error_mm"], full_rotation_error_deg=e["rotation_error_deg"],
                 per_dof_error={}, is_success=False)
    success = dict.fromkeys(threshold_keys(), False) | {"5mm_5deg": ok5, "1mm_1deg": ok1, "2mm_2deg": ok1}
    return {"policy": policy, "object": obj, "object_class": "rod", "target_mode": "fixed", "episode": 0, "seed": 0,
            "steps": 2, "errors": errors, "final_position_error_mm": final, "final_rotation_error_deg": final,
            "final_full_position_error_mm": final, "final_full_rotation_error_deg": final, "success": success,
            "env_success": False, "steps_to_converge": None, "stop": "policy", "stop_reason": "converged",
            "oracle_success": oracle_success(errors), "harmed": harmed(errors), "unfamiliar": flag, "failure": None,
            "lost": False, "terminated": False, "truncated": False, "return": 0.0, "decision_ms": 1.0, "seconds": 0.1}


RECORDS = [_rec("a", True, True, 3.0, 0.2, False), _rec("a", True, False, 3.0, 2.0, True),
           _rec("b", False, False, 3.0, 8.0, True, ever1=True), _rec("b", True, True, 3.0, 0.3, False)]


def test_harm_oracle_stop_worst_part_and_flag_rates_from_records():
    assert RECORDS[2]["harmed"] and not RECORDS[1]["harmed"]  # 8 > 3 + 0.5; 2 < 3
    assert RECORDS[2]["oracle_success"]["1mm_1deg"] and not RECORDS[2]["success"]["1mm_1deg"]
    res = policy_results(RECORDS, max_steps=2)
    overall = res["overall"]
    assert overall["harm_rate"] == 0.25 and overall["success"]["5mm_5deg"] == 0.75
    assert overall["oracle_success"]["1mm_1deg"] == 0.75  # episode 3 passed through 0.5 mm / 0.5 deg
    assert res["worst_part"]["object"] == "b" and res["worst_part"]["success"]["5mm_5deg"] == 0.5
    assert res["worst_part"]["harm_rate"] == 0.5
    flag = overall["flag"]
    assert flag["recall_5mm_5deg"] == 1.0 and flag["false_alarm_5mm_5deg"] == pytest.approx(1 / 3)
    assert flag["recall_1mm_1deg"] == 1.0 and flag["false_alarm_1mm_1deg"] == 0.0
    assert policy_results([dict(r, unfamiliar=None) for r in RECORDS], 2)["overall"]["flag"] is None  # no flag


def _report(records: list[dict]) -> dict:
    cfg = EvalConfig(objects=("rod_r4", "rod_r5"), target_modes=("fixed",), max_steps=2, render=False, plots=False)
    env = {"id": cfg.env_id, "refined_dofs": ["y", "z", "roll"], "offset_range": {"y": 5.0},
           "success_position_mm": 1.0, "success_rotation_deg": 1.0}
    specs = dict.fromkeys(r["policy"] for r in records)
    policies = [{"spec": s, "label": s, "slug": s, "class": "X", "seed": 0, "checkpoint": None, "seconds": 1.0,
                 "episodes": sum(r["policy"] == s for r in records)} for s in specs]
    run = EvaluationRun(config=cfg, specs=[p["spec"] for p in policies], episodes=records, captures=[], env_info=env,
                        policy_info=policies, seconds=1.0)
    return build_report(run)


def test_every_report_names_the_worst_part_with_harm_and_flag_rates_and_the_oracle_column_is_secondary():
    report = _report([dict(r, object={"a": "rod_r4", "b": "rod_r5"}[r["object"]]) for r in RECORDS])
    text, md = console_summary(report), markdown(report)
    for out in (text, md):
        assert "harm" in out and "worst part" in out and "flag recall / false alarm" in out
        assert "rod_r5 (50.0, 50.0)" in out  # the worst part, its 5/5 and its harm rate
    assert "## Per part (worst first)" in md
    oracle = [i for i, h in enumerate(SUMMARY_HEADER) if "oracle" in h]
    success = [i for i, h in enumerate(SUMMARY_HEADER) if h.endswith("deg %") and "oracle" not in h]
    assert len(oracle) == 1 and "needs an oracle" in SUMMARY_HEADER[oracle[0]] and oracle[0] > max(success)
    assert "needs an oracle" in TRUST_HEADER[-1] and TRUST_HEADER.index("5/5 %") < len(TRUST_HEADER) - 1


def test_the_warning_names_adapt_for_a_flagged_part_and_only_for_it():
    gear = {"name": "gear", "urdf": "parts/gear.urdf"}
    records = [dict(r, object="gear", unfamiliar=True) for r in RECORDS[:2]] + \
              [dict(r, object="rod_r4", unfamiliar=False) for r in RECORDS[2:]]
    assert [p["object"] for p in unfamiliar_parts(records)] == ["gear"]
    report = {"episodes": records, "policies": [], "config": {"user_objects": [gear]}}
    (warning,) = unfamiliar_warnings(report)
    assert "does not know part 'parts/gear.urdf'" in warning
    assert "scripts/adapt.py --object parts/gear.urdf" in warning and "flagged 2 of its 2 episodes" in warning
    assert unfamiliar_warnings({"episodes": [dict(r, unfamiliar=False) for r in records], "policies": []}) == []
