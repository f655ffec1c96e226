"""Hands as components: a registry of hands the task composes with objects and sensors.

``HANDS`` maps a name to a :class:`HandDefinition` (its config, the class that drives it,
its default sensor profile). Built in: ``"parallel_jaw"`` (two fingers, today's task) and
``"three_finger"`` (a thumb opposing two fingers, the paper's task). Add a hand with
:func:`register_hand`; select one with ``hand=NAME`` on the envs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from tacrefine.config import ConfigError, from_dict
from tacrefine.sim.hands.base import ASSETS, Gripper, GripperConfig, Hand, HandConfig, asset_path
from tacrefine.sim.hands.registry import HANDS, HandDefinition, register_hand


def hand_config(hand: str | HandConfig | None = None, overrides: HandConfig | Mapping[str, Any] | None = None,
                field: str = "hand") -> HandConfig:
    """The config of hand ``hand`` (a registered name or a config; default the parallel jaw)
    with ``overrides`` (a mapping of :class:`HandConfig` fields, or a whole config) applied."""
    if isinstance(overrides, HandConfig):
        return overrides
    if hand is None:
        hand = "parallel_jaw"
    if isinstance(hand, HandConfig):
        base = hand
    elif isinstance(hand, str):
        base = HANDS.get(hand, field).config
    else:
        raise ConfigError(f"{field}: got {hand!r}; allowed: a hand name among {list(HANDS.names())} or a HandConfig")
    if not overrides:
        return base
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"gripper: got {overrides!r}; allowed: a mapping of hand fields or a HandConfig")
    merged = {f.name: getattr(base, f.name) for f in fields(base)}
    merged.update(overrides)
    return from_dict(HandConfig, merged, prefix="gripper.")  # refuses unknown fields by name


def make_hand(client, config: HandConfig) -> Hand:
    """Load the hand ``config`` describes into ``client``, driven by its registered class."""
    cls = HANDS.get(config.kind, "gripper.kind").cls if config.kind in HANDS else Hand
    return cls(client, config)


__all__ = ["ASSETS", "HANDS", "Gripper", "GripperConfig", "Hand", "HandConfig", "HandDefinition", "asset_path",
           "hand_config", "make_hand", "register_hand"]
