"""GripRefine-v0: correct a grasp to millimetre precision from touch alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle

from tacrefine import geometry
from tacrefine.config import ConfigError, from_dict, require, require_choice, require_positive
from tacrefine.dofs import DEFAULT_MAX_STEP, DEFAULT_OFFSET_RANGE, per_dof, to_si
from tacrefine.sim.cell import CellConfig, GraspCell, GraspResult
from tacrefine.sim.gripper import GripperConfig
from tacrefine.sim.objects import DEFAULT_OBJECT_SET, OBJECTS, ObjectSpec, get_object, object_from_dict
from tacrefine.sim.sensor_profiles import resolve_sensor
from tacrefine.sim.tactile import SensorConfig
from tacrefine.sim.user_parts import check_fits
from tacrefine.sim.world import WorldConfig

RESET_ATTEMPTS = 20
SUCCESS_BONUS = 10.0
LOSS_PENALTY = 10.0


def _per_dof(values: Mapping[str, float] | None, defaults: Mapping[str, float], dofs: Sequence[str],
             field: str) -> np.ndarray:
    """Per-DoF physical values (mm / deg) for ``dofs``, validated (see :func:`tacrefine.dofs.per_dof`)."""
    mapping = per_dof(values, dofs, field, defaults, allow_zero=field == "offset_range")
    return np.array([mapping[d] for d in dofs], dtype=float)


class UngraspableObjectError(RuntimeError):
    """``reset`` could not grasp the object (the message names it and what went wrong)."""


def _grasp_problem(result: GraspResult) -> str | None:
    """Why a grasp cannot serve as a demonstration or start: lost, or a pad that feels nothing."""
    if not result.ok:
        return result.failure or "lost"
    normal = result.tactile[:, 0].reshape(result.tactile.shape[0], -1)
    if not bool((normal > 0).any(axis=1).all()):
        return "a pad reads nothing"
    return None


def _si(values_mm_deg: np.ndarray, dofs: Sequence[str]) -> np.ndarray:
    """mm / deg over ``dofs`` -> full 6-vector in m / rad."""
    return to_si(dict(zip(dofs, np.asarray(values_mm_deg, dtype=float))))


class GripRefineEnv(gym.Env, EzPickle):
    """Correct a parallel-jaw grasp from touch alone.

    ## Description
    A parallel-jaw gripper with a dense tactile pad on each fingertip grasps an object
    that rests on a table. During reset the hand grasps the object at the *target* grasp
    and records what the pads feel (the one-shot demonstration); the object is then put
    down anew elsewhere on the table and grasped again at the target moved by a random
    offset. Each step the agent commands a wrist increment; the hand opens, the wrist
    moves, the hand re-grasps, the contact settles and the pads are read. The goal is to
    bring the grasp (the object pose in the wrist frame) back to the target, as in
    TacRefineNet (arXiv 2509.25746).

    ## Action Space
    ``Box(-1, 1, (n,), float32)`` over the refined degrees of freedom ``refined_dofs``
    (default ``("y", "z", "roll")``, in the order x, y, z, roll, pitch, yaw). Component
    ``i`` is scaled by ``max_step`` (mm for translations, degrees for rotations) and applied
    as an increment in the current wrist frame: translations along the wrist axes,
    rotations as a rotation vector (roll about the closing axis x). The physical scale is
    exposed as ``env.unwrapped.action_scale``. NaN, infinite or wrongly shaped actions
    raise ``ValueError``; finite values outside [-1, 1] are clipped.

    ## Observation Space
    ``Dict`` with
    - ``tactile``: ``uint8 (fingers, channels, rows, cols)`` current tactile images;
    - ``target_tactile``: the same, recorded at the target grasp during reset;
    - ``proprio``: ``float32 (2 * fingers,)`` current then target finger joint positions (m),
      clipped to the hand's opening range (a lost object can fling a finger past it).
    Never the object pose and never a camera image.

    ## Rewards
    Dense: the decrease of the normalised error ``e = position_error_mm / success_position_mm
    + rotation_error_deg / success_rotation_deg`` (refined DoF) over the step, plus
    ``+10`` on success and ``-10`` when the object is lost.

    ## Starting State
    Object drawn uniformly from ``objects``; placed at a random spot and heading on the
    table. ``target_mode="fixed"``: the target is the object's nominal grasp;
    ``"random"``: the target is drawn within ``offset_range`` around it. The start grasp is
    drawn uniformly within ``offset_range`` (each refined DoF independently; non-refined DoF
    are not perturbed) around the target (fixed) or around the nominal grasp (random: target
    and start then both lie where the data generator samples). Every pad must touch and feel
    the object in both grasps; an object that cannot be grasped so in 20 placements is
    refused with :class:`UngraspableObjectError` naming it.

    ## Episode End
    Terminated on success (refined position error <= ``success_position_mm`` and rotation
    error <= ``success_rotation_deg``) or when the object is lost (``info["failure"]`` is
    ``"dropped"``, ``"pushed_away"`` or ``"not_in_contact"``). Truncated after
    ``max_episode_steps`` (10 at registration).

    ## Arguments
    - ``objects``: an object name, a list of names, or user object mappings (``name`` plus
      ``urdf`` or ``mesh``); default: every object class but discs.
    - ``refined_dofs``: any non-empty subset of ``x, y, z, roll, pitch, yaw``.
    - ``offset_range``: half-range per DoF, mm / deg (default y, z 5 mm; roll 10 deg).
    - ``max_step``: largest step per DoF, mm / deg (default 5 mm, 10 deg).
    - ``target_mode``: ``"fixed"`` or ``"random"``.
    - ``success_position_mm``, ``success_rotation_deg``: success thresholds (1 mm, 1 deg).
    - ``sensor``: a built-in profile name (``"default"``, ``"piezo_11x9"``, ``"real_like"``),
      a YAML profile path, a mapping of :class:`SensorConfig` fields (optionally with
      ``profile:`` as the base) or a :class:`SensorConfig`; see ``docs/sensors.md``.
    - ``gripper``: :class:`GripperConfig` or mapping.
    - ``noise``: sensor noise on or off.
    - ``domain_randomization``: per-episode friction, object mass, pad stiffness, sensor
      gain and noise, all from the env's seeded generator.
    - ``render_mode``: ``None``, ``"rgb_array"`` (an image for people) or ``"human"`` (GUI).

    ## Version History
    - v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 4}

    def __init__(
        self,
        objects: str | Sequence[str | Mapping[str, Any]] | None = None,
        refined_dofs: Sequence[str] = ("y", "z", "roll"),
        offset_range: Mapping[str, float] | None = None,
        max_step: Mapping[str, float] | None = None,
        target_mode: str = "fixed",
        success_position_mm: float = 1.0,
        success_rotation_deg: float = 1.0,
        sensor: str | SensorConfig | Mapping[str, Any] | None = None,
        gripper: GripperConfig | Mapping[str, Any] | None = None,
        noise: bool = False,
        domain_randomization: bool = False,
        render_mode: str | None = None,
        render_size: tuple[int, int] = (320, 240),
    ) -> None:
        EzPickle.__init__(self, objects, refined_dofs, offset_range, max_step, target_mode, success_position_mm,
                          success_rotation_deg, sensor, gripper, noise, domain_randomization, render_mode,
                          render_size)
        self.refined_dofs = geometry.validate_dofs(refined_dofs)
        require_choice("target_mode", target_mode, ("fixed", "random"))
        require(render_mode is None or render_mode in self.metadata["render_modes"], "render_mode",
                f"None or one of {self.metadata['render_modes']}", render_mode)
        require_positive("success_position_mm", success_position_mm)
        require_positive("success_rotation_deg", success_rotation_deg)
        self.target_mode = target_mode
        self.success_position_mm = float(success_position_mm)
        self.success_rotation_deg = float(success_rotation_deg)
        self.offset_range = _per_dof(offset_range, DEFAULT_OFFSET_RANGE, self.refined_dofs, "offset_range")
        self.action_scale = _per_dof(max_step, DEFAULT_MAX_STEP, self.refined_dofs, "max_step")
        self.noise = bool(noise)
        self.domain_randomization = bool(domain_randomization)
        self.render_mode = render_mode
        self.render_size = tuple(render_size)

        self.object_specs = self._resolve_objects(objects)
        sensor_cfg = resolve_sensor(sensor)
        self.sensor_config = sensor_cfg.with_noise(self.noise or sensor_cfg.noise.enabled)
        gripper_cfg = gripper if isinstance(gripper, GripperConfig) else from_dict(
            GripperConfig, dict(gripper or {}), prefix="gripper.")
        for spec in self.object_specs:  # a part the open hand cannot clear is refused here, by name
            check_fits(spec, gripper_cfg.max_opening_mm, gripper_cfg.release_clearance_mm)
        self.cell = GraspCell(
            CellConfig(world=WorldConfig(gui=render_mode == "human"), gripper=gripper_cfg, sensor=self.sensor_config),
            extra_objects={s.name: s for s in self.object_specs},
        )
        self._nominal_sensor = self.cell.sensor.config
        self._nominal_dynamics: dict[str, float] = {}

        n_f, c = gripper_cfg.n_fingers, self.sensor_config.channels
        shape = (n_f, c, self.sensor_config.rows, self.sensor_config.cols)
        joint_high = np.full(2 * n_f, gripper_cfg.max_opening_mm / 1000.0, dtype=np.float32)
        self.observation_space = spaces.Dict({
            "tactile": spaces.Box(0, 255, shape, np.uint8),
            "target_tactile": spaces.Box(0, 255, shape, np.uint8),
            "proprio": spaces.Box(-joint_high, joint_high, dtype=np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (len(self.refined_dofs),), np.float32)
        self._target: GraspResult | None = None
        self._current: GraspResult | None = None
        self._error: dict[str, Any] = {}
        self._steps = 0
        self._closed = False

    # -- configuration helpers -----------------------------------------------------------
    @staticmethod
    def _resolve_objects(objects: Any) -> list[ObjectSpec]:
        if objects is None:
            objects = DEFAULT_OBJECT_SET
        if isinstance(objects, (str, ObjectSpec, Mapping)):
            objects = [objects]
        specs: list[ObjectSpec] = []
        for item in objects:
            if isinstance(item, (Mapping, ObjectSpec)):
                spec = object_from_dict(dict(item)) if isinstance(item, Mapping) else item
                if spec.name in OBJECTS and spec != OBJECTS[spec.name]:
                    raise ConfigError(f"objects.{spec.name}: a user object may not take the name of a built-in "
                                      f"one; allowed: a name not among {sorted(OBJECTS)}")
                specs.append(spec)
            else:
                specs.append(get_object(item))
        if not specs:
            raise ConfigError("objects: got an empty list; allowed: at least one object name or mapping")
        names = [s.name for s in specs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"objects: {repeated} given more than once; allowed: distinct object names")
        return specs

    # -- Gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        options = options or {}
        names = [s.name for s in self.object_specs]
        name = options.get("object", names[int(rng.integers(len(names)))])
        if name not in names:
            raise ValueError(f"options['object']: {name!r} is not among this env's objects {names}")
        spec = next(s for s in self.object_specs if s.name == name)
        self.cell.reset()  # a brand-new world: the episode never depends on earlier ones
        self.cell.load_object(spec)
        self._randomize(rng)
        target, start = self._grasp_target_and_start(rng)
        self._target, self._current, self._steps = target, start, 0
        self._error = self._errors(start)
        return self._observation(), self._info(start)

    def _grasp_target_and_start(self, rng: np.random.Generator) -> tuple[GraspResult, GraspResult]:
        """The demonstration grasp and the perturbed start grasp; refuses an object that cannot be
        grasped (every pad must touch and feel it) in :data:`RESET_ATTEMPTS` tries."""
        failures: Counter = Counter()
        for _attempt in range(RESET_ATTEMPTS):
            self.cell.place_object(rng)
            if self.target_mode == "random":
                # Target and start are each within offset_range of the nominal grasp: the
                # same region the data generator samples, so every pair is one it could make.
                target = self.cell.grasp_offset(self._draw_offset(rng), rng=rng)
            else:
                target = self.cell.grasp_offset(np.zeros(6), rng=rng)
            why = _grasp_problem(target)
            if why is not None:
                failures[f"target: {why}"] += 1
                continue
            self.cell.place_object(rng)  # put down anew: the wrist pose gives nothing away
            if self.target_mode == "random":
                start = self.cell.grasp_offset(self._draw_offset(rng), rng=rng)
            else:
                start = self.cell.grasp_offset(self._draw_offset(rng), target=target.grasp, rng=rng)
            why = _grasp_problem(start)
            if why is None:
                return target, start
            failures[f"start: {why}"] += 1
        name = self.cell.spec.name if self.cell.spec else "?"
        raise UngraspableObjectError(
            f"object {name!r} could not be grasped in {RESET_ATTEMPTS} attempts ({dict(failures)}): every pad "
            f"must touch it and feel it at the nominal grasp; check its size against the hand's opening, "
            f"its grasp_height_mm and thickness_mm")

    def step(self, action):
        if self._current is None:
            raise RuntimeError("call reset() before step()")
        action = self._check_action(action)
        increment = _si(np.clip(action, -1.0, 1.0) * self.action_scale, self.refined_dofs)
        wrist = self._current.wrist @ geometry.vector_to_pose(increment)
        result = self.cell.grasp_at(wrist, rng=self.np_random)
        previous = self._normalised_error(self._error)
        self._current, self._steps = result, self._steps + 1
        self._error = self._errors(result)
        success = result.ok and self._error["is_success"]
        reward = previous - self._normalised_error(self._error)
        reward += SUCCESS_BONUS if success else 0.0
        reward -= LOSS_PENALTY if not result.ok else 0.0
        terminated = bool(success or not result.ok)
        return self._observation(), float(reward), terminated, False, self._info(result)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        width, height = self.render_size
        c = self.cell.client
        target = self.cell.object_pose()[:3, 3] + np.array([0, 0, 0.03])
        view = c.computeViewMatrixFromYawPitchRoll(target.tolist(), 0.16, 35, -25, 0, 2)
        proj = c.computeProjectionMatrixFOV(45, width / height, 0.01, 2.0)
        _, _, rgba, _, _ = c.getCameraImage(width, height, view, proj, renderer=c.ER_TINY_RENDERER)
        return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[..., :3].copy()

    def close(self) -> None:
        if not self._closed:
            self.cell.close()
            self._closed = True

    # -- internals -------------------------------------------------------------------------
    def _check_action(self, action: Any) -> np.ndarray:
        try:
            arr = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"action must be numeric with shape {self.action_space.shape}; got {action!r}") from exc
        if arr.shape != self.action_space.shape:
            raise ValueError(f"action has shape {arr.shape}; expected {self.action_space.shape} "
                             f"(one value per refined DoF {list(self.refined_dofs)})")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"action contains NaN or infinite values: {arr.tolist()}")
        return arr

    def _draw_offset(self, rng: np.random.Generator) -> np.ndarray:
        return _si(rng.uniform(-1.0, 1.0, len(self.refined_dofs)) * self.offset_range, self.refined_dofs)

    def _randomize(self, rng: np.random.Generator) -> None:
        """Domain randomisation: friction, object mass, pad stiffness, sensor gain and noise."""
        cell = self.cell
        if not self.domain_randomization:
            cell.sensor.config = self._nominal_sensor
            return
        spec = cell.spec
        c = cell.client
        c.changeDynamics(cell.object, -1, lateralFriction=spec.friction * rng.uniform(0.7, 1.3))
        cell.scale_mass(rng.uniform(0.7, 1.3))  # the object's own masses, every link
        for link in cell.gripper.pad_links:
            c.changeDynamics(cell.gripper.body, link,
                             lateralFriction=cell.config.gripper.pad_friction * rng.uniform(0.7, 1.3))
        base = self._nominal_sensor
        noise = replace(base.noise, enabled=True, gain_std=rng.uniform(0.0, 0.08),
                        gaussian_std=rng.uniform(0.0, 3.0), dead_taxel_prob=rng.uniform(0.0, 0.01))
        cell.sensor.config = replace(base, layer_stiffness=base.layer_stiffness * rng.uniform(0.7, 1.3), noise=noise)

    def _errors(self, result: GraspResult) -> dict[str, Any]:
        assert self._target is not None
        err = geometry.grasp_error(result.grasp, self._target.grasp, self.refined_dofs)
        err["is_success"] = bool(result.ok and err["position_error_mm"] <= self.success_position_mm
                                 and err["rotation_error_deg"] <= self.success_rotation_deg)
        return err

    def _normalised_error(self, err: Mapping[str, Any]) -> float:
        position = err["position_error_mm"] / self.success_position_mm
        return position + err["rotation_error_deg"] / self.success_rotation_deg

    def _observation(self) -> dict[str, np.ndarray]:
        assert self._current is not None and self._target is not None
        return {
            "tactile": self._current.tactile.copy(),
            "target_tactile": self._target.tactile.copy(),
            # A lost object can fling the fingers past their travel; report the hand's range.
            "proprio": np.clip(np.concatenate([self._current.joints, self._target.joints]).astype(np.float32),
                               self.observation_space["proprio"].low, self.observation_space["proprio"].high),
        }

    def _info(self, result: GraspResult) -> dict[str, Any]:
        info = dict(self._error)
        info.update(failure=result.failure, object=self.cell.spec.name if self.cell.spec else None,
                    object_class=self.cell.spec.category if self.cell.spec else None, steps=self._steps)
        return info

    # -- ground truth, for the oracle baseline and evaluation only ----------------------------
    def oracle_increment(self) -> np.ndarray:
        """Exact correction over the refined DoF in mm / deg (uses the object pose: never an observation)."""
        assert self._current is not None and self._target is not None
        vec = geometry.pose_to_vector(geometry.correction(self._current.grasp, self._target.grasp))
        scale = np.array([1000.0] * 3 + [180 / np.pi] * 3)
        return (vec * scale)[geometry.dof_indices(self.refined_dofs)]
