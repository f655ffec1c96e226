"""Self-assessment: how far a grasp is from the target by the policy's own estimate.

A robot has no oracle to say "within 1 mm": the policy must judge for itself when to stop,
whether a step helped, and when a part is outside what it knows. Three signals, all from
touch alone:

* the predicted correction itself: a policy that is right about the increment is right
  about the remaining error (its norm, in mm over the translation DoF and degrees over the
  rotation DoF);
* the error head of newer checkpoints (:attr:`TacRefineNet.error_head`): a standard
  deviation of the policy's own error per DoF, learnt on the same cross-combined pairs;
* self-consistency across steps (:class:`SelfCheckingPolicy`): after moving by the
  predicted correction the next prediction should be near zero; when it is not, or when
  the estimate grew, the policy is lost on this part.

:class:`Assessment` is what ``policy.assess(obs)`` returns; :class:`SelfCheckingPolicy`
wraps any policy that has ``assess`` into a stateful controller that stops when its
estimate says converged and goes back to the best grasp it has seen when a step made
things worse. The wrapper knows every wrist increment it commanded (the env's action scale
and DoF mask from ``bind_env`` / the observation), so it composes them exactly with
:mod:`tacrefine.geometry` and can return to any earlier wrist pose.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tacrefine import geometry
from tacrefine.config import from_dict, require
from tacrefine.dofs import to_si

#: how the fix for an unfamiliar part is named to the user
ADAPT_COMMAND = "scripts/adapt.py --object {part}"


@dataclass(frozen=True)
class AssessConfig:
    """Thresholds of the self-assessment, in *score* units: estimated error in mm plus in deg
    (1 mm and 1 deg weigh alike, as in the env's default success test).

    Calibrated on parts of the training generators only (``docs/self_assessment.md``);
    a checkpoint may carry its own under the key ``self_assessment``.

    Attributes:
        stop_score: converged (stop, act with zeros) when the estimate is at most this.
        worse_margin: a grasp is worse than the best seen when its score exceeds the best's
            by this factor plus ``worse_floor``.
        worse_floor: absolute part of that test (score units), so that noise near zero is
            not read as harm.
        consistency_ratio: a full step from a grasp scoring ``s`` is consistent when the
            next estimate is at most ``max(consistency_ratio * s, consistency_floor)``; a step
            meant to leave ``l`` (shrunk or damped) when it is at most
            ``max(s - (1 - consistency_ratio) * (s - l), consistency_floor)``.
        consistency_floor: see ``consistency_ratio``.
        unfamiliar_sigma: error head only: one observation says "unfamiliar" when the head's
            1-sigma score exceeds this. 3.0 is a placeholder for checkpoints that carry none:
            training sets each new checkpoint's own from its held-out grasps
            (:func:`tacrefine.training.validation.validation_calibration`) and
            ``tacrefine calibrate CKPT`` from closed-loop episodes (:mod:`tacrefine.pipelines.calibrate`).
        max_rejections: steps undone before the controller gives up (stays at the best grasp).
        damping: gain factor of the next step after a step was undone.
        retreat_to_start: once a step was undone or inconsistent, distrust every estimate of
            this episode: go back to the start grasp and stop (fewer harmed episodes, fewer
            recovered ones).
        shrink: error head only: each DoF of a forward step is scaled by
            ``c**2 / (c**2 + shrink * sigma**2)`` (``c`` the proposed correction, ``sigma`` the
            head's 1-sigma of it): a correction the policy is unsure of moves less, one it is
            sure of moves fully. 0 turns it off.
    """

    stop_score: float = 0.6
    worse_margin: float = 0.15
    worse_floor: float = 0.5
    consistency_ratio: float = 0.8
    consistency_floor: float = 1.5
    unfamiliar_sigma: float = 3.0
    max_rejections: int = 2
    damping: float = 0.5
    retreat_to_start: bool = False
    shrink: float = 0.5

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "retreat_to_start":
                require(isinstance(value, bool), "self_assessment.retreat_to_start", "true or false", value)
                continue
            require(isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0,
                    f"self_assessment.{f.name}", "a number >= 0", value)

    @classmethod
    def from_checkpoint(cls, ckpt: Mapping[str, Any]) -> AssessConfig:
        """The checkpoint's own thresholds (``ckpt["self_assessment"]``), else the defaults."""
        given = ckpt.get("self_assessment")
        return from_dict(cls, dict(given), "self_assessment.") if isinstance(given, Mapping) else cls()


@dataclass(frozen=True)
class Assessment:
    """One observation judged by the policy itself (never by ground truth).

    ``increment`` is the correction the policy proposes over ``dofs`` (mm / deg);
    ``error_mm`` / ``error_deg`` its estimate of the remaining error (norm over the
    translation / rotation DoF); ``sigma_mm`` / ``sigma_deg`` how unsure it is of that
    (1-sigma, ``None`` when the policy has no error head); ``unfamiliar`` whether this
    observation alone says the part is outside what the policy knows; ``source`` the
    mechanism (``"error_head"`` or ``"correction"``); ``sigma`` the error head's 1-sigma per
    DoF of ``increment`` (``None`` without a head).
    """

    increment: np.ndarray
    dofs: tuple[str, ...]
    error_mm: float
    error_deg: float
    sigma_mm: float | None
    sigma_deg: float | None
    unfamiliar: bool
    source: str
    sigma: np.ndarray | None = None

    @property
    def score(self) -> float:
        """Estimated error in mm + deg (the unit of every :class:`AssessConfig` threshold)."""
        return self.error_mm + self.error_deg

    @property
    def sigma_score(self) -> float | None:
        return None if self.sigma_mm is None or self.sigma_deg is None else self.sigma_mm + self.sigma_deg

    def as_dict(self) -> dict[str, Any]:
        """Plain data for evaluation records."""
        return {"estimated_error_mm": self.error_mm, "estimated_error_deg": self.error_deg,
                "sigma_mm": self.sigma_mm, "sigma_deg": self.sigma_deg, "unfamiliar": self.unfamiliar,
                "source": self.source}


def _norms(values: np.ndarray, dofs: Sequence[str]) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    t = [v for v, d in zip(values, dofs) if d in geometry.TRANSLATION_DOFS]
    r = [v for v, d in zip(values, dofs) if d in geometry.ROTATION_DOFS]
    return float(np.linalg.norm(t)) if t else 0.0, float(np.linalg.norm(r)) if r else 0.0


def make_assessment(increment: np.ndarray, sigma: np.ndarray | None, dofs: Sequence[str],
                    config: AssessConfig | None = None) -> Assessment:
    """An :class:`Assessment` from a proposed increment (and the error head's sigma) over ``dofs``."""
    config = config or AssessConfig()
    dofs = tuple(dofs)
    error_mm, error_deg = _norms(increment, dofs)
    if sigma is None:
        return Assessment(np.asarray(increment, np.float32), dofs, error_mm, error_deg, None, None, False,
                          "correction")
    sigma_mm, sigma_deg = _norms(sigma, dofs)
    return Assessment(np.asarray(increment, np.float32), dofs, error_mm, error_deg, sigma_mm, sigma_deg,
                      bool(sigma_mm + sigma_deg > config.unfamiliar_sigma), "error_head",
                      np.asarray(sigma, np.float32))


def unfamiliar_message(part: str | None = None, reason: str = "") -> str:
    """What the user reads when the policy does not know a part, naming the fix."""
    name = part or "PART"
    why = f" ({reason})" if reason else ""
    return (f"The policy does not know part {name!r} well enough to trust its refinement{why}. "
            f"Adapt it to this part in about a minute: {ADAPT_COMMAND.format(part=name)}")


def _shrunk(a: Assessment, shrink: float) -> np.ndarray:
    """The proposed correction with each DoF scaled by ``c**2 / (c**2 + shrink * sigma**2)``:
    the step the policy can vouch for (unchanged without an error head or with ``shrink`` 0)."""
    c = np.asarray(a.increment, np.float64)
    if a.sigma is None or shrink <= 0:
        return c
    var = shrink * np.square(np.asarray(a.sigma, np.float64))
    return c * np.divide(c * c, c * c + var, out=np.ones_like(c), where=c * c + var > 0)


@dataclass
class _Visit:
    pose: np.ndarray  # wrist pose relative to the episode's start wrist
    assessment: Assessment


class SelfCheckingPolicy:
    """A stateful controller around any policy with ``assess(obs)``; works through ``act(obs)``
    in any loop, with ``reset()`` at every episode start.

    Each call reads the wrapped policy's assessment of the current grasp, then:

    1. stops (acts with zeros: the env re-grasps where it is) once the estimate is at most
       ``stop_score``, or once the step budget ``max_steps`` is used;
    2. if the estimate is worse than the best grasp seen so far, commands the wrist back to
       that grasp (composed exactly from the increments it commanded), halves the gain of
       the next step, and gives up (stays there) after ``max_rejections`` undone steps;
    3. else moves by the policy's correction, each DoF shrunk by how unsure the error head is
       of it (``AssessConfig.shrink``); on the last step of the budget only when the previous
       step was consistent (it cut the estimate as predicted), because a last step can no
       longer be undone.

    ``should_stop`` says when a loop may end early; ``unfamiliar`` (with ``message()``) when
    the part looks outside what the policy knows: a step had to be undone, a step was
    inconsistent, one observation's error head said so, or the budget ran out unconverged.
    """

    def __init__(self, policy: Any, env: Any = None, max_steps: int | None = 5,
                 config: AssessConfig | None = None) -> None:
        if not callable(getattr(policy, "assess", None)):
            raise TypeError(f"SelfCheckingPolicy needs a policy with assess(obs); {policy!r} has none")
        require(max_steps is None or (isinstance(max_steps, int) and max_steps >= 1), "max_steps",
                "None or an integer >= 1", max_steps)
        self.policy = policy
        self.max_steps = max_steps
        self.config = config or getattr(policy, "assess_config", None) or AssessConfig()
        self.name = f"selfcheck:{getattr(policy, 'name', type(policy).__name__)}"
        self.dofs: tuple[str, ...] = tuple(getattr(policy, "action_dofs", ()) or ())
        scale = getattr(policy, "action_scale", None)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        if env is not None:
            self.bind_env(env)
        self.reset()

    def bind_env(self, env: Any) -> SelfCheckingPolicy:
        """Take the env's action DoF and scale (and bind the wrapped policy when it can be)."""
        if callable(getattr(self.policy, "bind_env", None)):
            self.policy.bind_env(env)
        base = getattr(env, "unwrapped", env)
        self.dofs = tuple(base.refined_dofs)
        self.scale = np.asarray(base.action_scale, dtype=np.float64)
        return self

    def reset(self, seed: int | None = None) -> None:
        """Forget the episode: poses, estimates, gain, counters."""
        reset = getattr(self.policy, "reset", None)
        if callable(reset):
            reset()
        self._pose = np.eye(4)
        self._visits: list[_Visit] = []
        self._steps = 0
        self._gain = 1.0
        self._rejections = 0
        self._inconsistent = 0
        self._forward_from: float | None = None  # score before the last forward step
        self._forward_left = 0.0  # the score that step was to leave (a shrunk or damped step leaves some)
        self._last_consistent = False
        self._last_move_forward = False
        self.stop_reason: str | None = None

    # -- state a loop may read -------------------------------------------------------------
    @property
    def should_stop(self) -> bool:
        """True once the controller will only act with zeros (a loop may end the episode)."""
        return self.stop_reason is not None

    @property
    def assessment(self) -> Assessment | None:
        """The latest assessment (of the grasp the last ``act`` saw)."""
        return self._visits[-1].assessment if self._visits else None

    @property
    def unfamiliar(self) -> bool:
        """The part looks outside what the policy knows (see the class docstring)."""
        return bool(self._reasons())

    def flag_sources(self) -> dict[str, bool]:
        """Which signals raised :attr:`unfamiliar` (plain data; calibration separates the
        error head's part, the only one a threshold moves, from the others)."""
        return {"undone": bool(self._rejections), "inconsistent": bool(self._inconsistent),
                "error_head": any(v.assessment.unfamiliar for v in self._visits),
                "unconverged": self.stop_reason == "budget" and not self._converged()}

    def _reasons(self) -> list[str]:
        src = self.flag_sources()
        out = []
        if src["undone"]:
            out.append(f"{self._rejections} step(s) made the grasp worse by its own estimate and were undone")
        if src["inconsistent"]:
            out.append(f"{self._inconsistent} step(s) did not cut the estimated error as predicted")
        if src["error_head"]:
            out.append("its error head is unsure")
        if src["unconverged"]:
            out.append("it did not converge within the step budget")
        return out

    def _converged(self) -> bool:
        return bool(self._visits) and self._visits[-1].assessment.score <= self.config.stop_score

    def message(self, part: str | None = None) -> str:
        """Plain words for the user: empty when the part looks familiar."""
        reasons = self._reasons()
        return unfamiliar_message(part, "; ".join(reasons)) if reasons else ""

    def status(self) -> dict[str, Any]:
        """Plain data for evaluation records."""
        best = self._best()
        sigmas = [v.assessment.sigma_score for v in self._visits if v.assessment.sigma_score is not None]
        return {"steps_commanded": self._steps, "stop_reason": self.stop_reason, "rejections": self._rejections,
                "inconsistent_steps": self._inconsistent, "unfamiliar": self.unfamiliar,
                "best_estimated_score": None if best is None else best.assessment.score,
                "estimates": [v.assessment.score for v in self._visits],
                "max_sigma_score": max(sigmas) if sigmas else None, "flag_sources": self.flag_sources()}

    # -- acting ----------------------------------------------------------------------------
    def _best(self) -> _Visit | None:
        return min(self._visits, key=lambda v: v.assessment.score) if self._visits else None

    def _command(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Action for an increment ``values`` (mm / deg over ``dofs``); tracks the wrist pose
        exactly as the env will move it (clip, scale, mask, then ``W @ D``)."""
        assert self.scale is not None
        action = np.clip(np.asarray(values, np.float64) / self.scale, -1.0, 1.0).astype(np.float32)
        applied = np.clip(action.astype(np.float64), -1.0, 1.0) * self.scale * mask
        self._pose = self._pose @ geometry.vector_to_pose(to_si(dict(zip(self.dofs, applied))))
        self._steps += 1
        return action

    def _way_back(self, target: np.ndarray) -> np.ndarray:
        """Increment (mm / deg over ``dofs``) that takes the wrist from the current pose to ``target``."""
        vec = geometry.pose_to_vector(geometry.invert(self._pose) @ target)
        full = np.concatenate([vec[:3] * 1000.0, np.degrees(vec[3:])])
        return full[geometry.dof_indices(self.dofs)]

    def _stop(self, reason: str) -> np.ndarray:
        self.stop_reason = self.stop_reason or reason
        return np.zeros(len(self.dofs), dtype=np.float32)

    def act(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Env action in [-1, 1] over the env's action DoF."""
        if self.scale is None or not self.dofs:
            raise RuntimeError("SelfCheckingPolicy needs the env's action DoF and scale: pass env=... or "
                               "call bind_env(env)")
        if self.stop_reason is not None:
            return np.zeros(len(self.dofs), dtype=np.float32)
        mask = np.asarray(obs.get("dof_mask", np.ones(len(self.dofs))), np.float64).reshape(-1) > 0.5
        a = self.policy.assess(obs)
        best_before = self._best()
        self._visits.append(_Visit(self._pose.copy(), a))
        cfg = self.config
        if self._forward_from is not None:  # judge the step just made by what it was to remove
            before, left = self._forward_from, self._forward_left
            allowed = before - (1.0 - cfg.consistency_ratio) * max(before - left, 0.0)
            consistent = a.score <= max(allowed, cfg.consistency_floor)
            self._inconsistent += not consistent
            self._last_consistent = consistent
            self._forward_from = None
        if cfg.retreat_to_start and (self._rejections or self._inconsistent):
            if np.allclose(self._pose, np.eye(4), atol=1e-9):
                return self._stop("retreated")
            if self.max_steps is None or self._steps < self.max_steps:
                return self._command(self._way_back(np.eye(4)) * mask, mask)
        if a.score <= cfg.stop_score:
            return self._stop("converged")
        if self.max_steps is not None and self._steps >= self.max_steps:
            return self._stop("budget")
        last = self.max_steps is not None and self._steps == self.max_steps - 1
        worse = best_before is not None and a.score > best_before.assessment.score * (1 + cfg.worse_margin) \
            + cfg.worse_floor
        if worse and not np.allclose(self._pose, best_before.pose, atol=1e-9):
            if self._last_move_forward:
                self._rejections += 1
                self._gain *= cfg.damping
            self._last_move_forward = False
            return self._command(self._way_back(best_before.pose) * mask, mask)
        if self._rejections >= cfg.max_rejections:
            return self._stop("gave_up")
        if last and not (self._last_consistent and not self._rejections):
            return self._stop("unverifiable")
        step = self._gain * _shrunk(a, cfg.shrink)
        self._forward_from = a.score
        self._forward_left = sum(_norms(np.asarray(a.increment, np.float64) - step, a.dofs))
        self._last_move_forward = True
        given = dict(zip(a.dofs, step))
        increment = np.array([given.get(d, 0.0) for d in self.dofs])
        return self._command(increment * mask, mask)

    def __repr__(self) -> str:
        return f"SelfCheckingPolicy({self.policy!r}, max_steps={self.max_steps})"


__all__ = ["ADAPT_COMMAND", "AssessConfig", "Assessment", "SelfCheckingPolicy", "make_assessment",
           "unfamiliar_message"]
