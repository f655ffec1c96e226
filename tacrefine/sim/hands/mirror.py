"""A hand's mirror symmetries in the wrist's coordinate planes, read from its kinematics.

Why: a part mirrored in a plane is another valid part. When the mirror maps the hand onto
itself (every pad onto a pad, every finger joint onto a joint), the mirrored grasp of the
mirrored part is felt as the same images, moved to the mirrored pads and flipped along the
pad axes the mirror reverses, with the mirrored fingers' joint readings swapped. Training can
then see more shapes from one dataset (``augment.mirror_y``, ``augment.mirror_x``). Where the
pads sit is not in a dataset's metadata, so it is measured here: the hand's URDF is loaded in a
private headless client, its fingers closed, and every pad and joint is compared with its
mirror image. In y = 0 both built-in hands are symmetric (the three-finger hand's index and
middle fingers swap); in x = 0 only the parallel jaw (its two pads swap).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pybullet as pb

from tacrefine import geometry
from tacrefine.config import ConfigError, from_dict
from tacrefine.sim.hands.base import HandConfig
from tacrefine.sim.world import World

#: the wrist axes a mirror plane may be normal to (the mirror ``axis -> -axis``)
MIRROR_AXES = ("x", "y", "z")


def mirror_matrix(axis: str) -> np.ndarray:
    """The mirror ``axis -> -axis`` as a 3x3 matrix in the wrist frame."""
    if axis not in MIRROR_AXES:
        raise ConfigError(f"mirror axis: got {axis!r}; allowed: {list(MIRROR_AXES)}")
    return np.diag([-1.0 if a == axis else 1.0 for a in MIRROR_AXES])


def mirror_signs(axis: str) -> dict[str, float]:
    """Sign of each DoF of a pose increment under the mirror ``axis -> -axis``: translations are
    polar vectors (the component along the axis changes sign), rotations axial (the two
    components in the mirror plane change sign)."""
    flip = np.diag(mirror_matrix(axis))
    return {**{t: float(f) for t, f in zip(("x", "y", "z"), flip)},
            **{r: float(-f) for r, f in zip(("roll", "pitch", "yaw"), flip)}}


#: how far (m) a mirrored pad centre or joint origin may lie from its image
POSITION_TOL_M = 1e-5
#: how far a mirrored unit axis may lie from its image
AXIS_TOL = 1e-4


@dataclass(frozen=True)
class MirrorMap:
    """How a hand's readings change under the mirror ``axis -> -axis``.

    Attributes:
        source: ``source[k]`` is the pad (and finger joint) whose reading pad ``k`` shows
            after the mirror; a permutation of the fingers.
        flip_axes: per pad, the image axes to reverse (``-2`` rows, ``-1`` columns) when
            moving the source pad's image onto it.
        joint_signs: per finger joint, the factor on the source joint's value.
        axis: the wrist axis normal to the mirror plane.
    """

    source: tuple[int, ...]
    flip_axes: tuple[tuple[int, ...], ...]
    joint_signs: tuple[float, ...]
    axis: str = "y"

    def mirror_images(self, images: np.ndarray) -> np.ndarray:
        """Mirrored readings of images ``(..., F, C, H, W)`` (a new array)."""
        out = np.empty_like(images)
        for k, (src, axes) in enumerate(zip(self.source, self.flip_axes)):
            out[..., k, :, :, :] = np.flip(images[..., src, :, :, :], axis=axes) if axes else images[..., src, :, :, :]
        return out

    def mirror_joints(self, joints: np.ndarray) -> np.ndarray:
        """Mirrored finger joint readings ``(..., F)`` (a new array)."""
        return np.asarray(joints)[..., list(self.source)] * np.asarray(self.joint_signs, dtype=np.float32)

    def mirror_proprio(self, proprio: np.ndarray) -> np.ndarray:
        """Mirrored proprioception ``(..., 2F)``: current then target finger joints, each mirrored."""
        proprio = np.asarray(proprio)
        nf = len(self.source)
        return np.concatenate([self.mirror_joints(proprio[..., :nf]), self.mirror_joints(proprio[..., nf:])], axis=-1)

    def mirror_increment(self, values: np.ndarray, dofs: tuple[str, ...] | list[str]) -> np.ndarray:
        """Pose increments over ``dofs`` as this mirror changes them (:func:`mirror_increment`)."""
        return mirror_increment(values, dofs, self.axis)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint or an export's metadata (:meth:`from_dict` reads it)."""
        return {"axis": self.axis, "source": list(self.source), "flip_axes": [list(a) for a in self.flip_axes],
                "joint_signs": list(self.joint_signs)}

    @classmethod
    def from_dict(cls, data: Any, fingers: int, field: str = "reading.map") -> MirrorMap:
        """A map written by :meth:`to_dict`, for a hand of ``fingers`` fingers; ``ConfigError``
        naming ``field`` when it is not one."""
        try:
            plan = cls(tuple(int(s) for s in data["source"]),
                       tuple(tuple(int(a) for a in f) for f in data["flip_axes"]),
                       tuple(float(v) for v in data["joint_signs"]), str(data["axis"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{field}: got {data!r}; allowed: {{axis, source, flip_axes, joint_signs}} as "
                              "MirrorMap.to_dict writes it") from err
        ok = (sorted(plan.source) == list(range(fingers)) and len(plan.flip_axes) == fingers
              and len(plan.joint_signs) == fingers and plan.axis in MIRROR_AXES
              and all(set(f) <= {-2, -1} for f in plan.flip_axes) and all(v in (-1.0, 1.0) for v in plan.joint_signs))
        if not ok:
            raise ConfigError(f"{field}: got {data!r}; allowed: a permutation of the {fingers} fingers, image axes "
                              "among -2 / -1 per pad, joint signs +-1 and an axis among x, y, z")
        return plan


@functools.cache
def _sign_vector(axis: str, dofs: tuple[str, ...]) -> np.ndarray:
    """:func:`mirror_signs` over ``dofs`` as a read-only array, built once per DoF list (a policy
    reading mirrored signs every decision)."""
    signs = mirror_signs(axis)
    vector = np.array([signs[d] for d in dofs], dtype=np.float32)
    vector.flags.writeable = False
    return vector


def mirror_increment(values: np.ndarray, dofs: tuple[str, ...] | list[str], axis: str = "y") -> np.ndarray:
    """Pose increments ``(..., len(dofs))`` over ``dofs`` as the mirror ``axis -> -axis`` changes
    them (:func:`mirror_signs`; a mirror is its own inverse, so this also maps them back)."""
    return np.asarray(values) * _sign_vector(axis, tuple(dofs))


def require_normal_channel_only(channels: int, field: str, allowed: str) -> None:
    """``ConfigError`` naming ``field`` unless the sensor has the normal channel only: a shear
    channel would have to change sign under the mirror, which is not modelled."""
    if channels != 1:
        raise ConfigError(f"{field}: got a mirror for a sensor with {channels} channels (shear would have to "
                          f"change sign); allowed: {allowed}")


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


def hand_mirror(config: HandConfig, field: str = "augment.mirror_y", axis: str = "y",
                allowed: str = "0 for this hand") -> MirrorMap:
    """The :class:`MirrorMap` of hand ``config`` under the mirror ``axis -> -axis``; raises
    ``ConfigError`` naming ``field`` (and ``allowed``, what the caller may set instead) when the
    mirror does not map the hand onto itself, saying which pad has no image."""
    mirror = mirror_matrix(axis)
    centres, axes, origins, joint_axes = _frames(config)
    shares = config.finger_forces(1.0)
    n = len(centres)
    source, flips, signs = [], [], []
    for k in range(n):
        found = None
        for s in range(n):
            if np.abs(mirror @ centres[s] - centres[k]).max() > POSITION_TOL_M:
                continue
            mirrored = [mirror @ v for v in axes[s]]
            if _signed_match(mirrored[0], axes[k][0]) != 1.0:
                continue  # the image faces another way
            row, col = _signed_match(mirrored[1], axes[k][1]), _signed_match(mirrored[2], axes[k][2])
            joint = _signed_match(mirror @ joint_axes[s], joint_axes[k])
            same_origin = np.abs(mirror @ origins[s] - origins[k]).max() <= POSITION_TOL_M
            if None in (row, col, joint) or not same_origin or config.pads[s].size_mm != config.pads[k].size_mm \
                    or not np.isclose(shares[s], shares[k]):
                continue
            found = (s, tuple(ax for ax, sign in ((-2, row), (-1, col)) if sign < 0), joint)
            break
        if found is None:
            raise ConfigError(f"{field}: the mirror {axis} -> -{axis} does not map the hand onto itself (pad "
                              f"{config.pads[k].link!r} of {config.urdf} has no mirror image among the pads of the "
                              f"same size, axes, joint and force share); allowed: {allowed}")
        source.append(found[0])
        flips.append(found[1])
        signs.append(found[2])
    if sorted(source) != list(range(n)):
        raise ConfigError(f"{field}: the mirror sends two pads of {config.urdf} onto one; allowed: {allowed}")
    return MirrorMap(tuple(source), tuple(flips), tuple(signs), axis)


def gripper_mirror(gripper: Any, channels: int, field: str, axis: str = "y",
                   allowed: str = "0 for this hand") -> MirrorMap:
    """:func:`hand_mirror` of the hand a dataset or checkpoint records (its ``gripper`` metadata),
    for a sensor of ``channels`` channels; ``ConfigError`` naming ``field`` when there is none,
    when the sensor has shear channels (their shear would have to change sign: not modelled) or
    when the hand is not symmetric."""
    require_normal_channel_only(channels, field, allowed)
    if not isinstance(gripper, Mapping) or not gripper.get("pads"):
        raise ConfigError(f"{field}: the hand is not recorded (the mirror is measured on it); allowed: {allowed}")
    try:
        config = from_dict(HandConfig, dict(gripper), prefix="gripper.")
        return hand_mirror(config, field, axis, allowed)
    except ConfigError as err:
        message = str(err)
        raise ConfigError(message if message.startswith(field) else f"{field}: {message}; allowed: {allowed}") \
            from err

