"""The deployable protocol: the policy decides when to stop; ground truth only scores the end.

Why: a robot has no oracle that says "within 1 mm". The env is built with its success
thresholds at ``1e-6`` (it never terminates on success), the loop runs at most
``max_steps`` steps and ends early only when the policy says so (``policy.should_stop``),
and the final grasp alone is scored. Beside success per threshold, every record says
whether the episode ended *worse* than it started (harm: by more than
:data:`HARM_MM` or :data:`HARM_DEG` on the refined DoF, or a lost object) and whether the
policy raised its unfamiliar-part flag; :func:`summarize` gives per-part rates, the worst
part, the harm rate and how well the flag predicts failure.

Small on purpose: reports (evaluate / benchmark / main) wire :func:`run_parts` and
:func:`summarize` in; this module knows nothing of their tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.evaluation.protocol import episode_seed, threshold_key

ENV_ID = "tacrefine/GripRefine-v0"
#: an episode harms when it ends farther from the target than it started by more than these
HARM_MM = 0.5
HARM_DEG = 0.5
#: thresholds every summary reports (mm, deg): 5/5 and 1/1
REPORTED = ((5.0, 5.0), (1.0, 1.0))
#: env thresholds that switch termination on success off
NO_ORACLE = {"success_position_mm": 1e-6, "success_rotation_deg": 1e-6}


def part_entry(part: str | Mapping[str, Any]) -> tuple[str, Any]:
    """``(name, objects entry)`` of a part: a built-in / family name, a URDF path, or a mapping."""
    if isinstance(part, Mapping):
        return str(part["name"]), dict(part)
    text = str(part)
    if text.endswith(".urdf"):
        return Path(text).stem, {"name": Path(text).stem, "urdf": text}
    return text, text


def random_urdf(index: int) -> str:
    """Path of PyBullet's ``random_urdfs/NNN/NNN.urdf``."""
    import pybullet_data

    return str(Path(pybullet_data.getDataPath()) / "random_urdfs" / f"{index:03d}" / f"{index:03d}.urdf")


def no_oracle_env(part: str | Mapping[str, Any], max_steps: int = 5, **env_kwargs: Any) -> Any:
    """The env of one part with termination on success switched off."""
    import gymnasium as gym

    import tacrefine  # noqa: F401  (registers the env ids)

    _, entry = part_entry(part)
    return gym.make(ENV_ID, objects=[entry], max_episode_steps=max_steps, disable_env_checker=True,
                    **{**env_kwargs, **NO_ORACLE})


def build_policy(spec: str, env: Any, max_steps: int = 5) -> Any:
    """``tacrefine.load_policy(spec)``; ``selfcheck:SPEC`` wraps SPEC in the self-checking
    controller (:class:`tacrefine.policy.assessment.SelfCheckingPolicy`) with this step budget."""
    import tacrefine
    from tacrefine.policy.assessment import SelfCheckingPolicy

    if spec.startswith("selfcheck:"):
        return SelfCheckingPolicy(tacrefine.load_policy(spec.split(":", 1)[1], env=env), env=env,
                                  max_steps=max_steps)
    return tacrefine.load_policy(spec, env=env)


def run_episode(env: Any, policy: Any, *, part: str, seed: int, max_steps: int = 5) -> dict[str, Any]:
    """One no-oracle episode; the record holds start and final errors, harm and the flag."""
    from tacrefine.envs.grip_refine import UngraspableObjectError

    try:
        obs, info = env.reset(seed=seed)
    except UngraspableObjectError as exc:
        return {"part": part, "seed": seed, "status": "reset_failed", "reason": str(exc)}
    policy.reset()
    start = (float(info["position_error_mm"]), float(info["rotation_error_deg"]))
    steps = 0
    for _ in range(max_steps):
        action = policy.act(obs)
        if getattr(policy, "should_stop", False) and not np.any(action):
            break  # the policy says it is done: the grasp stays as it is
        obs, _, terminated, truncated, info = env.step(action)
        steps += 1
        if terminated or truncated:
            break
    lost = info.get("failure") is not None
    final = (float(info["position_error_mm"]), float(info["rotation_error_deg"]))
    record: dict[str, Any] = {
        "part": part, "seed": seed, "status": "lost" if lost else "ok", "steps": steps,
        "start_mm": start[0], "start_deg": start[1], "final_mm": final[0], "final_deg": final[1],
        "harmed": bool(lost or final[0] > start[0] + HARM_MM or final[1] > start[1] + HARM_DEG),
        "unfamiliar": bool(getattr(policy, "unfamiliar", False)),
    }
    for mm, deg in REPORTED:
        record[threshold_key(mm, deg)] = bool(not lost and final[0] <= mm and final[1] <= deg)
    if callable(getattr(policy, "status", None)):
        record["controller"] = policy.status()
    return record


def run_parts(policy_specs: Sequence[str], parts: Sequence[str | Mapping[str, Any]], episodes: int = 10,
              seed: int = 0, max_steps: int = 5, target_mode: str = "fixed",
              progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Every policy on every part, ``episodes`` each; the same reset seeds for every policy."""
    records = []
    for part in parts:
        name, _ = part_entry(part)
        env = no_oracle_env(part, max_steps, target_mode=target_mode)
        try:
            for spec in policy_specs:
                policy = build_policy(spec, env, max_steps)
                for ep in range(episodes):
                    rec = run_episode(env, policy, part=name, seed=episode_seed(seed, name, target_mode, ep),
                                      max_steps=max_steps)
                    records.append({"policy": spec, **rec})
                if progress:
                    progress(f"{spec} on {name}: done")
        finally:
            env.close()
    return records


def _rate(flags: Sequence[bool]) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def summarize(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per policy: success at 5/5 and 1/1, harm rate, the worst part (by 5/5), per-part rates,
    and the flag's recall on failing episodes / false-alarm rate on succeeding ones."""
    out: dict[str, Any] = {}
    for spec in dict.fromkeys(r["policy"] for r in records):
        mine = [r for r in records if r["policy"] == spec and r["status"] != "reset_failed"]
        parts: dict[str, Any] = {}
        for name in dict.fromkeys(r["part"] for r in mine):
            eps = [r for r in mine if r["part"] == name]
            parts[name] = {"episodes": len(eps), "harm": _rate([r["harmed"] for r in eps]),
                           **{threshold_key(*t): _rate([r[threshold_key(*t)] for r in eps]) for t in REPORTED}}
        key5 = threshold_key(*REPORTED[0])
        worst = min(parts, key=lambda n: parts[n][key5]) if parts else None
        summary: dict[str, Any] = {
            "episodes": len(mine), "harm": _rate([r["harmed"] for r in mine]),
            **{threshold_key(*t): _rate([r[threshold_key(*t)] for r in mine]) for t in REPORTED},
            "worst_part": worst, "worst_part_success": parts[worst][key5] if worst else None, "parts": parts,
        }
        for t in REPORTED:
            key = threshold_key(*t)
            summary[f"flag_recall_{key}"] = _rate([r["unfamiliar"] for r in mine if not r[key]])
            summary[f"flag_false_alarm_{key}"] = _rate([r["unfamiliar"] for r in mine if r[key]])
        out[spec] = summary
    return out


def summary_table(summary: Mapping[str, Any]) -> str:
    """A plain text table of :func:`summarize` (one row per policy)."""
    def pct(v: float | None) -> str:
        return "   -" if v is None else f"{100 * v:4.0f}"

    lines = ["policy                       eps  5/5  1/1  harm  worst part (5/5)         flag recall/false alarm (5/5)"]
    for spec, s in summary.items():
        worst = f"{s['worst_part']} {pct(s['worst_part_success'])}%"
        lines.append(f"{spec:<28} {s['episodes']:4d} {pct(s['5mm_5deg'])} {pct(s['1mm_1deg'])}  {pct(s['harm'])}  "
                     f"{worst:<24} {pct(s['flag_recall_5mm_5deg'])} / {pct(s['flag_false_alarm_5mm_5deg'])}")
    return "\n".join(lines)


__all__ = ["HARM_DEG", "HARM_MM", "NO_ORACLE", "build_policy", "no_oracle_env", "part_entry", "random_urdf",
           "run_episode", "run_parts", "summarize", "summary_table"]
