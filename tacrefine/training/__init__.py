"""Training of TacRefineNet: run configuration, the loop, checkpoints and metrics.

Public names are imported lazily, so that loading a checkpoint (``checkpoint``) does not
pull in the dataset and augmentation modules the training loop needs.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RunConfig": "config", "DataRef": "config", "OptimConfig": "config", "TrainConfig": "config",
    "load_run_config": "config",
    "train": "loop", "resume_run": "loop", "evaluate": "loop", "TrainResult": "loop",
    "measure_training_throughput": "loop",
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "load_model": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
