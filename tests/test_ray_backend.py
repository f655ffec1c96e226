"""Ray backend on a local Ray (num_cpus=2): same shards and same episode records as the local
backend, and a remote failure names the object and the seed. One Ray for the whole module."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import ray

from tacrefine.data import storage
from tacrefine.data.generate import DataConfig, generate_dataset
from tacrefine.evaluation.protocol import EvalConfig
from tacrefine.evaluation.runner import evaluate_policies
from tacrefine.parallel import TaskError

TIMING = ("seconds", "decision_ms")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def tiny(**kw) -> DataConfig:
    base = {"objects": ("wedge", "rod_r4"), "samples_per_object": 4, "shard_size": 2, "seed": 5, "workers": 1}
    return DataConfig(**{**base, **kw})


def test_ray_generation_gives_the_local_shards_and_resumes(local_ray, tmp_path):
    local = generate_dataset(tiny(), tmp_path / "local", progress=False)
    partial = generate_dataset(tiny(), tmp_path / "ray", progress=False, backend="ray", max_shards=1)
    assert partial.shards_generated == 1 and not partial.complete and partial.workers == 2
    rest = generate_dataset(tiny(), tmp_path / "ray", progress=False, backend="ray")
    assert local.complete and rest.complete and rest.shards_skipped == 1 and rest.shards_generated == 3
    a = storage.read_manifest(tmp_path / "local")["shards"]
    b = storage.read_manifest(tmp_path / "ray")["shards"]
    assert [e["sha256"] for e in a] == [e["sha256"] for e in b] and len(a) == 4
    np.testing.assert_array_equal(storage.load_dataset(tmp_path / "ray")[0].tactile,
                                  storage.load_dataset(tmp_path / "local")[0].tactile)


def test_a_remote_failure_names_object_and_seed(local_ray, tmp_path):
    hopeless = tiny(objects=("rod_r4",), offset_range={"y": 40.0, "z": 40.0, "roll": 10.0}, max_rejects=2)
    with pytest.raises(TaskError, match=r"shard 00000 .*object 'rod_r4', seed 5 failed: DatasetError: .*rejected"):
        generate_dataset(hopeless, tmp_path / "bad", progress=False, backend="ray")


def _without_timing(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_ray_evaluation_gives_the_local_records(local_ray):
    cfg = EvalConfig(objects=("wedge", "rod_r4"), episodes_per_object=2, max_steps=2, target_modes=("fixed",),
                     plots=False, render=False, progress=False)
    specs = ["baseline:random", "baseline:servo"]
    local = evaluate_policies(cfg, specs)
    remote = evaluate_policies(dataclasses.replace(cfg), specs, backend="ray")
    assert len(local.episodes) == 8
    assert _without_timing(remote.episodes) == _without_timing(local.episodes)
    assert [e["seed"] for e in remote.episodes] == [e["seed"] for e in local.episodes]
