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
from tacrefine.envs.env_setup import (
    UngraspableObjectError,
    grasp_problem,
    per_dof_array,
    resolve_dofs,
    resolve_objects,
    to_si_over,
)

from tacrefine import geometry
from tacrefine.config import require, require_choice, require_positive
from tacrefine.dofs import DEFAULT_MAX_STEP, DEFAULT_OFFSET_RANGE, dof_mask
from tacrefine.limits import check_image_size
from tacrefine.sim.cell import CellConfig, GraspCell, GraspResult
from tacrefine.sim.hands import HANDS, HandConfig, hand_config
from tacrefine.sim.objects import DEFAULT_OBJECT_SET
from tacrefine.sim.sensor_profiles import resolve_sensor
from tacrefine.sim.tactile import SensorConfig
from tacrefine.sim.user_parts import check_fits
from tacrefine.sim.world import WorldConfig

RESET_ATTEMPTS = 20
SUCCESS_BONUS = 10.0
LOSS_PENALTY = 10.0

__all__ = ["GripRefineEnv", "UngraspableObjectError"]


class GripRefineEnv(gym.Env, EzPickle):
    """Correct a grasp from touch alone (parallel jaw by default; any registered hand).

    ## Description
    A hand with a dense tactile pad on each fingertip (the parallel jaw unless ``hand`` says
    otherwise) grasps an object that rests on a table. During reset the hand grasps the
    object at the *target* grasp and records what the pads feel (the one-shot
    demonstration); the object is then put down anew elsewhere on the table and grasped
    again at the target moved by a random offset. Each step the agent commands a wrist
    increment; the hand opens, the wrist moves, the hand re-grasps, the contact settles and
    the pads are read. The goal is to bring the grasp (the object pose in the wrist frame)
    back to the target, as in TacRefineNet (arXiv 2509.25746).

    ## Action Space
    ``Box(-1, 1, (n,), float32)`` over the action DoF ``env.unwrapped.refined_dofs`` (in the
    order x, y, z, roll, pitch, yaw): ``refined_dofs`` when it is a list (default
    ``("y", "z", "roll")``), or with ``"per_class"`` the union of the objects' DoF (and of
    ``per_class_action_dofs``: the hand env always acts on y, z, roll, pitch), where
    components the episode's object does not refine are ignored (see ``dof_mask``).
    Component ``i`` is scaled by ``max_step`` (mm for translations, degrees for rotations)
    and applied as an increment in the current wrist frame: translations along the wrist
    axes, rotations as a rotation vector (roll about the closing axis x, pitch about y).
    The physical scale is ``env.unwrapped.action_scale``. NaN, infinite or wrongly shaped
    actions raise ``ValueError``; finite values outside [-1, 1] are clipped.

    ## Observation Space
    ``Dict`` with
    - ``tactile``: ``uint8 (fingers, channels, rows, cols)`` current tactile images;
    - ``target_tactile``: the same, recorded at the target grasp during reset;
    - ``proprio``: ``float32 (2 * fingers,)`` current then target finger joint positions (m),
      clipped to the hand's opening range (a lost object can fling a finger past it);
    - ``dof_mask``: ``float32 (n,)``, 1 where the episode's object refines the action DoF
      (all ones unless ``"per_class"``).
    Never the object pose and never a camera image.

    ## Rewards
    Dense: the decrease of the normalised error ``e = position_error_mm / success_position_mm
    + rotation_error_deg / success_rotation_deg`` (refined DoF) over the step, plus
    ``+10`` on success. A step that loses the object gives exactly ``-10`` (the lost grasp's
    error is not counted), so every reward lies within the start error + 10 and -10.

    ## Starting State
    Object drawn uniformly from ``objects``; placed at a random spot and heading on the
    table. ``target_mode="fixed"``: the target is the object's nominal grasp;
    ``"random"``: the target is drawn within ``offset_range`` around it. The start grasp is
    drawn uniformly within ``offset_range`` (each refined DoF independently; other DoF are
    not perturbed) around the target (fixed) or around the nominal grasp (random: target
    and start then both lie where the data generator samples). Every pad must touch and feel
    the object in both grasps; an object that cannot be grasped so in 20 placements is
    refused with :class:`UngraspableObjectError` naming it.

    ## Episode End
    Terminated on success (refined position error <= ``success_position_mm`` and rotation
    error <= ``success_rotation_deg``; unless ``terminate_on_success=False``) or when the
    object is lost (``info["failure"]`` is
    ``"dropped"``, ``"pushed_away"`` or ``"not_in_contact"``). Truncated after
    ``max_episode_steps`` (10 at registration). ``info`` names the object and its class
    (``object``, ``object_class``) and the DoF it refines (``refined_dofs``).

    ## Arguments
    - ``objects``: an object name, a list of names, or user object mappings (``name`` plus
      ``urdf`` or ``mesh``); default: the jaw objects but discs.
    - ``refined_dofs``: any non-empty subset of ``x, y, z, roll, pitch, yaw``, or
      ``"per_class"`` (each object refines its class's DoF, the action spans their union).
    - ``offset_range``: half-range per DoF, mm / deg (default y, z 5 mm; roll 10 deg).
    - ``max_step``: largest step per DoF, mm / deg (default 5 mm, 10 deg).
    - ``target_mode``: ``"fixed"`` or ``"random"``.
    - ``success_position_mm``, ``success_rotation_deg``: success thresholds (1 mm, 1 deg).
    - ``terminate_on_success``: end the episode on success (default). ``False`` is the
      deployable protocol: a robot has no oracle, so the episode goes on until the policy
      stops; success still scores (``info["is_success"]``, the reward's bonus).
    - ``sensor``: a built-in profile name (``"default"``, ``"piezo_11x9"``, ``"real_like"``),
      a YAML profile path, a mapping of :class:`SensorConfig` fields (optionally with
      ``profile:`` as the base) or a :class:`SensorConfig`; see ``docs/sensors.md``;
      default: the hand's default profile.
    - ``hand``: a registered hand (``"parallel_jaw"``, ``"three_finger"``; see
      :data:`tacrefine.sim.hands.HANDS`) or a :class:`HandConfig`.
    - ``gripper``: a :class:`HandConfig`, or a mapping of its fields that changes ``hand``.
    - ``noise``: sensor noise on or off.
    - ``domain_randomization``: per-episode friction, object mass, pad stiffness, sensor
      gain and noise, all from the env's seeded generator.
    - ``render_mode``: ``None``, ``"rgb_array"`` (an image for people) or ``"human"`` (GUI).

    ## Version History
    - v0: initial version; ``hand``, ``"per_class"`` DoF, ``dof_mask`` and bounded loss
      rewards added without changing the defaults' behaviour.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 4}
    #: objects used when ``objects`` is not given
    default_objects: tuple[str, ...] = DEFAULT_OBJECT_SET
    #: with ``"per_class"``, the action spans these DoF and every object's own
    per_class_action_dofs: tuple[str, ...] = ()

    def __init__(
        self,
        objects: str | Sequence[str | Mapping[str, Any]] | None = None,
        refined_dofs: str | Sequence[str] = ("y", "z", "roll"),
        offset_range: Mapping[str, float] | None = None,
        max_step: Mapping[str, float] | None = None,
        target_mode: str = "fixed",
        success_position_mm: float = 1.0,
        success_rotation_deg: float = 1.0,
        sensor: str | SensorConfig | Mapping[str, Any] | None = None,
        gripper: HandConfig | Mapping[str, Any] | None = None,
        noise: bool = False,
        domain_randomization: bool = False,
        render_mode: str | None = None,
        render_size: tuple[int, int] = (320, 240),
        hand: str | HandConfig = "parallel_jaw",
        terminate_on_success: bool = True,
    ) -> None:
        EzPickle.__init__(self, objects=objects, refined_dofs=refined_dofs, offset_range=offset_range,
                          max_step=max_step, target_mode=target_mode, success_position_mm=success_position_mm,
                          success_rotation_deg=success_rotation_deg, sensor=sensor, gripper=gripper, noise=noise,
                          domain_randomization=domain_randomization, render_mode=render_mode,
                          render_size=render_size, hand=hand, terminate_on_success=terminate_on_success)
        require_choice("target_mode", target_mode, ("fixed", "random"))
        require(isinstance(terminate_on_success, bool), "terminate_on_success", "true or false",
                terminate_on_success)
        self.terminate_on_success = terminate_on_success
        require(render_mode is None or render_mode in self.metadata["render_modes"], "render_mode",
                f"None or one of {self.metadata['render_modes']}", render_mode)
        check_image_size("render_size", render_size)
        require_positive("success_position_mm", success_position_mm)
        require_positive("success_rotation_deg", success_rotation_deg)
        self.target_mode = target_mode
        self.success_position_mm = float(success_position_mm)
        self.success_rotation_deg = float(success_rotation_deg)
        self.noise = bool(noise)
        self.domain_randomization = bool(domain_randomization)
        self.render_mode = render_mode
        self.render_size = tuple(render_size)

        self.object_specs = resolve_objects(objects, self.default_objects)
        #: the action's DoF; with per_class each episode refines its object's own subset
        self.refined_dofs, self.per_class = resolve_dofs(refined_dofs, self.object_specs, self.per_class_action_dofs)
        self.offset_range = per_dof_array(offset_range, DEFAULT_OFFSET_RANGE, self.refined_dofs, "offset_range")
        self.action_scale = per_dof_array(max_step, DEFAULT_MAX_STEP, self.refined_dofs, "max_step")
        self.hand_config = hand_config(hand, gripper)
        default_sensor = HANDS.get(self.hand_config.kind).default_sensor if self.hand_config.kind in HANDS else None
        sensor_cfg = resolve_sensor(sensor if sensor is not None else default_sensor)
        self.sensor_config = sensor_cfg.with_noise(self.noise or sensor_cfg.noise.enabled)
        for spec in self.object_specs:  # a part the open hand cannot clear is refused here, by name
            check_fits(spec, self.hand_config.max_opening_mm, self.hand_config.release_clearance_mm)
        self.cell = GraspCell(
            CellConfig(world=WorldConfig(gui=render_mode == "human"), gripper=self.hand_config,
                       sensor=self.sensor_config),
            extra_objects={s.name: s for s in self.object_specs},
        )
        self._nominal_sensor = self.cell.sensor.config
        self._nominal_dynamics: dict[str, float] = {}

        n_f, c = self.hand_config.n_fingers, self.sensor_config.channels
        shape = (n_f, c, self.sensor_config.rows, self.sensor_config.cols)
        joint_high = np.full(2 * n_f, self.hand_config.max_opening_mm / 1000.0, dtype=np.float32)
        n = len(self.refined_dofs)
        self.observation_space = spaces.Dict({
            "tactile": spaces.Box(0, 255, shape, np.uint8),
            "target_tactile": spaces.Box(0, 255, shape, np.uint8),
            "proprio": spaces.Box(-joint_high, joint_high, dtype=np.float32),
            "dof_mask": spaces.Box(0.0, 1.0, (n,), np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (n,), np.float32)
        self._active: tuple[str, ...] = self.refined_dofs
        self._mask = np.ones(n, dtype=np.float32)
        self._target: GraspResult | None = None
        self._current: GraspResult | None = None
        self._error: dict[str, Any] = {}
        self._steps = 0
        self._closed = False

    @property
    def active_dofs(self) -> tuple[str, ...]:
        """The DoF the current episode refines (its object's, with ``"per_class"``)."""
        return self._active

    @property
    def offset_ranges(self) -> dict[str, float]:
        """``{dof: half-range}`` of the start offsets, mm / deg."""
        return dict(zip(self.refined_dofs, self.offset_range.tolist()))

    @property
    def max_steps(self) -> dict[str, float]:
        """``{dof: largest step}`` of one action component at +-1, mm / deg."""
        return dict(zip(self.refined_dofs, self.action_scale.tolist()))

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
        self._active = tuple(d for d in self.refined_dofs if d in spec.dofs) if self.per_class else self.refined_dofs
        self._mask = dof_mask(self._active, self.refined_dofs)
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
            why = grasp_problem(target)
            if why is not None:
                failures[f"target: {why}"] += 1
                continue
            self.cell.place_object(rng)  # put down anew: the wrist pose gives nothing away
            if self.target_mode == "random":
                start = self.cell.grasp_offset(self._draw_offset(rng), rng=rng)
            else:
                start = self.cell.grasp_offset(self._draw_offset(rng), target=target.grasp, rng=rng)
            why = grasp_problem(start)
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
        # components the episode's object does not refine are ignored
        increment = to_si_over(np.clip(action, -1.0, 1.0) * self.action_scale * self._mask, self.refined_dofs)
        wrist = self._current.wrist @ geometry.vector_to_pose(increment)
        result = self.cell.grasp_at(wrist, rng=self.np_random)
        previous = self._normalised_error(self._error)
        self._current, self._steps = result, self._steps + 1
        self._error = self._errors(result)
        success = result.ok and self._error["is_success"]
        if result.ok:
            reward = previous - self._normalised_error(self._error) + (SUCCESS_BONUS if success else 0.0)
        else:
            reward = -LOSS_PENALTY  # bounded: a lost grasp's error can be anything
        terminated = bool((success and self.terminate_on_success) or not result.ok)
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
                             f"(one value per action DoF {list(self.refined_dofs)})")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"action contains NaN or infinite values: {arr.tolist()}")
        return arr

    def _draw_offset(self, rng: np.random.Generator) -> np.ndarray:
        """A start offset within ``offset_range`` over the episode's refined DoF (6-vector, SI)."""
        draw = rng.uniform(-1.0, 1.0, len(self.refined_dofs)) * self.offset_range * self._mask
        return to_si_over(draw, self.refined_dofs)
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
        err = geometry.grasp_error(result.grasp, self._target.grasp, self._active)
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
            "dof_mask": self._mask.copy(),
        }

    def _info(self, result: GraspResult) -> dict[str, Any]:
        info = dict(self._error)
        info.update(failure=result.failure, object=self.cell.spec.name if self.cell.spec else None,
                    object_class=self.cell.spec.category if self.cell.spec else None, steps=self._steps,
                    refined_dofs=list(self._active))
        return info

    # -- ground truth, for the oracle baseline and evaluation only ----------------------------
    def oracle_increment(self) -> np.ndarray:
        """Exact correction over the action DoF in mm / deg, 0 on those the episode does not refine
        (uses the object pose: never an observation)."""
        assert self._current is not None and self._target is not None
        vec = geometry.pose_to_vector(geometry.correction(self._current.grasp, self._target.grasp))
        scale = np.array([1000.0] * 3 + [180 / np.pi] * 3)
        return (vec * scale)[geometry.dof_indices(self.refined_dofs)] * self._mask

    def ground_truth(self) -> dict[str, np.ndarray]:
        """The current grasp's poses (4x4), for evaluation recordings (never an observation):
        ``grasp`` and ``target_grasp`` (object in the wrist frame), ``wrist`` and ``object`` (world)."""
        assert self._current is not None and self._target is not None
        return {"grasp": self._current.grasp.copy(), "target_grasp": self._target.grasp.copy(),
                "wrist": self._current.wrist.copy(), "object": self.cell.object_pose()}
