"""Batch-1 latency of the shipped policy, native (torch) and exported (ONNX Runtime): the
figure a robot computer cares about, in the speed benchmark's table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np


def exported_latency(repeats: int = 300, observations: int = 20) -> dict[str, Any]:
    """Batch-1 latency of ``policy.act`` for the shipped parallel-jaw policy, native (torch) and
    exported (ONNX Runtime), 1 thread each, on observations of closed-loop resets; and the
    largest action difference between the two. ``None`` figures without the onnx extras."""
    import tempfile

    import gymnasium as gym

    import tacrefine
    from tacrefine.policy.registry import pretrained_checkpoint

    try:
        from tacrefine.policy.export import export_policy
        from tacrefine.policy.onnx_policy import OnnxPolicy
    except ImportError:
        return {"policy_act_ms_native": None, "policy_act_ms_onnx": None}
    env = gym.make("tacrefine/GripRefine-v0", noise=True)
    obs = [env.reset(seed=s)[0] for s in range(observations)]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            export_policy(pretrained_checkpoint(), Path(tmp) / "policy.onnx")
        except ImportError:
            return {"policy_act_ms_native": None, "policy_act_ms_onnx": None}
        policies = {"native": tacrefine.load_policy("pretrained", env=env),
                    "onnx": OnnxPolicy(Path(tmp) / "policy.onnx", num_threads=1).bind_env(env)}
        out: dict[str, Any] = {"observations": observations, "repeats": repeats}
        for name, policy in policies.items():
            times = []
            for i in range(repeats + 20):
                t0 = time.perf_counter()
                policy.act(obs[i % observations])
                if i >= 20:
                    times.append(time.perf_counter() - t0)
            out[f"policy_act_ms_{name}"] = float(np.median(times) * 1e3)
            out[f"policy_act_p90_ms_{name}"] = float(np.percentile(times, 90) * 1e3)
        out["max_action_difference"] = float(max(np.abs(policies["native"].act(o) - policies["onnx"].act(o)).max()
                                                 for o in obs))
    env.close()
    return out
