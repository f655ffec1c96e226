"""The grip-precision benchmark (v3): every suite, the learned policy and every baseline.

For each suite of the protocol (the parallel jaw and the paper's three-finger task) the
learned policy - when one fits the suite's env - and every baseline run on the same seeded
episodes, fixed and random targets; the learned policy also runs under sensor noise and
domain randomisation. Episodes follow the protocol's stop rule (default: no oracle, the
policy stops itself; every table adds the harm rate, the worst part and the unfamiliar
flag's recall / false alarms, and the oracle-stop figure as a secondary column). Results
per policy, target mode and object class at every threshold pair go into ``precision.json``
beside the paper's published figures; the full per-suite reports (JSON, Markdown, plots)
sit in ``OUT/<suite>/clean`` and ``OUT/<suite>/noisy_dr``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tacrefine.evaluation.episodes.protocol import SUITES
from tacrefine.evaluation.results.precision_summary import learned_for_suite, precision_summary, suite_summary


def run_precision_benchmark(learned: str | None, out: str | Path, *, protocol: Any = None,
                            suites: Sequence[str] | None = None, episodes_per_object: int | None = None,
                            progress: bool = True, plots: bool = True, noisy: bool = True,
                            workers: int = 1) -> dict[str, Any]:
    """Run the benchmark into ``out`` and return (and write) ``precision.json``.

    ``workers``: local worker processes the episodes run on (results do not depend on it;
    only the timing fields do).

    ``suites``: names to run (default: the protocol's). A suite whose env is not registered
    is skipped; a learned policy that does not fit a suite's env is left out of that suite
    (both reported). ``episodes_per_object`` other than the protocol's marks the result
    ``off_protocol``.
    """
    from tacrefine.evaluation.episodes.protocol import PRECISION_PROTOCOL
    from tacrefine.evaluation.results.report import write_json

    protocol = protocol or PRECISION_PROTOCOL
    out = Path(out)
    names = tuple(suites) if suites is not None else protocol.suites
    results: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    prov: dict[str, Any] | None = None
    for name in names:
        if name not in SUITES:
            raise ValueError(f"suite: {name!r} is unknown; known: {list(SUITES)}")
        if not SUITES[name].available():
            skipped[name] = f"env {SUITES[name].env_id} is not registered in this version"
            continue
        spec, note = learned_for_suite(learned, name)
        specs = ([spec] if spec else []) + [s for s in protocol.baselines if s != spec]
        folder = out / "unseen_parts"  # the test-only unseen parts, written as URDFs (given by path)
        clean_cfg = protocol.eval_config(name, episodes_per_object=episodes_per_object, progress=progress,
                                         plots=plots, parts_folder=folder)
        noisy_cfg = None
        if spec and noisy:
            noisy_cfg = protocol.eval_config(name, noisy=True, episodes_per_object=episodes_per_object,
                                             progress=progress, plots=plots, parts_folder=folder)
        clean, noisy_report = _clean_then_noisy(clean_cfg, specs, noisy_cfg, spec, out / name, workers)
        results[name] = suite_summary(name, clean, noisy_report, spec, note if learned else None,
                                      protocol.robust_threshold)
        prov = prov or clean["provenance"]
    summary = precision_summary(protocol, results, skipped, learned, prov)
    if plots and results:
        from tacrefine.evaluation.results.precision_plots import plot_precision

        summary["plots"] = {"success_by_threshold": str(plot_precision(summary, out / "precision.png").name)}
    write_json(summary, out / "precision.json")
    return summary


def _clean_then_noisy(clean_cfg: Any, specs: list[str], noisy_cfg: Any, spec: str | None, folder: Path,
                      workers: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The suite's clean evaluation, then its noisy one (the learned policy alone), as
    :func:`~tacrefine.evaluation.results.evaluate.run_evaluation` would write them; the noisy
    episodes play in a side thread (their work runs in the worker processes) while this one
    writes the clean report and plots, so that no core idles through the plotting."""
    from tacrefine.evaluation.results.evaluate import play_episodes, write_evaluation
    from tacrefine.lock import output_lock

    with output_lock(folder / "clean", "evaluation"):
        clean_run = play_episodes(clean_cfg, specs, folder / "clean", workers=workers)
        if noisy_cfg is None:
            return write_evaluation(clean_cfg, clean_run, folder / "clean"), None
        with output_lock(folder / "noisy_dr", "evaluation"), ThreadPoolExecutor(1, "noisy") as side:
            noisy_run = side.submit(play_episodes, noisy_cfg, [spec], folder / "noisy_dr", workers=workers)
            clean = write_evaluation(clean_cfg, clean_run, folder / "clean")
            return clean, write_evaluation(noisy_cfg, noisy_run.result(), folder / "noisy_dr")


__all__ = ["run_precision_benchmark"]
