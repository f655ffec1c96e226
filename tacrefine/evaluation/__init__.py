"""Closed-loop evaluation in three layers, each importing only the ones below it:

* :mod:`~tacrefine.evaluation.episodes`: env + policy + the episode loop, jobs, journal and
  orchestration; it yields episode records;
* :mod:`~tacrefine.evaluation.results`: statistics, the report schema, Markdown and plots
  made from those records;
* :mod:`~tacrefine.evaluation.benchmarks`: precision, parts, ablation, transfer, speed and
  scale, each one module that composes the layers below.

``run_evaluation(EvalConfig(...), ["baseline:oracle", "runs/x/best.pt"], "out/")`` rolls
every policy out on the same seeded episodes and writes ``report.json`` (schema in
``docs/evaluation.md``), ``report.md`` and plots. Submodules are imported lazily so that
``import tacrefine.evaluation`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from tacrefine.moved import alias_modules

_EXPORTS = {
    "EvalConfig": "episodes.protocol", "PRECISION_PROTOCOL": "episodes.protocol",
    "PrecisionProtocol": "episodes.protocol", "PAPER_V2_SIM_SUCCESS": "episodes.protocol",
    "SUCCESS_THRESHOLDS": "episodes.protocol", "episode_seed": "episodes.protocol",
    "evaluate_policies": "episodes.rollouts", "run_episode": "episodes.runner", "run_evaluation": "results.evaluate",
    "build_report": "results.report", "validate_report": "results.report", "load_report": "results.report",
    "markdown": "results.report", "write_plots": "results.plots",
}

#: Where the modules of the former flat folder live now (their old names still import).
MOVED = {
    "protocol": "episodes.protocol", "runner": "episodes.runner", "jobs": "episodes.jobs",
    "journal": "episodes.journal", "stats": "results.stats", "schema": "results.schema",
    "report": "results.report", "markdown": "results.markdown", "plots": "results.plots",
    "figures": "results.figures", "precision_plots": "results.precision_plots",
    "provenance": "results.provenance", "precision": "results.precision_summary",
    "parts_bench": "benchmarks.parts", "ablation": "benchmarks.ablation", "transfer": "benchmarks.transfer",
    "speed": "benchmarks.speed", "scale": "benchmarks.scale",
}
alias_modules(__name__, {old: f"{__name__}.{new}" for old, new in MOVED.items()})

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
