"""Step-by-step traces of closed-loop episodes, for recordings (LeRobot datasets, Rerun files).

Why a trace and not the report: the report keeps errors per step; a recording needs what
the policy saw and did at every step (tactile images, joints, the action) and, for people
and for training labels, the ground truth (grasp, wrist and object poses). The episode
loop (:func:`tacrefine.evaluation.episodes.runner.run_episode`) calls :meth:`EpisodeTrace.start`
after the reset and :meth:`EpisodeTrace.step` after every env step; nothing else of the
loop changes. A trace is plain numpy (it travels back from worker processes with the job's
result) and is turned into files by :mod:`tacrefine.evaluation.results.lerobot_record` and
:mod:`tacrefine.evaluation.results.rerun_record`.

Frame ``t`` of a trace is the observation before step ``t + 1`` and the action taken from
it; the observation after the last action is kept as ``final`` (a LeRobot episode has one
frame per action).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _truth(env: Any) -> dict[str, np.ndarray]:
    base = getattr(env, "unwrapped", env)
    getter = getattr(base, "ground_truth", None)
    eye = np.eye(4)
    return getter() if getter is not None else {"grasp": eye, "target_grasp": eye, "wrist": eye, "object": eye}


@dataclass
class EpisodeTrace:
    """Everything of one episode a recording needs, step by step (see the module docstring)."""

    policy: str
    object: str
    target_mode: str
    seed: int
    episode: int
    action_dofs: tuple[str, ...] = ()
    object_class: str | None = None
    target_tactile: np.ndarray | None = None
    target_grasp: np.ndarray | None = None
    #: per observation (one more than actions): tactile, proprio, dof_mask, poses, errors
    tactile: list[np.ndarray] = field(default_factory=list)
    proprio: list[np.ndarray] = field(default_factory=list)
    dof_mask: list[np.ndarray] = field(default_factory=list)
    grasp: list[np.ndarray] = field(default_factory=list)
    wrist: list[np.ndarray] = field(default_factory=list)
    object_pose: list[np.ndarray] = field(default_factory=list)
    errors: list[tuple[float, float]] = field(default_factory=list)
    #: per action
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    success: list[bool] = field(default_factory=list)
    #: scene renders per observation, when the episode is rendered
    scenes: list[np.ndarray] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    def _observe(self, env: Any, obs: Any, info: dict[str, Any], scene: np.ndarray | None) -> None:
        truth = _truth(env)
        self.tactile.append(np.array(obs["tactile"], dtype=np.uint8))
        self.proprio.append(np.array(obs["proprio"], dtype=np.float32))
        mask = obs.get("dof_mask") if hasattr(obs, "get") else None
        self.dof_mask.append(np.ones(len(self.action_dofs), np.float32) if mask is None
                             else np.array(mask, dtype=np.float32))
        self.grasp.append(np.array(truth["grasp"], dtype=np.float64))
        self.wrist.append(np.array(truth["wrist"], dtype=np.float64))
        self.object_pose.append(np.array(truth["object"], dtype=np.float64))
        self.errors.append((float(info["position_error_mm"]), float(info["rotation_error_deg"])))
        if scene is not None:
            self.scenes.append(np.array(scene, dtype=np.uint8))

    def start(self, env: Any, obs: Any, info: dict[str, Any], scene: np.ndarray | None = None) -> None:
        """After the reset: the first observation and the target."""
        base = getattr(env, "unwrapped", env)
        self.action_dofs = tuple(getattr(base, "refined_dofs", ()))
        self.object_class = info.get("object_class")
        self.target_tactile = np.array(obs["target_tactile"], dtype=np.uint8)
        self.target_grasp = np.array(_truth(env)["target_grasp"], dtype=np.float64)
        self._observe(env, obs, info, scene)

    def step(self, env: Any, action: Any, obs: Any, reward: float, info: dict[str, Any],
             scene: np.ndarray | None = None) -> None:
        """After each env step: the action taken and what followed."""
        self.actions.append(np.asarray(action, dtype=np.float32).reshape(-1).copy())
        self.rewards.append(float(reward))
        self.success.append(bool(info.get("is_success", False)))
        self._observe(env, obs, info, scene)

    @property
    def n_steps(self) -> int:
        return len(self.actions)

    def finish(self, record: dict[str, Any]) -> EpisodeTrace:
        """Attach the episode's report record (success flags, failure); returns self."""
        self.record = {k: v for k, v in record.items() if k != "errors"}
        return self
