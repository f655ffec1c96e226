"""Probe a part before trusting a policy on it: which refined DoF touch sees, and whether the
policy reads them.

The in-loop flag (:mod:`tacrefine.policy.assessment`) judges a part from the policy's own
readings, and on a part it does not know those are wrong the same way its corrections are.
A user who has the part's model can ask the simulator instead, before deployment: from the
target grasp, offset one refined DoF at a time by known amounts, re-grasp, and compare

* the tactile image with the target image: how much touch changes with that DoF, against the
  re-grasp noise at zero offset;
* the policy's reading of that DoF with the true correction: its *gain* (the least-squares
  slope of reading against truth; 1 reads the whole error, 0.3 a third of it) and its error
  near the target.

On the benchmark's test-only parts the parts that fail are those with a DoF read at a gain far
from 1 (``docs/self_assessment.md``); the probe names that DoF and the fix
(``scripts/adapt.py --object PART``). Ground truth is used, as in ``tacrefine check``: this is
a check of a part's model, not something a robot runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import ConfigError, require, require_int, require_positive
from tacrefine.evaluation.episodes.runner import progress_bar
from tacrefine.geometry import ROTATION_DOFS
from tacrefine.policy.assessment import ADAPT_COMMAND

#: the env of each suite
SUITE_ENVS = {"jaw": "tacrefine/GripRefine-v0", "hand": "tacrefine/GripRefineHand-v0"}


@dataclass(frozen=True)
class ProbeConfig:
    """What to probe and how.

    Attributes:
        part: an object of the env: a name (``"hexagon"``, ``"family:arms:3"``) or a user part
            mapping (``{"name": ..., "urdf": ...}`` or ``"mesh"``).
        suite: ``"jaw"`` (``GripRefine-v0``) or ``"hand"`` (``GripRefineHand-v0``).
        policy: a policy spec :func:`tacrefine.load_policy` takes, with ``assess`` (a learned
            policy: a checkpoint path, an exported file or ``"pretrained"``).
        resets: target grasps probed (reset seeds ``seed``, ``seed + 1``, ...).
        points: offsets per DoF, evenly spaced over ``[-span, span]`` (odd: zero included).
        span: largest offset in mm / deg; ``None``: 8, or the env's largest step if smaller.
        seed: first reset seed.
        gain_range: a DoF is read when its gain lies in this range ...
        max_error: ... and its median error within 2 mm / deg of the target is at most this.
        sees_floor: touch clearly sees a DoF when the image distance at 2 mm / deg exceeds
            twice the re-grasp noise and this floor (share of the target image's mass); a DoF
            can be read below it (small, consistent changes), so this only qualifies a
            misread DoF: one touch barely sees may not be fixed by adapting.
    """

    part: str | Mapping[str, Any]
    suite: str = "jaw"
    policy: str = "pretrained"
    resets: int = 3
    points: int = 17
    span: float | None = None
    seed: int = 0
    gain_range: tuple[float, float] = (0.75, 1.33)
    max_error: float = 0.5
    sees_floor: float = 0.02

    def __post_init__(self) -> None:
        require(self.suite in SUITE_ENVS, "suite", f"one of {sorted(SUITE_ENVS)}", self.suite)
        require_int("resets", self.resets, 1)
        require_int("points", self.points, 5)
        require(self.points % 2 == 1, "points", "an odd integer >= 5 (zero offset included)", self.points)
        require_int("seed", self.seed, 0)
        if self.span is not None:
            require_positive("span", self.span)
        pair = self.gain_range
        ok = isinstance(pair, (tuple, list)) and len(pair) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair) and 0 < pair[0] < 1 < pair[1]
        require(ok, "gain_range", "(low, high) with 0 < low < 1 < high", pair)
        require_positive("max_error", self.max_error)
        require_positive("sees_floor", self.sees_floor, allow_zero=True)


@dataclass
class DofProbe:
    """One refined DoF of a probed part (mm for translations, deg for rotations)."""

    dof: str
    noise: float  # image distance to the target image at zero offset (re-grasp noise)
    distance: dict[float, float]  # image distance at |offset| 1, 2, 4
    sees: bool  # touch clearly changes with this DoF, beyond the re-grasp noise
    gain: float  # slope of the policy's reading against the true correction
    error: float  # median |reading - truth| within 2 of the target
    wrong_sign: float  # share of offsets beyond 1 read with the wrong sign
    sigma: float  # the error head's median sigma of this DoF (nan without a head)
    reads: bool = field(default=False)

    def verdict(self) -> str:
        if self.reads:
            return "read"
        said = f"misread (reads {self.gain:.2f} of each error, {self.error:.2f} off near the target)"
        return said if self.sees else f"{said}; touch barely changes with it here"


def _distance_at(offsets: np.ndarray, distances: np.ndarray, at: float, tol: float) -> float:
    near = np.abs(np.abs(offsets) - at) <= tol
    return float(distances[near].mean()) if near.any() else float("nan")


def summarise(dof: str, offsets: np.ndarray, truth: np.ndarray, readings: np.ndarray, distances: np.ndarray,
              sigmas: np.ndarray, cfg: ProbeConfig) -> DofProbe:
    """One DoF's figures from its scan (arrays over every offset of every reset): ``offsets`` as
    commanded from the target grasp (their spacing sets the bins), ``truth`` the true correction
    after the re-grasp (the images are binned by where the grasp ended, ``-truth``)."""
    grid = np.unique(np.round(offsets, 6))
    step = float(np.min(np.diff(grid))) if len(grid) > 1 else 1.0
    reached = -truth  # where each re-grasp ended, from the target (the commanded offset, less slip)
    noise = _distance_at(reached, distances, 0.0, 0.5 * step)
    distance = {a: _distance_at(reached, distances, a, min(0.5 * step, 0.5 * a)) for a in (1.0, 2.0, 4.0)}
    at2 = distance[2.0] if np.isfinite(distance[2.0]) else float(np.nanmax(distances))
    sees = bool(at2 > max(2.0 * noise, cfg.sees_floor))
    spread = float(np.var(truth))
    gain = float(np.cov(truth, readings, bias=True)[0, 1] / spread) if spread > 0 else float("nan")
    near = np.abs(truth) <= 2.0
    error = float(np.median(np.abs(readings - truth)[near])) if near.any() else float("nan")
    far = np.abs(truth) > 1.0
    wrong = float(np.mean(np.sign(readings[far]) != np.sign(truth[far]))) if far.any() else 0.0
    sigma = float(np.nanmedian(sigmas)) if np.isfinite(sigmas).any() else float("nan")
    low, high = cfg.gain_range
    reads = bool(low <= gain <= high and error <= cfg.max_error)
    return DofProbe(dof, noise, distance, sees, gain, error, wrong, sigma, reads)


def _name(part: str | Mapping[str, Any]) -> str:
    return str(part.get("name", "part")) if isinstance(part, Mapping) else str(part)


def _given_as(part: str | Mapping[str, Any]) -> str:
    """How ``scripts/adapt.py --object`` takes the part: its file when it has one."""
    if isinstance(part, Mapping):
        return str(part.get("urdf") or part.get("mesh") or part.get("name", "PART"))
    return str(part)


def probe(cfg: ProbeConfig, progress: bool = False, policy: Any = None) -> dict[str, Any]:
    """Scan every refined DoF of ``cfg.part`` around ``cfg.resets`` target grasps; returns the
    report (plain data): per DoF its :class:`DofProbe` figures and verdict, the part's verdict
    and, when a DoF is misread, the command that adapts the policy to the part. ``policy``: an
    object with ``assess(obs)`` to probe instead of loading ``cfg.policy`` (bound to the env
    when it has ``bind_env``)."""
    import gymnasium as gym

    import tacrefine

    env = gym.make(SUITE_ENVS[cfg.suite], objects=[cfg.part], target_mode="fixed", terminate_on_success=False,
                   max_episode_steps=1_000_000, disable_env_checker=True)
    try:
        if policy is None:
            policy = tacrefine.load_policy(cfg.policy, env=env)
        elif callable(getattr(policy, "bind_env", None)):
            policy.bind_env(env)
        if not callable(getattr(policy, "assess", None)):
            raise ConfigError(f"policy: {cfg.policy!r} has no assess(obs); allowed: a learned policy "
                              "(a checkpoint, an exported file or 'pretrained')")
        base = env.unwrapped
        dofs: Sequence[str] = tuple(base.refined_dofs)
        scale = np.asarray(base.action_scale, dtype=np.float64)
        if cfg.span is not None and cfg.span > float(scale.min()):
            raise ConfigError(f"span: {cfg.span} is beyond the env's largest step on "
                              f"{dofs[int(np.argmin(scale))]} ({float(scale.min()):g}); allowed: at most "
                              f"{float(scale.min()):g}, or None (8, or each DoF's largest step if smaller)")
        rows: list[dict[str, Any]] = []
        lost: list[dict[str, Any]] = []
        bar = progress_bar(cfg.resets, "probe", enabled=progress, unit="grasp")
        for r in range(cfg.resets):
            obs, _ = env.reset(seed=cfg.seed + r)
            target = obs["target_tactile"].astype(np.float64)
            mass = float(target.sum()) or 1.0
            scanned: list[dict[str, Any]] = []
            failure = None
            for _ in range(3):  # onto the target grasp (the true correction, as in the data)
                obs, _, _, _, info = env.step(np.clip(base.oracle_increment() / scale, -1, 1).astype(np.float32))
                failure = failure or info.get("failure")
            if failure is None and np.abs(base.oracle_increment()).max() > 0.5:
                failure = "target grasp not reached"
            mask = np.asarray(obs["dof_mask"]).reshape(-1) > 0.5
            for k, dof in enumerate(dofs):
                if failure is not None or not mask[k]:
                    continue
                span = cfg.span if cfg.span is not None else min(8.0, float(scale[k]))
                for offset in np.linspace(-span, span, cfg.points):
                    move = np.asarray(base.oracle_increment(), np.float64)
                    move[k] += offset
                    obs, _, _, _, info = env.step(np.clip(move / scale, -1, 1).astype(np.float32))
                    if info.get("failure"):  # the part was lost: this target grasp's scan is void
                        failure = info["failure"]
                        break
                    truth = np.asarray(base.oracle_increment(), np.float64)
                    a = policy.assess(obs)
                    read = dict(zip(a.dofs, np.asarray(a.increment, np.float64)))
                    if dof not in read:
                        raise ConfigError(f"policy: {cfg.policy!r} gives no reading of {dof!r} (it reads "
                                          f"{list(a.dofs)}); allowed: a policy for this env's DoF {list(dofs)}")
                    sig = {} if a.sigma is None else dict(zip(a.dofs, np.asarray(a.sigma, np.float64)))
                    scanned.append({"reset": r, "dof": dof, "offset": float(offset), "truth": float(truth[k]),
                                    "reading": float(read[dof]), "sigma": float(sig.get(dof, np.nan)),
                                    "image_distance": float(np.abs(obs["tactile"].astype(np.float64)
                                                                   - target).sum() / mass)})
            if failure is None:
                rows += scanned
            else:
                lost.append({"reset": r, "failure": str(failure)})
            bar.update(1)
        bar.close()
    finally:
        env.close()
    results = []
    for dof in dofs:
        mine = [row for row in rows if row["dof"] == dof]
        if not mine:
            continue
        col = {key: np.array([row[key] for row in mine], np.float64)
               for key in ("offset", "truth", "reading", "image_distance", "sigma")}
        results.append(summarise(dof, col["offset"], col["truth"], col["reading"], col["image_distance"],
                                 col["sigma"], cfg))
    return report(cfg, results, rows, lost)


def report(cfg: ProbeConfig, results: Sequence[DofProbe], rows: Sequence[Mapping[str, Any]],
           lost: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The probe's report: plain data for JSON, with the part's verdict in words; ``lost``: the
    target grasps whose scan was dropped because the part was lost (named, never averaged in; a
    part lost at all is not trusted)."""
    name = _name(cfg.part)
    misread = [r.dof for r in results if not r.reads]
    if lost:  # a part that is lost when re-grasped near its target is not one to refine on
        kinds = sorted({str(x["failure"]) for x in lost})
        verdict = (f"Part {name!r} was lost when re-grasped near its target ({len(lost)} of {cfg.resets} target "
                   f"grasps: {', '.join(kinds)}): do not trust a refinement on it; check its grasp (height, "
                   f"hand) or adapt the policy to it: {ADAPT_COMMAND.format(part=_given_as(cfg.part))}")
        if misread:
            verdict += f". On the grasps kept, the policy misreads {', '.join(misread)}"
    elif misread:
        verdict = (f"The policy misreads {', '.join(misread)} on part {name!r}: do not trust its refinement "
                   f"here. Adapt it to this part: {ADAPT_COMMAND.format(part=_given_as(cfg.part))}")
        faint = [r.dof for r in results if not r.reads and not r.sees]
        if faint:
            verdict += (f" (touch barely changes with {', '.join(faint)} on this part: adapting may not "
                        "make that DoF precise)")
    else:
        verdict = f"The policy reads every refined DoF of part {name!r}."
    return {"part": name, "suite": cfg.suite, "policy": cfg.policy, "resets": cfg.resets, "points": cfg.points,
            "lost": list(lost), "trusted": not misread and not lost, "verdict": verdict,
            "dofs": {r.dof: {"sees": r.sees, "reads": r.reads, "gain": r.gain, "error": r.error,
                             "wrong_sign": r.wrong_sign, "noise": r.noise,
                             "distance": {str(k): v for k, v in r.distance.items()}, "sigma": r.sigma,
                             "verdict": r.verdict()} for r in results},
            "rows": list(rows)}


def probe_table(result: Mapping[str, Any]) -> str:
    """The console table of one probe report."""
    head = (f"{'dof':6s} {'touch: image change at 1 / 2 / 4 (noise)':42s} {'gain':>6s} {'error':>6s} "
            f"{'sigma':>6s}  verdict")
    lines = [f"probe of {result['part']!r} ({result['suite']}, policy {result['policy']}; "
             f"{result['resets']} target grasps x {result['points']} offsets per DoF; mm or deg)", head,
             "-" * len(head)]
    for dof, d in result["dofs"].items():
        touch = " / ".join(f"{d['distance'][k]:.2f}" for k in ("1.0", "2.0", "4.0")) + f" ({d['noise']:.2f})"
        lines.append(f"{dof:6s} {touch:42s} {d['gain']:6.2f} {d['error']:6.2f} {d['sigma']:6.2f}  {d['verdict']}")
    lines += ["", result["verdict"],
              "(image change: share of the target image's mass; gain: reading / truth, 1 reads the whole error)"]
    return "\n".join(lines)


def probe_parts(cfg: ProbeConfig, parts: Sequence[str | Mapping[str, Any]], progress: bool = False
                ) -> dict[str, Any]:
    """:func:`probe` each of ``parts`` with ``cfg``'s settings; a part the hand cannot grasp is
    recorded with its error and skipped. Per part the verdict and the DoF figures (no rows)."""
    import dataclasses

    from tacrefine.envs.env_setup import UngraspableObjectError

    out: dict[str, Any] = {}
    bar = progress_bar(len(parts), "probe", enabled=progress, unit="part")
    for part in parts:
        try:
            result = probe(dataclasses.replace(cfg, part=part))
        except UngraspableObjectError as err:  # anything else (a bad policy, a broken file) stops the run
            out[_name(part)] = {"part": _name(part), "error": str(err)}
        else:
            result.pop("rows")
            out[result["part"]] = result
        bar.update(1)
    bar.close()
    return out


def against_episodes(probed: Mapping[str, Any], episodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The probe's verdicts against closed-loop episodes of the same parts (an evaluation
    report's ``episodes``, one policy): success and harm of the parts it trusts and of those it
    does not, and how many parts below 80 % / 50 % at 1 mm / 1 deg it does not trust."""
    per: dict[str, list[int]] = {}
    for e in episodes:
        name = e.get("object")
        if e.get("reset_error") or name not in probed or "trusted" not in probed[name]:
            continue
        row = per.setdefault(name, [0, 0, 0, 0])
        row[0] += 1
        row[1] += bool(e["success"]["5mm_5deg"])
        row[2] += bool(e["success"]["1mm_1deg"])
        row[3] += bool(e.get("harmed"))
    out: dict[str, Any] = {}
    for label, trusted in (("trusted", True), ("not_trusted", False)):
        rows = [r for n, r in per.items() if probed[n]["trusted"] is trusted]
        total = np.sum(rows, axis=0) if rows else np.zeros(4)
        out[label] = {"parts": len(rows), "episodes": int(total[0]),
                      **({"success_5mm_5deg": total[1] / total[0], "success_1mm_1deg": total[2] / total[0],
                          "harm_rate": total[3] / total[0]} if total[0] else {})}
    for bar_pct in (80, 50):
        below = [n for n, r in per.items() if 100 * r[2] / r[0] < bar_pct]
        above = [n for n in per if n not in below]
        out[f"below_{bar_pct}_at_1mm_1deg"] = {"parts": len(below),
                                               "not_trusted": sum(not probed[n]["trusted"] for n in below)}
        out[f"at_least_{bar_pct}_at_1mm_1deg"] = {"parts": len(above),
                                                  "not_trusted": sum(not probed[n]["trusted"] for n in above)}
    return out


def plot_probe(result: Mapping[str, Any], path: str | Path) -> Path:
    """Two rows per report: the policy's reading against the true correction (the diagonal is a
    perfect reader), and the image change against the offset, one column per DoF."""
    from tacrefine import viz
    from tacrefine.config import atomic_write_bytes

    dofs = list(result["dofs"])
    fig = viz.new_figure(3.2 * max(len(dofs), 1), 6.0)
    axes = np.asarray(fig.subplots(2, max(len(dofs), 1), squeeze=False))
    for j, dof in enumerate(dofs):
        mine = [r for r in result["rows"] if r["dof"] == dof]
        truth = np.array([r["truth"] for r in mine])
        top, bottom = axes[0, j], axes[1, j]
        top.plot(truth, [r["reading"] for r in mine], ".", ms=4)
        lim = float(np.max(np.abs(truth))) if len(truth) else 1.0
        top.plot([-lim, lim], [-lim, lim], "k:", lw=1)
        d = result["dofs"][dof]
        top.set_title(f"{dof}: gain {d['gain']:.2f} ({'read' if d['reads'] else 'misread'})", fontsize=10)
        unit = "deg" if dof in ROTATION_DOFS else "mm"
        top.set_xlabel(f"true correction [{unit}]")
        top.set_ylabel(f"policy's reading [{unit}]")
        bottom.plot(-truth, [r["image_distance"] for r in mine], ".", ms=4)
        bottom.set_xlabel(f"offset from the target [{unit}]")
        bottom.set_ylabel("image change (share of target)")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    fig.suptitle(f"probe of {result['part']} ({result['suite']}, {result['policy']})", fontsize=11)
    fig.tight_layout()
    atomic_write_bytes(Path(path), viz.figure_png_bytes(fig))
    return Path(path)


__all__ = ["DofProbe", "ProbeConfig", "SUITE_ENVS", "against_episodes", "plot_probe", "probe", "probe_parts",
           "probe_table", "report", "summarise"]
