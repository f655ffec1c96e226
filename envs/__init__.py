"""Gymnasium environments of tacrefine (installed as ``tacrefine.envs``)."""

from tacrefine.envs.grip_refine import GripRefineEnv
from tacrefine.envs.grip_refine_hand import GripRefineHandEnv

__all__ = ["GripRefineEnv", "GripRefineHandEnv"]
