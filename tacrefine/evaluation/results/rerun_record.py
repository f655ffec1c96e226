"""Closed-loop episodes as a Rerun recording (``evaluate --rerun FILE.rrd``), to scrub through
an episode's touch, poses, errors and actions step by step (``rerun FILE.rrd``).

Two layers: :func:`log_plan` turns traces into plain entries (step, entity path, kind,
numpy data) and holds every decision of what is logged where; :func:`write_rrd` hands them
to the ``rerun-sdk`` (optional extra ``tacrefine[rerun]``). Entities, per episode
``episodes/<nn>_<policy>_<part>_<mode>``:

* ``tactile/finger<i>`` and ``target_tactile/finger<i>``: the pad images (target at step 0);
* ``world/wrist``, ``world/object``: poses in the world (transforms with axes);
* ``error/position_mm``, ``error/rotation_deg``: refined-DoF errors;
* ``action/<dof>``: the action taken from that step's observation, in [-1, 1];
* ``scene``: the rendered scene, for the episodes the evaluation renders.

Timelines: ``step`` (within an episode) and ``frame`` (across the file).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.evaluation.episodes.recording import EpisodeTrace

APPLICATION_ID = "tacrefine"


@dataclass(frozen=True)
class Entry:
    """One thing to log: ``kind`` is ``image`` (H, W[, 3] uint8), ``pose`` (4x4) or ``scalar``."""

    frame: int
    step: int
    path: str
    kind: str
    data: Any


def episode_path(index: int, trace: EpisodeTrace) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{index:02d}_{trace.policy}_{trace.object}_{trace.target_mode}")
    return f"episodes/{name.strip('_')}"


def _pad_image(pad: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` -> ``(H, W)`` for one channel, ``(H, W, C)`` otherwise."""
    return pad[0] if pad.shape[0] == 1 else pad.transpose(1, 2, 0)


def log_plan(traces: Sequence[EpisodeTrace]) -> Iterator[Entry]:
    """Every entry of the recording of ``traces``, in logging order."""
    frame = 0
    for index, trace in enumerate(traces):
        root = episode_path(index, trace)
        for f, pad in enumerate(trace.target_tactile if trace.target_tactile is not None else []):
            yield Entry(frame, 0, f"{root}/target_tactile/finger{f}", "image", _pad_image(pad))
        for step in range(len(trace.tactile)):
            for f, pad in enumerate(trace.tactile[step]):
                yield Entry(frame, step, f"{root}/tactile/finger{f}", "image", _pad_image(pad))
            yield Entry(frame, step, f"{root}/world/wrist", "pose", trace.wrist[step])
            yield Entry(frame, step, f"{root}/world/object", "pose", trace.object_pose[step])
            position, rotation = trace.errors[step]
            yield Entry(frame, step, f"{root}/error/position_mm", "scalar", position)
            yield Entry(frame, step, f"{root}/error/rotation_deg", "scalar", rotation)
            if step < trace.n_steps:
                for dof, value in zip(trace.action_dofs, trace.actions[step]):
                    yield Entry(frame, step, f"{root}/action/{dof}", "scalar", float(value))
            if step < len(trace.scenes):
                yield Entry(frame, step, f"{root}/scene", "image", trace.scenes[step])
            frame += 1


def write_rrd(traces: Sequence[EpisodeTrace], path: str | Path, recording_id: str | None = None) -> Path:
    """Write the recording of ``traces`` to ``path`` (an ``.rrd`` file, replaced atomically)."""
    try:
        import rerun as rr
    except ImportError as exc:
        raise ImportError("--rerun needs the Rerun SDK: pip install 'tacrefine[rerun]'") from exc
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    rec = rr.RecordingStream(APPLICATION_ID, recording_id=recording_id or path.stem)
    rec.save(tmp)
    try:
        for entry in log_plan(traces):
            rec.set_time("frame", sequence=entry.frame)
            rec.set_time("step", sequence=entry.step)
            if entry.kind == "image":
                rec.log(entry.path, rr.Image(entry.data))
            elif entry.kind == "pose":
                pose = np.asarray(entry.data, dtype=np.float64)
                rec.log(entry.path, rr.Transform3D(translation=pose[:3, 3], mat3x3=pose[:3, :3]),
                        rr.TransformAxes3D(0.02))
            else:
                rec.log(entry.path, rr.Scalars(float(entry.data)))
        rec.flush()
    finally:
        rec.disconnect()
    os.replace(tmp, path)
    return path
