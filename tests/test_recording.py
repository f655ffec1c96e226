"""Recordings of closed-loop episodes: a LeRobot v3.0 dataset with actions, and the Rerun log plan."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

import tacrefine
from tacrefine.cli.dataset import main as dataset_main
from tacrefine.cli.evaluate import main as evaluate_main
from tacrefine.cli.generate_data import main as generate_main
from tacrefine.cli.train import main as train_main
from tacrefine.data import load_dataset
from tacrefine.evaluation.episodes.protocol import EvalConfig
from tacrefine.evaluation.episodes.rollouts import evaluate_policies
from tacrefine.evaluation.results.lerobot_record import write_episodes
from tacrefine.evaluation.results.rerun_record import log_plan

ROOT = Path(__file__).resolve().parents[1]
OBJECTS = ("rod_r4", "plate_w6")
SPECS = ("baseline:oracle", "pretrained")  # scripted demonstrations and the learned policy


@pytest.fixture(scope="module")
def run():
    cfg = EvalConfig(objects=OBJECTS, episodes_per_object=3, max_steps=4, plots=False, progress=False,
                     render=True)
    return evaluate_policies(cfg, list(SPECS), record=True)


@pytest.fixture(scope="module")
def dataset(run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "lerobot"
    write_episodes(run.traces, out, fps=10, metadata={"sensor": run.env_info["sensor"]})
    return out


def _png(cell: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(cell["bytes"])))


def test_every_episode_becomes_a_lerobot_episode_with_actions(run, dataset) -> None:
    info = json.loads((dataset / "meta" / "info.json").read_text())
    feats = info["features"]
    stepped = [e for e in run.episodes if e["steps"] > 0]
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == len(stepped) == 24
    assert info["total_frames"] == sum(e["steps"] for e in stepped)
    assert feats["observation.tactile.finger0"] == {"dtype": "image", "shape": [14, 12, 1],
                                                    "names": ["height", "width", "channels"]}
    assert feats["observation.target_tactile.finger1"]["dtype"] == "image"
    assert feats["action"] == {"dtype": "float32", "shape": [3], "names": ["y", "z", "roll"]}
    assert feats["observation.state"]["shape"] == [2 + 2 + 3]
    data = pq.read_table(dataset / "data" / "chunk-000" / "file-000.parquet").to_pydict()
    episodes = pq.read_table(dataset / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pydict()
    assert episodes["length"] == [e["steps"] for e in stepped]
    assert [t[0] for t in episodes["tasks"]] == [e["object"] for e in stepped]
    done = np.array(data["next.done"])
    ends = np.cumsum(episodes["length"]) - 1
    assert np.flatnonzero(done).tolist() == ends.tolist(), "done exactly at each episode's last frame"
    success = np.array(data["next.success"])
    assert success[ends].tolist() == [bool(e["env_success"]) for e in stepped]


def test_frames_hold_what_the_policy_saw_and_did(run, dataset) -> None:
    """Frame 0 of an episode is the env's reset observation for that seed, and its action is
    what the policy does on it (the oracle's, recomputed here)."""
    data = pq.read_table(dataset / "data" / "chunk-000" / "file-000.parquet").to_pydict()
    starts = np.concatenate([[0], np.cumsum([e["steps"] for e in run.episodes if e["steps"] > 0])[:-1]])
    env = gym.make("tacrefine/GripRefine-v0", target_mode="random")
    checked = 0
    for start, ep in zip(starts, [e for e in run.episodes if e["steps"] > 0]):
        if ep["policy"] != "baseline:oracle" or ep["target_mode"] != "random":
            continue
        obs, _ = env.reset(seed=ep["seed"], options={"object": ep["object"]})
        for f in range(2):
            assert np.array_equal(_png(data[f"observation.tactile.finger{f}"][start]), obs["tactile"][f, 0])
            assert np.array_equal(_png(data[f"observation.target_tactile.finger{f}"][start]),
                                  obs["target_tactile"][f, 0])
        np.testing.assert_array_equal(np.array(data["observation.state"][start][:4], np.float32), obs["proprio"])
        oracle = tacrefine.load_policy("baseline:oracle", env=env)
        np.testing.assert_array_equal(np.array(data["action"][start], np.float32), oracle.act(obs))
        checked += 1
    assert checked == len(OBJECTS) * 3
    env.close()


def test_stats_carry_lerobots_quantiles(dataset) -> None:
    stats = json.loads((dataset / "meta" / "stats.json").read_text())
    for key in ("action", "observation.state", "observation.tactile.finger0"):
        assert {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"} <= set(stats[key]), key
    action = {k: np.array(v) for k, v in stats["action"].items()}
    assert np.all(action["min"] <= action["q01"]) and np.all(action["q01"] <= action["q50"])
    assert np.all(action["q50"] <= action["q99"]) and np.all(action["q99"] <= action["max"])
    image = np.array(stats["observation.tactile.finger0"]["max"])
    assert image.shape == (1, 1, 1) and 0.0 < image.max() <= 1.0, "image stats per channel, in [0, 1]"


def test_recording_reimports_and_trains(dataset, tmp_path) -> None:
    shards = tmp_path / "shards"
    assert dataset_main(["import", str(dataset), "--format", "lerobot", "--out", str(shards)]) == 0
    assert generate_main(["validate", str(shards)]) == 0
    samples, manifest = load_dataset(shards)
    assert sorted(samples.object_names) == sorted(OBJECTS)
    assert samples.tactile.shape[1:] == (2, 1, 14, 12) and samples.joints.shape[1] == 2
    assert manifest["metadata"]["refined_dofs"] == ["y", "z", "roll"]
    out = tmp_path / "train"
    assert train_main(["--config", str(ROOT / "configs" / "smoke.yaml"), "--set", f"data.path={shards}",
                       f"train.out_dir={out}", "train.epochs=1", "train.steps_per_epoch=3", "train.progress=false",
                       "data.val_pairs=32", "data.norm_pairs=64", "train.batch_size=16"]) == 0
    assert (out / "best.pt").is_file()


def test_evaluate_cli_records_and_refuses_an_existing_dataset(tmp_path, capsys) -> None:
    rec = tmp_path / "rec"
    argv = ["--policy", "baseline:oracle", "--out", str(tmp_path / "ev"), "--objects", "rod_r4",
            "--episodes-per-object", "1", "--target-mode", "fixed", "--no-plots", "--no-progress",
            "--record-lerobot", str(rec)]
    assert evaluate_main(argv) == 0
    info = json.loads((rec / "meta" / "info.json").read_text())
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert info["total_episodes"] == 1 and info["total_frames"] == report["episodes"][0]["steps"]
    assert evaluate_main(argv) == 2
    assert "already holds a LeRobot dataset" in capsys.readouterr().err


def test_rerun_plan_logs_every_step(run) -> None:
    entries = list(log_plan(run.traces))
    per_path = Counter(e.path for e in entries)
    frames = sorted({e.frame for e in entries})
    assert frames == list(range(sum(len(t.tactile) for t in run.traces))), "one frame per observation"
    rendered = 0
    for index, trace in enumerate(run.traces):
        root = next(e.path for e in entries if e.frame == sum(len(t.tactile) for t in run.traces[:index]))
        root = root.rsplit("/", 2)[0]
        n_obs = len(trace.tactile)
        for f in range(2):
            assert per_path[f"{root}/tactile/finger{f}"] == n_obs
            assert per_path[f"{root}/target_tactile/finger{f}"] == 1
        for name in ("world/wrist", "world/object", "error/position_mm", "error/rotation_deg"):
            assert per_path[f"{root}/{name}"] == n_obs, name
        for dof in trace.action_dofs:
            assert per_path[f"{root}/action/{dof}"] == trace.n_steps
        rendered += per_path[f"{root}/scene"] > 0
        poses = [e.data for e in entries if e.path == f"{root}/world/object"]
        assert all(np.allclose(p[:3, :3] @ p[:3, :3].T, np.eye(3), atol=1e-6) for p in poses), "rigid poses"
    assert rendered >= 1, "the rendered episode's scene images are logged"
