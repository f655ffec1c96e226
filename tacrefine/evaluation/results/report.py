"""The evaluation report: build ``report.json`` from a run, write it (JSON + Markdown), read it.

The parts live in their own modules - statistics (:mod:`~tacrefine.evaluation.results.stats`),
provenance (:mod:`~tacrefine.evaluation.results.provenance`), the JSON schema and its checker
(:mod:`~tacrefine.evaluation.results.schema`), Markdown and terminal tables
(:mod:`~tacrefine.evaluation.results.markdown`) and the precision benchmark's summary
(:mod:`~tacrefine.evaluation.results.precision_summary`); they are re-exported here, where callers have
always found them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import atomic_write_bytes, to_dict
from tacrefine.evaluation.episodes.protocol import SUCCESS_THRESHOLDS, threshold_key
from tacrefine.evaluation.results.markdown import (
    PAPER_HEADER,
    SUMMARY_HEADER,
    console_summary,
    markdown,
    paper_comparison_rows,
    summary_rows,
    text_table,
)
from tacrefine.evaluation.results.provenance import provenance
from tacrefine.evaluation.results.schema import SCHEMA, SCHEMA_VERSION, validate_report
from tacrefine.evaluation.results.stats import (
    ERROR_KEYS,
    FINAL_KEYS,
    STAT_KEYS,
    _group,
    aggregate,
    error_at,
    policy_results,
    stats,
)


def build_report(run: Any) -> dict[str, Any]:
    """The ``report.json`` content of an :class:`~tacrefine.evaluation.episodes.runner.EvaluationRun`."""
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


from tacrefine.evaluation.results.precision_summary import PRECISION_SCHEMA, precision_summary, precision_table  # noqa: E402

__all__ = [
    "ERROR_KEYS", "FINAL_KEYS", "PAPER_HEADER", "PRECISION_SCHEMA", "SCHEMA", "SCHEMA_VERSION", "STAT_KEYS",
    "SUMMARY_HEADER", "aggregate", "build_report", "console_summary", "error_at", "load_report", "markdown",
    "paper_comparison_rows", "policy_results", "precision_summary", "precision_table", "provenance", "stats",
    "summary_rows", "text_table", "validate_report", "write_json", "write_report",
]
