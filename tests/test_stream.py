"""Streaming datasets: the images stay in the shards, batches are the same as from memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tacrefine.data.pairs import PairSampler
from tacrefine.data.samples import GraspSamples
from tacrefine.data.storage import DatasetError, init_manifest, load_dataset, record_shard, write_shard
from tacrefine.data.stream import ShardTactile, load_for_training, open_dataset
from tacrefine.geometry import vector_to_pose
from tacrefine.training.config import load_run_config
from tacrefine.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["rod", "plate", "disc"]


def _part(n: int, rng: np.random.Generator, shape: tuple[int, ...]) -> GraspSamples:
    vecs = np.concatenate([rng.uniform(-0.005, 0.005, (n, 3)), rng.uniform(-0.2, 0.2, (n, 3))], axis=1)
    return GraspSamples(tactile=rng.integers(0, 256, (n, *shape), dtype=np.uint8),
                        joints=rng.uniform(0.002, 0.004, (n, shape[0])).astype(np.float32),
                        grasp=np.stack([vector_to_pose(v) for v in vecs]), offset=vecs,
                        object_id=rng.integers(0, len(NAMES), n).astype(np.int32), object_names=list(NAMES))


def _dataset(root: Path, sizes: list[int], shape: tuple[int, ...] = (2, 1, 6, 5),
             chunked: tuple[int, ...] = ()) -> Path:
    """Shards of ``sizes`` samples; those in ``chunked`` in the older layout (images compressed in chunks)."""
    rng = np.random.default_rng(len(sizes))
    init_manifest(root, {"refined_dofs": ["y", "z", "roll"], "tactile_shape": list(shape)},
                  n_shards_planned=len(sizes))
    for index, n in enumerate(sizes):
        record_shard(root, write_shard(root, index, _part(n, rng, shape), contiguous_images=index not in chunked))
    return root


def test_streamed_batches_equal_the_loaded_ones_on_new_and_older_shards(tmp_path):
    root = _dataset(tmp_path, [7, 3, 9, 1, 6], chunked=(2,))
    loaded, manifest = load_dataset(root)
    streamed, manifest_s = open_dataset(root, max_open=2)
    assert isinstance(streamed.tactile, ShardTactile) and manifest_s == manifest
    assert streamed.tactile.shape == loaded.tactile.shape and len(streamed) == len(loaded)
    images = loaded.tactile
    for key in (0, -1, 12, slice(2, 20, 3), slice(None), np.array([25, 0, 0, 13, 7, 7]),
                np.arange(len(images)) % 3 == 0, np.array([], np.int64)):
        np.testing.assert_array_equal(streamed.tactile[key], images[key])
    for name in ("joints", "grasp", "offset", "object_id", "dof_mask"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(loaded, name))
    idx = np.arange(0, len(loaded), 2)
    for seed in range(3):
        a = PairSampler(loaded, idx, ("y", "z", "roll")).sample(64, np.random.default_rng(seed))
        b = PairSampler(streamed, idx, ("y", "z", "roll")).sample(64, np.random.default_rng(seed))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert streamed.tactile.open_files <= 2  # bounded, however many shards were read
    with pytest.raises(IndexError):
        streamed.tactile[len(images)]


def _held_bytes(samples: GraspSamples) -> int:
    """Bytes of every array the opened dataset holds (its fields and the image reader's state)."""
    arrays = [v for v in vars(samples).values() if isinstance(v, np.ndarray)]
    arrays += [v for v in vars(samples.tactile).values() if isinstance(v, np.ndarray)]
    return sum(a.nbytes for a in arrays)


def test_memory_held_by_a_streamed_dataset_does_not_grow_with_the_images(tmp_path):
    small = open_dataset(_dataset(tmp_path / "small", [40, 40, 40], shape=(2, 1, 4, 3)))[0]
    large = open_dataset(_dataset(tmp_path / "large", [40, 40, 40], shape=(2, 3, 24, 20)))[0]
    assert large.tactile.shape[1:] == (2, 3, 24, 20)
    large.tactile[np.arange(0, 120, 7)]  # reading keeps nothing
    assert _held_bytes(large) == _held_bytes(small)
    assert _held_bytes(large) < len(large) * 250  # the pose fields only: ~0.2 KB a sample
    assert not any(isinstance(v, np.ndarray) and v.size >= len(large) * 2 * 3 * 24 * 20
                   for v in vars(large.tactile).values())


def test_corrupt_or_changed_shards_are_named(tmp_path):
    root = _dataset(tmp_path, [5, 5])
    samples, _ = open_dataset(root)
    samples.tactile[np.arange(10)]  # both files open
    data = (root / "shard-00001.h5").read_bytes()
    (root / "shard-00001.h5").write_bytes(data[:100])  # truncated after it was checked
    with pytest.raises(DatasetError, match="shard 00001.*shorter"):
        samples.tactile[np.arange(10)]
    samples.tactile.close()
    with pytest.raises(DatasetError, match="shard 00001.*changed since"):
        samples.tactile[np.arange(10)]
    with pytest.raises(DatasetError, match="shard 00001.*checksum"):
        open_dataset(root)


def test_training_streams_new_datasets_and_loads_older_ones(tmp_path):
    new = _dataset(tmp_path / "new", [6, 6])
    old = _dataset(tmp_path / "old", [6, 6], chunked=(1,))
    assert isinstance(load_for_training(new)[0].tactile, ShardTactile)
    assert isinstance(load_for_training(old)[0].tactile, np.ndarray)  # auto: chunked images are loaded
    assert isinstance(load_for_training(old, stream=True)[0].tactile, ShardTactile)
    assert isinstance(load_for_training(new, stream=False)[0].tactile, np.ndarray)
    with pytest.raises(ValueError, match="stream"):
        load_for_training(new, stream="sometimes")


def test_training_on_a_streamed_dataset_gives_the_same_weights_as_from_memory(tmp_path):
    data = _dataset(tmp_path / "data", [30, 30, 30, 30])
    states = []
    for stream in (True, False):
        cfg = load_run_config(ROOT / "configs" / "smoke.yaml", [
            f"data.path={data}", f"data.stream={str(stream).lower()}", f"train.out_dir={tmp_path / str(stream)}",
            "train.epochs=1", "train.steps_per_epoch=3", "train.batch_size=16", "data.val_pairs=32",
            "data.norm_pairs=64", "train.device=cpu", "train.progress=false"])
        train(cfg)
        states.append(torch.load(tmp_path / str(stream) / "last.pt", weights_only=True)["model_state"])
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_stream_setting_is_validated():
    from tacrefine.config import ConfigError

    with pytest.raises(ConfigError, match="data.stream"):
        load_run_config(ROOT / "configs" / "smoke.yaml", ["data.stream=sometimes"])
    for value in ("auto", True, False):
        assert load_run_config(ROOT / "configs" / "smoke.yaml", [f"data.stream={str(value).lower()}"]).data.stream \
            == value


def test_a_shard_replaced_after_opening_is_refused_not_read(tmp_path):
    root = _dataset(tmp_path, [4, 5])
    streamed, _ = open_dataset(root, max_open=1)
    first = streamed.tactile[0]
    streamed.tactile[6]  # shard 1 evicts shard 0: the next read of shard 0 reopens it
    rng = np.random.default_rng(99)
    record_shard(root, write_shard(root, 0, _part(4, rng, (2, 1, 6, 5))))  # regenerated in place
    with pytest.raises(DatasetError, match="shard.*changed since the dataset was opened"):
        streamed.tactile[0]
    assert open_dataset(root)[0].tactile[0].shape == first.shape  # reopening checks the new file afresh


@pytest.mark.parametrize("chunked", [(), (0, 1)])
def test_a_pickled_streamed_dataset_reads_the_same_rows(tmp_path, chunked):
    import pickle

    root = _dataset(tmp_path, [4, 5], chunked=chunked)
    streamed, _ = open_dataset(root, max_open=2)
    rows = np.array([0, 8, 3, 5])
    before = streamed.tactile[rows]
    assert streamed.tactile.open_files == 2
    copy = pickle.loads(pickle.dumps(streamed))
    assert copy.tactile.open_files == 0  # no fd numbers or HDF5 handles carried over
    np.testing.assert_array_equal(copy.tactile[rows], before)
    np.testing.assert_array_equal(streamed.tactile[rows], before)
