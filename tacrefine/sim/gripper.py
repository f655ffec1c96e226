"""Compatibility names: the hand machinery lives in :mod:`tacrefine.sim.hands`."""

from tacrefine.sim.hands.base import ASSETS, PARALLEL_JAW_PADS, Gripper, GripperConfig, asset_path

__all__ = ["ASSETS", "PARALLEL_JAW_PADS", "Gripper", "GripperConfig", "asset_path"]
