"""GripRefineHand-v0: the paper's task - a three-finger hand refining rods, plates and discs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tacrefine.envs.env_setup import PER_CLASS
from tacrefine.envs.grip_refine import GripRefineEnv

from tacrefine.dofs import DOF_PROFILES
from tacrefine.sim.hands import HandConfig
from tacrefine.sim.objects import PAPER_OBJECT_SET
from tacrefine.sim.tactile import SensorConfig

#: Start offsets: +-8 mm and +-15 deg on each refined DoF (doing nothing then succeeds at
#: 5 mm / 5 deg in well under a third of the episodes).
HAND_OFFSET_RANGE = {"x": 3.0, "y": 8.0, "z": 8.0, "roll": 15.0, "pitch": 15.0, "yaw": 5.0}
#: One action component at +-1: enough to cross the whole offset range in one step.
HAND_MAX_STEP = {"x": 10.0, "y": 10.0, "z": 10.0, "roll": 20.0, "pitch": 20.0, "yaw": 20.0}


def _over(defaults: Mapping[str, float], values: Any) -> Any:
    """``values`` on top of ``defaults`` (anything but a mapping is passed on to be refused by name)."""
    if values is None:
        return dict(defaults)
    return {**defaults, **values} if isinstance(values, Mapping) else values


class GripRefineHandEnv(GripRefineEnv):
    """Correct a three-finger grasp of the paper's rods, plates and discs from touch alone.

    ## Description
    :class:`GripRefineEnv` with the paper's task as its defaults (TacRefineNet v2): a hand
    whose thumb opposes two fingers, a dense tactile pad on each fingertip, the 15 built-in
    rods, plates and discs at real-world sizes standing on the table, and per-class DoF in
    one env: rods refine ``{z, roll}``, plates ``{z, roll, pitch}``, discs
    ``{y, z, pitch}``.

    ## Action Space
    ``Box(-1, 1, (4,), float32)`` over ``(y, z, roll, pitch)``, the union of the classes'
    DoF, whatever the objects; the components the episode's class does not refine are
    ignored. Scaled by
    ``max_step`` (default 10 mm / 20 deg) as in :class:`GripRefineEnv`.

    ## Observation Space
    As :class:`GripRefineEnv` with three fingers: ``tactile`` / ``target_tactile``
    ``uint8 (3, channels, rows, cols)``, ``proprio`` ``float32 (6,)``, and ``dof_mask``
    ``float32 (4,)`` over ``(y, z, roll, pitch)``, 1 on the class's DoF.

    ## Rewards
    As :class:`GripRefineEnv`: error decrease, +10 on success, exactly -10 on loss.

    ## Starting State
    Object drawn uniformly from the paper objects; start offsets uniform within +-8 mm and
    +-15 deg on each DoF the class refines (``offset_range``).

    ## Episode End
    As :class:`GripRefineEnv`; ``info["object_class"]`` is ``"rod"``, ``"plate"`` or
    ``"disc"`` and ``info["refined_dofs"]`` its DoF. Truncated after ``max_episode_steps``
    (10 at registration; the benchmark evaluates at most 5 steps).

    ## Arguments
    Those of :class:`GripRefineEnv`, with defaults ``hand="three_finger"``,
    ``objects`` = the 15 paper objects, ``refined_dofs="per_class"``, ``offset_range`` +-8 mm /
    +-15 deg, ``max_step`` 10 mm / 20 deg. ``hand="parallel_jaw"`` gives the paper's
    two-finger ablation on the same objects.

    ## Version History
    - v0: initial version.
    """

    default_objects = PAPER_OBJECT_SET
    per_class_action_dofs = DOF_PROFILES.get("hand").dofs

    def __init__(
        self,
        objects: str | Sequence[str | Mapping[str, Any]] | None = None,
        refined_dofs: str | Sequence[str] = PER_CLASS,
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
        hand: str | HandConfig = "three_finger",
        terminate_on_success: bool = True,
    ) -> None:
        super().__init__(objects=objects, refined_dofs=refined_dofs,
                         offset_range=_over(HAND_OFFSET_RANGE, offset_range),
                         max_step=_over(HAND_MAX_STEP, max_step), target_mode=target_mode,
                         success_position_mm=success_position_mm, success_rotation_deg=success_rotation_deg,
                         sensor=sensor, gripper=gripper, noise=noise, domain_randomization=domain_randomization,
                         render_mode=render_mode, render_size=render_size, hand=hand,
                         terminate_on_success=terminate_on_success)
