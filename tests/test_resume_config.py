"""Resume (issue 19, findings 2, 8): an edited config.yaml or a foreign last.pt is refused by field."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from tacrefine import geometry
from tacrefine.cli.train import main
from tacrefine.data import storage
from tacrefine.data.samples import GraspSamples
from tacrefine.training.checkpoint import load_checkpoint
from tacrefine.training.resume_check import config_differences

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    n = 48
    offsets = np.zeros((n, 6))
    offsets[:, 1:3] = rng.uniform(-3e-3, 3e-3, (n, 2))
    samples = GraspSamples(tactile=rng.integers(0, 256, (n, 2, 1, 14, 12), dtype=np.uint8),
                           joints=rng.uniform(0.005, 0.01, (n, 2)).astype(np.float32),
                           grasp=np.stack([geometry.vector_to_pose(o) for o in offsets]), offset=offsets,
                           object_id=(np.arange(n) % 2).astype(np.int32), object_names=["a", "b"])
    root = tmp_path_factory.mktemp("ds") / "ds"
    storage.init_manifest(root, {"refined_dofs": ["y", "z", "roll"], "tactile_shape": [2, 1, 14, 12]},
                          n_shards_planned=1)
    storage.record_shard(root, storage.write_shard(root, 0, samples, compression="lzf"))
    return root


def train_args(ds: Path, out: Path, *extra: str) -> list[str]:
    return ["--config", str(SMOKE), "--no-progress", "--set", f"data.path={ds}", f"train.out_dir={out}",
            "train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=8", "train.num_threads=1",
            "data.val_pairs=32", "data.norm_pairs=64", *extra]


def edit_config(run: Path, section: str, key: str, value) -> object:
    path = run / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    old = cfg[section][key]
    cfg[section][key] = value
    path.write_text(yaml.safe_dump(cfg))
    return old


def test_resume_refuses_an_edited_config_naming_field_and_both_values(tmp_path, dataset, capsys):
    run = tmp_path / "run"
    assert main(train_args(dataset, run)) == 0
    lr = edit_config(run, "optim", "lr", 0.5)
    capsys.readouterr()
    assert main(["--resume", str(run), "--set", "train.epochs=2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"optim.lr: checkpoint {lr!r}, config.yaml 0.5" in err and "Traceback" not in err
    assert load_checkpoint(run / "last.pt")["epoch"] == 1, "nothing was trained"
    edit_config(run, "optim", "lr", lr)  # restored: the run resumes (epochs may change)
    assert main(["--resume", str(run), "--set", "train.epochs=2", "--no-progress"]) == 0
    assert load_checkpoint(run / "last.pt")["epoch"] == 2


def test_resume_with_a_checkpoint_of_another_width_is_refused(tmp_path, dataset, capsys):
    run, other = tmp_path / "run", tmp_path / "other"
    assert main(train_args(dataset, run)) == 0
    assert main(train_args(dataset, other, "model.width=16", "model.num_heads=2")) == 0
    shutil.copy(other / "last.pt", run / "last.pt")
    capsys.readouterr()
    assert main(["--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.width: checkpoint 16, config.yaml 32" in err and "size mismatch" not in err
    assert len(err.splitlines()) == 1


def test_config_differences_skips_resumable_fields_and_unrecorded_ones():
    recorded = {"train": {"epochs": 1, "out_dir": "a", "seed": 0}, "optim": {"lr": 0.002}}
    current = {"train": {"epochs": 5, "out_dir": "b", "seed": 0, "new_field": 3}, "optim": {"lr": 0.002}}
    assert config_differences(recorded, current, ("train.epochs", "train.out_dir")) == []
    current["train"]["seed"] = 1
    assert config_differences(recorded, current, ("train.epochs",)) == [("train.out_dir", "a", "b"),
                                                                         ("train.seed", 0, 1)]
