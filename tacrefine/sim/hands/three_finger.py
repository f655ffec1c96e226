"""A three-finger hand: a thumb opposing two fingers, a dense pad on each fingertip.

Like the paper's hand, one finger (the thumb, on the wrist's -x side, centred) opposes two
(index at +y, middle at -y, on the +x side). The fingers slide on prismatic joints coupled
so that they close together (joint value = pad face distance from the wrist's y-z plane),
and the thumb pushes with twice the force of each opposing finger: the squeeze balances on
the object, which therefore does not move when the hand closes on it at the nominal grasp
(a test checks this). Pads are 18 mm along the finger (wrist z) by 16 mm across: long
enough that a rod or an edge stays on the pad over the task's +-8 mm offsets.
"""

from __future__ import annotations

from tacrefine.sim.hands.base import Hand, HandConfig
from tacrefine.sim.hands.registry import register_hand
from tacrefine.sim.tactile import PadSpec

THREE_FINGER_PADS = (
    PadSpec(link="thumb_pad", normal=(1.0, 0.0, 0.0), size_mm=(18.0, 16.0)),
    PadSpec(link="index_pad", normal=(-1.0, 0.0, 0.0), size_mm=(18.0, 16.0)),
    PadSpec(link="middle_pad", normal=(-1.0, 0.0, 0.0), size_mm=(18.0, 16.0)),
)

THREE_FINGER = HandConfig(
    urdf="three_finger.urdf",
    finger_joints=("thumb_joint", "index_joint", "middle_joint"),
    pads=THREE_FINGER_PADS,
    grip_force_n=6.0,
    finger_force_share=(1.0, 0.5, 0.5),
    max_opening_mm=30.0,
    coupled=False,
    kind="three_finger",
)


class ThreeFingerHand(Hand):
    """Thumb against two fingers; it holds an object only when all three pads press on it."""


register_hand("three_finger", THREE_FINGER, ThreeFingerHand, "default",
              "a thumb opposing two fingers, like the paper's hand (GripRefineHand-v0)")
