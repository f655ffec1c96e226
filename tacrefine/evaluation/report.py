"""Aggregation of episode records, the ``report.json`` schema, and the Markdown report.

The schema is documented in ``docs/evaluation.md``; :func:`validate_report` checks a
report against it (keys and types), so the documentation, the writer and the tests agree.

Conventions:

* Rates are fractions in [0, 1] in JSON and percentages in tables.
* Success at ``Xmm_Ydeg``: at the end of the episode the object is held and the refined
  position error <= X mm and the refined rotation error <= Y deg. Lost objects are
  failures and stay in every denominator.
* Per-step statistics use every episode at every step; an episode that ended early
  (success or loss) keeps its last errors for the remaining steps, as the grasp does.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import atomic_write_bytes, to_dict
from tacrefine.evaluation.protocol import (
    PAPER_LABELS,
    PAPER_V2_SIM_SUCCESS,
    SUCCESS_THRESHOLDS,
    threshold_key,
    threshold_keys,
)

SCHEMA = "tacrefine.evaluation.report"
SCHEMA_VERSION = 1
STAT_KEYS = ("mean", "median", "p10", "p90")
ERROR_KEYS = ("position_error_mm", "rotation_error_deg")
FINAL_KEYS = ("position_error_mm", "rotation_error_deg", "full_position_error_mm", "full_rotation_error_deg")


# -- statistics -----------------------------------------------------------------------------
def stats(values: Iterable[float]) -> dict[str, float | None]:
    """Mean, median, 10th and 90th percentile (None for no values)."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return dict.fromkeys(STAT_KEYS)
    return {"mean": float(arr.mean()), "median": float(np.median(arr)), "p10": float(np.percentile(arr, 10)),
            "p90": float(np.percentile(arr, 90))}


def error_at(record: Mapping[str, Any], step: int, key: str) -> float:
    """Error ``key`` of ``record`` after ``step`` steps (the last value once the episode ended)."""
    errors = record["errors"]
    return float(errors[min(step, len(errors) - 1)][key])


def aggregate(records: Sequence[Mapping[str, Any]], max_steps: int) -> dict[str, Any]:
    """Success rates, error statistics per step and at the end, convergence, losses."""
    n = len(records)
    keys = threshold_keys()
    counts = {k: sum(bool(r["success"][k]) for r in records) for k in keys}
    converged = [r["steps_to_converge"] for r in records if r["steps_to_converge"] is not None]
    failures = Counter(r["failure"] for r in records if r["failure"] is not None)
    lost = sum(bool(r["lost"]) for r in records)
    return {
        "episodes": n,
        "lost": lost,
        "lost_rate": lost / n if n else 0.0,
        "failures": dict(sorted(failures.items())),
        "success": {k: counts[k] / n if n else 0.0 for k in keys},
        "success_count": counts,
        "final": {k: stats(float(r["errors"][-1][k]) for r in records) for k in FINAL_KEYS},
        "per_step": [{"step": s, **{k: stats(error_at(r, s, k) for r in records) for k in ERROR_KEYS}}
                     for s in range(max_steps + 1)],
        "steps_to_converge": {
            "converged": len(converged),
            "rate": len(converged) / n if n else 0.0,
            "mean": float(np.mean(converged)) if converged else None,
            "median": float(np.median(converged)) if converged else None,
        },
        "steps_taken_mean": float(np.mean([r["steps"] for r in records])) if n else 0.0,
        "decision_ms_mean": float(np.mean([r["decision_ms"] for r in records])) if n else 0.0,
    }


def _group(records: Sequence[Mapping[str, Any]], key: str) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        groups.setdefault(str(r[key]), []).append(r)
    return groups


def policy_results(records: Sequence[Mapping[str, Any]], max_steps: int) -> dict[str, Any]:
    """Aggregates of one policy: overall, per target mode, per object, per object class."""
    return {
        "overall": aggregate(records, max_steps),
        "by_mode": {k: aggregate(v, max_steps) for k, v in _group(records, "target_mode").items()},
        "by_object": {k: aggregate(v, max_steps) for k, v in _group(records, "object").items()},
        "by_class": {k: aggregate(v, max_steps) for k, v in _group(records, "object_class").items()},
    }


# -- provenance -----------------------------------------------------------------------------
def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """Versions of the package and its engines, the machine, and the git commit if any."""
    import tacrefine

    root = Path(tacrefine.__file__).resolve().parent.parent
    commit = _git(["rev-parse", "HEAD"], root)
    status = _git(["status", "--porcelain", "--untracked-files=no"], root) if commit else None
    try:
        import torch

        torch_version: str | None = torch.__version__
    except ImportError:
        torch_version = None
    return {
        "tacrefine": tacrefine.__version__,
        "torch": torch_version,
        "pybullet": _version("pybullet"),
        "gymnasium": _version("gymnasium"),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
    }


# -- the report -----------------------------------------------------------------------------
def build_report(run: Any) -> dict[str, Any]:
    """The ``report.json`` content of an :class:`~tacrefine.evaluation.runner.EvaluationRun`."""
    cfg = run.config
    by_policy = _group(run.episodes, "policy")
    policies = []
    for info in run.policy_info:
        info = dict(info)
        secs, eps = info.get("seconds", 0.0), info.get("episodes", 0)
        info["seconds"] = float(secs)
        info["episodes"] = int(eps)
        info["episodes_per_s"] = eps / secs if secs > 0 else None
        policies.append(info)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "provenance": provenance(),
        "config": to_dict(cfg),
        "env": run.env_info,
        "policies": policies,
        "thresholds": [{"key": threshold_key(mm, deg), "position_mm": mm, "rotation_deg": deg}
                       for mm, deg in SUCCESS_THRESHOLDS],
        "convergence": {"position_mm": run.env_info.get("success_position_mm"),
                        "rotation_deg": run.env_info.get("success_rotation_deg")},
        "seconds": float(run.seconds),
        "results": {spec: policy_results(by_policy.get(spec, []), cfg.max_steps) for spec in run.specs},
        "episodes": list(run.episodes),
        "plots": {},
    }


def _json_safe(value: Any) -> Any:
    """NaN / inf -> None (strict JSON), numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_report(report: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out`` (atomically)."""
    out = Path(out)
    json_path, md_path = out / "report.json", out / "report.md"
    atomic_write_bytes(json_path, json.dumps(_json_safe(report), indent=1, allow_nan=False).encode("utf-8"))
    atomic_write_bytes(md_path, markdown(report).encode("utf-8"))
    return json_path, md_path


def write_json(data: Mapping[str, Any], path: str | Path) -> Path:
    """Strict JSON (NaN -> null), written atomically."""
    path = Path(path)
    atomic_write_bytes(path, json.dumps(_json_safe(dict(data)), indent=1, allow_nan=False).encode("utf-8"))
    return path


def load_report(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# -- schema check ---------------------------------------------------------------------------
_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_OPT_STR = (str, type(None))

TOP_LEVEL: dict[str, Any] = {
    "schema": str, "schema_version": int, "created_utc": str, "provenance": dict, "config": dict, "env": dict,
    "policies": list, "thresholds": list, "convergence": dict, "seconds": _NUM, "results": dict,
    "episodes": list, "plots": dict,
}
PROVENANCE: dict[str, Any] = {
    "tacrefine": str, "torch": _OPT_STR, "pybullet": _OPT_STR, "gymnasium": _OPT_STR, "numpy": str,
    "python": str, "platform": str, "machine": str, "git_commit": _OPT_STR, "git_dirty": (bool, type(None)),
}
CONFIG: dict[str, Any] = {
    "objects": list, "episodes_per_object": int, "target_modes": list, "max_steps": int, "seed": int,
    "noise": bool, "domain_randomization": bool, "env_kwargs": dict,
}
ENV: dict[str, Any] = {
    "id": str, "kwargs": dict, "objects": list, "target_modes": list, "noise": bool,
    "domain_randomization": bool,
    "max_episode_steps": int, "refined_dofs": list, "offset_range": dict, "action_scale": dict,
    "success_position_mm": _NUM, "success_rotation_deg": _NUM, "sensor": dict, "object_classes": dict,
}
POLICY: dict[str, Any] = {
    "spec": str, "label": str, "slug": str, "class": str, "seed": int, "checkpoint": _OPT_STR,
    "seconds": _NUM, "episodes": int, "episodes_per_s": _OPT_NUM,
}
AGGREGATE: dict[str, Any] = {
    "episodes": int, "lost": int, "lost_rate": _NUM, "failures": dict, "success": dict, "success_count": dict,
    "final": dict, "per_step": list, "steps_to_converge": dict, "steps_taken_mean": _NUM,
    "decision_ms_mean": _NUM,
}
CONVERGE: dict[str, Any] = {"converged": int, "rate": _NUM, "mean": _OPT_NUM, "median": _OPT_NUM}
STEP_ERRORS: dict[str, Any] = {
    "step": int, "position_error_mm": _NUM, "rotation_error_deg": _NUM, "full_position_error_mm": _NUM,
    "full_rotation_error_deg": _NUM, "per_dof_error": dict, "is_success": bool, "failure": _OPT_STR,
}
EPISODE: dict[str, Any] = {
    "policy": str, "object": str, "object_class": str, "target_mode": str, "episode": int, "seed": int,
    "steps": int, "errors": list, "final_position_error_mm": _NUM, "final_rotation_error_deg": _NUM,
    "final_full_position_error_mm": _NUM, "final_full_rotation_error_deg": _NUM, "success": dict,
    "env_success": bool, "steps_to_converge": (int, type(None)), "failure": _OPT_STR, "lost": bool,
    "terminated": bool, "truncated": bool, "return": _NUM, "decision_ms": _NUM, "seconds": _NUM,
}


def _check(obj: Any, spec: Mapping[str, Any], where: str, problems: list[str]) -> bool:
    if not isinstance(obj, dict):
        problems.append(f"{where}: expected an object, got {type(obj).__name__}")
        return False
    for key, types in spec.items():
        if key not in obj:
            problems.append(f"{where}.{key}: missing")
            continue
        value = obj[key]
        if isinstance(value, bool) and types in (int, _NUM, _OPT_NUM, (int, type(None))):
            problems.append(f"{where}.{key}: expected a number, got a boolean")
        elif not isinstance(value, types):
            problems.append(f"{where}.{key}: expected {types}, got {type(value).__name__}")
    return True


def _check_stats(obj: Any, where: str, problems: list[str]) -> None:
    _check(obj, dict.fromkeys(STAT_KEYS, _OPT_NUM), where, problems)


def _check_aggregate(agg: Any, max_steps: int, where: str, problems: list[str]) -> None:
    if not _check(agg, AGGREGATE, where, problems):
        return
    keys = threshold_keys()
    for name in ("success", "success_count"):
        if isinstance(agg.get(name), dict):
            _check(agg[name], dict.fromkeys(keys, _NUM), f"{where}.{name}", problems)
    for k, v in (agg.get("success") or {}).items():
        if isinstance(v, _NUM) and not 0.0 <= v <= 1.0:
            problems.append(f"{where}.success.{k}: {v} is not a fraction in [0, 1]")
    for k in FINAL_KEYS:
        _check_stats((agg.get("final") or {}).get(k), f"{where}.final.{k}", problems)
    steps = agg.get("per_step") or []
    if len(steps) != max_steps + 1:
        problems.append(f"{where}.per_step: {len(steps)} entries, expected max_steps + 1 = {max_steps + 1}")
    for i, row in enumerate(steps):
        if _check(row, {"step": int}, f"{where}.per_step[{i}]", problems):
            for k in ERROR_KEYS:
                _check_stats(row.get(k), f"{where}.per_step[{i}].{k}", problems)
    _check(agg.get("steps_to_converge"), CONVERGE, f"{where}.steps_to_converge", problems)


def validate_report(report: Any) -> list[str]:
    """Problems of ``report`` against the documented schema (empty list: valid)."""
    problems: list[str] = []
    if not _check(report, TOP_LEVEL, "report", problems):
        return problems
    if report.get("schema") != SCHEMA:
        problems.append(f"report.schema: {report.get('schema')!r}, expected {SCHEMA!r}")
    _check(report.get("provenance"), PROVENANCE, "report.provenance", problems)
    _check(report.get("config"), CONFIG, "report.config", problems)
    _check(report.get("env"), ENV, "report.env", problems)
    max_steps = (report.get("config") or {}).get("max_steps", 0)
    for i, p in enumerate(report.get("policies") or []):
        _check(p, POLICY, f"report.policies[{i}]", problems)
    for i, t in enumerate(report.get("thresholds") or []):
        _check(t, {"key": str, "position_mm": _NUM, "rotation_deg": _NUM}, f"report.thresholds[{i}]",
               problems)
    specs = [p.get("spec") for p in report.get("policies") or [] if isinstance(p, dict)]
    if sorted(specs) != sorted(report.get("results") or {}):
        problems.append(f"report.results: keys {sorted(report.get('results') or {})} differ from "
                        f"policies {specs}")
    for spec, res in (report.get("results") or {}).items():
        where = f"report.results[{spec!r}]"
        groups = {"overall": dict, "by_mode": dict, "by_object": dict, "by_class": dict}
        if not _check(res, groups, where, problems):
            continue
        _check_aggregate(res["overall"], max_steps, f"{where}.overall", problems)
        for group in ("by_mode", "by_object", "by_class"):
            for name, agg in (res.get(group) or {}).items():
                _check_aggregate(agg, max_steps, f"{where}.{group}[{name!r}]", problems)
    for i, ep in enumerate(report.get("episodes") or []):
        where = f"report.episodes[{i}]"
        if not _check(ep, EPISODE, where, problems):
            continue
        errors = ep.get("errors") or []
        if not errors or errors[0].get("step") != 0:
            problems.append(f"{where}.errors: must start with step 0 (the start grasp)")
        if isinstance(ep.get("steps"), int) and len(errors) != ep["steps"] + 1:
            problems.append(f"{where}.errors: {len(errors)} entries for {ep['steps']} steps")
        for j, row in enumerate(errors):
            _check(row, STEP_ERRORS, f"{where}.errors[{j}]", problems)
        _check(ep.get("success"), dict.fromkeys(threshold_keys(), bool), f"{where}.success", problems)
    return problems


# -- Markdown -------------------------------------------------------------------------------
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
            f"{_num(final['position_error_mm']['median'])} ({_num(final['position_error_mm']['p90'])})",
            f"{_num(final['rotation_error_deg']['median'])} ({_num(final['rotation_error_deg']['p90'])})",
            f"{_num(conv['median'], 1)} ({_pct(conv['rate'])}%)",
            f"{agg['lost']}",
            _num(speed.get(spec), 1),
        ])
    return rows


SUMMARY_HEADER = ["policy", "episodes", *_success_header(), "final pos mm median (p90)",
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
        f"- tacrefine {prov['tacrefine']}, torch {prov['torch']}, pybullet {prov['pybullet']}, "
        f"commit {prov['git_commit'] or 'n/a'}{' (dirty)' if prov.get('git_dirty') else ''}; "
        f"created {report['created_utc']}",
        "",
        "## Summary (all target modes)",
        "",
        _table(SUMMARY_HEADER, summary_rows(report, lambda r: r["overall"])),
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
    for group, title in (("by_class", "object class"), ("by_object", "object")):
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


# -- the precision benchmark ------------------------------------------------------------------
PRECISION_SCHEMA = "tacrefine.benchmark.precision"


def precision_summary(protocol: Any, clean: Mapping[str, Any], noisy: Mapping[str, Any] | None,
                      learned: str | None, out: str | Path) -> dict[str, Any]:
    """``precision.json``: success per policy and mode, the paper's figures, robustness."""
    cfg = clean["config"]
    policies = {}
    speed = {p["spec"]: p for p in clean["policies"]}
    for spec, res in clean["results"].items():
        overall = res["overall"]
        policies[spec] = {
            "label": speed[spec]["label"],
            "episodes": overall["episodes"],
            "lost": overall["lost"],
            "success": overall["success"],
            **{f"success_{mode}": agg["success"] for mode, agg in res["by_mode"].items()},
            "final_position_error_mm_median": overall["final"]["position_error_mm"]["median"],
            "final_rotation_error_deg_median": overall["final"]["rotation_error_deg"]["median"],
            "steps_to_converge_median": overall["steps_to_converge"]["median"],
            "episodes_per_s": speed[spec].get("episodes_per_s"),
        }
    robustness = None
    key = threshold_key(*protocol.robust_threshold)
    if noisy is not None and learned is not None:
        agg = noisy["results"][learned]["overall"]
        robustness = {
            "policy": learned, "condition": "sensor noise + domain randomisation", "threshold": key,
            "clean": clean["results"][learned]["overall"]["success"][key], "noisy_dr": agg["success"][key],
            "noisy_dr_success": agg["success"], "noisy_dr_lost": agg["lost"], "episodes": agg["episodes"],
        }
    off = cfg["episodes_per_object"] != protocol.episodes_per_object
    return {
        "schema": PRECISION_SCHEMA, "schema_version": 1,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "protocol": {**to_dict(protocol), "objects": cfg["objects"], "target_modes": cfg["target_modes"],
                     "episodes_per_object_used": cfg["episodes_per_object"],
                     "offset_range": clean["env"].get("offset_range")},
        "off_protocol": off,
        "learned_policy": learned,
        "paper_v2_sim_fixed_percent": dict(PAPER_V2_SIM_SUCCESS),
        "policies": policies,
        "robustness": robustness,
        "reports": {"clean": "clean/report.json", **({"noisy_dr": "noisy_dr/report.json"} if noisy else {})},
        "provenance": clean["provenance"],
    }


def precision_table(summary: Mapping[str, Any]) -> str:
    """Terminal table: fixed-target success at the paper's pairs beside the paper, plus all modes."""
    paper_keys = list(PAPER_V2_SIM_SUCCESS)
    ours = [threshold_key(1, 1), threshold_key(2, 2), threshold_key(5, 5)]
    header = ["policy", "eps", *[f"fixed {PAPER_LABELS[k]}" for k in paper_keys],
              *[f"all {k.replace('mm_', '/').replace('deg', '')}" for k in ours], "lost"]
    rows = []
    for res in summary["policies"].values():
        fixed = res.get("success_fixed") or {}
        rows.append([res["label"], str(res["episodes"]), *[_pct(fixed.get(k)) for k in paper_keys],
                     *[_pct(res["success"][k]) for k in ours], str(res["lost"])])
    rows.append(["TacRefineNet v2 (paper, sim)", "-",
                 *[f"{PAPER_V2_SIM_SUCCESS[k]:.1f}" for k in paper_keys], "-", "-", "-", "-"])
    lines = [text_table(header, rows), "success in %; 'fixed' = fixed target (as the paper's figures), "
             "'all' = fixed + random targets; X/Y = X mm and Y deg"]
    rob = summary.get("robustness")
    if rob:
        label = summary["policies"].get(rob["policy"], {}).get("label", rob["policy"])
        lines.append(f"robustness ({rob['condition']}): {label} success at {rob['threshold']} "
                     f"{_pct(rob['clean'])}% clean -> {_pct(rob['noisy_dr'])}% noisy "
                     f"({rob['noisy_dr_lost']} lost)")
    if summary.get("off_protocol"):
        proto = summary["protocol"]
        lines.append(f"NOTE: off protocol ({proto['episodes_per_object_used']} episodes per object instead "
                     f"of {proto['episodes_per_object']}); not comparable with benchmark runs")
    return "\n".join(lines)


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
    header = ["policy", "eps", *[f"{mm:g}/{deg:g}%" for mm, deg in SUCCESS_THRESHOLDS], "pos mm med(p90)",
              "rot deg med(p90)", "conv. steps", "lost", "ep/s"]
    return text_table(header, summary_rows(report, lambda r: r["overall"]))


__all__ = [
    "SCHEMA", "SCHEMA_VERSION", "aggregate", "build_report", "console_summary", "load_report", "markdown",
    "paper_comparison_rows", "policy_results", "precision_summary", "precision_table", "provenance",
    "stats", "text_table", "validate_report", "write_json", "write_report",
]
