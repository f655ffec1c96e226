"""LeRobot-format datasets: export -> import gives back the same arrays; a rig's recording imports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tacrefine import geometry
from tacrefine.cli.dataset import main as dataset_main
from tacrefine.cli.generate_data import main as generate_main
from tacrefine.data import GraspSamples, init_manifest, load_dataset, record_shard, validate_dataset, write_shard
from tacrefine.data.lerobot import features_for, import_lerobot
from tacrefine.data.storage import DatasetError

SHAPE = (2, 3, 11, 9)


def synthetic(n: int, rng: np.random.Generator, names: list[str]) -> GraspSamples:
    vecs = np.concatenate([rng.uniform(-0.01, 0.01, (n, 3)), rng.uniform(-0.3, 0.3, (n, 3))], axis=1)
    return GraspSamples(tactile=rng.integers(0, 256, (n, *SHAPE), dtype=np.uint8),
                        joints=rng.uniform(0.001, 0.01, (n, SHAPE[0])).astype(np.float32),
                        grasp=np.stack([geometry.vector_to_pose(v) for v in vecs]), offset=vecs,
                        object_id=(np.arange(n) % len(names)).astype(np.int32), object_names=list(names),
                        dof_mask=rng.random((n, 6)) < 0.5, object_classes=[n.split("_")[0] for n in names])


@pytest.fixture
def ours(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "ours"
    init_manifest(root, {"source": "test", "refined_dofs": ["y", "z", "roll"], "tactile_shape": list(SHAPE),
                         "sensor": {"rows": 11, "cols": 9, "name": "piezo_11x9"}})
    for i, part in enumerate([synthetic(7, rng, ["rod_r4"]), synthetic(5, rng, ["plate_w6", "rod_r4"]),
                              synthetic(4, rng, ["t_shape"])]):
        record_shard(root, write_shard(root, i, part))
    return root


def test_export_has_lerobots_layout_and_import_gives_the_same_arrays(ours, tmp_path, capsys):
    exported, back = tmp_path / "lerobot", tmp_path / "back"
    assert dataset_main(["export", str(ours), "--format", "lerobot", "--out", str(exported)]) == 0
    info = json.loads((exported / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 10
    assert info["total_episodes"] == 3 and info["total_frames"] == 16 and info["total_tasks"] == 3
    feats = info["features"]
    assert feats["observation.tactile.finger0"] == {"dtype": "uint8", "shape": [3, 11, 9],
                                                    "names": ["channels", "rows", "cols"]}
    assert feats["observation.state"]["shape"] == [2] and feats["label.grasp"]["shape"] == [4, 4]
    assert {"timestamp", "frame_index", "episode_index", "index", "task_index"} <= set(feats)
    data = pq.read_table(exported / "data" / "chunk-000" / "file-000.parquet")
    assert set(data.column_names) == set(feats) and data.num_rows == 16
    assert data.column("index").to_pylist() == list(range(16))
    episodes = pq.read_table(exported / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pydict()
    assert episodes["length"] == [7, 5, 4] and episodes["dataset_from_index"] == [0, 7, 12]
    assert episodes["tasks"][1] == ["plate_w6", "rod_r4"]
    assert "stats/observation.state/mean" in episodes
    tasks = pq.read_table(exported / "meta" / "tasks.parquet")
    assert b"pandas" in tasks.schema.metadata and tasks.column("task").to_pylist() == ["plate_w6", "rod_r4", "t_shape"]
    stats = json.loads((exported / "meta" / "stats.json").read_text())
    assert stats["observation.state"]["count"] == [16] and len(stats["label.grasp"]["mean"]) == 4

    assert dataset_main(["import", str(exported), "--format", "lerobot", "--out", str(back)]) == 0
    assert generate_main(["validate", str(back)]) == 0
    (a, meta_a), (b, meta_b) = load_dataset(ours), load_dataset(back)
    for name in ("tactile", "joints", "grasp", "offset", "object_id"):
        assert getattr(a, name).dtype == getattr(b, name).dtype
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.object_names == b.object_names and a.object_classes == b.object_classes
    assert np.array_equal(a.dof_mask, b.dof_mask)
    assert feats["label.dof_mask"] == {"dtype": "bool", "shape": [6], "names": ["x", "y", "z", "roll", "pitch", "yaw"]}
    assert meta_b["metadata"]["sensor"] == meta_a["metadata"]["sensor"], "the sensor travels with the data"
    assert meta_b["metadata"]["refined_dofs"] == ["y", "z", "roll"]
    capsys.readouterr()


def rig_recording(root: Path, rng: np.random.Generator, n_episodes: int = 2,
                  frames: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """What a real rig writes: single-channel [rows, cols] images, joints, grasp from mocap; no offsets."""
    feats = {k: v for k, v in features_for((2, 1, 11, 9)).items() if k != "wrist.offset"}
    for f in range(2):
        feats[f"observation.tactile.finger{f}"] = {"dtype": "uint8", "shape": [11, 9], "names": ["rows", "cols"]}
    n = n_episodes * frames
    vecs = np.concatenate([rng.uniform(-0.004, 0.004, (n, 3)), rng.uniform(-0.1, 0.1, (n, 3))], axis=1)
    grasp = np.stack([geometry.vector_to_pose(v) for v in vecs])
    images = rng.integers(0, 256, (n, 2, 11, 9), dtype=np.uint8)
    table = {f"observation.tactile.finger{f}": [img.tolist() for img in images[:, f]] for f in range(2)}
    table |= {"observation.state": rng.uniform(0.002, 0.008, (n, 2)).astype(np.float32).tolist(),
              "label.grasp": grasp.tolist(), "timestamp": (np.arange(n) % frames / 10).tolist(),
              "frame_index": (np.arange(n) % frames).tolist(), "episode_index": (np.arange(n) // frames).tolist(),
              "index": list(range(n)), "task_index": (np.arange(n) // frames % 2).tolist()}
    (root / "data" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.table(table), root / "data" / "chunk-000" / "file-000.parquet")
    (root / "meta").mkdir()
    pq.write_table(pa.table({"task_index": [0, 1], "task": ["mug_handle", "bolt_m6"]}), root / "meta" / "tasks.parquet")
    (root / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v3.0", "fps": 10, "features": feats}))
    return images, grasp


def test_a_rigs_recording_imports_validates_and_trains_shapes(tmp_path):
    images, grasp = rig_recording(tmp_path / "rig", np.random.default_rng(1))
    manifest = import_lerobot(tmp_path / "rig", tmp_path / "data", refined_dofs=("y", "z", "roll"))
    assert validate_dataset(tmp_path / "data") == []
    samples, _ = load_dataset(tmp_path / "data")
    assert samples.tactile.shape == (12, 2, 1, 11, 9) and np.array_equal(samples.tactile[:, :, 0], images)
    assert np.array_equal(samples.grasp, grasp) and np.all(samples.offset == 0)
    assert manifest["metadata"]["refined_dofs"] == ["y", "z", "roll"] and len(manifest["shards"]) == 2
    assert sorted(samples.object_names) == ["bolt_m6", "mug_handle"]


def test_import_names_what_is_missing_or_wrong(tmp_path):
    rig_recording(tmp_path / "rig", np.random.default_rng(2))
    info_path = tmp_path / "rig" / "meta" / "info.json"
    info = json.loads(info_path.read_text())
    broken = dict(info, features={k: v for k, v in info["features"].items() if k != "label.grasp"})
    info_path.write_text(json.dumps(broken))
    with pytest.raises(DatasetError, match="label.grasp"):
        import_lerobot(tmp_path / "rig", tmp_path / "out1")
    info["features"]["observation.tactile.finger0"]["dtype"] = "float32"
    info_path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="observation.tactile.finger0.*uint8"):
        import_lerobot(tmp_path / "rig", tmp_path / "out2")
    info_path.write_text(json.dumps(dict(info, codebase_version="v1.6")))
    with pytest.raises(DatasetError, match="codebase_version"):
        import_lerobot(tmp_path / "rig", tmp_path / "out3")


def test_export_refuses_an_invalid_dataset_and_an_existing_destination(ours, tmp_path):
    assert dataset_main(["export", str(ours), "--format", "lerobot", "--out", str(tmp_path / "x")]) == 0
    assert dataset_main(["export", str(ours), "--format", "lerobot", "--out", str(tmp_path / "x")]) == 2
    shard = next(ours.glob("shard-*.h5"))
    shard.write_bytes(shard.read_bytes()[:-10])
    assert dataset_main(["export", str(ours), "--format", "lerobot", "--out", str(tmp_path / "y")]) == 2
