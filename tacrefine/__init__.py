"""tacrefine: tactile-only grasp refinement in simulation, modelled on TacRefineNet.

Importing the package registers the Gymnasium environments (``tacrefine/GripRefine-v0``, the
parallel-jaw task, and ``tacrefine/GripRefineHand-v0``, the paper's three-finger task).
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.registration import register, registry

from tacrefine.moved import alias_modules

# The adaptation pipeline moved beside the main job; its old name still imports.
alias_modules(__name__, {"adaptation": "tacrefine.pipelines.adapt"})

__version__ = "0.1.0"

ENV_IDS = ("tacrefine/GripRefine-v0", "tacrefine/GripRefineHand-v0")

if "tacrefine/GripRefine-v0" not in registry:
    register(
        id="tacrefine/GripRefine-v0",
        entry_point="tacrefine.envs.grip_refine:GripRefineEnv",
        max_episode_steps=10,
    )
if "tacrefine/GripRefineHand-v0" not in registry:
    register(
        id="tacrefine/GripRefineHand-v0",
        entry_point="tacrefine.envs.grip_refine_hand:GripRefineHandEnv",
        max_episode_steps=10,
    )


def load_policy(spec: str, env: Any = None, **kwargs: Any):
    """A policy with ``act(obs) -> action`` from a checkpoint path, ``"pretrained"`` or a
    ``"baseline:<name>"``; see :func:`tacrefine.policy.load_policy`."""
    from tacrefine.policy.registry import load_policy as _load

    return _load(spec, env=env, **kwargs)


__all__ = ["ENV_IDS", "__version__", "load_policy"]
