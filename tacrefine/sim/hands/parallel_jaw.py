"""The parallel jaw: two opposed fingers on mirrored prismatic joints, one pad each.

Its grasp geometry: the closing axis is the wrist x axis and lies along the object's x
axis at the nominal grasp; one actuator drives both fingers (a gear constraint mirrors
them), so a closing jaw centres the object between the pads; it opens to half the
object's thickness plus clearance; it holds an object only when both pads press on it.
These are the defaults of :class:`tacrefine.sim.hands.base.Hand`; this module states them
for the jaw and registers it.
"""

from __future__ import annotations

from tacrefine.sim.hands.base import PARALLEL_JAW_PADS, Hand, HandConfig
from tacrefine.sim.hands.registry import register_hand

PARALLEL_JAW = HandConfig(urdf="parallel_jaw.urdf", finger_joints=("left_finger_joint", "right_finger_joint"),
                          pads=PARALLEL_JAW_PADS, kind="parallel_jaw")


class ParallelJaw(Hand):
    """Two mirrored fingers; every pad must touch (the :class:`Hand` defaults)."""


register_hand("parallel_jaw", PARALLEL_JAW, ParallelJaw, "default", "two mirrored fingers (GripRefine-v0)")
