"""The normal load on each tactile pad: the force that presses its elastic layer.

Why not simply the engine's contact force: in a rigid squeeze the split of the force
between pads is statically indeterminate (table friction can hold any imbalance), so the
engine's per-pad figure would make a reading depend on where the object lies on the
table. Where a finger pushes *along its pad normal* (a prismatic joint whose axis is the
pad normal, as in the parallel jaw) the actuator's force is exactly the pad's normal load
and is used instead. Where it does not (a tilted pad, a revolute finger whose actuator
applies a torque) the actuator force is not the pad's load: the component of the
engine's contact force along the pad normal is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: |cos| between the actuation axis and the pad normal above which the actuator force is the load
ALIGNED_COS = 0.999


def _rotation(client, quat) -> np.ndarray:
    return np.asarray(client.getMatrixFromQuaternion(quat), dtype=float).reshape(3, 3)


def actuation_alignment(client, body: int, finger_joints: Sequence[int], pad_links: Sequence[int],
                        pad_normals: Sequence[Sequence[float]]) -> np.ndarray:
    """|cos| of the angle between each finger's push (prismatic joint axis) and its pad normal.

    0 for joints that are not prismatic (their actuator applies a torque, not a push).
    """
    out = np.zeros(len(pad_links))
    links = list(finger_joints) + list(pad_links)
    states = client.getLinkStates(body, links, computeForwardKinematics=1)
    for i, (joint, normal) in enumerate(zip(finger_joints, pad_normals)):
        info = client.getJointInfo(body, joint)
        if info[2] != client.JOINT_PRISMATIC:
            continue
        axis = _rotation(client, states[i][5]) @ np.asarray(info[13], dtype=float)
        n = _rotation(client, states[len(finger_joints) + i][5]) @ np.asarray(normal, dtype=float)
        out[i] = abs(float(axis @ n) / (np.linalg.norm(axis) * np.linalg.norm(n)))
    return out


def normal_load_components(client, body: int, obj: int, pad_links: Sequence[int],
                           pad_normals: Sequence[Sequence[float]]) -> np.ndarray:
    """Component of the engine's contact force on each pad along that pad's normal (N, >= 0)."""
    out = np.zeros(len(pad_links))
    states = client.getLinkStates(body, list(pad_links), computeForwardKinematics=1)
    for i, (link, normal) in enumerate(zip(pad_links, pad_normals)):
        n = _rotation(client, states[i][5]) @ np.asarray(normal, dtype=float)
        points = client.getContactPoints(bodyA=body, bodyB=obj, linkIndexA=link)
        # contact normal on B points from the object to the hand, i.e. against the pad normal
        out[i] = max(0.0, -sum(p[9] * float(np.asarray(p[7]) @ n) for p in points))
    return out


def pad_loads(touching: np.ndarray, actuator: np.ndarray, alignment: np.ndarray,
              contact_normal: np.ndarray | None) -> np.ndarray:
    """Per-pad normal load (N): the actuator force where it pushes along the pad normal,
    else the contact's normal component; 0 for pads that do not touch."""
    aligned = np.asarray(alignment) >= ALIGNED_COS
    if contact_normal is None:
        if not aligned.all():
            raise ValueError("pad_loads: pads not pushed along their normal need the contact normal forces")
        contact_normal = np.zeros(len(aligned))
    load = np.where(aligned, np.asarray(actuator, dtype=float), np.asarray(contact_normal, dtype=float))
    return np.where(np.asarray(touching) > 0, load, 0.0)
