"""Training from several datasets at once: ``data.path`` as a list read as the union."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tacrefine.config import ConfigError
from tacrefine.data.manifest import manifest_hash
from tacrefine.data.samples import GraspSamples
from tacrefine.data.storage import DatasetError, init_manifest, load_dataset, record_shard, write_shard
from tacrefine.data.stream import ShardTactile
from tacrefine.data.union import load_union, union_hash
from tacrefine.geometry import DOF_NAMES, vector_to_pose
from tacrefine.policy.checkpoint import CheckpointError
from tacrefine.training.config import load_run_config
from tacrefine.training.loop import load_data, resume_run, train

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (2, 1, 6, 5)


def _part(n: int, rng: np.random.Generator, names: list[str], classes: list[str],
          dofs: dict[str, tuple[str, ...]]) -> GraspSamples:
    vecs = np.concatenate([rng.uniform(-0.005, 0.005, (n, 3)), rng.uniform(-0.2, 0.2, (n, 3))], axis=1)
    ids = rng.integers(0, len(names), n).astype(np.int32)
    mask = np.array([[d in dofs[names[i]] for d in DOF_NAMES] for i in ids], bool)
    return GraspSamples(tactile=rng.integers(0, 256, (n, *SHAPE), dtype=np.uint8),
                        joints=rng.uniform(0.002, 0.004, (n, SHAPE[0])).astype(np.float32),
                        grasp=np.stack([vector_to_pose(v) for v in vecs]), offset=vecs, object_id=ids,
                        object_names=list(names), dof_mask=mask, object_classes=list(classes))


def _dataset(root: Path, sizes: list[int], names: list[str], classes: list[str] | None = None,
             dofs: dict[str, tuple[str, ...]] | None = None, seed: int = 0) -> Path:
    """A tiny dataset of ``names`` (class ``rod`` and DoF y z roll unless told)."""
    classes = classes or ["rod"] * len(names)
    dofs = dofs or {n: ("y", "z", "roll") for n in names}
    rng = np.random.default_rng(seed)
    refined = sorted({d for v in dofs.values() for d in v}, key=DOF_NAMES.index)
    init_manifest(root, {"refined_dofs": refined, "tactile_shape": list(SHAPE),
                         "object_dofs": {n: list(dofs[n]) for n in names}}, n_shards_planned=len(sizes))
    for index, n in enumerate(sizes):
        record_shard(root, write_shard(root, index, _part(n, rng, names, classes, dofs)))
    return root


def _cfg(data: str, out: Path, *extra: str):
    return load_run_config(ROOT / "configs" / "smoke.yaml", [
        f"data.path={data}", f"train.out_dir={out}", "train.epochs=1", "train.steps_per_epoch=3",
        "train.batch_size=16", "data.val_pairs=32", "data.norm_pairs=64", "train.device=cpu",
        "train.progress=false", *extra])


def test_union_holds_every_member_sample_under_the_union_of_names(tmp_path):
    a = _dataset(tmp_path / "a", [7, 5], ["rod", "plate"], dofs={"rod": ("y", "z"), "plate": ("y", "z")})
    b = _dataset(tmp_path / "b", [6], ["disc", "rod"], dofs={"disc": ("y", "z", "roll"), "rod": ("y", "z")},
                 seed=1)
    (sa, _), (sb, _) = load_dataset(a), load_dataset(b)
    samples, manifest, digest = load_union([a, b])
    assert len(samples) == len(sa) + len(sb) == 18
    assert samples.object_names == ["rod", "plate", "disc"]
    names = [samples.object_names[i] for i in samples.object_id]
    assert names == [sa.object_names[i] for i in sa.object_id] + [sb.object_names[i] for i in sb.object_id]
    assert isinstance(samples.tactile, ShardTactile)
    np.testing.assert_array_equal(samples.tactile[np.arange(18)], np.concatenate([sa.tactile, sb.tactile]))
    np.testing.assert_array_equal(samples.dof_mask, np.concatenate([sa.dof_mask, sb.dof_mask]))
    assert manifest["metadata"]["refined_dofs"] == ["y", "z", "roll"]  # the union, canonical order
    assert set(manifest["metadata"]["object_dofs"]) == {"rod", "plate", "disc"}
    assert [m["n_samples"] for m in manifest["members"]] == [12, 6]
    assert digest == union_hash([manifest_hash(a), manifest_hash(b)]) != union_hash([manifest_hash(b),
                                                                                      manifest_hash(a)])
    in_memory, _, digest_m = load_union([a, b], stream=False)
    assert isinstance(in_memory.tactile, np.ndarray) and digest_m == digest
    np.testing.assert_array_equal(in_memory.tactile, samples.tactile[np.arange(18)])


def test_one_directory_trains_as_before_and_a_one_entry_list_is_that_directory(tmp_path):
    data = _dataset(tmp_path / "d", [30, 30, 30], ["rod", "plate", "disc"])
    assert load_run_config(ROOT / "configs" / "smoke.yaml", [f"data.path=[{data}]"]).data.path == str(data)
    samples, _, digest = load_data(_cfg(str(data), tmp_path / "x"))
    assert digest == manifest_hash(data) and isinstance(samples.tactile, ShardTactile)
    states = []
    for name, path in (("plain", str(data)), ("listed", f"[{data}]")):
        train(_cfg(path, tmp_path / name))
        ckpt = torch.load(tmp_path / name / "last.pt", weights_only=True)
        assert ckpt["dataset_hash"] == manifest_hash(data)
        states.append(ckpt["model_state"])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_an_object_with_another_class_or_dofs_in_two_members_is_refused_naming_both(tmp_path):
    a = _dataset(tmp_path / "first", [5], ["rod", "plate"], classes=["rod", "plate"])
    b = _dataset(tmp_path / "second", [5], ["plate"], classes=["disc"], seed=1)
    with pytest.raises(DatasetError, match=r"'plate'.*class 'plate'.*first.*class 'disc'.*second"):
        load_union([a, b])
    c = _dataset(tmp_path / "third", [5], ["rod"], dofs={"rod": ("y", "z")}, seed=2)
    with pytest.raises(DatasetError, match=r"'rod'.*'y', 'z', 'roll'.*first.*\['y', 'z'\].*third"):
        load_union([a, c])
    with pytest.raises(DatasetError, match="listed twice"):
        load_union([a, a])


def test_data_path_lists_are_validated_by_entry(tmp_path):
    a = _dataset(tmp_path / "a", [4], ["rod"])
    cfg = load_run_config(ROOT / "configs" / "smoke.yaml", [f"data.path=[{a}, {tmp_path / 'b'}]"])
    assert cfg.data.path == (str(a), str(tmp_path / "b"))
    with pytest.raises(ConfigError, match=r"data\.path\[1\].*an existing dataset directory"):
        load_data(cfg)
    with pytest.raises(ConfigError, match=r"data\.path\[1\]"):
        load_run_config(ROOT / "configs" / "smoke.yaml", [f"data.path=[{a}, 3]"])
    with pytest.raises(ConfigError, match="data.path"):
        load_run_config(ROOT / "configs" / "smoke.yaml", ["data.path=[]"])
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text(f"data:\n  path:\n    - {a}\n    - {tmp_path / 'b'}\n")
    assert load_run_config(yaml_file).data.path == cfg.data.path


def test_resuming_a_union_run_refuses_a_changed_member(tmp_path):
    a = _dataset(tmp_path / "a", [30, 30], ["rod", "plate"])
    b = _dataset(tmp_path / "b", [30, 30], ["disc"], seed=1)
    out = tmp_path / "run"
    first = train(_cfg(f"[{a}, {b}]", out))
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["dataset_hash"] == union_hash([manifest_hash(a), manifest_hash(b)])
    assert set(ckpt["object_names"]) == {"rod", "plate", "disc"} and first.epochs_done == 1
    assert resume_run(out, ["train.epochs=2"]).epochs_done == 2  # unchanged members: resumes
    rng = np.random.default_rng(9)
    record_shard(b, write_shard(b, 2, _part(4, rng, ["disc"], ["rod"], {"disc": ("y", "z", "roll")})))
    with pytest.raises(CheckpointError, match="resuming needs the same data"):
        resume_run(out, ["train.epochs=3"])
