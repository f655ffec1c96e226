"""The README's figures, rendered from the benchmarks' JSON (never typed by hand).

``python scripts/benchmark.py figures --out DIR`` reads ``DIR/precision.json`` and, when
present, ``DIR/ablation/ablation.json`` and ``DIR/speed.json``, and prints the Markdown
that the README's "Figures" section carries, so every number there can be traced to a file
and regenerated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tacrefine.evaluation.episodes.protocol import PAPER_V2_SIM_SUCCESS, threshold_key

_LABELS = {"pretrained": "pretrained TacRefineNet", "baseline:servo": "tactile servo (no learning)",
           "baseline:noop": "no-op", "baseline:random": "random", "baseline:oracle": "ground-truth oracle"}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.1f} %"


def _label(spec: str, res: Mapping[str, Any]) -> str:
    return _LABELS.get(spec, res.get("label", spec))


def suite_markdown(name: str, suite: Mapping[str, Any]) -> list[str]:
    """The README table of one suite (every policy) and its learned policy per class."""
    k11, k22, k55 = threshold_key(1, 1), threshold_key(2, 2), threshold_key(5, 5)
    stop = suite.get("stop", "oracle")
    how = ("no oracle: the policy decides when to stop, ground truth scores only the final grasp" if stop == "policy"
           else "oracle stop: the env ended an episode once within 1 mm / 1 deg")
    lines = [f"**{name}** ({suite['env_id']}: {suite['description']}; {len(suite['objects'])} objects x "
             f"{suite['episodes_per_object']} episodes x 2 target modes, at most 5 steps; {how}):", "",
             "| policy | fixed 1 mm / 1 deg | fixed 2 / 2 | fixed 5 / 5 | random 5 / 5 | harm | worst part (5 / 5) "
             "| final error, fixed (median) | oracle-stop fixed 1 / 1 (needs an oracle) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for spec, res in suite["policies"].items():
        fixed, rand = res.get("success_fixed") or {}, res.get("success_random") or {}
        med = res.get("final_fixed_median") or {}
        pos, rot = med.get("position_error_mm"), med.get("rotation_error_deg")
        final = "-" if pos is None else f"{pos:.2f} mm / {rot:.2f} deg"
        worst = res.get("worst_part")
        worst_cell = "-" if not worst else f"{worst['object']} {_pct(worst['success'][k55])}"
        lines.append(f"| {_label(spec, res)} | {_pct(fixed.get(k11))} | {_pct(fixed.get(k22))} | "
                     f"{_pct(fixed.get(k55))} | {_pct(rand.get(k55))} | {_pct(res.get('harm_rate'))} | {worst_cell} | "
                     f"{final} | {_pct((res.get('oracle_success_fixed') or {}).get(k11))} |")
    learned = suite.get("learned_policy")
    if learned and learned in suite["policies"]:
        res = suite["policies"][learned]
        fixed = res.get("success_fixed") or {}
        paper = " / ".join(f"{PAPER_V2_SIM_SUCCESS[k]:g}" for k in PAPER_V2_SIM_SUCCESS)
        ours = " / ".join(f"{100.0 * (fixed.get(k) or 0.0):.1f}" for k in PAPER_V2_SIM_SUCCESS)
        lines += ["", f"At the paper's pairs (10deg/10mm, 5deg/10mm, 5deg/5mm, fixed target): {ours} % "
                      f"(TacRefineNet v2, its own simulation: {paper} %)."]
        classes = res.get("by_class") or {}
        if len(classes) > 1:
            cells = ", ".join(f"{cls} {_pct((v.get('success_fixed') or {}).get(k55))} / "
                              f"{_pct((v.get('success_fixed') or {}).get(k11))}" for cls, v in classes.items())
            lines.append(f"Per class, fixed target 5/5 / 1/1: {cells}.")
        flag = res.get("flag")
        if flag:
            lines.append(f"Unfamiliar-part flag: fires on {_pct(flag['recall_' + k55])} of the episodes that fail at "
                         f"5 / 5 and {_pct(flag['false_alarm_' + k55])} of those that succeed (at 1 / 1: "
                         f"{_pct(flag['recall_' + k11])} / {_pct(flag['false_alarm_' + k11])}).")
        rob = suite.get("robustness")
        if rob:
            lines.append(f"With sensor noise and domain randomisation: {_pct(rob['noisy_dr'])} at "
                         f"{rob['threshold'].replace('mm_', ' mm / ').replace('deg', ' deg')} "
                         f"({_pct(rob['clean'])} clean).")
        if res.get("by_split"):
            lines += ["", *split_markdown(res["by_split"], (rob or {}).get("noisy_dr_by_split") or {})]
    return lines + [""]


def split_markdown(splits: Mapping[str, Any], noisy: Mapping[str, Any]) -> list[str]:
    """The learned policy on parts seen in training and never seen (held-out seeds, shapes)."""
    k11, k22, k55 = threshold_key(1, 1), threshold_key(2, 2), threshold_key(5, 5)
    lines = ["| parts | fixed 5 / 5 | fixed 1 / 1 | random 5 / 5 | random 2 / 2 | harm | worst part (5 / 5, harm) "
             "| noisy + DR fixed 2 / 2 | noisy + DR random 2 / 2 | oracle-stop fixed 1 / 1 (needs an oracle) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for split, v in splits.items():
        fixed, rand = v.get("success_fixed") or {}, v.get("success_random") or {}
        nz = noisy.get(split) or {}
        worst = v.get("worst_part")
        worst_cell = "-" if not worst else (f"{worst['object']} {_pct(worst['success'][k55])}, "
                                            f"{_pct(worst.get('harm_rate'))}")
        lines.append(f"| {split} ({len(v['objects'])} parts, {v['episodes']} episodes) | {_pct(fixed.get(k55))} | "
                     f"{_pct(fixed.get(k11))} | {_pct(rand.get(k55))} | {_pct(rand.get(k22))} | "
                     f"{_pct(v.get('harm_rate'))} | {worst_cell} | "
                     f"{_pct((nz.get('success_fixed') or {}).get(k22)) if nz else '-'} | "
                     f"{_pct((nz.get('success_random') or {}).get(k22)) if nz else '-'} | "
                     f"{_pct((v.get('oracle_success_fixed') or {}).get(k11))} |")
    return lines


def ablation_markdown(ablation: Mapping[str, Any]) -> list[str]:
    k11, k55 = threshold_key(1, 1), threshold_key(5, 5)
    rows = [f"| {name} ({v['hand']}) | {v['episodes']} | {_pct(v['success'][k55])} | {_pct(v['success'][k11])} | "
            f"{v['final_position_error_mm_median']:.2f} mm / {v['final_rotation_error_deg_median']:.2f} deg |"
            for name, v in ablation["variants"].items()]
    return [f"Finger ablation ({ablation['env_id']}, same objects, same data and training budget):", "",
            "| variant | episodes | 5 / 5 | 1 / 1 | final error (median) |", "| --- | --- | --- | --- | --- |",
            *rows, ""]


def speed_markdown(speed: Mapping[str, Any], path: Path) -> list[str]:
    """The README's speed line: every rate the speed benchmark wrote (one core unless stated)."""
    def num(key: str, digits: int = 0) -> str | None:
        value = speed.get(key)
        return None if not isinstance(value, (int, float)) else f"{value:,.{digits}f}"

    parts = []
    if num("tactile_pad_frames_per_s"):
        parts.append(f"{num('tactile_pad_frames_per_s')} tactile pad-frames/s at 14 x 12")
    for key in sorted(k for k in speed if k.startswith("regrasps_per_s")):
        which = key.removeprefix("regrasps_per_s").strip("_") or "parallel jaw"
        if num(key):
            parts.append(f"{num(key)} re-grasps/s ({which.replace('_', ' ')})")
    if num("episodes_per_s", 1):
        parts.append(f"{num('episodes_per_s', 1)} five-step episodes/s")
    if num("samples_per_s_2_workers"):
        speedup = speed.get("generation_speedup_2_workers")
        times = f" ({speedup:.2f}x one worker)" if isinstance(speedup, (int, float)) else ""
        parts.append(f"{num('samples_per_s_2_workers')} dataset samples/s with 2 workers{times}")
    if num("decision_latency_ms", 1):
        parts.append(f"{num('decision_latency_ms', 1)} ms per decision")
    load = (speed.get("machine") or {}).get("load_average_1_5_15")
    note = f" (load average {load[0]:.1f} while measured)" if isinstance(load, list) and load else ""
    return [f"Speed, one core unless stated (`python scripts/benchmark.py speed`; from `{path}`){note}: "
            + ", ".join(parts) + ".", ""]


def figures_markdown(out: str | Path) -> str:
    """The Markdown of the README's figures from the JSON files in ``out`` (whichever exist)."""
    out = Path(out)
    path, abl, speed = out / "precision.json", out / "ablation" / "ablation.json", out / "speed.json"
    if not (path.is_file() or abl.is_file() or speed.is_file()):
        raise FileNotFoundError(f"{path}: run `python scripts/benchmark.py precision --out {out}` first "
                                f"(or `ablation` / `speed` with the same --out)")
    lines: list[str] = []
    if path.is_file():
        precision = json.loads(path.read_text(encoding="utf-8"))
        off = (" OFF PROTOCOL: fewer episodes per object than the protocol's "
               f"{precision['protocol'].get('episodes_per_object')};") if precision.get("off_protocol") else ""
        lines += [f"Grip precision (`python scripts/benchmark.py precision --out {out}`; from `{path}`, "
                  f"created {precision['created_utc']}, commit {precision['provenance'].get('git_commit', 'n/a')};"
                  f"{off} harm = episodes ending > 0.5 mm or > 0.5 deg worse than they started on the refined "
                  "DoF, or lost):", ""]
        for name, suite in precision["suites"].items():
            lines += suite_markdown(name, suite)
    if abl.is_file():
        lines += ablation_markdown(json.loads(abl.read_text(encoding="utf-8")))
    if speed.is_file():
        lines += speed_markdown(json.loads(speed.read_text(encoding="utf-8")), speed)
    return "\n".join(lines)
