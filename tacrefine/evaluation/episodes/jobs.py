"""Evaluation work units: a run of episodes of one policy in one target mode, on any worker.

Every episode is a function of its seed and the env's arguments (the env starts each
reset from a brand-new physics world, and the policy is re-seeded per episode), so how the
episodes are cut into jobs, and which worker runs which, never changes a record.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tacrefine.evaluation.episodes.protocol import EvalConfig, episode_seed
from tacrefine.evaluation.episodes.recording import EpisodeTrace


@dataclass(frozen=True)
class EpisodeJob:
    """Episodes ``items`` (``(episode, object)`` pairs) of policy ``spec`` in ``mode``."""

    spec: str
    mode: str
    items: tuple[tuple[int, str], ...]
    capture: frozenset = frozenset()  # (mode, object, episode) keys to capture
    render_key: tuple | None = None
    record: bool = False  # keep each episode's step-by-step trace (recordings)


def reset_policy(policy: Any, seed: int) -> None:
    """``policy.reset(seed=...)`` when the policy takes a seed (its randomness then follows the
    episode, not the episodes it played before), else ``policy.reset()``."""
    try:
        takes_seed = "seed" in inspect.signature(policy.reset).parameters
    except (TypeError, ValueError):
        takes_seed = False
    if takes_seed:
        policy.reset(seed=seed)
    else:
        policy.reset()


def run_episodes(cfg: EvalConfig, job: EpisodeJob, report: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The job: build the env and the policy, play the episodes; returns records, captures,
    env and policy info. Runs in the driver, a worker process or a Ray task."""
    from tacrefine.evaluation.episodes import runner

    env = runner.make_env(cfg, job.mode)
    records, captures, traces = [], [], []
    try:
        policy = runner.build_policy(job.spec, env, cfg.seed, cfg.sensor_mismatch, cfg.stop, cfg.max_steps)
        t0 = time.perf_counter()
        for ep, name in job.items:
            key = (job.mode, name, ep)
            seed = episode_seed(cfg.seed, name, job.mode, ep)
            trace = EpisodeTrace(job.spec, name, job.mode, seed, ep) if job.record else None
            record, cap = runner.run_episode(
                env, _SeededPolicy(policy, seed), spec=job.spec, object_name=name, target_mode=job.mode,
                seed=seed, episode=ep, max_steps=cfg.max_steps, capture=key in job.capture,
                render=cfg.render and key == job.render_key, trace=trace, stop=cfg.stop)
            if cfg.splits:  # e.g. seen / unseen parts, aggregated per split
                record["split"] = cfg.splits.get(name, "seen")
            records.append(record)
            if trace is not None and trace.tactile:  # (a part that could not be grasped has no steps)
                traces.append(trace.finish(record))
            if cap is not None:
                captures.append(cap)
            if report is not None:
                report(1)
        return {"records": records, "captures": captures, "env_info": runner.env_info(env, cfg),
                "policy_info": runner.policy_info(job.spec, policy, cfg.seed),
                "seconds": time.perf_counter() - t0, **({"traces": traces} if job.record else {})}
    finally:
        env.close()


class _SeededPolicy:
    """The policy with its reset bound to the episode's seed."""

    def __init__(self, policy: Any, seed: int) -> None:
        self._policy, self._seed = policy, seed

    def reset(self) -> None:
        reset_policy(self._policy, self._seed)

    def act(self, obs: Any) -> Any:
        return self._policy.act(obs)

    def __getattr__(self, name: str) -> Any:  # should_stop, assessment, unfamiliar, status, ...
        return getattr(self._policy, name)


def cut(items: list[tuple[int, str]], n: int) -> list[tuple[tuple[int, str], ...]]:
    """``items`` in ``n`` contiguous, nearly equal runs (fewer if there are fewer items)."""
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for k in range(n):
        stop = start + size + (1 if k < extra else 0)
        out.append(tuple(items[start:stop]))
        start = stop
    return out
