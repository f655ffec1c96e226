"""Closed-loop episodes as a LeRobot v3.0 dataset (``evaluate --record-lerobot DIR``).

One LeRobot episode per evaluation episode, one frame per action, task = the part's name.
Features (LeRobot has no tactile type, so the pads are typed ``image``, which its
``dataset_to_policy_features`` turns into VISUAL inputs, one per pad):

* ``observation.tactile.finger<i>``, ``observation.target_tactile.finger<i>``: image
  ``[rows, cols, channels]`` (PNG), the pad's current and target images;
* ``observation.state``: float32, current finger joints (m), target finger joints (m), the
  episode's DoF mask over the action DoF;
* ``action``: float32 over the env's action DoF, the wrist correction applied, in [-1, 1]
  (the env's action space: a fraction of its largest step per DoF);
* ``next.reward``, ``next.done``, ``next.success``: as LeRobot names them;
* ground truth for training here (ignored by LeRobot policies): ``label.grasp`` (object
  in the wrist frame, 4x4), ``label.dof_mask`` (over x, y, z, roll, pitch, yaw).

Scripted demonstrations are the oracle baseline's episodes recorded the same way
(``--policy baseline:oracle``). ``tacrefine dataset import`` reads such a dataset back into
shards (frames of an episode are grasps of one part), so recordings feed ``train``.
The writer is :func:`tacrefine.data.lerobot.write_lerobot`, shared with the grasp export.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine import geometry
from tacrefine.data.lerobot import DOF_MASK, DOF_NAMES, GRASP, STATE, write_lerobot
from tacrefine.evaluation.episodes.recording import EpisodeTrace

TACTILE = "observation.tactile.finger"
TARGET = "observation.target_tactile.finger"
ACTION = "action"


def episode_features(trace: EpisodeTrace) -> dict[str, dict[str, Any]]:
    """LeRobot feature descriptions of a trace's frames."""
    fingers, channels, rows, cols = (int(s) for s in trace.tactile[0].shape)
    image = {"dtype": "image", "shape": [rows, cols, channels], "names": ["height", "width", "channels"]}
    feats: dict[str, dict[str, Any]] = {}
    for f in range(fingers):
        feats[f"{TACTILE}{f}"] = dict(image)
    for f in range(fingers):
        feats[f"{TARGET}{f}"] = dict(image)
    dofs = list(trace.action_dofs)
    names = ([f"finger{f}_m" for f in range(fingers)] + [f"target_finger{f}_m" for f in range(fingers)]
             + [f"mask_{d}" for d in dofs])
    feats[STATE] = {"dtype": "float32", "shape": [len(names)], "names": names}
    feats[ACTION] = {"dtype": "float32", "shape": [len(dofs)], "names": dofs}
    feats["next.reward"] = {"dtype": "float32", "shape": [1], "names": None}
    feats["next.done"] = {"dtype": "bool", "shape": [1], "names": None}
    feats["next.success"] = {"dtype": "bool", "shape": [1], "names": None}
    feats[GRASP] = {"dtype": "float64", "shape": [4, 4], "names": ["row", "col"]}
    feats[DOF_MASK] = {"dtype": "bool", "shape": [6], "names": list(DOF_NAMES)}
    return feats


def episode_columns(trace: EpisodeTrace, task_index: int) -> dict[str, np.ndarray]:
    """One column per feature over the trace's frames (frame t = observation t, action t)."""
    n = trace.n_steps
    tactile = np.stack(trace.tactile[:n])  # (n, F, C, H, W)
    fingers = tactile.shape[1]
    cols: dict[str, np.ndarray] = {}
    for f in range(fingers):
        cols[f"{TACTILE}{f}"] = tactile[:, f].transpose(0, 2, 3, 1)  # (n, H, W, C)
        cols[f"{TARGET}{f}"] = np.repeat(trace.target_tactile[f].transpose(1, 2, 0)[None], n, axis=0)
    cols[STATE] = np.concatenate([np.stack(trace.proprio[:n]), np.stack(trace.dof_mask[:n])], axis=1
                                 ).astype(np.float32)
    cols[ACTION] = np.stack(trace.actions).astype(np.float32)
    cols["next.reward"] = np.asarray(trace.rewards, dtype=np.float32)
    cols["next.done"] = np.arange(n) == n - 1
    cols["next.success"] = np.asarray(trace.success, dtype=bool)
    cols[GRASP] = np.stack(trace.grasp[:n])
    full = np.zeros((n, 6), dtype=bool)
    mask = np.stack(trace.dof_mask[:n]) > 0.5
    full[:, geometry.dof_indices(trace.action_dofs)] = mask
    cols[DOF_MASK] = full
    cols["task_index"] = np.full(n, task_index, dtype=np.int64)
    return cols


def write_episodes(traces: Sequence[EpisodeTrace], out: str | Path, fps: int = 10,
                   robot_type: str = "tacrefine-gripper", metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``traces`` (episodes with at least one action) as a LeRobot v3.0 dataset at ``out``;
    returns ``info.json``'s content. Raises ``ValueError`` when no trace has an action or the
    traces differ in pad shape or action DoF."""
    kept = [t for t in traces if t.n_steps > 0]
    if not kept:
        raise ValueError("no episode with at least one step to record (every reset failed, or max_steps is 0)")
    features = episode_features(kept[0])
    for t in kept[1:]:
        if episode_features(t) != features:
            raise ValueError(f"episode {t.object!r} #{t.episode} has other features (pad shape or action DoF) "
                             "than the first: record one env per dataset")
    tasks = sorted({t.object for t in kept})
    task_of = {name: i for i, name in enumerate(tasks)}
    episodes = [(episode_columns(t, task_of[t.object]), [t.object]) for t in kept]
    sidecar = {"format": "tacrefine-episodes",
               "metadata": {**(metadata or {}), "refined_dofs": list(kept[0].action_dofs),
                            "tactile_shape": list(kept[0].tactile[0].shape)},
               "object_classes": {t.object: t.object_class for t in kept if t.object_class},
               "episodes": [{"policy": t.policy, "object": t.object, "target_mode": t.target_mode, "seed": t.seed,
                             "episode": t.episode, "steps": t.n_steps,
                             "env_success": bool(t.record.get("env_success", False)),
                             "failure": t.record.get("failure")} for t in kept]}
    return write_lerobot(out, episodes, features, tasks, fps, robot_type, sidecar)
