"""LeRobot import (issue 19, findings 1, 5, 8): every column checked against its feature, nothing
left behind by a failed import, damaged files refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tacrefine import geometry
from tacrefine.cli.dataset import main as dataset_main
from tacrefine.data import load_dataset, validate_dataset
from tacrefine.data.lerobot import features_for, import_lerobot
from tacrefine.data.storage import DatasetError

N, FRAMES = 8, 4


def recording(root: Path, tactile: pa.Array | None = None, **columns) -> dict:
    """A small two-episode rig recording; ``tactile`` / ``columns`` replace stored columns."""
    rng = np.random.default_rng(3)
    feats = {k: v for k, v in features_for((1, 1, 5, 4)).items() if k != "wrist.offset"}
    feats["observation.tactile.finger0"] = {"dtype": "uint8", "shape": [5, 4], "names": ["rows", "cols"]}
    vecs = np.concatenate([rng.uniform(-0.004, 0.004, (N, 3)), rng.uniform(-0.1, 0.1, (N, 3))], axis=1)
    images = rng.integers(0, 256, (N, 5, 4), dtype=np.uint8)
    table = {"observation.tactile.finger0": pa.array([img.tolist() for img in images], pa.list_(pa.list_(pa.uint8()))),
             "observation.state": rng.uniform(0.002, 0.008, (N, 1)).tolist(),
             "label.grasp": np.stack([geometry.vector_to_pose(v) for v in vecs]).tolist(),
             "timestamp": (np.arange(N) % FRAMES / 10).tolist(), "frame_index": (np.arange(N) % FRAMES).tolist(),
             "episode_index": (np.arange(N) // FRAMES).tolist(), "index": list(range(N)),
             "task_index": (np.arange(N) // FRAMES % 2).tolist()}
    if tactile is not None:
        table["observation.tactile.finger0"] = tactile
    table.update(columns)
    (root / "data" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.table(table), root / "data" / "chunk-000" / "file-000.parquet")
    (root / "meta").mkdir()
    pq.write_table(pa.table({"task_index": [0, 1], "task": ["mug", "bolt"]}), root / "meta" / "tasks.parquet")
    info = {"codebase_version": "v3.0", "fps": 10, "features": feats}
    (root / "meta" / "info.json").write_text(json.dumps(info))
    return info


def assert_nothing_left(out: Path) -> None:
    assert not out.exists(), "a failed import must not leave its output"
    assert not list(out.parent.glob(f".{out.name}.staging-*")), "nor its staging folder"


def test_a_clean_recording_imports_and_validates(tmp_path):
    recording(tmp_path / "rig")
    manifest = import_lerobot(tmp_path / "rig", tmp_path / "out")
    assert manifest["n_samples"] == N and validate_dataset(tmp_path / "out") == []
    assert not list(tmp_path.glob(".out.staging-*"))


def test_int16_counts_declared_uint8_are_refused_not_wrapped(tmp_path):
    images = np.full((N, 5, 4), 1020, dtype=np.int16)  # what the attack stored: counts up to 1020
    recording(tmp_path / "rig", tactile=pa.array(images.tolist(), pa.list_(pa.list_(pa.int16()))))
    with pytest.raises(DatasetError, match=r"observation\.tactile\.finger0.*int16.*uint8.*1020.*wrap"):
        import_lerobot(tmp_path / "rig", tmp_path / "out")
    assert_nothing_left(tmp_path / "out")


def test_int16_counts_within_range_import_exactly(tmp_path):
    images = np.random.default_rng(4).integers(0, 256, (N, 5, 4)).astype(np.int16)
    recording(tmp_path / "rig", tactile=pa.array(images.tolist(), pa.list_(pa.list_(pa.int16()))))
    import_lerobot(tmp_path / "rig", tmp_path / "out")
    samples, _ = load_dataset(tmp_path / "out")
    got = samples.tactile[:, 0, 0]
    assert np.array_equal(np.sort(got.reshape(-1)), np.sort(images.reshape(-1).astype(np.uint8)))


def test_float_images_declared_uint8_are_refused(tmp_path):
    images = np.random.default_rng(5).random((N, 5, 4), dtype=np.float32)  # a [0, 1] image would truncate to 0
    recording(tmp_path / "rig", tactile=pa.array(images.tolist(), pa.list_(pa.list_(pa.float32()))))
    with pytest.raises(DatasetError, match=r"observation\.tactile\.finger0.*float.*truncated"):
        import_lerobot(tmp_path / "rig", tmp_path / "out")
    assert_nothing_left(tmp_path / "out")


def test_non_finite_floats_and_wrong_shapes_are_refused(tmp_path):
    state = np.full((N, 1), 0.005)
    state[3, 0] = np.nan
    recording(tmp_path / "a", **{"observation.state": state.tolist()})
    with pytest.raises(DatasetError, match=r"observation\.state.*1 NaN or infinite"):
        import_lerobot(tmp_path / "a", tmp_path / "out")
    recording(tmp_path / "b", **{"observation.state": np.full((N, 2), 0.005).tolist()})
    with pytest.raises(DatasetError, match=r"observation\.state.*16 values in 8 rows.*\[1\]"):
        import_lerobot(tmp_path / "b", tmp_path / "out")
    assert_nothing_left(tmp_path / "out")


def test_a_failed_import_leaves_nothing_and_the_retry_works(tmp_path, capsys):
    recording(tmp_path / "rig", task_index=[0, 1, 2, 5, 0, 1, 0, 1])  # 2 tasks only: the attack's IndexError
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=r"task_index.*reaches 5.*only 2"):
        import_lerobot(tmp_path / "rig", out)
    assert_nothing_left(out)
    assert dataset_main(["import", str(tmp_path / "rig"), "--format", "lerobot", "--out", str(out)]) == 2
    assert "task_index" in capsys.readouterr().err
    assert_nothing_left(out)
    # a staging folder of a killed import is cleaned up by the next one
    (tmp_path / ".out.staging-killed").mkdir()
    (tmp_path / ".out.staging-killed" / "manifest.json").write_text("{}")
    table = pq.read_table(tmp_path / "rig" / "data" / "chunk-000" / "file-000.parquet")
    fixed = table.set_column(table.column_names.index("task_index"), "task_index",
                             pa.array((np.arange(N) // FRAMES % 2).tolist(), pa.int64()))
    pq.write_table(fixed, tmp_path / "rig" / "data" / "chunk-000" / "file-000.parquet")
    assert dataset_main(["import", str(tmp_path / "rig"), "--format", "lerobot", "--out", str(out)]) == 0
    assert validate_dataset(out) == [] and load_dataset(out)[1]["n_samples"] == N
    assert not list(tmp_path.glob(".out.staging-*"))


def test_damaged_files_are_refused_naming_them(tmp_path, capsys):
    info = recording(tmp_path / "rig")
    data = tmp_path / "rig" / "data" / "chunk-000" / "file-000.parquet"
    good = data.read_bytes()
    data.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(DatasetError, match=r"file-000\.parquet: unreadable parquet file"):
        import_lerobot(tmp_path / "rig", tmp_path / "out")
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    flipped[len(good) // 2 + 1] ^= 0xFF
    data.write_bytes(bytes(flipped))
    try:  # a flip may land in data (values then checked) or in structure (unreadable): never a traceback
        import_lerobot(tmp_path / "rig", tmp_path / "out_flip")
    except DatasetError as exc:
        assert "file-000.parquet" in str(exc) or "column" in str(exc)
    data.write_bytes(good)
    info_path = tmp_path / "rig" / "meta" / "info.json"
    for bad in (b'{"codebase_version": "v3.0", "fea', bytes(range(256)), b"[1, 2]"):
        info_path.write_bytes(bad)
        with pytest.raises(DatasetError, match=r"info\.json"):
            import_lerobot(tmp_path / "rig", tmp_path / "out")
    info["features"]["label.grasp"] = {"dtype": "float64"}  # no shape
    info_path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"feature 'label\.grasp' must be a mapping with 'dtype' and 'shape'"):
        import_lerobot(tmp_path / "rig", tmp_path / "out")
    info["features"]["label.grasp"] = {"dtype": "float64", "shape": [4, 4]}
    info["features"]["wrist.offset"] = {"dtype": "float64", "shape": [6]}  # declared but not stored
    info_path.write_text(json.dumps(info))
    assert dataset_main(["import", str(tmp_path / "rig"), "--format", "lerobot", "--out",
                         str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "column 'wrist.offset' is missing" in err and "Traceback" not in err
    assert_nothing_left(tmp_path / "out")


def test_import_refuses_a_non_empty_or_file_destination(tmp_path):
    recording(tmp_path / "rig")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="busy: exists and is not empty"):
        import_lerobot(tmp_path / "rig", tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileExistsError, match="afile: exists and is not a directory"):
        import_lerobot(tmp_path / "rig", tmp_path / "afile")
    (tmp_path / "empty").mkdir()
    assert import_lerobot(tmp_path / "rig", tmp_path / "empty")["n_samples"] == N
