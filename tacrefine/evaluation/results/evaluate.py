"""An evaluation written out: roll the policies out, then ``report.json``, ``report.md`` and plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tacrefine.evaluation.episodes.protocol import EvalConfig
from tacrefine.evaluation.episodes.rollouts import evaluate_policies
from tacrefine.evaluation.episodes.runner import JOURNAL_DIR
from tacrefine.lock import locked_output


@locked_output("out", "evaluation")
def run_evaluation(cfg: EvalConfig, specs: Sequence[str], out: str | Path, *, backend: str = "local",
                   workers: int = 1, ray_address: str | None = None, recorder: Any = None) -> dict[str, Any]:
    """Evaluate ``specs`` and write ``report.json``, ``report.md`` and the plots into ``out``.

    Finished jobs are recorded in ``out/.jobs``: an interrupted evaluation rerun with the
    same arguments plays only the jobs that had not finished.

    Returns the report (the content of ``report.json``). ``backend`` / ``workers`` /
    ``ray_address``: where the episodes run (see :func:`evaluate_policies`). ``recorder``: called
    with the ``EvaluationRun``, whose ``traces`` then hold every episode step by step.
    """
    run = play_episodes(cfg, specs, out, backend=backend, workers=workers, ray_address=ray_address,
                        recorder=recorder)
    return write_evaluation(cfg, run, out)


def play_episodes(cfg: EvalConfig, specs: Sequence[str], out: str | Path, *, backend: str = "local",
                  workers: int = 1, ray_address: str | None = None, recorder: Any = None) -> Any:
    """The first half of :func:`run_evaluation`: the episodes, journaled in ``out/.jobs``.

    Split from the writing so that a caller can play the next evaluation's episodes while
    this one's report and plots are written (the benchmark does; the caller holds the lock)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = evaluate_policies(cfg, specs, backend=backend, workers=workers, ray_address=ray_address,
                            journal=out / JOURNAL_DIR, record=recorder is not None)
    if recorder is not None:
        recorder(run)
    return run


def write_evaluation(cfg: EvalConfig, run: Any, out: str | Path) -> dict[str, Any]:
    """The second half of :func:`run_evaluation`: ``report.json``, ``report.md`` and the plots of
    a played evaluation; returns the report."""
    from tacrefine.evaluation.results.report import build_report, write_report

    out = Path(out)
    report = build_report(run)
    earlier = _listed_plots(out)  # an earlier evaluation into this folder: its plots must not stay
    if cfg.plots:
        from tacrefine.evaluation.results.plots import write_plots

        report["plots"] = write_plots(report, run.captures, out)
    write_report(report, out)
    for name in earlier - set((report.get("plots") or {}).values()):
        (out / name).unlink(missing_ok=True)
    return report


def _listed_plots(out: Path) -> set[str]:
    """Plot files (relative names in ``out``) that ``out/report.json`` lists, if any."""
    try:
        plots = json.loads((out / "report.json").read_text(encoding="utf-8")).get("plots") or {}
    except (OSError, ValueError, AttributeError):
        return set()
    return {p for p in plots.values() if isinstance(p, str) and "/" not in p and not p.startswith(".")}
