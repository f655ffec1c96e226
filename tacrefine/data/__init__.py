"""Datasets of recorded grasps: storage (HDF5 shards + manifest), generation, pairs, augmentation.

Generation needs the simulator (PyBullet); it is imported only when first used, so that
training and analysis code can read datasets without it.
"""

from __future__ import annotations

from typing import Any

from tacrefine.data.augment import AugmentConfig, augment
from tacrefine.data.pairs import PairSampler, correction_labels, label_to_increment, split_by_sample
from tacrefine.data.samples import GraspSamples
from tacrefine.data.storage import (
    DatasetError,
    check_dataset,
    init_manifest,
    load_dataset,
    manifest_hash,
    read_manifest,
    read_shard,
    record_shard,
    validate_dataset,
    write_shard,
)

_LAZY = {"DataConfig", "GenerationSummary", "generate_dataset", "generate_shard", "plan_shards"}

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "DatasetError",
    "GenerationSummary",
    "GraspSamples",
    "PairSampler",
    "augment",
    "check_dataset",
    "correction_labels",
    "generate_dataset",
    "generate_shard",
    "init_manifest",
    "label_to_increment",
    "load_dataset",
    "manifest_hash",
    "plan_shards",
    "read_manifest",
    "read_shard",
    "record_shard",
    "split_by_sample",
    "validate_dataset",
    "write_shard",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from tacrefine.data import generate

        return getattr(generate, name)
    raise AttributeError(f"module 'tacrefine.data' has no attribute {name!r}")
