"""The precision benchmark scores parts seen in training and parts never seen side by side."""

from __future__ import annotations

from tacrefine.evaluation.precision import policy_summary, split_table
from tacrefine.evaluation.protocol import JAW_SEEN, PRECISION_PROTOCOL, SUITES, EvalConfig
from tacrefine.evaluation.runner import run_evaluation
from tacrefine.sim.families import HELD_OUT_START


def test_the_unseen_split_is_the_test_only_set_by_path_and_seen_stays(tmp_path, monkeypatch):
    """Each suite's unseen split is its test-only parts (rules no training data uses; for the jaw
    also random_urdfs 000-099), given by path; writing them all takes minutes, so one stands in."""
    import tacrefine.sim.unseen_testonly as testonly
    from tacrefine.sim.urdf_export import export_urdf

    asked = []

    def one_part(suite, folder, **kwargs):
        asked.append(suite)
        spec = testonly.unseen_part("jaw", "gear", 0)
        return [{"name": spec.name, "urdf": str(export_urdf(spec, folder))}]

    assert SUITES["jaw"].unseen == ("testonly:jaw",) and SUITES["hand"].unseen == ("testonly:hand",)
    monkeypatch.setattr(testonly, "unseen_split", one_part)
    cfg = PRECISION_PROTOCOL.eval_config("jaw", progress=False, plots=False, parts_folder=tmp_path)
    assert asked == ["jaw"] and cfg.stop == "policy"
    unseen = [n for n, s in cfg.splits.items() if s == "unseen"]
    seen = [n for n, s in cfg.splits.items() if s == "seen"]
    assert unseen == ["unseen_gear_0"] and seen == list(JAW_SEEN) and set(cfg.objects) == set(unseen) | set(seen)
    assert [u["name"] for u in cfg.user_objects] == ["unseen_gear_0"]  # by path, as a user gives a part
    assert all("-" not in n or int(n.rsplit("-", 1)[1]) < HELD_OUT_START for n in seen)


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
