"""What a task needs from a hand, and the machinery every prismatic-finger hand shares.

A hand is a URDF asset whose base link is the commanded wrist (the tool centre point,
TCP), plus a :class:`HandConfig` naming its finger joints, its pads and its force limits.
The task (the grasp cell, the envs) talks to a :class:`Hand` only through this small
interface and never counts fingers:

* ``set_wrist_pose`` / ``wrist_pose``: where the wrist is;
* ``open_for(spec)`` / ``reopen(last_q)`` / ``open(mm)``: how far to open before a grasp;
* ``start_closing()``: close under each finger's force limit;
* ``joint_positions`` / ``joint_speeds`` / ``actuator_forces``: proprioception;
* ``nominal_grasp(spec)``: the object pose in the wrist frame at an object's nominal grasp;
* ``contact_failure(pad_forces)``: whether the pads hold the object as this hand must;
* ``pads`` / ``pad_links`` / ``pad_axes_in_wrist()``: the pads and their frames.

Hand modules (:mod:`.parallel_jaw`, :mod:`.three_finger`) subclass :class:`Hand` where
their grasp geometry differs and register themselves in :data:`tacrefine.sim.hands.HANDS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from tacrefine import geometry
from tacrefine.config import ConfigError, require, require_int, require_positive
from tacrefine.sim.tactile import PadSpec

ASSETS = resources.files("tacrefine.sim") / "assets"


def asset_path(name: str) -> str:
    """Absolute path of a packaged asset, independent of the working directory."""
    path = Path(str(ASSETS / name))
    if not path.is_file():
        raise ConfigError(f"gripper.urdf: packaged asset {name!r} does not exist in {ASSETS}")
    return str(path)


PARALLEL_JAW_PADS = (
    PadSpec(link="left_pad", normal=(1.0, 0.0, 0.0)),
    PadSpec(link="right_pad", normal=(-1.0, 0.0, 0.0)),
)


@dataclass(frozen=True)
class GripperConfig:
    """A hand (the defaults describe the parallel jaw).

    Attributes:
        urdf: packaged asset name or a path to a URDF file.
        finger_joints: prismatic joints, one per finger; joint value = pad face distance
            from the wrist's y-z plane (m), 0 = closed.
        pads: one :class:`PadSpec` per finger, in the same order.
        grip_force_n: force limit of a finger while closing (N), times its share.
        finger_force_share: each finger's share of ``grip_force_n`` (empty = 1 for every
            finger); a finger opposing two others carries 1 and they carry 0.5 each, so the
            squeeze balances on the object.
        max_opening_mm: joint value of a fully open finger (mm).
        release_clearance_mm: how far past the last contact a finger opens between
            re-grasps (a real controller opens just enough).
        close_speed_mm_s: finger closing speed.
        settle_speed_mm_s: contact counts as settled when fingers and object move slower.
        settle_steps: consecutive slow steps needed to call the contact settled.
        max_settle_steps: give up settling after this many physics steps.
        pad_friction: lateral friction of the pads.
        coupled: fingers move together (one actuator, like most parallel-jaw hands), so a
            closing hand centres the object between the pads.
        kind: which hand module drives this asset (a name in :data:`HANDS`).
    """

    urdf: str = "parallel_jaw.urdf"
    finger_joints: tuple[str, ...] = ("left_finger_joint", "right_finger_joint")
    pads: tuple[PadSpec, ...] = PARALLEL_JAW_PADS
    grip_force_n: float = 5.0
    finger_force_share: tuple[float, ...] = ()
    max_opening_mm: float = 30.0
    release_clearance_mm: float = 4.0
    close_speed_mm_s: float = 100.0
    settle_speed_mm_s: float = 1.0
    settle_steps: int = 4
    max_settle_steps: int = 300
    pad_friction: float = 1.0
    coupled: bool = True
    kind: str = "parallel_jaw"

    def __post_init__(self) -> None:
        require(len(self.finger_joints) >= 1, "gripper.finger_joints", "at least one joint name",
                self.finger_joints)
        require(len(self.pads) == len(self.finger_joints), "gripper.pads", "one pad per finger joint",
                len(self.pads))
        for name in ("grip_force_n", "max_opening_mm", "close_speed_mm_s", "settle_speed_mm_s"):
            require_positive(f"gripper.{name}", getattr(self, name))
        require(not self.finger_force_share or len(self.finger_force_share) == len(self.finger_joints),
                "gripper.finger_force_share", "empty or one share per finger joint", self.finger_force_share)
        for share in self.finger_force_share:
            require_positive("gripper.finger_force_share[]", share)
        require_positive("gripper.release_clearance_mm", self.release_clearance_mm, allow_zero=True)
        require_positive("gripper.pad_friction", self.pad_friction, allow_zero=True)
        for name in ("settle_steps", "max_settle_steps"):
            require_int(f"gripper.{name}", getattr(self, name), 1)

    @property
    def n_fingers(self) -> int:
        return len(self.finger_joints)

    def finger_forces(self, force_n: float | None = None) -> np.ndarray:
        """Each finger's force limit (N)."""
        force = self.grip_force_n if force_n is None else force_n
        share = np.asarray(self.finger_force_share or (1.0,) * self.n_fingers, dtype=float)
        return force * share

    def urdf_path(self) -> str:
        return self.urdf if Path(self.urdf).is_file() else asset_path(self.urdf)


#: The name used by the hand modules: a hand is described by its config.
HandConfig = GripperConfig


class Hand:
    """A loaded hand in one world: move the wrist, open, close under force limits, read joints.

    The defaults suit hands whose fingers slide along prismatic joints and whose joint value
    is the pad face's distance from the wrist's y-z plane (closing axis = wrist x); hand
    modules override what differs.
    """

    def __init__(self, client, config: GripperConfig) -> None:
        self.client = client
        self.config = config
        self.body = client.loadURDF(config.urdf_path(), useFixedBase=True)
        names = {}
        for j in range(client.getNumJoints(self.body)):
            info = client.getJointInfo(self.body, j)
            names[info[1].decode()] = j
            names[info[12].decode()] = j  # child link name -> link index
        missing = [n for n in (*config.finger_joints, *(p.link for p in config.pads)) if n not in names]
        if missing:
            raise ConfigError(f"gripper: {missing} not found in {config.urdf}; it has {sorted(names)}")
        self.finger_joints = [names[n] for n in config.finger_joints]
        self.pad_links = [names[p.link] for p in config.pads]
        for link in self.pad_links:
            client.changeDynamics(self.body, link, lateralFriction=config.pad_friction)
        for j in self.finger_joints:
            client.changeDynamics(self.body, j, jointDamping=0.0, linearDamping=0.0)
        if config.coupled:
            # joint axes point away from the closing centre: equal joint values mirror the fingers
            for j in self.finger_joints[1:]:
                gear = client.createConstraint(self.body, self.finger_joints[0], self.body, j, client.JOINT_GEAR,
                                               [1, 0, 0], [0, 0, 0], [0, 0, 0])
                client.changeConstraint(gear, gearRatio=-1, maxForce=1000.0, erp=0.2)
        self.open(config.max_opening_mm)

    @property
    def pads(self) -> tuple[PadSpec, ...]:
        return self.config.pads

    @property
    def n_fingers(self) -> int:
        return self.config.n_fingers

    # -- wrist ---------------------------------------------------------------------------
    def set_wrist_pose(self, pose: np.ndarray) -> None:
        """Place the wrist (teleport: the code commands the wrist pose directly)."""
        pos, quat = geometry.pose_to_pos_quat(pose)
        self.client.resetBasePositionAndOrientation(self.body, pos, quat)

    def wrist_pose(self) -> np.ndarray:
        pos, quat = self.client.getBasePositionAndOrientation(self.body)
        return geometry.make_pose(pos, quat)

    # -- fingers -------------------------------------------------------------------------
    def joint_positions(self) -> np.ndarray:
        """Finger joint values in metres (pad face distance from the centre plane)."""
        return np.array([s[0] for s in self.client.getJointStates(self.body, self.finger_joints)], dtype=np.float32)

    def joint_speeds(self) -> np.ndarray:
        return np.array([s[1] for s in self.client.getJointStates(self.body, self.finger_joints)])

    def fastest_joint_speed(self) -> float:
        """``np.abs(self.joint_speeds()).max()`` (NaN if any speed is NaN, as NumPy's max) without
        building arrays: the settle loop asks it after every physics step."""
        speeds = [abs(s[1]) for s in self.client.getJointStates(self.body, self.finger_joints)]
        total = sum(speeds)  # NaN exactly when a speed is NaN (no inf - inf among values >= 0)
        return max(speeds) if total == total else math.nan

    def actuator_forces(self) -> np.ndarray:
        """Force each finger actuator currently applies (N, magnitude)."""
        return np.abs([s[3] for s in self.client.getJointStates(self.body, self.finger_joints)])

    def open(self, opening_mm: float | np.ndarray) -> None:
        """Open every finger to ``opening_mm`` at once (fingers hold there)."""
        target = np.minimum(np.asarray(opening_mm, float), self.config.max_opening_mm) / 1000.0
        n = len(self.finger_joints)
        # one opening for every finger (the common case) without broadcast_to's overhead
        q_list = [float(target)] * n if target.ndim == 0 else np.broadcast_to(target, (n,)).tolist()
        for j, q in zip(self.finger_joints, q_list):
            self.client.resetJointState(self.body, j, q, 0.0)
        self.client.setJointMotorControlArray(self.body, self.finger_joints, controlMode=self.client.POSITION_CONTROL,
                                              targetPositions=q_list, forces=[100.0] * n)

    def start_closing(self, force_n: float | None = None) -> None:
        """Command every finger toward closed, each limited to its share of the grip force."""
        force = self.config.grip_force_n if force_n is None else force_n
        if not np.isfinite(force) or force <= 0:
            raise ConfigError(f"grip force: got {force!r}; allowed: a finite number > 0 (N)")
        for j, limit in zip(self.finger_joints, self.config.finger_forces(force)):
            self.client.setJointMotorControl2(self.body, j, self.client.POSITION_CONTROL, targetPosition=0.0,
                                              force=float(limit), maxVelocity=self.config.close_speed_mm_s / 1000.0)

    # -- grasp geometry ------------------------------------------------------------------
    def first_opening_mm(self, thickness_mm: float) -> float:
        """How far to open before the first grasp of an object ``thickness_mm`` thick along the
        closing axis: the pads sit half the thickness from the centre plane, plus clearance."""
        return max(thickness_mm / 2 + self.config.release_clearance_mm + 2.0, 0.0)

    def reopening_mm(self, last_contact_q: np.ndarray) -> np.ndarray:
        """How far to open between re-grasps: just past where each finger last touched."""
        return np.asarray(last_contact_q, dtype=float) * 1000.0 + self.config.release_clearance_mm

    def nominal_grasp(self, spec) -> np.ndarray:
        """Object pose in the wrist frame at ``spec``'s nominal grasp: the TCP on the object's z
        axis at ``grasp_height_mm``, approach axis pointing down, closing axis along the object's x."""
        wrist_in_object = np.eye(4)
        wrist_in_object[:3, :3] = np.diag([1.0, -1.0, -1.0])
        wrist_in_object[2, 3] = spec.grasp_height_mm / 1000.0
        return geometry.invert(wrist_in_object)

    def contact_failure(self, pad_forces: np.ndarray) -> str | None:
        """``"not_in_contact"`` unless every pad presses on the object (a hand that may hold
        with fewer pads overrides this)."""
        return "not_in_contact" if np.any(np.asarray(pad_forces) <= 0) else None

    def pad_axes_in_wrist(self) -> np.ndarray:
        """Each pad's ``(normal, row_axis, col_axis)`` in the wrist frame, ``(P, 3, 3)``.

        The frame in which a pad's image lives: a policy that reads images as geometry (the
        servo baseline) turns row / column shifts into wrist motion with it.
        """
        base = self.wrist_pose()[:3, :3]
        states = self.client.getLinkStates(self.body, self.pad_links, computeForwardKinematics=1)
        out = []
        for st, pad in zip(states, self.pads):
            rot = base.T @ np.asarray(self.client.getMatrixFromQuaternion(st[5]), dtype=float).reshape(3, 3)
            out.append([rot @ np.asarray(v, dtype=float) for v in (pad.normal, pad.row_axis, pad.col_axis)])
        return np.asarray(out)


#: The name used before hands became components.
Gripper = Hand
