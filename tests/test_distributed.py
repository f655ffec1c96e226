"""Training beyond one process: the device setting, and DDP under torchrun (2 CPU processes, gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import tacrefine
from tacrefine.config import ConfigError
from tacrefine.data.generate import DataConfig, generate_dataset
from tacrefine.training.checkpoint import load_checkpoint
from tacrefine.training.config import load_run_config
from tacrefine.training.distributed import resolve_device

ROOT = Path(__file__).resolve().parents[1]


def test_device_is_validated_and_auto_resolves():
    with pytest.raises(ConfigError, match=r"train.device.*'tpu'.*'auto', 'cpu', 'cuda', 'mps'"):
        load_run_config(ROOT / "configs" / "smoke.yaml", ["train.device=tpu"])
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="train.device: got 'cuda'"):
            resolve_device("cuda")


def _torchrun(*args: str) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "scripts" / "train.py"), "--no-progress", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_torchrun_two_processes_trains_resumes_exactly_and_writes_a_loadable_policy(tmp_path):
    data = tmp_path / "data"
    generate_dataset(DataConfig(objects=("rod_r4", "plate_w6"), samples_per_object=8, shard_size=8, workers=1),
                     data, progress=False)
    common = ["--set", "train.device=cpu", f"data.path={data}", "train.steps_per_epoch=3", "train.batch_size=16",
              "data.val_pairs=32", "data.norm_pairs=64"]
    smoke = ["--config", str(ROOT / "configs" / "smoke.yaml")]
    out = tmp_path / "run"
    _torchrun(*smoke, *common, f"train.out_dir={out}", "train.epochs=1")
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["world_size"] == 2 and ckpt["epoch"] == 1
    assert (out / "metrics.csv").read_text().count("\n") == 2  # header + one epoch, written once (rank 0)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "best.pt", "config.yaml", "curves.png", "last.pt", "metrics.csv"]
    env_ = gym.make("tacrefine/GripRefine-v0", objects=["rod_r4"])
    try:
        policy = tacrefine.load_policy(str(out / "last.pt"), env=env_)
        obs, _ = env_.reset(seed=0)
        action = policy.act(obs)
        assert action.shape == env_.action_space.shape and np.all(np.abs(action) <= 1.0)
    finally:
        env_.close()
    # resuming the 2-process run gives exactly the weights of an uninterrupted 2-epoch run
    _torchrun("--resume", str(out), "--set", "train.epochs=2")
    straight = tmp_path / "straight"
    _torchrun(*smoke, *common, f"train.out_dir={straight}", "train.epochs=2")
    resumed, uninterrupted = load_checkpoint(out / "last.pt"), load_checkpoint(straight / "last.pt")
    assert resumed["epoch"] == uninterrupted["epoch"] == 2
    for name, tensor in uninterrupted["model_state"].items():
        assert torch.equal(resumed["model_state"][name], tensor), name
