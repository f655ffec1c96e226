"""One entry point for every policy: ``load_policy(spec, env)``.

``spec`` is ``"baseline:noop" | "baseline:random" | "baseline:servo" | "baseline:oracle"``,
``"pretrained"`` (the checkpoint shipped with the package) or a checkpoint path.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from tacrefine.policy.baselines import BASELINES, Policy

PRETRAINED_NAME = "pretrained"


def pretrained_checkpoint() -> Path:
    """Path of the checkpoint that ships with the package."""
    return Path(str(resources.files("tacrefine.policy") / "pretrained" / "tacrefinenet.pt"))


def load_policy(spec: str, env: Any = None, seed: int | None = 0) -> Policy:
    """Build the policy named by ``spec`` for ``env`` (needed by every policy: it fixes the
    action scale and refined DoF; the oracle also reads its ground truth)."""
    if not isinstance(spec, (str, Path)):
        raise ValueError(f"policy spec must be a string; got {spec!r}")
    spec = str(spec)
    if env is None:
        raise ValueError(f"load_policy({spec!r}) needs env=... (the environment the policy will act in)")
    if spec.startswith("baseline:"):
        name = spec.split(":", 1)[1]
        if name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; known: {['baseline:' + n for n in BASELINES]}")
        cls = BASELINES[name]
        return cls(env, seed=seed) if name == "random" else cls(env)
    path = pretrained_checkpoint() if spec == PRETRAINED_NAME else Path(spec)
    if not path.is_file():
        raise FileNotFoundError(
            f"policy {spec!r}: no checkpoint at {path}; expected a checkpoint path, {PRETRAINED_NAME!r} "
            f"or one of {['baseline:' + n for n in BASELINES]}"
        )
    from tacrefine.policy.learned import LearnedPolicy

    return LearnedPolicy(path).bind_env(env)
