"""A hand's mirror symmetry in the wrist's y = 0 plane, read from its kinematics.

Why: a part mirrored in y is another valid part. When the mirror maps the hand onto itself
(every pad onto a pad, every finger joint onto a joint), the mirrored grasp of the mirrored
part is felt as the same images, moved to the mirrored pads and flipped along the pads'
y axes, with the mirrored fingers' joint readings swapped. Training can then see twice the
shapes from one dataset (``augment.mirror_y``). Where the pads sit is not in a dataset's
metadata, so it is measured here: the hand's URDF is loaded in a private headless client,
its fingers closed, and every pad and joint is compared with its mirror image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet as pb

from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.sim.hands.base import HandConfig
from tacrefine.sim.world import World

#: the mirror y -> -y, in the wrist frame
MIRROR_Y = np.diag([1.0, -1.0, 1.0])
#: sign of each DoF of a pose increment under the mirror y -> -y (translations are polar
#: vectors, rotations axial: a mirror negates the rotation components lying in its plane)
MIRROR_Y_SIGNS = {"x": 1.0, "y": -1.0, "z": 1.0, "roll": -1.0, "pitch": 1.0, "yaw": -1.0}
#: how far (m) a mirrored pad centre or joint origin may lie from its image
POSITION_TOL_M = 1e-5
#: how far a mirrored unit axis may lie from its image
AXIS_TOL = 1e-4


@dataclass(frozen=True)
class MirrorMap:
    """How a hand's readings change under the mirror y -> -y.

    Attributes:
        source: ``source[k]`` is the pad (and finger joint) whose reading pad ``k`` shows
            after the mirror; a permutation of the fingers.
        flip_axes: per pad, the image axes to reverse (``-2`` rows, ``-1`` columns) when
            moving the source pad's image onto it.
        joint_signs: per finger joint, the factor on the source joint's value.
    """

    source: tuple[int, ...]
    flip_axes: tuple[tuple[int, ...], ...]
    joint_signs: tuple[float, ...]

    def mirror_images(self, images: np.ndarray) -> np.ndarray:
        """Mirrored readings of images ``(..., F, C, H, W)`` (a new array)."""
        out = np.empty_like(images)
        for k, (src, axes) in enumerate(zip(self.source, self.flip_axes)):
            out[..., k, :, :, :] = np.flip(images[..., src, :, :, :], axis=axes) if axes else images[..., src, :, :, :]
        return out

    def mirror_joints(self, joints: np.ndarray) -> np.ndarray:
        """Mirrored finger joint readings ``(..., F)`` (a new array)."""
        return np.asarray(joints)[..., list(self.source)] * np.asarray(self.joint_signs, dtype=np.float32)


def mirror_increment(values: np.ndarray, dofs: tuple[str, ...] | list[str]) -> np.ndarray:
    """Pose increments ``(..., len(dofs))`` over ``dofs`` as the mirror y -> -y changes them
    (:data:`MIRROR_Y_SIGNS`; the mirror is its own inverse, so this also maps them back)."""
    return np.asarray(values) * np.array([MIRROR_Y_SIGNS[d] for d in dofs], dtype=np.float32)


def _frames(config: HandConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pad centres ``(P, 3)``, pad axes ``(P, 3, 3)`` (normal, row, column), joint origins
    ``(P, 3)`` and joint axes ``(P, 3)``, all in the wrist frame with the fingers closed."""
    from tacrefine.sim.hands import make_hand  # the registry picks the class that drives the hand

    world = World()  # a private headless client, closed on return
    client = world.client
    try:
        hand = make_hand(client, config)
        for j in hand.finger_joints:
            client.resetJointState(hand.body, j, 0.0, 0.0)
        wrist = geometry.invert(hand.wrist_pose())
        pads = client.getLinkStates(hand.body, hand.pad_links, computeForwardKinematics=1)
        centres, axes = [], []
        for state, pad in zip(pads, hand.pads):
            frame = wrist @ geometry.make_pose(state[4], state[5])
            vectors = [frame[:3, :3] @ np.asarray(v, float) for v in (pad.normal, pad.row_axis, pad.col_axis)]
            centres.append(frame[:3, 3] + vectors[0] * pad.surface_offset_mm / 1000.0)
            axes.append(vectors)
        origins, joint_axes = [], []
        for state, j in zip(client.getLinkStates(hand.body, hand.finger_joints, computeForwardKinematics=1),
                            hand.finger_joints):
            info = client.getJointInfo(hand.body, j)
            if info[2] != pb.JOINT_PRISMATIC:
                raise ConfigError(f"gripper.finger_joints: {info[1].decode()!r} is not prismatic; the mirror "
                                  "maps prismatic finger joints only")
            frame = wrist @ geometry.make_pose(state[4], state[5])
            origins.append(frame[:3, 3])
            joint_axes.append(frame[:3, :3] @ np.asarray(info[13], float))
        return np.asarray(centres), np.asarray(axes), np.asarray(origins), np.asarray(joint_axes)
    finally:
        world.close()


def _signed_match(mirrored: np.ndarray, axis: np.ndarray) -> float | None:
    """+1 or -1 when ``mirrored`` is ``axis`` or its opposite, else None."""
    for sign in (1.0, -1.0):
        if np.abs(mirrored - sign * axis).max() < AXIS_TOL:
            return sign
    return None


def hand_mirror(config: HandConfig, field: str = "augment.mirror_y") -> MirrorMap:
    """The :class:`MirrorMap` of hand ``config``; raises ``ConfigError`` naming ``field`` when
    the mirror does not map the hand onto itself (say which pad or joint has no image)."""
    centres, axes, origins, joint_axes = _frames(config)
    shares = config.finger_forces(1.0)
    n = len(centres)
    source, flips, signs = [], [], []
    for k in range(n):
        found = None
        for s in range(n):
            if np.abs(MIRROR_Y @ centres[s] - centres[k]).max() > POSITION_TOL_M:
                continue
            mirrored = [MIRROR_Y @ v for v in axes[s]]
            if _signed_match(mirrored[0], axes[k][0]) != 1.0:
                continue  # the image faces another way
            row, col = _signed_match(mirrored[1], axes[k][1]), _signed_match(mirrored[2], axes[k][2])
            joint = _signed_match(MIRROR_Y @ joint_axes[s], joint_axes[k])
            same_origin = np.abs(MIRROR_Y @ origins[s] - origins[k]).max() <= POSITION_TOL_M
            if None in (row, col, joint) or not same_origin or config.pads[s].size_mm != config.pads[k].size_mm \
                    or not np.isclose(shares[s], shares[k]):
                continue
            found = (s, tuple(ax for ax, sign in ((-2, row), (-1, col)) if sign < 0), joint)
            break
        if found is None:
            raise ConfigError(f"{field}: got a mirror probability for a hand the mirror y -> -y does not map onto "
                              f"itself (pad {config.pads[k].link!r} of {config.urdf} has no mirror image among "
                              f"the pads with the same size, axes, joint and force share); allowed: 0 for this hand")
        source.append(found[0])
        flips.append(found[1])
        signs.append(found[2])
    if sorted(source) != list(range(n)):
        raise ConfigError(f"{field}: the mirror sends two pads of {config.urdf} onto one; allowed: 0 for this hand")
    return MirrorMap(tuple(source), tuple(flips), tuple(signs))
