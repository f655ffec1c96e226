"""Training of TacRefineNet: run configuration, the loop, checkpoints and metrics.

Public names are imported lazily, so that loading a checkpoint (``checkpoint``) does not
pull in the dataset and augmentation modules the training loop needs.
"""

from __future__ import annotations

import importlib
from typing import Any

from tacrefine.moved import alias_modules

# Checkpoints belong to the policy (a policy loads itself from one): the old name still imports.
alias_modules(__name__, {"checkpoint": "tacrefine.policy.checkpoint"})

_EXPORTS = {
    "RunConfig": "config", "DataRef": "config", "OptimConfig": "config", "TrainConfig": "config",
    "load_run_config": "config",
    "train": "loop", "resume_run": "loop", "evaluate": "loop", "TrainResult": "loop",
    "measure_training_throughput": "loop",
    "CheckpointError": "tacrefine.policy.checkpoint", "load_checkpoint": "tacrefine.policy.checkpoint",
    "save_checkpoint": "tacrefine.policy.checkpoint", "load_model": "tacrefine.policy.checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = _EXPORTS[name]
        return getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
