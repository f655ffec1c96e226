"""`tacrefine calibrate`: the unfamiliar threshold is the requested quantile of the recorded
sigma scores, the calibrated copy round-trips, bad input is refused naming the flag."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tacrefine.cli.command import main as tacrefine_main
from tacrefine.config import from_dict
from tacrefine.evaluation.episodes.protocol import JAW_SEEN, EvalConfig
from tacrefine.evaluation.episodes.rollouts import evaluate_policies
from tacrefine.pipelines.calibrate import SUITE_ENVS, threshold_for, training_parts
from tacrefine.policy.assessment import AssessConfig
from tacrefine.policy.checkpoint import load_checkpoint, save_checkpoint
from tacrefine.policy.learned import LearnedPolicy
from tacrefine.policy.model import ModelConfig, TacRefineNet
from tacrefine.policy.registry import pretrained_checkpoints
from tacrefine.sim.unseen_testonly import unseen_specs

TINY = ["--parts", "3", "--episodes", "2", "--mode", "fixed", "--no-progress"]


def _headless(ckpt: dict) -> dict:
    """A checkpoint as it was before the error head: head weights, thresholds and calibration gone
    (the shipped jaw checkpoint has them since it was retrained)."""
    ckpt = dict(ckpt)
    ckpt.pop("path", None)
    for key in ("self_assessment", "calibration"):
        ckpt.pop(key, None)
    ckpt["model_config"] = {k: v for k, v in ckpt["model_config"].items() if k != "error_head"}
    ckpt["model_state"] = {k: v for k, v in ckpt["model_state"].items() if not k.startswith("error_head.")}
    return ckpt


@pytest.fixture(scope="module")
def headed(tmp_path_factory) -> Path:
    """The shipped jaw checkpoint with a fresh (seeded) error head: a real policy in the jaw env."""
    ckpt = _headless(load_checkpoint(pretrained_checkpoints()["parallel_jaw"]))
    cfg = {**ckpt["model_config"], "error_head": True}
    torch.manual_seed(0)
    model = TacRefineNet(from_dict(ModelConfig, cfg))
    missing, unexpected = model.load_state_dict(ckpt["model_state"], strict=False)
    assert not unexpected and missing and all(k.startswith("error_head.") for k in missing)
    ckpt["model_state"] = model.state_dict()
    ckpt["model_config"] = cfg
    path = tmp_path_factory.mktemp("calib") / "headed.pt"
    save_checkpoint(path, ckpt)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(argv: list[str], capsys) -> tuple[int, str]:
    code = tacrefine_main(argv)
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def calibrated(headed, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("calib_out") / "cal.pt"
    before = _sha(headed)
    assert tacrefine_main(["calibrate", str(headed), "--out", str(out), "--false-alarm", "0.25", *TINY]) == 0
    assert _sha(headed) == before  # the source is never rewritten
    return out, json.loads(Path(f"{out}.calibration/calibration.json").read_text())


def test_threshold_is_the_requested_quantile_of_the_recorded_scores(headed, calibrated):
    out, report = calibrated
    # the same episodes played independently; the sigma scores read from the per-step records
    cfg = EvalConfig(objects=tuple(report["parts"]), env_id=SUITE_ENVS["jaw"], episodes_per_object=2,
                     target_modes=("fixed",), seed=report["seed"], plots=False, render=False, progress=False)
    run = evaluate_policies(cfg, [str(headed)])
    scores = []
    for r in run.episodes:
        sigmas = [row["assessment"]["sigma_mm"] + row["assessment"]["sigma_deg"] for row in r["errors"]
                  if "assessment" in row]
        if r["success"]["5mm_5deg"] and not r["lost"]:
            scores.append(max(sigmas))
    assert len(scores) == report["succeeding"] >= 4
    # smallest recorded score with at most 25 % of the succeeding episodes above it
    expected = min(s for s in scores if np.mean(np.asarray(scores) > s) <= 0.25)
    assert report["unfamiliar_sigma"] == pytest.approx(expected, rel=1e-9)
    assert report["after"]["head_false_alarm"] == pytest.approx(np.mean(np.asarray(scores) > expected))
    assert report["after"]["head_false_alarm"] <= 0.25


def test_calibrated_checkpoint_round_trips(headed, calibrated):
    out, report = calibrated
    raw = torch.load(out, map_location="cpu", weights_only=True)
    assert raw["self_assessment"]["unfamiliar_sigma"] == report["unfamiliar_sigma"]
    assert raw["calibration"]["succeeding"] == report["succeeding"]
    ckpt = load_checkpoint(out)
    assert AssessConfig.from_checkpoint(ckpt).unfamiliar_sigma == report["unfamiliar_sigma"]
    assert AssessConfig.from_checkpoint(ckpt).stop_score == AssessConfig().stop_score  # others kept
    assert LearnedPolicy(out, action_scale=[5, 5, 10]).assess_config.unfamiliar_sigma == report["unfamiliar_sigma"]
    source = load_checkpoint(headed)
    for key, value in source["model_state"].items():
        assert torch.equal(value, ckpt["model_state"][key]), key
    assert "self_assessment" not in source


def test_results_do_not_depend_on_the_worker_count(headed, calibrated, tmp_path, capsys):
    _, report = calibrated
    out = tmp_path / "two.pt"
    code, err = _run(["calibrate", str(headed), "--out", str(out), "--false-alarm", "0.25", "--workers", "2",
                      *TINY], capsys)
    assert code == 0, err
    two = json.loads(Path(f"{out}.calibration/calibration.json").read_text())
    assert two["per_episode"] == report["per_episode"]
    assert two["unfamiliar_sigma"] == report["unfamiliar_sigma"]


def test_checkpoint_without_an_error_head_is_refused(tmp_path, capsys):
    out = tmp_path / "x.pt"
    headless = tmp_path / "headless.pt"
    save_checkpoint(headless, _headless(load_checkpoint(pretrained_checkpoints()["parallel_jaw"])))
    code, err = _run(["calibrate", str(headless), "--out", str(out), *TINY], capsys)
    assert code == 2
    assert "no error head" in err and "--init" in err
    assert not out.exists()


@pytest.mark.parametrize(("flag", "value"), [("--false-alarm", "1.5"), ("--false-alarm", "0"), ("--episodes", "0"),
                                             ("--parts", "-1"), ("--mode", "sideways"), ("--suite", "claw"),
                                             ("--workers", "0")])
def test_bad_arguments_are_refused_naming_the_flag(headed, tmp_path, capsys, flag, value):
    args = ["calibrate", str(headed), "--out", str(tmp_path / "x.pt"), *TINY, flag, value]
    code, err = _run(args, capsys)
    assert code == 2 and flag in err, err
    assert not (tmp_path / "x.pt").exists()


def test_suite_must_fit_the_checkpoints_gripper(headed, tmp_path, capsys):
    code, err = _run(["calibrate", str(headed), "--out", str(tmp_path / "x.pt"), *TINY, "--suite", "hand"], capsys)
    assert code == 2 and "--suite" in err and "jaw" in err
    assert not (tmp_path / "x.pt").exists()


def test_out_must_not_be_the_checkpoint_itself(headed, capsys):
    before = _sha(headed)
    code, err = _run(["calibrate", str(headed), "--out", str(headed), *TINY], capsys)
    assert code == 2 and "--out" in err
    assert _sha(headed) == before


def test_training_parts_never_take_the_unseen_split_and_spread_over_families():
    testonly = [s.name for s in unseen_specs("jaw")]
    ckpt = {"object_names": ["rod_r3", "rod_r4", *testonly, "random_007", "my_part_from_a_file",
                             *[f"convex-{i}" for i in range(10)], *[f"edges-{i}" for i in range(10)]]}
    parts = training_parts(ckpt, "jaw", 6)
    assert len(parts) == 6 and not set(parts) & set(testonly) and "random_007" not in parts
    assert "my_part_from_a_file" not in parts
    assert sum(p.startswith("convex-") for p in parts) == 2 and sum(p.startswith("edges-") for p in parts) == 2
    assert {"convex-0", "convex-9"} <= set(parts)  # evenly spaced within a family
    fallback = training_parts({}, "jaw", 3)  # nothing recorded: the suite's seen parts
    assert len(fallback) == 3 and set(fallback) <= set(JAW_SEEN)


def test_threshold_for_matches_a_brute_force_search():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 40):
        scores = rng.gamma(2.0, 1.0, n)
        for rate in (0.01, 0.05, 0.1, 0.5, 0.9):
            expected = min(s for s in scores if np.mean(scores > s) <= rate)
            assert threshold_for(scores, rate) == expected
