"""Statistics of episode records: success at every threshold pair, error statistics per
step and at the end, convergence, losses; grouped per policy, target mode, object, class.

Conventions (shared with the report): rates are fractions in [0, 1]; success at
``Xmm_Ydeg`` = object held and refined position error <= X mm and rotation error <= Y deg
at the end; lost objects are failures and stay in every denominator; an episode that ended
early keeps its last errors for the remaining steps, as the grasp does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from tacrefine.evaluation.episodes.protocol import threshold_keys

STAT_KEYS = ("mean", "median", "p10", "p90")
ERROR_KEYS = ("position_error_mm", "rotation_error_deg")
FINAL_KEYS = ("position_error_mm", "rotation_error_deg", "full_position_error_mm", "full_rotation_error_deg")


def stats(values: Iterable[float]) -> dict[str, float | None]:
    """Mean, median, 10th and 90th percentile (None for no values)."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return dict.fromkeys(STAT_KEYS)
    return {"mean": float(arr.mean()), "median": float(np.median(arr)), "p10": float(np.percentile(arr, 10)),
            "p90": float(np.percentile(arr, 90))}


def error_at(record: Mapping[str, Any], step: int, key: str) -> float | None:
    """Error ``key`` of ``record`` after ``step`` steps (the last value once the episode ended;
    None for a part that could not be grasped at reset)."""
    errors = record["errors"]
    value = errors[min(step, len(errors) - 1)][key]
    return None if value is None else float(value)


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
        "final": {k: stats(error_at(r, len(r["errors"]) - 1, k) for r in records) for k in FINAL_KEYS},
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
    """Aggregates of one policy: overall, per target mode, per object, per object class, and
    per split when episode records carry a ``split`` key (seen / unseen parts)."""
    out = {
        "overall": aggregate(records, max_steps),
        "by_mode": {k: aggregate(v, max_steps) for k, v in _group(records, "target_mode").items()},
        "by_object": {k: aggregate(v, max_steps) for k, v in _group(records, "object").items()},
        "by_class": {k: aggregate(v, max_steps) for k, v in _group(records, "object_class").items()},
    }
    if any("split" in r for r in records):  # e.g. seen / unseen parts
        out["by_split"] = {k: aggregate(v, max_steps)
                           for k, v in _group([r for r in records if "split" in r], "split").items()}
    return out
