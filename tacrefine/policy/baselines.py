"""Hand-written policies: the floor (noop, random), a tactile servo, and the ground-truth ceiling.

They share the learned policy's interface (``reset()``, ``act(obs) -> action``), so that the
evaluation treats every policy alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Policy:
    """Interface: ``act`` maps one observation to one action in the env's [-1, 1] box."""

    name = "policy"

    def reset(self, seed: int | None = None) -> None:
        """Called at the start of every episode (with the episode's seed by the evaluation)."""

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError


class NoopPolicy(Policy):
    """Never moves: the error stays where the start grasp put it.

    Under the no-oracle protocol it stops at once (``should_stop``): a policy that will never
    move has nothing to wait for, and a re-grasp at the same pose would only disturb the part.
    """

    name = "baseline:noop"
    should_stop = True

    def __init__(self, env: Any) -> None:
        self.shape = env.action_space.shape

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.zeros(self.shape, dtype=np.float32)


class RandomPolicy(Policy):
    """Uniform random actions from its own seeded generator."""

    name = "baseline:random"

    def __init__(self, env: Any, seed: int | None = 0) -> None:
        self.shape = env.action_space.shape
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Given the episode's seed, the actions depend on the episode alone (not on how many
        episodes this policy played before: evaluation splits episodes across workers)."""
        if seed is not None:
            self.rng = np.random.default_rng([self.seed or 0, seed])

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, self.shape).astype(np.float32)


def image_moments(image: np.ndarray) -> tuple[float, float, float, float] | None:
    """Pressure centroid (row, col) and principal-axis angle of one tactile image.

    Returns ``(row, col, angle_rad, elongation)`` with the angle measured in the pad plane
    from the column axis (wrist y) toward the row axis (wrist z), or None without contact.
    Elongation (0 = round, 1 = a line) says how much the angle can be trusted.
    """
    w = image.astype(np.float64)
    total = w.sum()
    if total <= 0:
        return None
    rows, cols = np.indices(w.shape)
    r0, c0 = (w * rows).sum() / total, (w * cols).sum() / total
    mu_rr = (w * (rows - r0) ** 2).sum() / total
    mu_cc = (w * (cols - c0) ** 2).sum() / total
    mu_rc = (w * (rows - r0) * (cols - c0)).sum() / total
    angle = 0.5 * np.arctan2(2 * mu_rc, mu_cc - mu_rr)
    spread = np.hypot(mu_cc - mu_rr, 2 * mu_rc)
    elongation = spread / (mu_cc + mu_rr) if mu_cc + mu_rr > 0 else 0.0
    return float(r0), float(c0), float(angle), float(elongation)


class TactileServoPolicy(Policy):
    """Moves the wrist to cancel the difference between current and target contact images.

    For every pad it compares the pressure centroid (-> a shift in the pad plane) and the
    principal axis (-> a turn about the pad normal) of the normal channel, turns them into
    wrist motion with the pad's own frame (its row and column axes in the wrist frame,
    from the hand), and averages the pads' estimates of y, z and roll, each side of the
    closing axis weighing alike (a thumb as much as the two fingers facing it). Pitch (a
    turn about the wrist y axis) moves the contacts of the two sides along z in opposite
    directions; the servo turns their difference into a pitch step with a fixed gain
    (``pitch_gain``, deg per mm, measured once on a plate). Components the
    observation's ``dof_mask`` switches off are 0. No learning, no ground truth: a
    classical visual-servo style baseline. A centroid understates shifts of contacts
    clipped by the pad edge, so the servo converges gradually, not in one step.
    """

    name = "baseline:servo"

    def __init__(self, env: Any, gain: float = 1.0, pitch_gain: float = 3.0) -> None:
        base = env.unwrapped
        self.pitch_gain = pitch_gain
        self.dofs = base.refined_dofs
        self.scale = np.asarray(base.action_scale, dtype=float)
        self.pitch = base.sensor_config.pitch_mm
        self.gain = gain
        # (P, 3, 3): normal, row axis, column axis of every pad in the wrist frame
        self.pad_axes = np.asarray(base.cell.hand.pad_axes_in_wrist(), dtype=float)

    def increment(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The servo's wrist increment over the env's DoF in mm / deg (gain applied, masked)."""
        estimates = []
        for axes, cur, tgt in zip(self.pad_axes, obs["tactile"][:, 0], obs["target_tactile"][:, 0]):
            mc, mt = image_moments(cur), image_moments(tgt)
            if mc is None or mt is None:
                continue
            _normal, row_axis, col_axis = axes
            shift = ((mc[0] - mt[0]) * row_axis + (mc[1] - mt[1]) * col_axis) * self.pitch  # mm, wrist frame
            # the image angle runs from the column axis toward the row axis: a turn about col x row
            turn_axis = np.cross(col_axis, row_axis)
            d_angle = (mc[2] - mt[2] + np.pi / 2) % np.pi - np.pi / 2
            trust = min(mc[3], mt[3])
            estimates.append({
                "side": float(np.sign(_normal[0])),
                "y": shift[1],
                "z": shift[2],
                "roll": np.degrees(d_angle) * turn_axis[0] if trust > 0.2 else 0.0,
            })
        increment = np.zeros(len(self.dofs))
        if estimates:
            sides = {e["side"] for e in estimates}
            means = {side: {k: np.mean([e[k] for e in estimates if e["side"] == side]) for k in ("y", "z", "roll")}
                     for side in sides}
            est = {k: np.mean([m[k] for m in means.values()]) for k in ("y", "z", "roll")}
            # both sides touching: their z shifts in opposite directions measure pitch
            est["pitch"] = (-self.pitch_gain * np.mean([side * m["z"] for side, m in means.items()])
                            if sides == {-1.0, 1.0} else 0.0)
            for i, dof in enumerate(self.dofs):
                increment[i] = est.get(dof, 0.0)
        if "dof_mask" in obs:
            increment = increment * np.asarray(obs["dof_mask"], dtype=float)
        return self.gain * increment

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.clip(self.increment(obs) / self.scale, -1, 1).astype(np.float32)

    def assess(self, obs: dict[str, np.ndarray]) -> Any:
        """Opt-in self-assessment: the servo's own correction is its error estimate (no error
        head), so ``selfcheck:baseline:servo`` stops and undoes steps like the learned policy."""
        from tacrefine.policy.assessment import make_assessment

        return make_assessment(self.increment(obs), None, self.dofs)


class OraclePolicy(Policy):
    """Reads the true correction from the simulator: the upper bound, never a real policy.

    Under the no-oracle protocol it stops once the true correction is within
    :attr:`stop_within` on every DoF (mm / deg): a tenth of the finest success pair, so it
    stops only where every threshold counts it a success.
    """

    name = "baseline:oracle"
    stop_within = 0.1

    def __init__(self, env: Any) -> None:
        self.env = env.unwrapped
        self.scale = np.asarray(self.env.action_scale, dtype=float)
        self.should_stop = False

    def reset(self, seed: int | None = None) -> None:
        self.should_stop = False

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        increment = np.asarray(self.env.oracle_increment(), dtype=float)
        self.should_stop = bool(np.all(np.abs(increment) <= self.stop_within))
        return np.clip(increment / self.scale, -1, 1).astype(np.float32)


BASELINES = {
    "noop": NoopPolicy,
    "random": RandomPolicy,
    "servo": TactileServoPolicy,
    "oracle": OraclePolicy,
}

__all__ = ["BASELINES", "Policy", "image_moments"]
