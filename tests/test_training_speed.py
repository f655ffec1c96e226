"""Speed features of training: batch prefetch, the wall-time curve, early stop; the CLI's
OpenMP defaults; benchmark episodes that do not depend on the number of workers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tacrefine.training import loop
from tacrefine.training.checkpoint import load_checkpoint
from tests.test_training import make_samples, manifest_for, smoke_cfg


@pytest.fixture(scope="module")
def data():
    samples = make_samples(n_per_object=30)
    return samples, manifest_for(samples)


def test_prefetch_trains_on_the_same_batches(tmp_path: Path, data) -> None:
    for flag in ("true", "false"):
        loop.train(smoke_cfg(tmp_path / flag, "train.epochs=1", f"train.prefetch={flag}"), data=data)
    a = load_checkpoint(tmp_path / "true" / "last.pt")["model_state"]
    b = load_checkpoint(tmp_path / "false" / "last.pt")["model_state"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_batches_calls_in_order_and_stops():
    calls = []

    def make():
        calls.append(len(calls))
        return len(calls) - 1

    assert list(loop.training_batches(make, 5, prefetch=True)) == [0, 1, 2, 3, 4]
    assert calls == [0, 1, 2, 3, 4]  # nothing drawn beyond the last step
    assert list(loop.training_batches(make, 0, prefetch=True)) == []


def test_wall_time_is_recorded_and_continues_across_resume(tmp_path: Path, data) -> None:
    result = loop.train(smoke_cfg(tmp_path / "run", "train.epochs=1"), data=data)
    first = result.history[0]["wall_s"]
    assert first > 0
    resumed = loop.resume_run(tmp_path / "run", ["train.epochs=2"], data=data)
    assert resumed.history[1]["wall_s"] > first  # the clock continues from the saved run
    assert "wall_s" in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0]


def test_time_to_precision_reads_the_first_epoch_within_both_targets():
    rows = [{"val_pos_median_mm": 0.9, "val_rot_median_deg": 0.4, "wall_s": 10.0},
            {"val_pos_median_mm": 0.45, "val_rot_median_deg": 0.6, "wall_s": 20.0},
            {"val_pos_median_mm": 0.5, "val_rot_median_deg": 0.5, "wall_s": 30.0}]
    assert loop.time_to_precision(rows) == 30.0
    assert loop.time_to_precision(rows, pos_mm=0.3) is None
    # a run without rotations: only the position target counts
    assert loop.time_to_precision([{"val_pos_median_mm": 0.4, "val_rot_median_deg": math.nan,
                                    "wall_s": 5.0}]) == 5.0


def test_flattened_needs_patience_epochs_without_real_gain():
    losses = [{"val_loss": v} for v in (1.0, 0.5, 0.49, 0.495)]
    assert loop.flattened(losses, patience=2, min_delta=0.05)  # 0.49 is < 5 % below 0.5
    assert not loop.flattened(losses, patience=2, min_delta=0.01)  # 2 % counts as a gain
    assert not loop.flattened(losses, patience=0, min_delta=0.05)  # off
    assert not loop.flattened(losses[:2], patience=2, min_delta=0.05)  # too short to tell


def test_early_stop_ends_the_run_and_resuming_keeps_it_stopped(tmp_path: Path, data) -> None:
    # min_delta 0.99: nothing short of a 100x drop counts, so the run stops after patience epochs
    cfg = smoke_cfg(tmp_path / "run", "train.epochs=5", "train.early_stop_patience=1",
                    "train.early_stop_min_delta=0.99")
    result = loop.train(cfg, data=data)
    assert result.stopped_early and result.epochs_done == 2 and len(result.history) == 2
    again = loop.resume_run(tmp_path / "run", data=data)
    assert again.stopped_early and len(again.history) == 2


def test_early_stop_config_is_checked():
    from tacrefine.config import ConfigError
    from tacrefine.training.config import load_run_config

    with pytest.raises(ConfigError, match="train.early_stop_min_delta"):
        load_run_config(None, ["train.early_stop_min_delta=1.5"])
    with pytest.raises(ConfigError, match="train.early_stop_patience"):
        load_run_config(None, ["train.early_stop_patience=-1"])


def test_cli_openmp_defaults_keep_a_users_choice(monkeypatch):
    from tacrefine import runtime

    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    runtime.configure_threads()
    import os

    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert runtime.configure_threads() is False  # torch is loaded in this test process: too late here
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"  # ... but child processes inherit it


def test_benchmark_episodes_do_not_depend_on_the_worker_count(tmp_path: Path) -> None:
    from tacrefine.evaluation.protocol import EvalConfig
    from tacrefine.evaluation.runner import run_evaluation

    cfg = EvalConfig(objects=("wedge",), episodes_per_object=3, max_steps=2, target_modes=("random",),
                     panel_episodes=1, render=False, progress=False, plots=False)
    reports = [run_evaluation(cfg, ["baseline:random"], tmp_path / str(w), workers=w) for w in (1, 2)]
    one, two = ({k: v for k, v in r["results"]["baseline:random"]["overall"].items() if "_ms" not in k}
                for r in reports)
    assert one == two and "success" in one  # the timing fields aside


@pytest.mark.slow
def test_speed_benchmark_times_the_main_job_in_a_fresh_process(tmp_path: Path) -> None:
    import json

    from tacrefine.evaluation.speed import main_job_run

    run = main_job_run(("--smoke",), out=tmp_path / "job")
    assert run["wall_s"] >= run["job_s"] > 0  # the process also starts and imports
    assert set(run["stage_s"]) == {"data", "training", "benchmark"}
    summary = json.loads((tmp_path / "job" / "summary.json").read_text())
    curve = summary["stages"]["training"]["result"]["curve"]
    assert [p["epoch"] for p in curve] == [1, 2] and curve[0]["wall_s"] < curve[1]["wall_s"]
    assert run["curve"] == curve
    # the speed row's "time to 0.5 mm": the first epoch whose position median is within 0.5 mm
    within = [p["wall_s"] for p in curve if p["val_pos_median_mm"] <= 0.5]
    first = summary["stages"]["training"]["result"]["seconds_to_0.5mm"]
    assert run["training_to_0_5mm_s"] == first
    assert (first is None) == (not within) and (first is None or abs(first - within[0]) < 1e-3)


def test_training_alone_asks_for_a_brief_openmp_spin_before_torch_loads(monkeypatch):
    # train.py has the cores to itself: its OpenMP threads spin briefly before they sleep (the
    # main job's do not); set before torch is imported, and a user's own value is kept.
    import subprocess
    import sys

    from tacrefine import runtime

    monkeypatch.setenv("GOMP_SPINCOUNT", "7")
    runtime.configure_threads(brief_spin=True)
    import os

    assert os.environ["GOMP_SPINCOUNT"] == "7"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    runtime.configure_threads()
    assert "GOMP_SPINCOUNT" not in os.environ  # only on request
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    probe = ("import os, sys\nfrom tacrefine.cli.train import main\ntry:\n    main(['--help'])\n"
             "except SystemExit:\n    pass\n"
             "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split()[-3:] == [runtime.BRIEF_SPIN["GOMP_SPINCOUNT"], "PASSIVE", "False"]
