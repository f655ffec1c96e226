"""The grip-precision benchmark (v2): every suite, the learned policy and every baseline.

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

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tacrefine.config import to_dict
from tacrefine.evaluation.markdown import _pct, text_table
from tacrefine.evaluation.protocol import (
    PAPER_LABELS,
    PAPER_V2_REAL_SUCCESS,
    PAPER_V2_REAL_UNSEEN_SUCCESS,
    PAPER_V2_SIM_SUCCESS,
    SUITES,
    threshold_key,
)
from tacrefine.evaluation.stats import aggregate

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
    """One suite: fixed target at the paper's pairs (beside the paper) and ours, random 5/5."""
    header = ["policy", "eps", *[f"fixed {PAPER_LABELS[k]}" for k in PAPER_KEYS],
              *[f"fixed {_short(k)}" for k in OWN_KEYS], "fixed med mm/deg", "random 5/5", "lost"]
    rows = []
    for res in suite["policies"].values():
        fixed, rand = res.get("success_fixed") or {}, res.get("success_random") or {}
        med = res.get("final_fixed_median") or {}
        pos, rot = med.get("position_error_mm"), med.get("rotation_error_deg")
        rows.append([res["label"], str(res["episodes"]), *[_pct(fixed.get(k)) for k in PAPER_KEYS],
                     *[_pct(fixed.get(k)) for k in OWN_KEYS],
                     "-" if pos is None else f"{pos:.2f}/{rot:.2f}", _pct(rand.get(threshold_key(5, 5))),
                     str(res["lost"])])
    rows.append(["TacRefineNet v2 (paper, sim)", "-", *[f"{PAPER_V2_SIM_SUCCESS[k]:.1f}" for k in PAPER_KEYS],
                 "-", "-", "-", "-", "-"])
    lines = [f"suite {name}: {suite['description']} ({suite['env_id']}, {len(suite['objects'])} objects)",
             text_table(header, rows)]
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
    header = ["split", "parts", "eps", *[f"fixed {_short(k)}" for k in keys], *[f"random {_short(k)}" for k in keys],
              *[f"noisy+DR {m} 2/2" for m in ("fixed", "random")]]
    rows = []
    for split, v in splits.items():
        fixed, rand = v.get("success_fixed") or {}, v.get("success_random") or {}
        nz = noisy.get(split) or {}
        rows.append([split, str(len(v["objects"])), str(v["episodes"]), *[_pct(fixed.get(k)) for k in keys],
                     *[_pct(rand.get(k)) for k in keys],
                     *[_pct((nz.get(f"success_{m}") or {}).get(threshold_key(2, 2))) for m in ("fixed", "random")]])
    return text_table(header, rows)


def precision_table(summary: Mapping[str, Any]) -> str:
    """Every suite's table, then what was skipped; success in percent."""
    parts = [suite_table(name, suite) for name, suite in summary["suites"].items()]
    parts.append("success in %; X/Y = X mm and Y deg at the end of the episode (object held); paper: "
                 "TacRefineNet v2 simulation, fixed target (its own hand and objects: a reference, "
                 "not a like-for-like comparison)")
    for name, why in (summary.get("skipped_suites") or {}).items():
        parts.append(f"suite {name} skipped: {why}")
    if summary.get("off_protocol"):
        parts.append(f"NOTE: off protocol (episodes per object differ from the protocol's "
                     f"{summary['protocol']['episodes_per_object']}); not comparable with benchmark runs")
    return "\n\n".join(parts)


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
    from tacrefine.evaluation.protocol import PRECISION_PROTOCOL
    from tacrefine.evaluation.report import write_json
    from tacrefine.evaluation.runner import run_evaluation

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
        clean_cfg = protocol.eval_config(name, episodes_per_object=episodes_per_object, progress=progress,
                                         plots=plots)
        clean = run_evaluation(clean_cfg, specs, out / name / "clean", workers=workers)
        noisy_report = None
        if spec and noisy:
            noisy_cfg = protocol.eval_config(name, noisy=True, episodes_per_object=episodes_per_object,
                                             progress=progress, plots=plots)
            noisy_report = run_evaluation(noisy_cfg, [spec], out / name / "noisy_dr", workers=workers)
        results[name] = suite_summary(name, clean, noisy_report, spec, note if learned else None,
                                      protocol.robust_threshold)
        prov = prov or clean["provenance"]
    summary = precision_summary(protocol, results, skipped, learned, prov)
    if plots and results:
        from tacrefine.evaluation.precision_plots import plot_precision

        summary["plots"] = {"success_by_threshold": str(plot_precision(summary, out / "precision.png").name)}
    write_json(summary, out / "precision.json")
    return summary


__all__ = ["PRECISION_SCHEMA", "learned_for_suite", "policy_summary", "precision_summary", "precision_table",
           "run_precision_benchmark", "split_table", "suite_summary", "suite_table"]
