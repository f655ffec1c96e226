"""A grasp cell: world + hand + tactile sensor + one object, and the grasp primitive.

The cell is what the environment, the data generator and the tests share: it knows how
to put an object on the table, grasp it at a wrist pose, wait until the contact is
steady, and read touch, finger positions and the ground-truth grasp.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from tacrefine import geometry
from tacrefine.config import require
from tacrefine.sim.hands import GripperConfig, make_hand
from tacrefine.sim.objects import ObjectSpec, get_object
from tacrefine.sim.pad_load import ALIGNED_COS, actuation_alignment, normal_load_components, pad_loads
from tacrefine.sim.part_bodies import build_object, object_parts
from tacrefine.sim.raycast import ConvexBody, convex_body_from_parts
from tacrefine.sim.tactile import SensorConfig, TactileSensor
from tacrefine.sim.world import World, WorldConfig


@dataclass(frozen=True)
class CellConfig:
    """Everything physical about a grasp cell.

    Attributes:
        world: physics settings.
        gripper: the hand (:class:`tacrefine.sim.hands.HandConfig`; its ``kind`` picks the
            hand module that drives it).
        sensor: the tactile pads.
        placement_range_mm: objects are placed uniformly within +-this on the table (x, y).
        placement_yaw_deg: and turned uniformly within +-this about the vertical.
        lost_distance_mm: an object that moved farther than this from where it was placed
            counts as pushed away.
        lost_tilt_deg: an object tilted more than this counts as dropped (fallen over).
    """

    world: WorldConfig = field(default_factory=WorldConfig)
    gripper: GripperConfig = field(default_factory=GripperConfig)
    sensor: SensorConfig = field(default_factory=SensorConfig)
    placement_range_mm: float = 60.0
    placement_yaw_deg: float = 180.0
    lost_distance_mm: float = 15.0
    lost_tilt_deg: float = 15.0

    def __post_init__(self) -> None:
        require(self.placement_range_mm >= 0, "cell.placement_range_mm", ">= 0", self.placement_range_mm)
        require(self.lost_distance_mm > 0, "cell.lost_distance_mm", "> 0", self.lost_distance_mm)
        require(self.lost_tilt_deg > 0, "cell.lost_tilt_deg", "> 0", self.lost_tilt_deg)


@dataclass
class GraspResult:
    """What one grasp yields.

    Attributes:
        tactile: ``uint8 (fingers, channels, rows, cols)``.
        joints: finger joint values, metres.
        grasp: ground-truth object pose in the wrist frame (4x4).
        wrist: wrist pose in the world.
        ok: every pad touches the object and the object is not lost.
        failure: why not ``ok`` (``"dropped"``, ``"pushed_away"``, ``"not_in_contact"``).
        settle_steps: physics steps the grasp took.
        pad_forces: normal force on each pad (N).
    """

    tactile: np.ndarray
    joints: np.ndarray
    grasp: np.ndarray
    wrist: np.ndarray
    ok: bool
    failure: str | None
    settle_steps: int
    pad_forces: np.ndarray


def _norm(vector) -> float:
    """``np.linalg.norm`` of a 3-vector without its generic dispatch: NumPy computes exactly
    ``sqrt(x.dot(x))`` for a 1-D float vector (same dot, and both square roots are IEEE-exact)."""
    x = np.asarray(vector, dtype=float)
    return math.sqrt(x.dot(x))


class GraspCell:
    """One isolated physics world holding a hand, its sensor and one object at a time."""

    def __init__(self, config: CellConfig | None = None, extra_objects: dict[str, ObjectSpec] | None = None) -> None:
        self.config = config or CellConfig()
        self.extra_objects = dict(extra_objects or {})
        self.world = World(self.config.world)
        self.client = self.world.client
        #: closed-form ray geometry per object, see :meth:`_convex_body` (pure geometry: survives resets)
        self._convex_bodies: dict[int, tuple[tuple, bytes, ConvexBody]] = {}
        self._build()

    def reset(self) -> None:
        """Start over in a brand-new physics world (same client): hand rebuilt, no object.

        Call it before each episode or shard so that it is a function of its own seed only,
        never of what the world simulated before (body ids, contact and solver caches).
        """
        self.world.reset()
        self._build()

    def _build(self) -> None:
        """The hand, its sensor and an empty object slot in the (empty) world."""
        self.hand = make_hand(self.client, self.config.gripper)
        self.gripper = self.hand  # the name used before hands became components
        self.sensor = TactileSensor(self.client, self.gripper.body, self.gripper.pad_links,
                                    self.config.gripper.pads, self.config.sensor)
        # fixed by the hand's build: which fingers push along their pad normal (see pad_load)
        self.pad_alignment = actuation_alignment(self.client, self.gripper.body, self.gripper.finger_joints,
                                                 self.gripper.pad_links, [p.normal for p in self.config.gripper.pads])
        self.spec: ObjectSpec | None = None
        self.object: int | None = None
        self.placed_pose = np.eye(4)
        self._last_contact_q: np.ndarray | None = None
        self._shape_cache: dict[Hashable, list[tuple[int, int]]] = {}  # by pieces, see build_object
        #: PyBullet's base frame (the base link's *inertial* frame, which its base pose calls
        #: use) in the object frame (the link frame, or the spec's ``frame_in_file`` in it).
        self._set_body_frame(np.eye(4))
        #: The object's own mass per link (index -1 = base), before any randomisation.
        self.link_masses: dict[int, float] = {}

    # -- objects -------------------------------------------------------------------------
    def load_object(self, name: str | ObjectSpec) -> ObjectSpec:
        """Put object ``name`` into the world as a fresh body, replacing the previous one.

        A fresh body carries no contact history, so an episode does not depend on how the
        previous one ended; its shapes come from a per-world cache, so memory stays flat.
        """
        spec = get_object(name, self.extra_objects)
        parts = object_parts(spec)
        if self.object is not None and spec == self.spec and not parts:
            self.scale_mass(1.0)  # URDF bodies PyBullet loads are kept: reloading would leak shapes
            self.place_object(None)
            return spec
        if self.object is not None:
            self.sensor.register_convex(self.object, None)
            self.client.removeBody(self.object)
        self.spec = spec
        self.object = build_object(self.client, spec, self._shape_cache)
        info = self.client.getDynamicsInfo(self.object, -1)
        self._set_body_frame(geometry.invert(spec.frame_pose()) @ geometry.make_pose(info[3], info[4]))
        self.link_masses = {link: float(self.client.getDynamicsInfo(self.object, link)[0])
                            for link in range(-1, self.client.getNumJoints(self.object))}
        if parts and self.config.sensor.closed_form_rays:
            # rays are cast in PyBullet's base (inertial) frame; the parts are in the link frame
            link_in_base = geometry.invert(geometry.make_pose(info[3], info[4]))
            self.sensor.register_convex(self.object, self._convex_body(parts, link_in_base))
        self.place_object(None)
        return spec

    def _convex_body(self, parts: tuple, frame: np.ndarray) -> ConvexBody:
        """The closed-form ray geometry of ``parts`` in ``frame``, built once per object for the
        cell's life (every episode reloads the object). Exact: an entry is used only for the
        very same ``parts`` tuple (immutable, kept alive by the entry) and a bit-identical frame."""
        entry = self._convex_bodies.get(id(parts))
        if entry is not None and entry[0] is parts and entry[1] == frame.tobytes():
            return entry[2]
        body = convex_body_from_parts(parts, frame)
        if len(self._convex_bodies) >= 64:
            self._convex_bodies.clear()  # bounded: a dataset of many parts builds each once per shard anyway
        self._convex_bodies[id(parts)] = (parts, frame.tobytes(), body)
        return body

    def place_object(self, rng: np.random.Generator | None) -> np.ndarray:
        """Put the object on the table anew (random spot and heading when ``rng`` is given)."""
        obj = self._require_object()
        pose = np.eye(4)
        if rng is not None:
            cfg = self.config
            pose[:2, 3] = rng.uniform(-1, 1, 2) * cfg.placement_range_mm / 1000.0
            yaw = np.radians(rng.uniform(-1, 1) * cfg.placement_yaw_deg)
            pose[:3, :3] = geometry.vector_to_pose([0, 0, 0, 0, 0, yaw])[:3, :3]
        self.gripper.open(self.config.gripper.max_opening_mm)
        self.gripper.set_wrist_pose(geometry.make_pose((0.0, 0.0, 0.5)))  # out of the way
        self._set_object_pose(pose)
        lowest = self.client.getAABB(obj)[0][2]
        for link in range(self.client.getNumJoints(obj)):
            lowest = min(lowest, self.client.getAABB(obj, link)[0][2])
        pose[2, 3] -= lowest - 1e-5
        self._set_object_pose(pose)
        # An AABB is conservative (a compound's box of rotated boxes): lower the object by its
        # true gap to the table so that it rests instead of dropping onto it.
        gaps = [p[8] for p in self.client.getClosestPoints(obj, self.world.table, 1.0)]
        if gaps and min(gaps) > 2e-5:
            pose[2, 3] -= min(gaps) - 1e-5
            self._set_object_pose(pose)
        self.client.resetBaseVelocity(obj, [0, 0, 0], [0, 0, 0])
        self.placed_pose = pose
        self._last_contact_q = None
        self.sensor.reset()  # the hand let go: the pads relax (hysteresis starts afresh)
        return pose

    def object_pose(self) -> np.ndarray:
        """The object frame (not PyBullet's inertial frame) in the world."""
        pos, quat = self.client.getBasePositionAndOrientation(self._require_object())
        return geometry.make_pose(pos, quat) @ self._object_in_body

    def _set_body_frame(self, body_in_object: np.ndarray) -> None:
        """Set PyBullet's base frame in the object frame, and its inverse (which
        :meth:`object_pose` needs every call: computed here once, the same function of the same matrix)."""
        self._body_in_object = body_in_object
        self._object_in_body = geometry.invert(body_in_object)

    def _set_object_pose(self, pose: np.ndarray) -> None:
        pos, quat = geometry.pose_to_pos_quat(pose @ self._body_in_object)
        self.client.resetBasePositionAndOrientation(self._require_object(), pos, quat)

    def scale_mass(self, factor: float) -> None:
        """Set every link's mass to its own (URDF or spec) mass times ``factor``."""
        obj = self._require_object()
        for link, mass in self.link_masses.items():
            if mass > 0:
                self.client.changeDynamics(obj, link, mass=mass * factor)

    def _require_object(self) -> int:
        if self.object is None:
            raise RuntimeError("no object loaded: call load_object(name) first")
        return self.object

    # -- grasping ------------------------------------------------------------------------
    def nominal_wrist_pose(self, grasp: np.ndarray | None = None) -> np.ndarray:
        """Wrist pose that realises ``grasp`` (default: the nominal grasp) on the object as it lies."""
        assert self.spec is not None
        grasp = self.hand.nominal_grasp(self.spec) if grasp is None else grasp
        return self.object_pose() @ geometry.invert(grasp)

    def grasp_offset(self, offset: np.ndarray, target: np.ndarray | None = None,
                     rng: np.random.Generator | None = None) -> GraspResult:
        """Grasp at ``target`` (object-in-wrist; default nominal) moved by the wrist increment ``offset``
        (6-vector, metres / radians, wrist frame)."""
        wrist = self.nominal_wrist_pose(target) @ geometry.vector_to_pose(offset)
        return self.grasp_at(wrist, rng=rng)

    def grasp_at(self, wrist: np.ndarray, rng: np.random.Generator | None = None) -> GraspResult:
        """Open, move the wrist to ``wrist``, close under the force limit, settle, read."""
        obj = self._require_object()
        if self._last_contact_q is None:
            opening = self.hand.first_opening_mm(self.spec.thickness_mm)
        else:
            opening = self.hand.reopening_mm(self._last_contact_q)
        self.gripper.open(opening)
        self.client.resetBaseVelocity(obj, [0, 0, 0], [0, 0, 0])
        self.gripper.set_wrist_pose(wrist)
        self.gripper.start_closing()
        steps = self._settle()
        forces, shear = self.sensor.contact_forces(obj)
        loads = self.pad_loads(forces)
        tactile = self.sensor.read(obj, rng=rng, forces=loads, shear=shear)
        joints = self.gripper.joint_positions()
        wrist_now = self.gripper.wrist_pose()
        failure = self.failure(forces)
        if failure is None:
            self._last_contact_q = joints.astype(float)
        return GraspResult(tactile=tactile, joints=joints, grasp=geometry.grasp_of(wrist_now, self.object_pose()),
                           wrist=wrist_now, ok=failure is None, failure=failure, settle_steps=steps,
                           pad_forces=forces)

    def pad_loads(self, touching: np.ndarray) -> np.ndarray:
        """Normal load on each pad (N): its finger's actuator force where the finger pushes along
        the pad normal, else the contact force's normal component (see :mod:`tacrefine.sim.pad_load`)."""
        contact = None
        if (self.pad_alignment < ALIGNED_COS).any():
            contact = normal_load_components(self.client, self.gripper.body, self._require_object(),
                                             self.gripper.pad_links, [p.normal for p in self.config.gripper.pads])
        return pad_loads(touching, self.gripper.actuator_forces(), self.pad_alignment, contact)

    def release(self) -> None:
        """Open the hand (fingers back past the last contact) and let the object rest."""
        q = self._last_contact_q if self._last_contact_q is not None else np.zeros(self.hand.n_fingers)
        self.gripper.open(self.hand.reopening_mm(q))

    def _settle(self) -> int:
        """Step until fingers and object are steady for a few steps (or give up)."""
        cfg = self.config.gripper
        tol = cfg.settle_speed_mm_s / 1000.0
        calm = 0
        obj = self._require_object()
        step_simulation, base_velocity = self.client.stepSimulation, self.client.getBaseVelocity
        for step in range(1, cfg.max_settle_steps + 1):
            step_simulation()
            moving = self.gripper.fastest_joint_speed() > tol
            if not moving:  # the object's speed only matters once the fingers are calm (a pure query)
                lin, ang = base_velocity(obj)
                moving = _norm(lin) > tol or _norm(ang) > 20 * tol
            calm = 0 if moving else calm + 1
            if calm >= cfg.settle_steps:
                return step
        return cfg.max_settle_steps

    def failure(self, pad_forces: np.ndarray) -> str | None:
        """Why the object is lost, or None."""
        pose = self.object_pose()
        tilt = np.degrees(np.arccos(np.clip(pose[2, 2], -1.0, 1.0)))
        if tilt > self.config.lost_tilt_deg or pose[2, 3] < -0.01:
            return "dropped"
        if np.linalg.norm(pose[:2, 3] - self.placed_pose[:2, 3]) * 1000.0 > self.config.lost_distance_mm:
            return "pushed_away"
        return self.hand.contact_failure(pad_forces)

    def close(self) -> None:
        self.world.close()
