"""What an evaluation runs, and the fixed grip-precision benchmark protocol.

:class:`EvalConfig` describes any closed-loop evaluation (objects, episodes, target modes,
step budget, seeds, sensor conditions). :data:`PRECISION_PROTOCOL` pins one of them down
as *the* benchmark, so that numbers from different policies, machines and dates compare:
its object set is the simulator's default set, the offset ranges are the env's defaults,
the seeds are fixed, the budget is 5 refinement steps (TacRefineNet v2), both target modes
run, and a noisy, domain-randomised condition probes robustness of the learned policy.

Episode seeds are derived from ``(seed, object name, target mode, episode index)`` and
nothing else, so every policy faces exactly the same start grasps (a paired comparison),
and adding an object to the set does not change the episodes of the others.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import ConfigError, require, require_choice, require_int

TARGET_MODES = ("fixed", "random")
BASELINE_SPECS = ("baseline:noop", "baseline:random", "baseline:servo", "baseline:oracle")
#: How an episode ends. ``policy`` (the deployable protocol, the default): the env never
#: terminates on success, a learned policy runs through its self-checking controller and the
#: loop ends when the policy says stop (or the step budget is used, or the part is lost);
#: ground truth only scores the final grasp. ``oracle``: the old protocol, the env ends the
#: episode the first time the grasp is within its success thresholds (a robot has no such
#: oracle; kept for comparison with earlier figures).
STOP_RULES = ("policy", "oracle")
#: An episode *harms* when it ends farther from the target than it started, on the refined
#: DoF, by more than these (or loses the part).
HARM_MM = 0.5
HARM_DEG = 0.5

#: Success threshold pairs (position mm, rotation deg). Success at a pair = at the end of
#: the episode the object is held and the refined position error <= mm AND the refined
#: rotation error <= deg. (10, 10), (10, 5) and (5, 5) are TacRefineNet v2's simulation
#: pairs (the paper writes them deg/mm: 10deg/10mm, 5deg/10mm, 5deg/5mm).
SUCCESS_THRESHOLDS: tuple[tuple[float, float], ...] = ((1.0, 1.0), (2.0, 2.0), (5.0, 5.0), (5.0, 10.0),
                                                       (10.0, 10.0), (10.0, 5.0))

#: TacRefineNet v2 (arXiv 2509.25746), simulation, fixed target: success in percent.
PAPER_V2_SIM_SUCCESS: dict[str, float] = {"10mm_10deg": 99.5, "10mm_5deg": 98.9, "5mm_5deg": 97.2}
#: TacRefineNet v2, real robot: 26 % at 5deg/5mm on seen objects, 36.7 % at 10deg/10mm on
#: unseen objects (reference points only: a real hand, not a simulator).
PAPER_V2_REAL_SUCCESS: dict[str, float] = {"5mm_5deg": 26.0}
PAPER_V2_REAL_UNSEEN_SUCCESS: dict[str, float] = {"10mm_10deg": 36.7}
#: The paper's own labels of those pairs, for tables.
PAPER_LABELS: dict[str, str] = {"10mm_10deg": "10deg/10mm", "10mm_5deg": "5deg/10mm", "5mm_5deg": "5deg/5mm"}


def threshold_key(position_mm: float, rotation_deg: float) -> str:
    """``(1, 1) -> "1mm_1deg"``; keys of every success table and of report.json."""
    return f"{position_mm:g}mm_{rotation_deg:g}deg"


def threshold_keys() -> list[str]:
    return [threshold_key(mm, deg) for mm, deg in SUCCESS_THRESHOLDS]


@dataclass(frozen=True)
class Suite:
    """One task of the benchmark: an env id and the objects it is scored on.

    Attributes:
        name: short name (``jaw``, ``hand``).
        env_id: registered Gymnasium id.
        description: what the suite measures.
        objects: object names; empty = the env's own default object set.
        env_kwargs: further keyword arguments of the env.
        unseen: parts no shipped training run uses, scored beside ``objects`` as the
            ``unseen`` split (``objects`` are ``seen``): names, family specs, and
            ``testonly:SUITE`` for the test-only parts of :mod:`tacrefine.sim.unseen_testonly`
            (rules no training family uses, and for the jaw PyBullet's random_urdfs 000-099),
            given by path as a user gives a part.
    """

    name: str
    env_id: str
    description: str
    objects: tuple[str, ...] = ()
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    unseen: tuple[str, ...] = ()

    def unseen_names(self) -> tuple[str, ...]:
        """:attr:`unseen` with family specs expanded to part names (``testonly:`` items left out:
        :meth:`unseen_parts` writes those)."""
        from tacrefine.sim.objects import expand_object_items

        return tuple(expand_object_items([u for u in self.unseen if not u.startswith(TESTONLY_PREFIX)]))

    def unseen_parts(self, folder: str | Path) -> list[str | dict[str, Any]]:
        """The unseen split as an ``objects`` list: names, and the test-only parts as
        ``{name, urdf}`` mappings whose URDFs are written into ``folder``; a part the hand
        cannot grasp at all is left out and named (:mod:`tacrefine.evaluation.episodes.graspable`)."""
        from tacrefine.evaluation.episodes.graspable import graspable_only
        from tacrefine.sim.unseen_testonly import unseen_split

        out: list[str | dict[str, Any]] = list(self.unseen_names())
        for item in self.unseen:
            if item.startswith(TESTONLY_PREFIX):
                parts = unseen_split(item[len(TESTONLY_PREFIX):], Path(folder) / item[len(TESTONLY_PREFIX):])
                out += graspable_only(parts, self.env_id, self.env_kwargs)[0]
        return out

    def available(self) -> bool:
        """True when the env id is registered (a suite whose env is missing is skipped)."""
        from gymnasium.envs.registration import registry

        import tacrefine  # noqa: F401  (registers the env ids)

        return self.env_id in registry

    def object_names(self) -> tuple[str, ...]:
        """The suite's objects: its own list, else the default set of its env."""
        if self.objects:
            return tuple(self.objects)
        import gymnasium as gym

        env = gym.make(self.env_id, **dict(self.env_kwargs))
        try:
            return tuple(s.name for s in env.unwrapped.object_specs)
        finally:
            env.close()


#: The benchmark's suites: the parallel-jaw task and the paper's task (three-finger hand,
#: rods / plates / discs with their own DoF). Add one with ``SUITES[name] = Suite(...)``.
#: Parts of the jaw suite that the shipped jaw checkpoint was trained on (its data config,
#: configs/jaw_families_data.yaml, holds these shapes and family seeds 0-149).
JAW_SEEN = ("rod_r3", "rod_r4", "rod_r5", "plate_w6", "plate_w10", "box_8x8", "prism_tri", "t_shape",
            "jaw_rods-0", "jaw_plates-0", "edges-0", "prisms-0", "convex-0", "compound-0")
#: ``unseen`` items naming a suite's test-only parts (:mod:`tacrefine.sim.unseen_testonly`)
TESTONLY_PREFIX = "testonly:"
#: Parts no training run uses, made by rules no training family uses (the true unseen split;
#: held-out seeds of a training family only measure interpolation).
JAW_UNSEEN = ("testonly:jaw",)
HAND_UNSEEN = ("testonly:hand",)

SUITES: dict[str, Suite] = {
    "jaw": Suite("jaw", "tacrefine/GripRefine-v0",
                 "parallel jaw, feature-on-base objects, refined y, z, roll", objects=JAW_SEEN, unseen=JAW_UNSEEN),
    "hand": Suite("hand", "tacrefine/GripRefineHand-v0",
                  "three-finger hand, the paper's rods {z, roll}, plates {z, roll, pitch}, discs {y, z, pitch}",
                  unseen=HAND_UNSEEN),
}


def episode_seed(base_seed: int, object_name: str, target_mode: str, episode: int) -> int:
    """Reset seed of one episode: a function of its identity only (see module docstring)."""
    known = target_mode in TARGET_MODES
    mode = TARGET_MODES.index(target_mode) if known else zlib.crc32(target_mode.encode())
    seq = np.random.SeedSequence([int(base_seed), zlib.crc32(object_name.encode()), mode, int(episode)])
    return int(seq.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


def _default_objects() -> tuple[str, ...]:
    from tacrefine.sim.objects import DEFAULT_OBJECT_SET

    return tuple(DEFAULT_OBJECT_SET)


@dataclass(frozen=True)
class EvalConfig:
    """A closed-loop evaluation.

    Attributes:
        objects: object names, family specs (``family:plates:heldout``) and user parts as
            mappings (``{name, urdf | mesh, ...}``); each gets ``episodes_per_object`` episodes
            per target mode. Stored as names, the mappings moved to ``user_objects``.
        user_objects: the user part mappings that names in ``objects`` refer to.
        splits: ``{object: split}`` (``seen`` / ``unseen``); each episode record then carries
            its object's split (``seen`` when unlisted) and reports aggregate per split.
        env_id: the registered env to evaluate in (``tacrefine/GripRefine-v0``,
            ``tacrefine/GripRefineHand-v0``, ...).
        episodes_per_object: episodes per object and target mode.
        target_modes: ``fixed`` (the nominal grasp is the target) and/or ``random``.
        max_steps: refinement steps per episode (the step budget).
        stop: how an episode ends (:data:`STOP_RULES`): ``"policy"`` (default, no oracle: the
            policy decides, ground truth only scores the final grasp) or ``"oracle"`` (the env
            ends it the first time the grasp is within its success thresholds).
        seed: base seed of the episode seeds and of stochastic policies.
        noise: tactile sensor noise.
        domain_randomization: per-episode friction, mass, pad stiffness, sensor gain/noise.
        env_kwargs: further keyword arguments of ``GripRefine-v0`` (``refined_dofs``,
            ``offset_range``, ``max_step``, ``sensor``, ``gripper``, success thresholds).
        panel_episodes: episodes per policy whose tactile images are kept for the
            before/after panel (the first one also becomes the GIF).
        render: add the rendered scene (``rgb_array``; never observed) to the GIF.
        plots: write the plots and tactile panels.
        progress: show a progress bar over episodes.
        sensor_mismatch: a learned policy in an env whose sensor differs from its training
            sensor is refused (``"refuse"``) or only warned about (``"warn"``).
    """

    objects: tuple[str | dict, ...] = field(default_factory=_default_objects)
    user_objects: tuple[dict, ...] = ()
    splits: dict[str, str] = field(default_factory=dict)
    env_id: str = "tacrefine/GripRefine-v0"
    episodes_per_object: int = 10
    target_modes: tuple[str, ...] = TARGET_MODES
    max_steps: int = 5
    stop: str = "policy"
    seed: int = 0
    noise: bool = False
    domain_randomization: bool = False
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    panel_episodes: int = 4
    render: bool = True
    plots: bool = True
    progress: bool = True
    sensor_mismatch: str = "refuse"

    def __post_init__(self) -> None:
        from tacrefine.sim.object_lists import normalise_object_list

        require_choice("evaluation.sensor_mismatch", self.sensor_mismatch, ("refuse", "warn"))
        require_choice("evaluation.stop", self.stop, STOP_RULES)
        names, users = normalise_object_list("evaluation.objects", self.objects, self.user_objects)
        object.__setattr__(self, "objects", names)
        object.__setattr__(self, "user_objects", users)
        require(isinstance(self.env_id, str) and bool(self.env_id), "evaluation.env_id",
                "a registered env id such as tacrefine/GripRefine-v0", self.env_id)
        modes = tuple(self.target_modes)
        require(len(modes) > 0 and len(set(modes)) == len(modes), "evaluation.target_modes",
                f"a non-empty list of distinct modes among {list(TARGET_MODES)}", list(modes))
        for mode in modes:
            require_choice("evaluation.target_modes[]", mode, TARGET_MODES)
        object.__setattr__(self, "target_modes", modes)
        minimums = (("episodes_per_object", 1), ("max_steps", 1), ("seed", 0), ("panel_episodes", 0))
        for name, minimum in minimums:
            require_int(f"evaluation.{name}", getattr(self, name), minimum)
        require(isinstance(self.env_kwargs, Mapping), "evaluation.env_kwargs", "a mapping of env arguments",
                self.env_kwargs)
        reserved = sorted({"objects", "target_mode", "noise", "domain_randomization", "render_mode",
                           "terminate_on_success"} & set(self.env_kwargs))
        if reserved:
            raise ConfigError(f"evaluation.env_kwargs.{reserved[0]}: set by the evaluation itself; use the "
                              "evaluation fields objects / target_modes / noise / domain_randomization / stop")
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))

    def object_spec(self, name: str) -> Any:
        """The :class:`ObjectSpec` of ``name`` (built-in, family part or user part)."""
        from tacrefine.sim.object_lists import user_specs
        from tacrefine.sim.objects import get_object

        return get_object(name, user_specs("evaluation.user_objects", self.user_objects))

    def env_objects(self) -> list[Any]:
        """The ``objects`` argument of the env: names, with user parts as their mappings."""
        users = {m["name"]: m for m in self.user_objects}
        return [users.get(name, name) for name in self.objects]

    @property
    def n_episodes(self) -> int:
        """Episodes per policy."""
        return len(self.objects) * len(self.target_modes) * self.episodes_per_object


@dataclass(frozen=True)
class PrecisionProtocol:
    """The fixed grip-precision benchmark (see module docstring).

    Attributes:
        suites: the suites run, by name in :data:`SUITES` (a suite whose env is not
            registered is skipped and reported as such).
        episodes_per_object: per object and target mode.
        seed: base seed of every episode.
        max_steps: refinement budget (TacRefineNet v2: 5).
        baselines: policies run beside the learned one.
        robust_threshold: (mm, deg) pair reported for the noisy + randomised condition.
        stop: how episodes end (:data:`STOP_RULES`; ``"policy"``: no oracle).
        version: 2 = suites (jaw and hand), the 5mm/10deg pair, per-class results;
            3 = no oracle stop, the test-only unseen split, worst part, harm rate, flag rates.
    """

    suites: tuple[str, ...] = ("jaw", "hand")
    episodes_per_object: int = 10
    seed: int = 20250929
    max_steps: int = 5
    baselines: tuple[str, ...] = BASELINE_SPECS
    robust_threshold: tuple[float, float] = (2.0, 2.0)
    stop: str = "policy"
    version: int = 3

    def __post_init__(self) -> None:
        require_choice("protocol.stop", self.stop, STOP_RULES)
        for name in self.suites:
            require_choice("protocol.suites[]", name, tuple(SUITES))
        object.__setattr__(self, "suites", tuple(self.suites))

    def eval_config(self, suite: str = "jaw", *, noisy: bool = False, episodes_per_object: int | None = None,
                    progress: bool = True, plots: bool = True, parts_folder: str | Path | None = None
                    ) -> EvalConfig:
        """The evaluation of one suite and condition: clean, or noisy + domain-randomised.
        ``parts_folder``: where the test-only unseen parts are written as URDFs (default: a
        folder under the system's temporary directory; the parts are a function of their rule)."""
        import tempfile

        require_choice("suite", suite, tuple(SUITES))
        s = SUITES[suite]
        folder = Path(parts_folder) if parts_folder is not None else Path(tempfile.gettempdir()) / "tacrefine_unseen"
        unseen = s.unseen_parts(folder)
        unseen_names = [u["name"] if isinstance(u, Mapping) else u for u in unseen]
        return EvalConfig(
            objects=(*s.object_names(), *unseen), env_id=s.env_id,
            splits={**dict.fromkeys(s.object_names(), "seen"), **dict.fromkeys(unseen_names, "unseen")},
            episodes_per_object=episodes_per_object or self.episodes_per_object,
            target_modes=TARGET_MODES, max_steps=self.max_steps, stop=self.stop, seed=self.seed, noise=noisy,
            domain_randomization=noisy, env_kwargs=dict(s.env_kwargs), progress=progress, plots=plots,
        )


PRECISION_PROTOCOL = PrecisionProtocol()

__all__ = [
    "BASELINE_SPECS", "EvalConfig", "HARM_DEG", "HARM_MM", "STOP_RULES", "TESTONLY_PREFIX",
    "PAPER_LABELS", "PAPER_V2_REAL_SUCCESS", "PAPER_V2_REAL_UNSEEN_SUCCESS",
    "PAPER_V2_SIM_SUCCESS", "PRECISION_PROTOCOL", "PrecisionProtocol", "SUCCESS_THRESHOLDS", "SUITES",
    "Suite", "TARGET_MODES", "episode_seed", "threshold_key", "threshold_keys",
]
