"""Closed-loop evaluation, reports, plots and the grip-precision benchmark protocol.

``run_evaluation(EvalConfig(...), ["baseline:oracle", "runs/x/best.pt"], "out/")`` rolls
every policy out on the same seeded episodes and writes ``report.json`` (schema in
``docs/evaluation.md``), ``report.md`` and plots. Submodules are imported lazily so that
``import tacrefine.evaluation`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EvalConfig": "protocol", "PRECISION_PROTOCOL": "protocol", "PrecisionProtocol": "protocol",
    "PAPER_V2_SIM_SUCCESS": "protocol", "SUCCESS_THRESHOLDS": "protocol", "episode_seed": "protocol",
    "evaluate_policies": "runner", "run_evaluation": "runner", "run_episode": "runner",
    "build_report": "report", "validate_report": "report", "load_report": "report", "markdown": "report",
    "write_plots": "plots",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
