"""HDF5 shards + manifest: round trip, atomicity, and detection of every kind of damage."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from tacrefine import geometry
from tacrefine.data import storage
from tacrefine.data.samples import GraspSamples
from tacrefine.data.storage import (
    DatasetError,
    init_manifest,
    load_dataset,
    manifest_hash,
    read_manifest,
    read_shard,
    record_shard,
    remove_partial_files,
    validate_dataset,
    write_shard,
)

SHAPE = (2, 1, 6, 5)


def synthetic(
    n: int, rng: np.random.Generator, names: list[str], shape: tuple[int, ...] = SHAPE
) -> GraspSamples:
    """Random but well-formed samples: rigid grasps, uint8 images, every object present."""
    vecs = np.concatenate([rng.uniform(-0.01, 0.01, (n, 3)), rng.uniform(-0.3, 0.3, (n, 3))], axis=1)
    return GraspSamples(
        tactile=rng.integers(0, 256, (n, *shape), dtype=np.uint8),
        joints=rng.uniform(0.001, 0.01, (n, shape[0])).astype(np.float32),
        grasp=np.stack([geometry.vector_to_pose(v) for v in vecs]),
        offset=vecs,
        object_id=(np.arange(n) % len(names)).astype(np.int32),
        object_names=list(names),
    )


def make_dataset(root: Path, parts: list[GraspSamples], planned: int | None = None) -> list[dict]:
    init_manifest(root, {"source": "test", "tactile_shape": list(SHAPE)}, n_shards_planned=planned)
    entries = []
    for i, part in enumerate(parts):
        entries.append(write_shard(root, i, part, seed=7, n_rejected=i))
        record_shard(root, entries[-1])
    return entries


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, list[GraspSamples]]:
    rng = np.random.default_rng(0)
    parts = [synthetic(5, rng, ["rod", "plate"]), synthetic(4, rng, ["plate"]),
             synthetic(3, rng, ["disc", "rod"])]
    make_dataset(tmp_path, parts, planned=3)
    return tmp_path, parts


def flip_byte(path: Path, where: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    pos = int(len(data) * where)
    data[pos] ^= 0xFF
    path.write_bytes(bytes(data))


def test_round_trip_preserves_every_field_and_object_names(dataset):
    root, parts = dataset
    samples, manifest = load_dataset(root)
    assert len(samples) == sum(len(p) for p in parts) == manifest["n_samples"]
    assert samples.object_names == ["rod", "plate", "disc"]
    offset = 0
    for part in parts:
        sl = slice(offset, offset + len(part))
        for name in ("tactile", "joints", "grasp", "offset"):
            np.testing.assert_array_equal(getattr(samples, name)[sl], getattr(part, name))
        # ids are remapped onto the union of names, but each sample keeps its object
        got = [samples.object_names[i] for i in samples.object_id[sl]]
        assert got == [part.object_names[i] for i in part.object_id]
        offset += len(part)
    assert samples.tactile.dtype == np.uint8 and samples.joints.dtype == np.float32
    assert samples.grasp.dtype == np.float64 and samples.object_id.dtype == np.int32
    assert [e["index"] for e in manifest["shards"]] == [0, 1, 2]
    assert manifest["shards"][2]["objects"] == ["disc", "rod"]
    assert manifest["shards"][1]["n_rejected"] == 1
    assert manifest["metadata"]["source"] == "test"
    assert validate_dataset(root) == []


def test_shard_file_compresses_small_fields_keeps_images_contiguous_and_carries_attrs(dataset):
    root, parts = dataset
    mask = os.umask(0)
    os.umask(mask)
    assert (root / "shard-00000.h5").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    with h5py.File(root / "shard-00000.h5", "r") as fh:
        for name in set(storage.FIELDS) - {"tactile"}:
            assert fh[name].compression == "gzip" and fh[name].chunks is not None
        # images: one plain read per row for streaming training
        assert fh["tactile"].compression is None and fh["tactile"].chunks is None
        assert json.loads(fh.attrs["object_names"]) == ["rod", "plate"]
        assert fh.attrs["schema_version"] == storage.SCHEMA_VERSION
        assert fh.attrs["shard_index"] == 0 and fh.attrs["seed"] == 7
    single = read_shard(root / "shard-00001.h5")
    np.testing.assert_array_equal(single.tactile, parts[1].tactile)


def test_lzf_compression_round_trips(tmp_path):
    part = synthetic(3, np.random.default_rng(1), ["a"])
    write_shard(tmp_path, 0, part, compression="lzf")
    np.testing.assert_array_equal(read_shard(tmp_path / "shard-00000.h5").grasp, part.grasp)


def test_shard_bytes_depend_only_on_content(tmp_path):
    part = synthetic(6, np.random.default_rng(2), ["a", "b"])
    first = write_shard(tmp_path / "one", 3, part, seed=1)
    second = write_shard(tmp_path / "two", 3, part, seed=1)
    assert first["sha256"] == second["sha256"]
    assert first["sha256"] == hashlib.sha256((tmp_path / "one" / "shard-00003.h5").read_bytes()).hexdigest()


def test_corrupted_shard_is_named_by_load_and_validate(dataset):
    root, _ = dataset
    flip_byte(root / "shard-00001.h5")
    with pytest.raises(DatasetError, match=r"shard 00001 \(shard-00001.h5\): checksum mismatch") as info:
        load_dataset(root)
    assert "shard 00000" not in str(info.value) and "shard 00002" not in str(info.value)
    problems = validate_dataset(root)
    assert len(problems) == 1 and problems[0].startswith("shard 00001")


def test_unreadable_file_with_matching_checksum_is_reported(dataset):
    root, _ = dataset
    path = root / "shard-00002.h5"
    path.write_bytes(path.read_bytes()[:300])  # truncated, but manifest updated to match: not HDF5 anymore
    manifest = read_manifest(root)
    manifest["shards"][2]["sha256"] = storage.sha256_file(path)
    storage.write_manifest(root, manifest)
    with pytest.raises(DatasetError, match=r"shard 00002.*unreadable"):
        load_dataset(root)
    assert any(p.startswith("shard 00002") and "unreadable" in p for p in validate_dataset(root))


def test_missing_file_and_count_mismatch_are_reported(dataset):
    root, _ = dataset
    (root / "shard-00000.h5").unlink()
    manifest = read_manifest(root)
    manifest["shards"][1]["n_samples"] = 99
    storage.write_manifest(root, manifest)
    problems = validate_dataset(root)
    assert any(p.startswith("shard 00000") and "missing" in p for p in problems)
    assert any(p.startswith("shard 00001") and "manifest says 99" in p for p in problems)
    with pytest.raises(DatasetError, match="shard 00000.*missing"):
        load_dataset(root)


def test_bad_content_is_reported_per_shard(tmp_path):
    rng = np.random.default_rng(3)
    good = synthetic(4, rng, ["a"])
    nan = synthetic(4, rng, ["a"])
    nan.grasp[2, 0, 3] = np.nan
    sheared = synthetic(4, rng, ["a"])
    sheared.grasp[1, :3, :3] *= 1.01  # a scaled rotation: not a rigid transform
    wrong_shape = synthetic(4, rng, ["a"], shape=(2, 1, 7, 5))
    make_dataset(tmp_path, [good, nan, sheared, wrong_shape])
    report = storage.check_dataset(tmp_path)
    assert set(report.shard_problems) == {1, 2, 3}
    assert "NaN" in report.shard_problems[1][0]
    assert "not rigid" in report.shard_problems[2][0]
    assert "(2, 1, 7, 5)" in report.shard_problems[3][0]
    with pytest.raises(DatasetError, match="shard 00003"):
        load_dataset(tmp_path)


def test_planned_shards_missing_make_the_dataset_incomplete(tmp_path):
    make_dataset(tmp_path, [synthetic(3, np.random.default_rng(4), ["a"])], planned=2)
    assert validate_dataset(tmp_path) == ["shard 00001 (shard-00001.h5): planned but not generated"]
    with pytest.raises(DatasetError, match="planned but not generated"):
        load_dataset(tmp_path)
    samples, _ = load_dataset(tmp_path, allow_incomplete=True)
    assert len(samples) == 3


def test_manifest_rewrite_is_atomic_and_hash_tracks_it(tmp_path):
    rng = np.random.default_rng(5)
    make_dataset(tmp_path, [synthetic(3, rng, ["a"])])
    before = manifest_hash(tmp_path)
    assert before == hashlib.sha256((tmp_path / "manifest.json").read_bytes()).hexdigest()
    record_shard(tmp_path, write_shard(tmp_path, 1, synthetic(2, rng, ["a"])))
    assert manifest_hash(tmp_path) != before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # replacing an entry by index keeps one entry per shard
    record_shard(tmp_path, write_shard(tmp_path, 1, synthetic(5, rng, ["a"])))
    manifest = read_manifest(tmp_path)
    assert [e["index"] for e in manifest["shards"]] == [0, 1] and manifest["n_samples"] == 8


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    part = synthetic(3, np.random.default_rng(6), ["a"])

    def broken(self, name, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", broken)
    with pytest.raises(OSError, match="disk full"):
        write_shard(tmp_path, 0, part)
    assert list(tmp_path.iterdir()) == []


def test_partial_files_are_removed_and_recorded_ones_kept(dataset):
    root, _ = dataset
    (root / ".shard-00003.h5.abc123.tmp").write_bytes(b"half a shard")
    (root / ".manifest.json.xyz.tmp").write_bytes(b"{")
    (root / "shard-00004.h5").write_bytes(b"written but never recorded")
    removed = {p.name for p in remove_partial_files(root)}
    assert removed == {".shard-00003.h5.abc123.tmp", ".manifest.json.xyz.tmp", "shard-00004.h5"}
    assert sorted(p.name for p in root.glob("shard-*.h5")) == [f"shard-0000{i}.h5" for i in range(3)]
    assert validate_dataset(root) == []


def test_writer_refuses_bad_input(tmp_path):
    part = synthetic(3, np.random.default_rng(7), ["a"])
    floats = synthetic(3, np.random.default_rng(7), ["a"])
    floats.tactile = floats.tactile.astype(np.float32)  # changed after the container checked it
    with pytest.raises(DatasetError, match="uint8"):
        write_shard(tmp_path, 0, floats)
    with pytest.raises(DatasetError, match="empty"):
        write_shard(tmp_path, 0, GraspSamples(part.tactile[:0], part.joints[:0], part.grasp[:0],
                                              part.offset[:0], part.object_id[:0], ["a"]))
    with pytest.raises(DatasetError, match="object_names"):
        write_shard(tmp_path, 0, GraspSamples(part.tactile, part.joints, part.grasp, part.offset,
                                              part.object_id + 1, ["a"]))
    init_manifest(tmp_path, {})
    with pytest.raises(DatasetError, match="already exists"):
        init_manifest(tmp_path, {})
    with pytest.raises(DatasetError, match="no manifest"):
        load_dataset(tmp_path / "nowhere")
