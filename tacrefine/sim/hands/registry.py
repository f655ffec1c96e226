"""The hand registry: a hand module registers itself here; nothing here imports a hand."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tacrefine.registry import Registry
from tacrefine.sim.hands.base import Hand, HandConfig


@dataclass(frozen=True)
class HandDefinition:
    """A registered hand.

    Attributes:
        name: registry name (``HandConfig.kind`` of its config).
        config: the hand's default config.
        cls: the :class:`Hand` subclass that drives it.
        default_sensor: the sensor profile its envs use unless told otherwise.
        description: one line for people.
    """

    name: str
    config: HandConfig
    cls: type[Hand]
    default_sensor: str = "default"
    description: str = ""


#: Hands by name; the built-in ones register themselves from their modules (loaded on first read).
HANDS: Registry[HandDefinition] = Registry(
    "hand", providers=("tacrefine.sim.hands.parallel_jaw", "tacrefine.sim.hands.three_finger"))


def register_hand(name: str, config: HandConfig, cls: type[Hand] = Hand, default_sensor: str = "default",
                  description: str = "", *, replace_existing: bool = False) -> HandDefinition:
    """Add a hand; its config's ``kind`` is set to ``name``."""
    definition = HandDefinition(name, replace(config, kind=name), cls, default_sensor, description)
    return HANDS.register(name, definition, replace=replace_existing)
