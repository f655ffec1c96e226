"""The precision benchmark scores parts seen in training and parts never seen side by side."""

from __future__ import annotations

from tacrefine.evaluation.precision import policy_summary, split_table
from tacrefine.evaluation.protocol import PRECISION_PROTOCOL, SUITES, EvalConfig
from tacrefine.evaluation.runner import run_evaluation
from tacrefine.sim.families import HELD_OUT_START


def test_jaw_suite_splits_seen_and_held_out_parts():
    cfg = PRECISION_PROTOCOL.eval_config("jaw", progress=False, plots=False)
    unseen = [n for n, s in cfg.splits.items() if s == "unseen"]
    seen = [n for n, s in cfg.splits.items() if s == "seen"]
    assert set(unseen) | set(seen) == set(cfg.objects) and not set(unseen) & set(seen)
    assert {"wedge", "hexagon", "l_shape"} <= set(unseen)
    families = [n for n in unseen if "-" in n]
    assert len(families) >= 10 and all(int(n.rsplit("-", 1)[1]) >= HELD_OUT_START for n in families)
    assert all("-" not in n or int(n.rsplit("-", 1)[1]) < HELD_OUT_START for n in seen)
    assert SUITES["hand"].unseen_names()


def test_records_carry_their_split_and_the_summary_reports_each(tmp_path):
    cfg = EvalConfig(objects=("rod_r4", "convex-100000"), splits={"convex-100000": "unseen"},
                     episodes_per_object=1, target_modes=("fixed",), plots=False, progress=False, render=False)
    report = run_evaluation(cfg, ["baseline:oracle"], tmp_path)
    assert {e["object"]: e["split"] for e in report["episodes"]} == {"rod_r4": "seen", "convex-100000": "unseen"}
    summary = policy_summary(report, "baseline:oracle")
    assert set(summary["by_split"]) == {"seen", "unseen"}
    assert summary["by_split"]["unseen"]["objects"] == ["convex-100000"]
    table = split_table({"learned_policy": "baseline:oracle", "policies": {"baseline:oracle": summary}})
    assert "unseen" in table and "seen" in table
