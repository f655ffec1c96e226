"""Can the result be trusted on a part? Tables and warnings beside every success rate.

A mean over many parts hides a part the policy fails on, and success says nothing of
episodes that ended worse than they started. Every report therefore names the worst part,
gives the harm rate beside each mean and how well the policy's unfamiliar-part flag
predicts failure, and says in plain words which parts the policy does not know, naming
the fix (``scripts/adapt.py --object PART``). The oracle-stop figure (some grasp of the
episode was within the thresholds) is kept as a secondary column: it needs an oracle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tacrefine.evaluation.results.stats import KEY_1, KEY_5, _group, flag_rates

#: a part is reported as unknown to the policy when its flag fired on at least this share
#: of the part's episodes
UNFAMILIAR_SHARE = 0.5

TRUST_HEADER = ["policy", "eps", "5/5 %", "1/1 %", "harm %", "worst part (5/5 %, harm %)",
                "flag recall / false alarm 5/5 %", "flag recall / false alarm 1/1 %",
                "oracle-stop 5/5 · 1/1 % (needs an oracle)"]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.1f}"


def _label(report: Mapping[str, Any], spec: str) -> str:
    return next((str(p["label"]) for p in report.get("policies", []) if p["spec"] == spec), spec)


def worst_text(worst: Mapping[str, Any] | None) -> str:
    if not worst:
        return "-"
    return f"{worst['object']} ({_pct(worst['success'][KEY_5])}, {_pct(worst.get('harm_rate'))})"


def flag_text(flag: Mapping[str, Any] | None, key: str) -> str:
    if not flag:
        return "- (no flag)"
    return f"{_pct(flag[f'recall_{key}'])} / {_pct(flag[f'false_alarm_{key}'])}"


def trust_row(label: str, agg: Mapping[str, Any], worst: Mapping[str, Any] | None) -> list[str]:
    """``TRUST_HEADER``'s cells of one aggregate (overall, a split, a mode)."""
    oracle = agg.get("oracle_success") or {}
    return [label, str(agg["episodes"]), _pct(agg["success"][KEY_5]), _pct(agg["success"][KEY_1]),
            _pct(agg.get("harm_rate")), worst_text(worst), flag_text(agg.get("flag"), KEY_5),
            flag_text(agg.get("flag"), KEY_1), f"{_pct(oracle.get(KEY_5))} · {_pct(oracle.get(KEY_1))}"]


def trust_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """One row per policy (all modes), then per policy and split when the records carry splits."""
    rows = []
    for spec, res in report["results"].items():
        rows.append(trust_row(_label(report, spec), res["overall"], res.get("worst_part")))
    for spec, res in report["results"].items():
        for split, agg in (res.get("by_split") or {}).items():
            rows.append(trust_row(f"{_label(report, spec)} [{split}]", agg,
                                  (res.get("worst_part_by_split") or {}).get(split)))
    return rows


def part_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-part table: every policy's 5/5 · 1/1 · harm % per part, the
    worst parts first (by the first policy's 5/5)."""
    specs = list(report["results"])
    names = {n for res in report["results"].values() for n in res["by_object"]}
    first = report["results"][specs[0]]["by_object"] if specs else {}
    order = sorted(names, key=lambda n: (first[n]["success"][KEY_5] if n in first else 2.0, n))
    header = ["part", *[f"{_label(report, s)} 5/5 · 1/1 · harm %" for s in specs], "flag fired %"]
    rows = []
    for name in order:
        cells, fired = [], "-"
        for spec in specs:
            agg = report["results"][spec]["by_object"].get(name)
            if agg is None:
                cells.append("-")
                continue
            cells.append(f"{_pct(agg['success'][KEY_5])} · {_pct(agg['success'][KEY_1])} · "
                         f"{_pct(agg.get('harm_rate'))}")
            if fired == "-" and agg.get("flag"):
                fired = f"{_pct(agg['flag']['flagged'])} ({_label(report, spec)})"
        rows.append([name, *cells, fired])
    return header, rows


def unfamiliar_parts(episodes: list[Mapping[str, Any]], share: float = UNFAMILIAR_SHARE) -> list[dict[str, Any]]:
    """Parts on which a policy's unfamiliar flag fired on at least ``share`` of its episodes:
    ``{policy, object, fired, episodes}``, in record order."""
    out = []
    for spec, mine in _group(episodes, "policy").items():
        for name, eps in _group(mine, "object").items():
            rates = flag_rates(eps)
            if rates is not None and rates["flagged"] >= share:
                out.append({"policy": spec, "object": name, "episodes": rates["episodes"],
                            "fired": round(rates["flagged"] * rates["episodes"])})
    return out


def unfamiliar_warnings(report: Mapping[str, Any], share: float = UNFAMILIAR_SHARE) -> list[str]:
    """Plain words for every part the policy does not know, each naming the fix."""
    from tacrefine.policy.assessment import unfamiliar_message

    files = {u["name"]: u.get("urdf") or u.get("mesh") for u in (report.get("config") or {}).get("user_objects", [])
             if isinstance(u, Mapping) and "name" in u}
    return [unfamiliar_message(files.get(p["object"]) or p["object"],
                               f"{_label(report, p['policy'])} flagged {p['fired']} of its {p['episodes']} "
                               f"episodes on it")
            for p in unfamiliar_parts(report["episodes"], share)]


__all__ = ["TRUST_HEADER", "UNFAMILIAR_SHARE", "flag_text", "part_rows", "trust_row", "trust_rows",
           "unfamiliar_parts", "unfamiliar_warnings", "worst_text"]
