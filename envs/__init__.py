"""Gymnasium environments of tacrefine (installed as ``tacrefine.envs``)."""

from tacrefine.envs.grip_refine import GripRefineEnv

__all__ = ["GripRefineEnv"]
