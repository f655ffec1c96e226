"""``tacrefine check``: the no-oracle check as a verb of the command (was a loose script)."""

from __future__ import annotations

import json

import pytest

from tacrefine.cli.command import main as command


def test_check_runs_the_no_oracle_protocol_on_the_hexagon(tmp_path, capsys):
    out = tmp_path / "check"
    assert command(["check", "--suite", "jaw", "--set", "hexagon", "--policies", "baseline:noop",
                    "baseline:oracle", "--episodes", "2", "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["objects"] == ["hexagon"] and report["config"]["stop"] == "policy"
    assert report["config"]["seed"] == 424242 and len(report["episodes"]) == 2 * 2
    oracle = [e for e in report["episodes"] if e["policy"] == "baseline:oracle"]
    noop = [e for e in report["episodes"] if e["policy"] == "baseline:noop"]
    assert all(e["success"]["1mm_1deg"] for e in oracle) and all(e["steps"] == 0 for e in noop)
    assert "baseline:oracle" in capsys.readouterr().out


@pytest.mark.parametrize("bad, flag", [(["--episodes", "0"], "--episodes"), (["--workers", "x"], "--workers"),
                                       (["--set", "all"], "--set")])
def test_check_refuses_bad_arguments_naming_the_flag(tmp_path, capsys, bad, flag):
    args = ["check", "--suite", "jaw", "--set", "seen", "--policies", "baseline:noop", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        command(args + bad)
    assert exc.value.code == 2 and flag in capsys.readouterr().err


def test_a_checkpoint_and_its_self_checking_controller_get_different_names():
    from tacrefine.evaluation.episodes.runner import policy_label, policy_slug

    assert policy_label("runs/a/best.pt") == "a_best"
    assert policy_label("selfcheck:runs/a/best.pt") == policy_slug("selfcheck:runs/a/best.pt") == "selfcheck_a_best"
    assert policy_label("baseline:noop") == "baseline:noop" and policy_slug("baseline:noop") == "baseline_noop"
