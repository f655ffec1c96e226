"""Closed-loop rollouts of any policy in GripRefine-v0, one record per episode.

The loop is the paper's: read touch -> the policy predicts a wrist increment -> the env
re-grasps -> repeat, for at most ``max_steps`` steps. How it ends is the config's ``stop``
rule (:data:`~tacrefine.evaluation.episodes.protocol.STOP_RULES`): under ``"policy"`` (the
deployable default) the env never terminates on success, a learned policy runs through its
self-checking controller (:class:`~tacrefine.policy.assessment.SelfCheckingPolicy`) and the
loop ends when the policy says stop, the budget is used or the part is lost; ground truth
only scores the final grasp. Under ``"oracle"`` the env ends the episode the first time the
grasp is within its success thresholds. Every record keeps the per-step ground-truth errors
(so the oracle-stop figure is computed from any run: ``oracle_success``), the policy's own
assessment per step when it has one, whether the episode ended worse than it started
(``harmed``) and whether the policy flagged the part as unfamiliar. Every episode's start grasp is
fixed by its seed (:func:`tacrefine.evaluation.episodes.protocol.episode_seed`), so all policies are
scored on the same episodes. Episodes are never dropped: a lost object stays in the
denominator as a failure.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import to_dict
from tacrefine.evaluation.episodes.protocol import (
    HARM_DEG,
    HARM_MM,
    SUCCESS_THRESHOLDS,
    EvalConfig,
    threshold_key,
    threshold_keys,
)
from tacrefine.moved import moved_names

ENV_ID = "tacrefine/GripRefine-v0"
#: Jobs per (policy, target mode) of a resumable evaluation (at least 2 episodes each; more
#: with more than 4 workers).
RESUME_PIECES = 8
#: Where a resumable evaluation records its finished jobs, inside its output directory.
JOURNAL_DIR = ".jobs"
#: ``failure`` of an episode whose reset could not grasp the part
RESET_FAILED = "reset_failed"


@dataclass
class Capture:
    """Tactile images (and optional scene renders) of one episode, for panels and GIFs."""

    policy: str
    object: str
    target_mode: str
    seed: int
    target: np.ndarray
    tactile: list[np.ndarray] = field(default_factory=list)
    scenes: list[np.ndarray] = field(default_factory=list)
    errors: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class EvaluationRun:
    """Everything one evaluation produced before it is written out."""

    config: EvalConfig
    specs: list[str]
    episodes: list[dict[str, Any]]
    captures: list[Capture]
    env_info: dict[str, Any]
    policy_info: list[dict[str, Any]]
    seconds: float
    traces: list[Any] = field(default_factory=list)  # EpisodeTrace per episode, when recording


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "ep") -> Any:
    """A tqdm bar on stderr that stays readable when the stream is not a terminal.

    On a terminal it redraws in place; in a log file or pipe it prints a plain ASCII line
    every 10 s instead of flooding the log with carriage-return updates.
    """
    from tqdm import tqdm

    stream = sys.stderr
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    return tqdm(total=total, desc=desc, disable=not enabled, file=stream, dynamic_ncols=tty, ascii=not tty,
                mininterval=0.2 if tty else 10.0, leave=True, unit=unit)


def policy_slug(spec: str) -> str:
    """A file-name-safe short label of a policy spec (``baseline:noop`` -> ``baseline_noop``;
    ``selfcheck:runs/a/best.pt`` -> ``selfcheck_a_best``, told apart from ``runs/a/best.pt``)."""
    text = str(spec)
    prefix, _, rest = text.partition(":")
    if prefix == "selfcheck" and rest:
        return f"selfcheck_{policy_slug(rest)}"
    if "/" in text or text.endswith(".pt"):
        path = Path(text)
        text = f"{path.parent.name}_{path.stem}" if path.parent.name else path.stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "policy"


def policy_label(spec: str) -> str:
    """How tables name a policy: the spec itself, or a short name for a checkpoint path."""
    text = str(spec)
    return policy_slug(text) if ("/" in text or text.endswith(".pt")) else text


def make_env(cfg: EvalConfig, target_mode: str) -> Any:
    """The env of one target mode, with the evaluation's step budget as its time limit (and,
    under the ``policy`` stop rule, no termination on success)."""
    import gymnasium as gym

    import tacrefine  # noqa: F401  (registers the env ids)

    kwargs = dict(cfg.env_kwargs)
    kwargs.update(objects=cfg.env_objects(), target_mode=target_mode, noise=cfg.noise,
                  domain_randomization=cfg.domain_randomization,
                  render_mode="rgb_array" if cfg.render else None, terminate_on_success=cfg.stop == "oracle")
    # no passive checker: it breaks on the step after a reset that raised (a part that cannot be
    # grasped is recorded and the evaluation goes on); the env itself is checked by the tests
    return gym.make(cfg.env_id, max_episode_steps=cfg.max_steps, disable_env_checker=True, **kwargs)


def build_policy(spec: str, env: Any, seed: int, sensor_mismatch: str = "refuse", stop: str = "oracle",
                 max_steps: int = 5) -> Any:
    """The policy named by ``spec`` bound to ``env`` (:func:`tacrefine.load_policy`). Under the
    ``policy`` stop rule a learned policy (one with ``assess``; not a baseline) runs through
    the self-checking controller with the step budget ``max_steps``: its stop rule ends the
    episode, it returns to the best grasp seen, it flags unfamiliar parts."""
    import tacrefine
    from tacrefine.policy.assessment import SelfCheckingPolicy
    from tacrefine.policy.registry import SELFCHECK_PREFIX

    policy = tacrefine.load_policy(spec, env=env, seed=seed, sensor_mismatch=sensor_mismatch, max_steps=max_steps)
    if stop == "policy" and not str(spec).startswith(("baseline:", SELFCHECK_PREFIX)) \
            and callable(getattr(policy, "assess", None)):
        policy = SelfCheckingPolicy(policy, env=env, max_steps=max_steps)
    return policy


def _errors_of(step: int, info: dict[str, Any]) -> dict[str, Any]:
    return {
        "step": step,
        "position_error_mm": float(info["position_error_mm"]),
        "rotation_error_deg": float(info["rotation_error_deg"]),
        "full_position_error_mm": float(info["full_position_error_mm"]),
        "full_rotation_error_deg": float(info["full_rotation_error_deg"]),
        "per_dof_error": {k: float(v) for k, v in info["per_dof_error"].items()},
        "is_success": bool(info["is_success"]),
        "failure": info.get("failure"),
    }


def steps_to_converge(errors: list[dict[str, Any]]) -> int | None:
    """First step from which the env's success held to the end of the episode (None if it
    did not end in success). Episodes terminate on success, so this is normally the step
    at which success was first reached."""
    if not errors or not errors[-1]["is_success"] or errors[-1]["failure"] is not None:
        return None
    k = len(errors) - 1
    while k > 0 and errors[k - 1]["is_success"] and errors[k - 1]["failure"] is None:
        k -= 1
    return errors[k]["step"]


def success_flags(position_mm: float, rotation_deg: float, lost: bool) -> dict[str, bool]:
    """Success at every threshold pair: held object, refined errors within both limits."""
    return {threshold_key(mm, deg): bool(not lost and position_mm <= mm and rotation_deg <= deg)
            for mm, deg in SUCCESS_THRESHOLDS}


def oracle_success(errors: list[dict[str, Any]]) -> dict[str, bool]:
    """Success at every threshold pair had an oracle stopped the episode the first time the
    grasp was within it: some grasp visited (start included, part held) was within."""
    return {threshold_key(mm, deg): any(e["failure"] is None and e["position_error_mm"] is not None
                                        and e["position_error_mm"] <= mm and e["rotation_error_deg"] <= deg
                                        for e in errors)
            for mm, deg in SUCCESS_THRESHOLDS}


def harmed(errors: list[dict[str, Any]]) -> bool:
    """The episode ended farther from the target than it started (refined DoF, by more than
    :data:`HARM_MM` / :data:`HARM_DEG`), or lost the part."""
    start, final = errors[0], errors[-1]
    if final["failure"] is not None:
        return True
    return bool(final["position_error_mm"] > start["position_error_mm"] + HARM_MM
                or final["rotation_error_deg"] > start["rotation_error_deg"] + HARM_DEG)


def _note_assessment(policy: Any, row: dict[str, Any]) -> None:
    """The policy's own judgement of the grasp of ``row`` (when it has one) goes into the row."""
    a = getattr(policy, "assessment", None)
    if a is not None and callable(getattr(a, "as_dict", None)):
        row["assessment"] = a.as_dict()


def run_episode(env: Any, policy: Any, *, spec: str, object_name: str, target_mode: str, seed: int,
                episode: int, max_steps: int, capture: bool = False, render: bool = False,
                trace: Any = None, stop: str = "oracle") -> tuple[dict[str, Any], Capture | None]:
    """One closed-loop episode; returns its record and (when asked) its tactile capture.
    ``trace``: an :class:`~tacrefine.evaluation.episodes.recording.EpisodeTrace` to fill step by step.
    ``stop``: ``"policy"`` ends the loop when the policy says so (``policy.should_stop``); the
    env must then not terminate on success (:func:`make_env` sees to it)."""
    from tacrefine.envs.grip_refine import UngraspableObjectError

    t0 = time.perf_counter()
    try:
        obs, info = env.reset(seed=seed, options={"object": object_name})
    except UngraspableObjectError as exc:  # a failure of this part; the evaluation goes on
        return _reset_failure(env, spec, object_name, target_mode, seed, episode, str(exc), t0), None
    policy.reset()
    errors = [_errors_of(0, info)]
    cap = None
    if capture:
        cap = Capture(policy=spec, object=object_name, target_mode=target_mode, seed=seed,
                      target=np.array(obs["target_tactile"]))
        cap.tactile.append(np.array(obs["tactile"]))
        cap.errors.append((errors[0]["position_error_mm"], errors[0]["rotation_error_deg"]))
        if render:
            cap.scenes.append(env.render())
    if trace is not None:
        trace.start(env, obs, info, cap.scenes[-1] if cap is not None and render else None)
    terminated = truncated = stopped = False
    decision_s, total_reward = 0.0, 0.0
    judges = stop == "policy" and hasattr(policy, "should_stop")
    for step in range(1, max_steps + 1):
        td = time.perf_counter()
        action = policy.act(obs)
        decision_s += time.perf_counter() - td
        _note_assessment(policy, errors[-1])
        if judges and policy.should_stop:
            stopped = True  # the policy's own stop rule: the grasp stays as it is
            break
        obs, reward, terminated, truncated, info = env.step(action)
        total_reward += float(reward)
        errors.append(_errors_of(step, info))
        if cap is not None:
            cap.tactile.append(np.array(obs["tactile"]))
            cap.errors.append((errors[-1]["position_error_mm"], errors[-1]["rotation_error_deg"]))
            if render:
                cap.scenes.append(env.render())
        if trace is not None:
            trace.step(env, action, obs, reward, info, cap.scenes[-1] if cap is not None and render else None)
        if terminated or truncated:
            break
    final = errors[-1]
    failure = final["failure"]
    lost = failure is not None
    if judges and not stopped and not lost:  # budget used: the policy judges the final grasp (no step)
        policy.act(obs)
        _note_assessment(policy, final)
    steps = len(errors) - 1
    flag = getattr(policy, "unfamiliar", None)
    status = policy.status() if callable(getattr(policy, "status", None)) else None
    record = {
        "policy": spec,
        "object": object_name,
        "object_class": info.get("object_class"),
        "target_mode": target_mode,
        "episode": episode,
        "seed": seed,
        "steps": steps,
        "errors": errors,
        "final_position_error_mm": final["position_error_mm"],
        "final_rotation_error_deg": final["rotation_error_deg"],
        "final_full_position_error_mm": final["full_position_error_mm"],
        "final_full_rotation_error_deg": final["full_rotation_error_deg"],
        "success": success_flags(final["position_error_mm"], final["rotation_error_deg"], lost),
        "env_success": bool(final["is_success"] and not lost),
        "steps_to_converge": steps_to_converge(errors),
        "stop": stop,
        "stop_reason": ("lost" if lost else (status or {}).get("stop_reason") or ("policy" if stopped else None)
                        or ("env_success" if terminated else "budget")),
        "oracle_success": oracle_success(errors),
        "harmed": harmed(errors),
        "unfamiliar": None if flag is None else bool(flag),
        **({"self_check": status} if status is not None else {}),  # the controller's own account
        "failure": failure,
        "lost": lost,
        "terminated": bool(terminated),
        "truncated": bool(truncated),
        "return": total_reward,
        "decision_ms": 1000.0 * decision_s / steps if steps else 0.0,
        "seconds": time.perf_counter() - t0,
    }
    return record, cap


def _reset_failure(env: Any, spec: str, object_name: str, target_mode: str, seed: int, episode: int,
                   message: str, t0: float) -> dict[str, Any]:
    """The record of an episode whose reset could not grasp the part: a failure at every
    threshold, with no error to report (None) and the reason kept."""
    specs = {s.name: s for s in env.unwrapped.object_specs}
    start = {"step": 0, "position_error_mm": None, "rotation_error_deg": None, "full_position_error_mm": None,
             "full_rotation_error_deg": None, "per_dof_error": {}, "is_success": False, "failure": RESET_FAILED}
    return {
        "policy": spec, "object": object_name, "object_class": specs[object_name].category,
        "target_mode": target_mode, "episode": episode, "seed": seed, "steps": 0, "errors": [start],
        "final_position_error_mm": None, "final_rotation_error_deg": None, "final_full_position_error_mm": None,
        "final_full_rotation_error_deg": None, "success": dict.fromkeys(threshold_keys(), False),
        "env_success": False, "steps_to_converge": None, "stop": None, "stop_reason": RESET_FAILED,
        "oracle_success": dict.fromkeys(threshold_keys(), False), "harmed": False, "unfamiliar": None,
        "failure": RESET_FAILED, "lost": True,
        "reset_error": message, "terminated": True, "truncated": False, "return": 0.0, "decision_ms": 0.0,
        "seconds": time.perf_counter() - t0,
    }


def env_info(env: Any, cfg: EvalConfig) -> dict[str, Any]:
    base = env.unwrapped
    dofs = list(base.refined_dofs)
    return {
        "id": cfg.env_id,
        "kwargs": to_dict(cfg.env_kwargs),
        "objects": list(cfg.objects),
        "target_modes": list(cfg.target_modes),
        "noise": cfg.noise,
        "domain_randomization": cfg.domain_randomization,
        "max_episode_steps": cfg.max_steps,
        "refined_dofs": dofs,
        "offset_range": dict(zip(dofs, np.asarray(base.offset_range, dtype=float).tolist())),
        "action_scale": dict(zip(dofs, np.asarray(base.action_scale, dtype=float).tolist())),
        "success_position_mm": float(base.success_position_mm),
        "success_rotation_deg": float(base.success_rotation_deg),
        "sensor": to_dict(base.sensor_config),
        "object_classes": {s.name: s.category for s in base.object_specs},
    }


def policy_info(spec: str, policy: Any, seed: int) -> dict[str, Any]:
    checkpoint = getattr(policy, "checkpoint_path", None)
    return {"spec": spec, "label": policy_label(spec), "slug": policy_slug(spec),
            "class": type(policy).__name__, "seed": seed,
            "checkpoint": str(checkpoint) if checkpoint is not None else None}


def _episode_order(cfg: EvalConfig) -> list[tuple[int, str]]:
    """``(episode, object)`` pairs, episode-major: rod 0, box 0, rod 1, box 1, ...

    The order of the records in the report (an episode does not depend on the ones before
    it: each reset starts from a brand-new physics world).
    """
    return [(ep, name) for ep in range(cfg.episodes_per_object) for name in cfg.objects]


def panel_objects(objects: Sequence[str], n: int, spec_of: Any = None) -> list[str]:
    """``n`` objects for the tactile panels, one per object class first (variety over order);
    ``spec_of(name)`` resolves names (default: built-in and family objects)."""
    from tacrefine.sim.objects import get_object

    spec_of = spec_of or get_object
    chosen: list[str] = []
    classes: set[str] = set()
    for name in objects:
        category = spec_of(name).category
        if category not in classes and len(chosen) < n:
            chosen.append(name)
            classes.add(category)
    chosen += [name for name in objects if name not in chosen][: n - len(chosen)]
    return chosen


#: Names that moved up when the episode loop was parted from orchestration and reports.
__getattr__ = moved_names(__name__, {
    "evaluate_policies": "tacrefine.evaluation.episodes.rollouts",
    "run_evaluation": "tacrefine.evaluation.results.evaluate",
    "run_precision_benchmark": "tacrefine.evaluation.benchmarks.precision",
})


__all__ = [
    "Capture", "ENV_ID", "EvaluationRun", "build_policy", "harmed", "make_env", "oracle_success", "policy_label",
    "policy_slug", "progress_bar", "run_episode",
    "steps_to_converge", "success_flags",
]
