"""Statistics of episode records: success at every threshold pair, error statistics per
step and at the end, convergence, losses; grouped per policy, target mode, object, class.

Conventions (shared with the report): rates are fractions in [0, 1]; success at
``Xmm_Ydeg`` = object held and refined position error <= X mm and rotation error <= Y deg
at the end; lost objects are failures and stay in every denominator; an episode that ended
early keeps its last errors for the remaining steps, as the grasp does.

Beside every success rate: the harm rate (episodes that ended worse than they started,
:func:`~tacrefine.evaluation.episodes.runner.harmed`), the oracle-stop success (some grasp
of the episode was within the pair: what an oracle that stops there would score; a robot
has none, so it is a secondary figure), how well the policy's unfamiliar flag predicts
failure (recall on failing episodes, false alarms on succeeding ones) and the worst part.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from tacrefine.evaluation.episodes.protocol import threshold_key, threshold_keys

STAT_KEYS = ("mean", "median", "p10", "p90")
ERROR_KEYS = ("position_error_mm", "rotation_error_deg")
FINAL_KEYS = ("position_error_mm", "rotation_error_deg", "full_position_error_mm", "full_rotation_error_deg")
#: threshold pairs at which the flag's recall / false alarms and the worst part are reported
KEY_5, KEY_1 = threshold_key(5, 5), threshold_key(1, 1)


def _rate(flags: Sequence[bool]) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def flag_rates(records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """How well the unfamiliar-part flag predicts failure: the share of failing episodes it
    caught (recall) and of succeeding ones it fired on (false alarms), at 5/5 and 1/1.
    None when the policy has no flag."""
    mine = [r for r in records if r.get("unfamiliar") is not None]
    if not mine:
        return None
    out: dict[str, Any] = {"episodes": len(mine), "flagged": _rate([r["unfamiliar"] for r in mine])}
    for key in (KEY_5, KEY_1):
        out[f"recall_{key}"] = _rate([r["unfamiliar"] for r in mine if not r["success"][key]])
        out[f"false_alarm_{key}"] = _rate([r["unfamiliar"] for r in mine if r["success"][key]])
    return out


def worst_part(by_object: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The part with the lowest success at 5/5 (then 1/1, then the highest harm rate)."""
    if not by_object:
        return None
    name = min(by_object, key=lambda n: (by_object[n]["success"][KEY_5], by_object[n]["success"][KEY_1],
                                         -by_object[n].get("harm_rate", 0.0), n))
    agg = by_object[name]
    return {"object": name, "episodes": agg["episodes"],
            "success": {KEY_5: agg["success"][KEY_5], KEY_1: agg["success"][KEY_1]},
            "harm_rate": agg.get("harm_rate")}


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
        "harmed": sum(bool(r.get("harmed")) for r in records),
        "harm_rate": sum(bool(r.get("harmed")) for r in records) / n if n else 0.0,
        "oracle_success": {k: sum(bool(r.get("oracle_success", r["success"])[k]) for r in records) / n if n else 0.0
                           for k in keys},
        "flag": flag_rates(records),
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
    out["worst_part"] = worst_part(out["by_object"])
    if any("split" in r for r in records):  # e.g. seen / unseen parts
        splits = _group([r for r in records if "split" in r], "split")
        out["by_split"] = {k: aggregate(v, max_steps) for k, v in splits.items()}
        out["worst_part_by_split"] = {k: worst_part({o: out["by_object"][o] for o in {r["object"] for r in v}})
                                      for k, v in splits.items()}
    return out
