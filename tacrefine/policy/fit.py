"""Does a checkpoint fit an environment? What differs, in words a user can act on.

A TacRefineNet checkpoint is trained for one hand and sensor: a number of fingers, a pad
of ``rows x cols`` taxels at some pitch, some tactile channels, and a set of refined DoF.
Acting in an env with another hand or pad would feed the network images it has never seen
(or of the wrong shape), so :func:`fit_problems` lists every difference and
:func:`check_fit` refuses with all of them at once. ``load_policy("pretrained", env=env)``
uses the same check to pick, among the shipped checkpoints, the one that fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Relative tolerance on the taxel pitch (a checkpoint trained at 1.1 mm fits 1.1 mm).
PITCH_RTOL = 1e-3


def env_facts(env: Any) -> dict[str, Any]:
    """What a checkpoint must agree with, read from ``env`` (a Gymnasium env or wrapper)."""
    base = getattr(env, "unwrapped", env)
    shape = tuple(int(s) for s in env.observation_space["tactile"].shape)
    sensor = getattr(base, "sensor_config", None)
    return {
        "fingers": shape[0], "channels": shape[1], "pad": (shape[2], shape[3]),
        "dofs": tuple(getattr(base, "refined_dofs", ())),
        "pitch_mm": float(sensor.pitch_mm) if sensor is not None and hasattr(sensor, "pitch_mm") else None,
        "hand": getattr(base, "hand_name", None),
    }


def checkpoint_facts(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """The same facts, read from a loaded checkpoint dict."""
    shape = tuple(int(s) for s in ckpt["tactile_shape"])
    sensor = ckpt.get("sensor") if isinstance(ckpt.get("sensor"), Mapping) else {}
    gripper = ckpt.get("gripper") if isinstance(ckpt.get("gripper"), Mapping) else {}
    pitch = sensor.get("pitch_mm")
    return {
        "fingers": shape[0], "channels": shape[1], "pad": (shape[2], shape[3]),
        "dofs": tuple(ckpt["refined_dofs"]),
        "pitch_mm": float(pitch) if isinstance(pitch, (int, float)) else None,
        "hand": gripper.get("name") or ckpt.get("hand"),
    }


def fit_problems(ckpt: Mapping[str, Any], env: Any) -> list[str]:
    """Every way the checkpoint ``ckpt`` does not fit ``env`` (empty list: it fits)."""
    have, want = checkpoint_facts(ckpt), env_facts(env)
    problems = []
    if have["fingers"] != want["fingers"]:
        problems.append(f"fingers: checkpoint {have['fingers']}, env {want['fingers']}")
    if have["pad"] != want["pad"]:
        problems.append(f"pad size (taxel rows x cols): checkpoint {have['pad'][0]}x{have['pad'][1]}, "
                        f"env {want['pad'][0]}x{want['pad'][1]}")
    if have["channels"] != want["channels"]:
        problems.append(f"tactile channels: checkpoint {have['channels']}, env {want['channels']} "
                        "(1 = normal force, 3 = with shear)")
    if (have["pitch_mm"] is not None and want["pitch_mm"] is not None
            and not np.isclose(have["pitch_mm"], want["pitch_mm"], rtol=PITCH_RTOL)):
        problems.append(f"taxel pitch: checkpoint {have['pitch_mm']:g} mm, env {want['pitch_mm']:g} mm")
    missing = [d for d in want["dofs"] if d not in have["dofs"]]
    if missing:
        problems.append(f"refined DoF: checkpoint {list(have['dofs'])}, env {list(want['dofs'])} "
                        f"(the checkpoint cannot act on {missing})")
    return problems


def check_fit(ckpt: Mapping[str, Any], env: Any, where: str) -> None:
    """Raise ``ValueError`` naming every difference between checkpoint ``where`` and ``env``."""
    problems = fit_problems(ckpt, env)
    if problems:
        raise ValueError(f"checkpoint {where} does not fit this env: " + "; ".join(problems)
                         + ". Train on data from this env's hand and sensor (scripts/generate_data.py, "
                           "scripts/train.py) or build the env the checkpoint was trained for")


def describe(ckpt: Mapping[str, Any]) -> str:
    """One line: ``3 fingers, 11x9 pad, dofs [y, z, roll, pitch]``."""
    f = checkpoint_facts(ckpt)
    return f"{f['fingers']} fingers, {f['pad'][0]}x{f['pad'][1]} pad, dofs {list(f['dofs'])}"
