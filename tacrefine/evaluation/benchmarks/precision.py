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
    from tacrefine.evaluation.results.evaluate import run_evaluation
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
        clean = run_evaluation(clean_cfg, specs, out / name / "clean", workers=workers)
        noisy_report = None
        if spec and noisy:
            noisy_cfg = protocol.eval_config(name, noisy=True, episodes_per_object=episodes_per_object,
                                             progress=progress, plots=plots, parts_folder=folder)
            noisy_report = run_evaluation(noisy_cfg, [spec], out / name / "noisy_dr", workers=workers)
        results[name] = suite_summary(name, clean, noisy_report, spec, note if learned else None,
                                      protocol.robust_threshold)
        prov = prov or clean["provenance"]
    summary = precision_summary(protocol, results, skipped, learned, prov)
    if plots and results:
        from tacrefine.evaluation.results.precision_plots import plot_precision

        summary["plots"] = {"success_by_threshold": str(plot_precision(summary, out / "precision.png").name)}
    write_json(summary, out / "precision.json")
    return summary


__all__ = ["run_precision_benchmark"]
