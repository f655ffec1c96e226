"""The parts benchmark: parts never seen, handed over by path only, as a user would.

Four measurements (``scripts/benchmark.py parts``; the fourth alone with ``--decomposition-only``):

1. **Held-out parts by path**: held-out family parts (seeds >= 100000) and the shapes no
   training run uses are written as URDF files (:mod:`tacrefine.sim.urdf_export`, with an
   inertial frame off the link origin) and given to the env as ``{name, urdf}`` only, so
   their grasp is inferred; the learned policy runs with fixed targets (and the oracle).
2. **The same parts as built-in specs**: the oracle on both forms, so an offset inertial
   frame and the inferred grasp are seen to cost nothing.
3. **PyBullet's random_urdfs** by path: each is usable (the oracle reaches 1 mm / 1 deg in
   most episodes), refused when the env is built (too large, ...) or refused at reset
   (cannot be grasped), each with the error naming it; anything else is a crash.
4. **Decomposition time** of a 50k-triangle non-convex part at the default setting
   (:mod:`tacrefine.evaluation.benchmarks.decompose`).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import ConfigError, atomic_write_bytes
from tacrefine.evaluation.results.markdown import text_table

JAW_HELD_OUT_FAMILIES = ("jaw_rods", "jaw_plates", "edges", "prisms", "convex", "compound")
HELD_OUT_SHAPES = ("wedge", "hexagon", "l_shape")
ENV_ID = "tacrefine/GripRefine-v0"


def held_out_parts(per_family: int) -> list[str]:
    from tacrefine.sim.families import HELD_OUT_START

    names = [f"{f}-{HELD_OUT_START + i}" for f in JAW_HELD_OUT_FAMILIES for i in range(per_family)]
    return [*HELD_OUT_SHAPES, *names]


def _oracle_episode(env: Any, seed: int) -> bool:
    obs, info = env.reset(seed=seed)
    base = env.unwrapped
    for _ in range(5):
        action = np.clip(base.oracle_increment() / base.action_scale, -1, 1).astype(np.float32)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return bool(info["is_success"])


def check_random_urdfs(indices: Sequence[int], episodes: int, seed: int = 0) -> list[dict[str, Any]]:
    """Each of PyBullet's random_urdfs by path: usable, refused (and why) or crashed."""
    import gymnasium as gym
    import pybullet_data

    from tacrefine.envs.grip_refine import UngraspableObjectError

    root = Path(pybullet_data.getDataPath()) / "random_urdfs"
    rows = []
    for index in indices:
        path = root / f"{index:03d}" / f"{index:03d}.urdf"
        row: dict[str, Any] = {"part": path.name, "path": str(path)}
        try:
            env = gym.make(ENV_ID, objects=[{"name": f"random_{index:03d}", "urdf": str(path)}])
        except ConfigError as exc:
            rows.append({**row, "status": "refused_at_build", "reason": str(exc),
                         "names_it": str(path) in str(exc)})
            continue
        except Exception:  # noqa: BLE001 - the benchmark counts crashes instead of stopping
            rows.append({**row, "status": "crash", "reason": traceback.format_exc(limit=2)})
            continue
        wins = 0
        try:
            spec = env.unwrapped.object_specs[0]
            row.update(category=spec.category, grasp_height_mm=round(spec.grasp_height_mm, 1),
                       thickness_mm=round(spec.thickness_mm, 1))
            for ep in range(episodes):
                wins += _oracle_episode(env, seed + ep)
            usable = wins * 2 > episodes
            rows.append({**row, "status": "usable" if usable else "unreliable", "oracle_success": wins / episodes})
        except UngraspableObjectError as exc:
            rows.append({**row, "status": "refused_at_reset", "reason": str(exc),
                         "names_it": f"random_{index:03d}" in str(exc)})
        except Exception:  # noqa: BLE001
            rows.append({**row, "status": "crash", "reason": traceback.format_exc(limit=2)})
        finally:
            env.close()
    return rows


def oracle_by_form(names: Sequence[str], paths: dict[str, str], episodes: int, seed: int = 0) -> dict[str, Any]:
    """Oracle success (1 mm / 1 deg) on each part as a built-in spec and by path."""
    import gymnasium as gym

    out: dict[str, Any] = {"spec": 0, "path": 0, "episodes": 0}
    for name in names:
        for form, entry in (("spec", name), ("path", {"name": f"file_{name.replace('-', '_')}", "urdf": paths[name]})):
            env = gym.make(ENV_ID, objects=[entry])
            try:
                out[form] += sum(_oracle_episode(env, seed + ep) for ep in range(episodes))
            finally:
                env.close()
        out["episodes"] += episodes
    return out


def run_parts_benchmark(out: str | Path, *, policy: str = "pretrained", per_family: int = 2, episodes: int = 10,
                        random_urdfs: int = 100, oracle_episodes: int = 3, progress: bool = True,
                        plots: bool = True) -> dict[str, Any]:
    """Run the three measurements (module docstring) into ``out``; returns ``parts.json``."""
    from tacrefine.evaluation.episodes.protocol import EvalConfig
    from tacrefine.evaluation.results.evaluate import run_evaluation
    from tacrefine.policy.registry import PRETRAINED_NAME
    from tacrefine.sim.objects import get_object
    from tacrefine.sim.urdf_export import export_urdf

    out = Path(out)
    folder = out / "held_out_urdf"
    folder.mkdir(parents=True, exist_ok=True)
    names = held_out_parts(per_family)
    paths = {n: str(export_urdf(get_object(n), folder)) for n in names}
    entries = [{"name": f"file_{n.replace('-', '_')}", "urdf": p} for n, p in paths.items()]
    eval_cfg = EvalConfig(objects=tuple(entries), episodes_per_object=episodes, target_modes=("fixed",),
                          seed=424242, progress=progress, plots=plots, render=False)
    specs = [policy, "baseline:noop", "baseline:oracle"]
    report = run_evaluation(eval_cfg, specs, out / "held_out_by_path")
    learned = policy if policy != PRETRAINED_NAME else PRETRAINED_NAME
    by_path = {spec: {"success": (res := report["results"][spec])["overall"]["success"],
                      "harm_rate": res["overall"].get("harm_rate"), "flag": res["overall"].get("flag"),
                      "oracle_success": res["overall"].get("oracle_success"), "worst_part": res.get("worst_part"),
                      "by_object": {k: v["success"] for k, v in res["by_object"].items()},
                      "harm_by_object": {k: v.get("harm_rate") for k, v in res["by_object"].items()}}
               for spec in specs}
    forms = oracle_by_form(names, paths, oracle_episodes)
    rows = check_random_urdfs(range(random_urdfs), oracle_episodes)
    from tacrefine.evaluation.benchmarks.decompose import time_decomposition

    decomposition = time_decomposition()
    counts = {s: sum(r["status"] == s for r in rows) for s in
              ("usable", "unreliable", "refused_at_build", "refused_at_reset", "crash")}
    summary = {
        "held_out_by_path": {"parts": names, "episodes_per_part": episodes, "policies": by_path,
                             "learned_policy": learned, "report": "held_out_by_path/report.json"},
        "oracle_spec_vs_path": forms,
        "random_urdfs": {"counts": counts, "parts": rows, "oracle_episodes": oracle_episodes},
        "decomposition": decomposition,
    }
    atomic_write_bytes(out / "parts.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary


def parts_table(summary: dict[str, Any]) -> str:
    from tacrefine.evaluation.results.trust import flag_text, worst_text

    held = summary["held_out_by_path"]
    keys = ("10mm_10deg", "5mm_5deg", "2mm_2deg", "1mm_1deg")

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}"

    rows = [[spec, *[pct(v["success"][k]) for k in keys], pct(v.get("harm_rate")), worst_text(v.get("worst_part")),
             flag_text(v.get("flag"), "5mm_5deg"), pct((v.get("oracle_success") or {}).get("1mm_1deg"))]
            for spec, v in held["policies"].items()]
    lines = [f"held-out parts given by path only ({len(held['parts'])} parts x {held['episodes_per_part']} "
             f"episodes, fixed target, <= 5 steps, no oracle stop; success %):",
             text_table(["policy", *[k.replace("mm_", "/").replace("deg", "") for k in keys], "harm %",
                         "worst part (5/5 %, harm %)", "flag recall/false alarm 5/5",
                         "oracle-stop 1/1 (needs an oracle)"], rows)]
    learned = held["policies"].get(held.get("learned_policy"), {})
    if learned.get("by_object"):
        harm = learned.get("harm_by_object") or {}
        lines.append(f"per part, {held['learned_policy']} (success %, worst first):")
        order = sorted(learned["by_object"], key=lambda p: (learned["by_object"][p]["5mm_5deg"], p))
        lines.append(text_table(["part", "5/5", "2/2", "1/1", "harm %"], [
            [part, *[f"{100 * learned['by_object'][part][k]:.0f}" for k in ("5mm_5deg", "2mm_2deg", "1mm_1deg")],
             pct(harm.get(part))] for part in order]))
    forms = summary["oracle_spec_vs_path"]
    lines.append(f"oracle at 1/1: built-in specs {forms['spec']}/{forms['episodes']}, the same parts by path "
                 f"(inferred grasp, inertial frame 10 mm off the link origin) {forms['path']}/{forms['episodes']}")
    ru = summary["random_urdfs"]
    lines.append(f"PyBullet random_urdfs by path ({len(ru['parts'])}): " + ", ".join(
        f"{k} {v}" for k, v in ru["counts"].items()))
    if "decomposition" in summary:
        from tacrefine.evaluation.benchmarks.decompose import decomposition_line

        lines.append(decomposition_line(summary["decomposition"]))
    return "\n".join(lines)
