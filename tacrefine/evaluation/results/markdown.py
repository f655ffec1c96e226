"""Tables for people: the Markdown report of an evaluation and fixed-width terminal tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tacrefine.evaluation.episodes.protocol import (
    PAPER_LABELS,
    PAPER_V2_SIM_SUCCESS,
    SUCCESS_THRESHOLDS,
    threshold_key,
    threshold_keys,
)
from tacrefine.evaluation.results.trust import TRUST_HEADER, part_rows, trust_rows, unfamiliar_warnings


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.1f}"


def _num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _label(report: Mapping[str, Any], spec: str) -> str:
    for p in report.get("policies", []):
        if p["spec"] == spec:
            return str(p["label"])
    return spec


def _success_header() -> list[str]:
    return [f"{mm:g}mm/{deg:g}deg %" for mm, deg in SUCCESS_THRESHOLDS]


def summary_rows(report: Mapping[str, Any], pick: Callable[[Mapping[str, Any]], Mapping[str, Any] | None],
                 ) -> list[list[str]]:
    """One table row per policy from the aggregate ``pick(results_of_policy)``."""
    rows = []
    speed = {p["spec"]: p.get("episodes_per_s") for p in report.get("policies", [])}
    for spec, res in report["results"].items():
        agg = pick(res)
        if agg is None:
            continue
        final = agg["final"]
        conv = agg["steps_to_converge"]
        rows.append([
            _label(report, spec), str(agg["episodes"]),
            *[_pct(agg["success"][k]) for k in threshold_keys()],
            _pct(agg.get("harm_rate")),
            _pct((agg.get("oracle_success") or {}).get(threshold_key(1, 1))),
            f"{_num(final['position_error_mm']['median'])} ({_num(final['position_error_mm']['p90'])})",
            f"{_num(final['rotation_error_deg']['median'])} ({_num(final['rotation_error_deg']['p90'])})",
            f"{_num(conv['median'], 1)} ({_pct(conv['rate'])}%)",
            f"{agg['lost']}",
            _num(speed.get(spec), 1),
        ])
    return rows


SUMMARY_HEADER = ["policy", "episodes", *_success_header(), "harm %", "oracle-stop 1mm/1deg % (needs an oracle)",
                  "final pos mm median (p90)",
                  "final rot deg median (p90)", "steps to converge median (converged)", "lost", "episodes/s"]


def paper_comparison_rows(reports: Sequence[tuple[str, Mapping[str, Any]]],
                          mode: str = "fixed") -> list[list[str]]:
    """Rows ``[policy, our %..., ]`` at the paper's threshold pairs, plus the paper's own row."""
    keys = list(PAPER_V2_SIM_SUCCESS)
    rows = []
    for suffix, report in reports:
        for spec, res in report["results"].items():
            agg = res["by_mode"].get(mode)
            if agg is None:
                continue
            name = _label(report, spec) + (f" {suffix}" if suffix else "")
            rows.append([name, str(agg["episodes"]), *[_pct(agg["success"][k]) for k in keys]])
    rows.append(["TacRefineNet v2 (paper, sim)", "-", *[f"{PAPER_V2_SIM_SUCCESS[k]:.1f}" for k in keys]])
    return rows


PAPER_HEADER = ["policy", "episodes", *[f"{PAPER_LABELS[k]} %" for k in PAPER_V2_SIM_SUCCESS]]


def _median_pair(row: Mapping[str, Any]) -> str:
    return f"{_num(row['position_error_mm']['median'])} / {_num(row['rotation_error_deg']['median'])}"


def markdown(report: Mapping[str, Any]) -> str:
    """The human-readable report: every policy side by side."""
    cfg = report["config"]
    env = report["env"]
    prov = report["provenance"]
    specs = list(report["results"])
    parts = [
        "# Grip-precision evaluation",
        "",
        f"- policies: {', '.join(f'`{s}`' for s in specs)}",
        f"- objects ({len(cfg['objects'])}): {', '.join(cfg['objects'])}",
        f"- target modes: {', '.join(cfg['target_modes'])}; {cfg['episodes_per_object']} episodes per object "
        f"and mode; at most {cfg['max_steps']} refinement steps; base seed {cfg['seed']}",
        f"- refined DoF: {', '.join(env.get('refined_dofs', []))}; offset half-ranges "
        + ", ".join(f"{d} {v:g}" for d, v in env.get("offset_range", {}).items()) + " (mm / deg)",
        f"- sensor noise: {'on' if cfg['noise'] else 'off'}; domain randomisation: "
        f"{'on' if cfg['domain_randomization'] else 'off'}",
        "- success at X/Y: object held and refined position error <= X mm and rotation error <= Y deg "
        "at the end; lost objects count as failures. Convergence: the env's "
        f"{env.get('success_position_mm', 1):g} mm / {env.get('success_rotation_deg', 1):g} deg.",
        f"- stop rule: {_stop_words(cfg.get('stop', 'oracle'))}",
        "- harm: the episode ended worse than it started by > 0.5 mm or > 0.5 deg on the refined DoF (or lost "
        "the part). Oracle-stop: some grasp of the episode was within the pair (an oracle stopping there "
        "would score it; a robot has none: a secondary figure).",
        f"- tacrefine {prov['tacrefine']}, torch {prov['torch']}, pybullet {prov['pybullet']}, "
        f"commit {prov['git_commit'] or 'n/a'}{' (dirty)' if prov.get('git_dirty') else ''}; "
        f"created {report['created_utc']}",
        "",
        *[f"> {w}\n" for w in unfamiliar_warnings(report)],
        "## Summary (all target modes)",
        "",
        _table(SUMMARY_HEADER, summary_rows(report, lambda r: r["overall"])),
        "",
        "## Trust: harm, worst part, unfamiliar flag (all target modes)",
        "",
        _table(TRUST_HEADER, trust_rows(report)),
        "",
        "## Per part (worst first)",
        "",
        _table(*part_rows(report)),
        "",
    ]
    for mode in cfg["target_modes"]:
        parts += [f"## Target mode: {mode}", "",
                  _table(SUMMARY_HEADER, summary_rows(report, lambda r, m=mode: r["by_mode"].get(m))), ""]
    if "fixed" in cfg["target_modes"]:
        parts += ["## Beside TacRefineNet v2 (simulation, fixed target)", "",
                  "Same threshold pairs as the paper; different simulator, hand and objects, so this is a "
                  "reference point, not a like-for-like comparison.", "",
                  _table(PAPER_HEADER, paper_comparison_rows([("", report)])), ""]
    steps = range(cfg["max_steps"] + 1)
    parts += ["## Median refined error after each step (position mm / rotation deg; step 0 = start)", "",
              _table(["policy", *[f"step {s}" for s in steps]],
                     [[_label(report, spec), *[_median_pair(row) for row in res["overall"]["per_step"]]]
                      for spec, res in report["results"].items()]),
              ""]
    key1, key5 = threshold_key(1, 1), threshold_key(5, 5)
    for group, title in (("by_class", "object class"),):
        names = sorted({n for res in report["results"].values() for n in res[group]})
        header = [title, *[f"{_label(report, s)} 1/1 · 5/5 %" for s in specs]]
        rows = []
        for name in names:
            cells = []
            for spec in specs:
                agg = report["results"][spec][group].get(name)
                ok = agg["success"] if agg is not None else None
                cells.append("-" if ok is None else f"{_pct(ok[key1])} · {_pct(ok[key5])}")
            rows.append([name, *cells])
        parts += [f"## Success by {title} (1mm/1deg · 5mm/5deg)", "", _table(header, rows), ""]
    failures = [[_label(report, s), str(r["overall"]["lost"]),
                 ", ".join(f"{k}: {v}" for k, v in r["overall"]["failures"].items()) or "-"]
                for s, r in report["results"].items()]
    parts += ["## Lost objects", "", _table(["policy", "lost", "reasons"], failures), ""]
    if report.get("plots"):
        parts += ["## Plots", ""]
        parts += [f"- {name}: [{path}]({path})" for name, path in report["plots"].items()]
        parts.append("")
    return "\n".join(parts)


def _stop_words(stop: str) -> str:
    if stop == "policy":
        return ("no oracle: the policy decides when to stop (a learned policy through its self-checking "
                "controller), the env never ends an episode on success; ground truth scores the final grasp only")
    return ("oracle: the env ended each episode the first time the grasp was within its success thresholds "
            "(a robot has no such oracle)")


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A fixed-width table for the terminal."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(header)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(header, widths))
    out = [line, "-" * len(line)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


def console_summary(report: Mapping[str, Any]) -> str:
    """The summary table (all modes) for the terminal."""
    header = ["policy", "eps", *[f"{mm:g}/{deg:g}%" for mm, deg in SUCCESS_THRESHOLDS], "harm%",
              "oracle-stop 1/1% (needs oracle)", "pos mm med(p90)", "rot deg med(p90)", "conv. steps", "lost", "ep/s"]
    lines = [text_table(header, summary_rows(report, lambda r: r["overall"])), "",
             text_table(TRUST_HEADER, trust_rows(report))]
    lines += ["", *unfamiliar_warnings(report)]
    return "\n".join(lines).rstrip()

