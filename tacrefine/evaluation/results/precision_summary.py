"""The grip-precision benchmark's results (v2): summaries and tables of every suite (the run:
:mod:`tacrefine.evaluation.benchmarks.precision`).

For each suite of the protocol (the parallel jaw and the paper's three-finger task) the
learned policy - when one fits the suite's env - and every baseline run on the same seeded
episodes, fixed and random targets; the learned policy also runs under sensor noise and
domain randomisation. Results per policy, target mode and object class at every threshold
pair go into ``precision.json`` beside the paper's published figures; the full per-suite
reports (JSON, Markdown, plots) sit in ``OUT/<suite>/clean`` and ``OUT/<suite>/noisy_dr``.

Splits (for example seen / unseen parts) have their place: an episode record that carries
a ``split`` key is aggregated per split (``by_split`` in the report and the summary).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from tacrefine.config import to_dict
from tacrefine.evaluation.episodes.protocol import (
    PAPER_LABELS,
    PAPER_V2_REAL_SUCCESS,
    PAPER_V2_REAL_UNSEEN_SUCCESS,
    PAPER_V2_SIM_SUCCESS,
    SUITES,
    threshold_key,
)
from tacrefine.evaluation.results.markdown import _pct, text_table
from tacrefine.evaluation.results.stats import aggregate
from tacrefine.moved import moved_names

PRECISION_SCHEMA = "tacrefine.benchmark.precision"
PRECISION_SCHEMA_VERSION = 2


def learned_for_suite(spec: str | None, suite: str) -> tuple[str | None, str | None]:
    """The learned policy to run in ``suite`` and, when none fits, why (its fit error)."""
    if spec is None:
        return None, "no learned policy given"
    import gymnasium as gym

    import tacrefine

    s = SUITES[suite]
    env = gym.make(s.env_id, **dict(s.env_kwargs))
    try:
        tacrefine.load_policy(spec, env=env)
    except (ValueError, FileNotFoundError) as exc:
        return None, str(exc)
    finally:
        env.close()
    return spec, None


def _by_class_and_mode(report: Mapping[str, Any], spec: str) -> dict[str, dict[str, Any]]:
    """``{class: {mode: success}, ...}`` plus the fixed-target final medians per class."""
    max_steps = report["config"]["max_steps"]
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for ep in report["episodes"]:
        if ep["policy"] == spec:
            groups.setdefault((str(ep["object_class"]), ep["target_mode"]), []).append(ep)
    out: dict[str, dict[str, Any]] = {}
    for (cls, mode), eps in sorted(groups.items()):
        agg = aggregate(eps, max_steps)
        entry = out.setdefault(cls, {"episodes": 0})
        entry["episodes"] += agg["episodes"]
        entry[f"success_{mode}"] = agg["success"]
        entry[f"final_{mode}_median"] = {"position_error_mm": agg["final"]["position_error_mm"]["median"],
                                         "rotation_error_deg": agg["final"]["rotation_error_deg"]["median"]}
    return out


def _by_split_and_mode(report: Mapping[str, Any], spec: str) -> dict[str, dict[str, Any]]:
    """``{split: {"episodes": n, "success_<mode>": {...}}}`` for records that carry a split."""
    max_steps = report["config"]["max_steps"]
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for ep in report["episodes"]:
        if ep["policy"] == spec and "split" in ep:
            groups.setdefault((str(ep["split"]), ep["target_mode"]), []).append(ep)
    out: dict[str, dict[str, Any]] = {}
    for (split, mode), eps in sorted(groups.items()):
        agg = aggregate(eps, max_steps)
        entry = out.setdefault(split, {"episodes": 0, "objects": sorted({e["object"] for e in eps})})
        entry["episodes"] += agg["episodes"]
        entry[f"success_{mode}"] = agg["success"]
        entry[f"harm_rate_{mode}"] = agg.get("harm_rate")
        entry[f"oracle_success_{mode}"] = agg.get("oracle_success")
    res = report["results"][spec]
    for split, entry in out.items():
        agg = (res.get("by_split") or {}).get(split) or {}
        entry.update(harm_rate=agg.get("harm_rate"), flag=agg.get("flag"),
                     worst_part=(res.get("worst_part_by_split") or {}).get(split))
    return out


def policy_summary(report: Mapping[str, Any], spec: str) -> dict[str, Any]:
    """One policy's figures in one suite: overall, per target mode, per class (and split)."""
    res = report["results"][spec]
    info = next(p for p in report["policies"] if p["spec"] == spec)
    overall = res["overall"]
    out = {
        "label": info["label"], "episodes": overall["episodes"], "lost": overall["lost"],
        "success": overall["success"],
        **{f"success_{mode}": agg["success"] for mode, agg in res["by_mode"].items()},
        **{f"final_{mode}_median": {"position_error_mm": agg["final"]["position_error_mm"]["median"],
                                    "rotation_error_deg": agg["final"]["rotation_error_deg"]["median"]}
           for mode, agg in res["by_mode"].items()},
        "final_position_error_mm_median": overall["final"]["position_error_mm"]["median"],
        "final_rotation_error_deg_median": overall["final"]["rotation_error_deg"]["median"],
        "steps_to_converge_median": overall["steps_to_converge"]["median"],
        "episodes_per_s": info.get("episodes_per_s"),
        "harm_rate": overall.get("harm_rate"),
        **{f"harm_rate_{mode}": agg.get("harm_rate") for mode, agg in res["by_mode"].items()},
        "oracle_success": overall.get("oracle_success"),
        **{f"oracle_success_{mode}": agg.get("oracle_success") for mode, agg in res["by_mode"].items()},
        "flag": overall.get("flag"),
        "worst_part": res.get("worst_part"),
        "by_part": {name: {"episodes": agg["episodes"], "success": agg["success"], "harm_rate": agg.get("harm_rate"),
                           "flagged": (agg.get("flag") or {}).get("flagged")}
                    for name, agg in res["by_object"].items()},
        "by_class": _by_class_and_mode(report, spec),
    }
    if res.get("by_split"):
        out["by_split"] = _by_split_and_mode(report, spec)
    return out


def suite_summary(suite: str, clean: Mapping[str, Any], noisy: Mapping[str, Any] | None, learned: str | None,
                  note: str | None, robust_threshold: tuple[float, float]) -> dict[str, Any]:
    """``precision.json``'s entry of one suite."""
    robustness = None
    key = threshold_key(*robust_threshold)
    if noisy is not None and learned is not None:
        agg = noisy["results"][learned]["overall"]
        robustness = {
            "policy": learned, "condition": "sensor noise + domain randomisation", "threshold": key,
            "clean": clean["results"][learned]["overall"]["success"][key], "noisy_dr": agg["success"][key],
            "noisy_dr_success": agg["success"], "noisy_dr_lost": agg["lost"], "episodes": agg["episodes"],
            "noisy_dr_by_split": _by_split_and_mode(noisy, learned),
        }
    return {
        "env_id": clean["env"]["id"], "description": SUITES[suite].description if suite in SUITES else "",
        "stop": clean["config"].get("stop", "oracle"),
        "objects": clean["config"]["objects"], "object_classes": clean["env"].get("object_classes", {}),
        "refined_dofs": clean["env"].get("refined_dofs"), "offset_range": clean["env"].get("offset_range"),
        "episodes_per_object": clean["config"]["episodes_per_object"],
        "learned_policy": learned, "learned_note": note,
        "policies": {spec: policy_summary(clean, spec) for spec in clean["results"]},
        "robustness": robustness,
        "reports": {"clean": f"{suite}/clean/report.json",
                    **({"noisy_dr": f"{suite}/noisy_dr/report.json"} if noisy else {})},
    }


def precision_summary(protocol: Any, suites: Mapping[str, Mapping[str, Any]], skipped: Mapping[str, str],
                      learned: str | None, provenance: Mapping[str, Any] | None) -> dict[str, Any]:
    """``precision.json``: every suite's summary, the paper's figures, what was skipped and why."""
    used = {s["episodes_per_object"] for s in suites.values()}
    return {
        "schema": PRECISION_SCHEMA, "schema_version": PRECISION_SCHEMA_VERSION,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "protocol": to_dict(protocol),
        "off_protocol": any(u != protocol.episodes_per_object for u in used),
        "learned_policy": learned,
        "paper_v2": {"sim_fixed_percent": dict(PAPER_V2_SIM_SUCCESS), "real_percent": dict(PAPER_V2_REAL_SUCCESS),
                     "real_unseen_percent": dict(PAPER_V2_REAL_UNSEEN_SUCCESS)},
        "suites": dict(suites),
        "skipped_suites": dict(skipped),
        "provenance": dict(provenance or {}),
    }


# -- the terminal table ----------------------------------------------------------------------
PAPER_KEYS = list(PAPER_V2_SIM_SUCCESS)
OWN_KEYS = [threshold_key(2, 2), threshold_key(1, 1)]


def _short(key: str) -> str:
    return key.replace("mm_", "/").replace("deg", "")


def suite_table(name: str, suite: Mapping[str, Any]) -> str:
    """One suite: fixed target at the paper's pairs (beside the paper) and ours, random 5/5,
    the harm rate, the worst part and the unfamiliar flag's quality; the oracle-stop figure
    last, as a secondary column."""
    key5, key1 = threshold_key(5, 5), threshold_key(1, 1)
    header = ["policy", "eps", *[f"fixed {PAPER_LABELS[k]}" for k in PAPER_KEYS],
              *[f"fixed {_short(k)}" for k in OWN_KEYS], "fixed med mm/deg", "random 5/5", "harm %",
              "worst part (5/5 %)", "flag recall/false alarm 5/5", "lost", "oracle-stop fixed 1/1 (needs an oracle)"]
    rows = []
    for res in suite["policies"].values():
        fixed, rand = res.get("success_fixed") or {}, res.get("success_random") or {}
        med = res.get("final_fixed_median") or {}
        pos, rot = med.get("position_error_mm"), med.get("rotation_error_deg")
        worst, flag = res.get("worst_part"), res.get("flag")
        rows.append([res["label"], str(res["episodes"]), *[_pct(fixed.get(k)) for k in PAPER_KEYS],
                     *[_pct(fixed.get(k)) for k in OWN_KEYS],
                     "-" if pos is None else f"{pos:.2f}/{rot:.2f}", _pct(rand.get(key5)), _pct(res.get("harm_rate")),
                     "-" if not worst else f"{worst['object']} {_pct(worst['success'][key5])}",
                     "-" if not flag else f"{_pct(flag[f'recall_{key5}'])}/{_pct(flag[f'false_alarm_{key5}'])}",
                     str(res["lost"]), _pct((res.get("oracle_success_fixed") or {}).get(key1))])
    rows.append(["TacRefineNet v2 (paper, sim)", "-", *[f"{PAPER_V2_SIM_SUCCESS[k]:.1f}" for k in PAPER_KEYS],
                 "-", "-", "-", "-", "-", "-", "-", "-", "-"])
    lines = [f"suite {name}: {suite['description']} ({suite['env_id']}, {len(suite['objects'])} objects; "
             f"{_stop_words(suite.get('stop'))})", text_table(header, rows)]
    learned = suite.get("learned_policy")
    if learned and learned in suite["policies"]:
        classes = suite["policies"][learned]["by_class"]
        cls_rows = [[cls, str(v["episodes"]),
                     *[_pct((v.get("success_fixed") or {}).get(k)) for k in (threshold_key(5, 5), *OWN_KEYS)],
                     _pct((v.get("success_random") or {}).get(threshold_key(5, 5)))]
                    for cls, v in classes.items()]
        lines += [f"learned policy by object class ({suite['policies'][learned]['label']}):",
                  text_table(["class", "eps", "fixed 5/5", *[f"fixed {_short(k)}" for k in OWN_KEYS],
                              "random 5/5"], cls_rows)]
    elif suite.get("learned_note"):
        lines.append(f"no learned policy in this suite: {suite['learned_note'].splitlines()[0]}")
    if learned and suite["policies"].get(learned, {}).get("by_split"):
        lines += [f"learned policy on parts seen in training and never seen ({suite['policies'][learned]['label']}):",
                  split_table(suite)]
    if learned and suite["policies"].get(learned, {}).get("by_part"):
        lines += [f"learned policy, worst parts ({suite['policies'][learned]['label']}; all target modes):",
                  worst_parts_table(suite)]
    rob = suite.get("robustness")
    if rob:
        label = suite["policies"].get(rob["policy"], {}).get("label", rob["policy"])
        lines.append(f"robustness ({rob['condition']}): {label} success at {rob['threshold']} "
                     f"{_pct(rob['clean'])}% clean -> {_pct(rob['noisy_dr'])}% noisy ({rob['noisy_dr_lost']} lost)")
    return "\n".join(lines)


def split_table(suite: Mapping[str, Any]) -> str:
    """Seen / unseen parts side by side for the learned policy: clean fixed and random targets,
    and (when run) noise + domain randomisation."""
    learned = suite["learned_policy"]
    splits = suite["policies"][learned]["by_split"]
    noisy = (suite.get("robustness") or {}).get("noisy_dr_by_split") or {}
    keys = [threshold_key(5, 5), threshold_key(2, 2), threshold_key(1, 1)]
    key5, key1 = keys[0], keys[2]
    header = ["split", "parts", "eps", *[f"fixed {_short(k)}" for k in keys], *[f"random {_short(k)}" for k in keys],
              "harm %", "worst part (5/5 %, harm %)", "flag recall/false alarm 5/5",
              *[f"noisy+DR {m} 2/2" for m in ("fixed", "random")], "oracle-stop fixed 1/1 (needs an oracle)"]
    rows = []
    for split, v in splits.items():
        fixed, rand = v.get("success_fixed") or {}, v.get("success_random") or {}
        nz = noisy.get(split) or {}
        worst, flag = v.get("worst_part"), v.get("flag")
        rows.append([split, str(len(v["objects"])), str(v["episodes"]), *[_pct(fixed.get(k)) for k in keys],
                     *[_pct(rand.get(k)) for k in keys], _pct(v.get("harm_rate")),
                     "-" if not worst else f"{worst['object']} ({_pct(worst['success'][key5])}, "
                                           f"{_pct(worst.get('harm_rate'))})",
                     "-" if not flag else f"{_pct(flag[f'recall_{key5}'])}/{_pct(flag[f'false_alarm_{key5}'])}",
                     *[_pct((nz.get(f"success_{m}") or {}).get(threshold_key(2, 2))) for m in ("fixed", "random")],
                     _pct((v.get("oracle_success_fixed") or {}).get(key1))])
    return text_table(header, rows)


def _stop_words(stop: str | None) -> str:
    if stop == "policy":
        return "no oracle: the policy stops itself, ground truth scores the final grasp"
    if stop == "oracle":
        return "oracle stop: the env ended episodes once within 1 mm / 1 deg"
    return "stop rule not recorded (an older run: oracle stop)"


def worst_parts_table(suite: Mapping[str, Any], n: int = 5) -> str:
    """The learned policy's ``n`` worst parts (5/5, then 1/1), with the harm rate and the flag."""
    learned = suite["learned_policy"]
    parts = suite["policies"][learned].get("by_part") or {}
    key5, key1 = threshold_key(5, 5), threshold_key(1, 1)
    order = sorted(parts, key=lambda p: (parts[p]["success"][key5], parts[p]["success"][key1], p))[:n]
    rows = [[p, str(parts[p]["episodes"]), _pct(parts[p]["success"][key5]), _pct(parts[p]["success"][key1]),
             _pct(parts[p].get("harm_rate")), _pct(parts[p].get("flagged"))] for p in order]
    return text_table(["part", "eps", "5/5 %", "1/1 %", "harm %", "flag fired %"], rows)


def precision_table(summary: Mapping[str, Any]) -> str:
    """Every suite's table, then what was skipped; success in percent."""
    parts = [suite_table(name, suite) for name, suite in summary["suites"].items()]
    parts.append("success in %; X/Y = X mm and Y deg at the end of the episode (object held); harm = episodes "
                 "ending worse than they started by > 0.5 mm or > 0.5 deg on the refined DoF (or lost); flag = "
                 "the policy's unfamiliar-part flag, recall on failing / false alarms on succeeding episodes; "
                 "oracle-stop = some grasp of the episode was within the pair (needs an oracle: secondary); "
                 "paper: TacRefineNet v2 simulation, fixed target (its own hand and objects: a reference, "
                 "not a like-for-like comparison)")
    for name, why in (summary.get("skipped_suites") or {}).items():
        parts.append(f"suite {name} skipped: {why}")
    if summary.get("off_protocol"):
        parts.append(f"NOTE: off protocol (episodes per object differ from the protocol's "
                     f"{summary['protocol']['episodes_per_object']}); not comparable with benchmark runs")
    return "\n\n".join(parts)


#: The benchmark that writes these summaries moved up to the benchmarks layer.
__getattr__ = moved_names(__name__, {"run_precision_benchmark": "tacrefine.evaluation.benchmarks.precision"})


__all__ = ["PRECISION_SCHEMA", "learned_for_suite", "policy_summary", "precision_summary", "precision_table",
           "split_table", "suite_summary", "suite_table", "worst_parts_table"]
