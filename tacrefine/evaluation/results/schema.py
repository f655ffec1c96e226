"""The ``report.json`` schema as data, and its checker.

:func:`validate_report` checks a report against the schema documented in
``docs/evaluation.md`` (keys and types), so the documentation, the writer and the tests agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tacrefine.evaluation.episodes.protocol import threshold_keys
from tacrefine.evaluation.results.stats import ERROR_KEYS, FINAL_KEYS, STAT_KEYS

SCHEMA = "tacrefine.evaluation.report"
SCHEMA_VERSION = 1
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
    "step": int, "position_error_mm": _OPT_NUM, "rotation_error_deg": _OPT_NUM, "full_position_error_mm": _OPT_NUM,
    "full_rotation_error_deg": _OPT_NUM, "per_dof_error": dict, "is_success": bool, "failure": _OPT_STR,
}
EPISODE: dict[str, Any] = {
    "policy": str, "object": str, "object_class": str, "target_mode": str, "episode": int, "seed": int,
    "steps": int, "errors": list, "final_position_error_mm": _OPT_NUM, "final_rotation_error_deg": _OPT_NUM,
    "final_full_position_error_mm": _OPT_NUM, "final_full_rotation_error_deg": _OPT_NUM, "success": dict,
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
        for group in ("by_mode", "by_object", "by_class", "by_split"):
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
