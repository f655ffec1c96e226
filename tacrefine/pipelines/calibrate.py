"""Calibrate a checkpoint's unfamiliar-part flag on its own training parts (``tacrefine calibrate``).

The error head's flag (:class:`~tacrefine.policy.assessment.AssessConfig`'s
``unfamiliar_sigma``: one observation is "unfamiliar" when its 1-sigma score, mm + deg,
exceeds it) needs a threshold that fits the head it belongs to: a placeholder fires on most
episodes that succeed. Calibration measures it on the parts the checkpoint was trained on:

1. parts: names the checkpoint records (``object_names``) that resolve to built-in or
   family parts, spread evenly over the families (else the suite's seen parts); never the
   test-only unseen split (:mod:`tacrefine.sim.unseen_testonly`) nor ``random_urdfs``;
2. episodes: the deployable protocol (``EvalConfig(stop="policy")``: the self-checking
   controller, no oracle) on reset seeds from a base seed of its own (held out from the
   benchmark's and the datasets'), on any number of workers (records do not depend on it);
3. per episode the largest sigma score the controller saw (``self_check.max_sigma_score``);
4. threshold: the smallest recorded score of the episodes that succeed at 5 mm / 5 deg such
   that at most ``false_alarm`` of them score above it (the ``(1 - false_alarm)`` quantile,
   rounded up to a recorded value). The controller's path does not depend on this
   threshold, so the false-alarm rate it gives on the calibration episodes is exact;
5. a copy of the checkpoint with ``self_assessment.unfamiliar_sigma`` set (the other
   thresholds kept) and a ``calibration`` entry, written atomically, plus
   ``calibration.json`` / ``calibration.md`` in the report folder.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import ConfigError, atomic_write_bytes, require, require_choice, require_int
from tacrefine.lock import locked_output

SUITE_ENVS = {"jaw": "tacrefine/GripRefine-v0", "hand": "tacrefine/GripRefineHand-v0"}
#: the suite of a checkpoint by its gripper's URDF (``ckpt["gripper"]["urdf"]``)
SUITE_OF_GRIPPER = {"parallel_jaw.urdf": "jaw", "three_finger.urdf": "hand"}
#: success pair the threshold is calibrated at (the benchmark's 5/5 column)
SUCCESS_KEY = "5mm_5deg"
#: base of the calibration's reset seeds: not the benchmark's (20250929), the no-oracle
#: check's (424242) nor an evaluation's default (0)
DEFAULT_SEED = 515151
QUANTILES = (0.5, 0.9, 0.95, 0.99, 1.0)


@dataclass(frozen=True)
class CalibrateConfig:
    """What ``tacrefine calibrate`` does (its flags; see ``--help``)."""

    checkpoint: str
    out: str
    suite: str | None = None
    parts: int = 52
    episodes: int = 5
    modes: tuple[str, ...] = ("fixed", "random")
    seed: int = DEFAULT_SEED
    false_alarm: float = 0.05
    workers: int = 1
    report: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        require_choice("--suite", self.suite, (*SUITE_ENVS, None))
        require_int("--parts", self.parts, 1)
        require_int("--episodes", self.episodes, 1)
        require_int("--seed", self.seed, 0)
        require_int("--workers", self.workers, 1)
        require(isinstance(self.false_alarm, (int, float)) and 0.0 < self.false_alarm < 1.0, "--false-alarm",
                "a rate strictly between 0 and 1 (e.g. 0.05)", self.false_alarm)
        require(len(self.modes) > 0 and set(self.modes) <= {"fixed", "random"}, "--mode",
                "fixed, random or both", list(self.modes))
        require(Path(self.out).resolve() != Path(self.checkpoint).resolve(), "--out",
                "a new file (the checkpoint itself is never rewritten)", self.out)

    @property
    def report_dir(self) -> Path:
        """Where the report and the resumable episode journal go (``OUT`` + ``.calibration``)."""
        return Path(self.report) if self.report else Path(f"{self.out}.calibration")


def checkpoint_suite(ckpt: Mapping[str, Any], given: str | None) -> str:
    """The suite to calibrate in: ``given``, checked against the checkpoint's gripper, else that
    gripper's suite (``jaw`` when the checkpoint does not say)."""
    gripper = ckpt.get("gripper") if isinstance(ckpt.get("gripper"), Mapping) else {}
    own = SUITE_OF_GRIPPER.get(Path(str(gripper.get("urdf", ""))).name)
    if given is not None and own is not None and given != own:
        raise ConfigError(f"--suite: got {given!r}; the checkpoint was trained with {gripper.get('urdf')}: "
                          f"use --suite {own} (or leave it out)")
    return given or own or "jaw"


def require_error_head(ckpt: Mapping[str, Any]) -> None:
    """Refuse a checkpoint whose network has no error head: it has nothing to calibrate."""
    if not (ckpt.get("model_config") or {}).get("error_head"):
        where = ckpt.get("path", "<checkpoint>")
        raise ConfigError(
            f"checkpoint {where!r} has no error head (model_config.error_head is false): its unfamiliar flag "
            "has no sigma to calibrate. Add one by fine-tuning: tacrefine train --init "
            f"{where} --set data.path=DATA train.out_dir=RUN (the head is added fresh), then calibrate RUN/best.pt")


def _family(name: str) -> str:
    """``polygons-12`` -> ``polygons``; a built-in part -> ``built-in``."""
    m = re.match(r"^([a-z_]+)-\d+$", name)
    return m.group(1) if m else "built-in"


def training_parts(ckpt: Mapping[str, Any], suite: str, n_parts: int) -> list[str]:
    """Up to ``n_parts`` of the checkpoint's own training parts, spread over its families
    (round robin, evenly spaced within a family); the suite's seen parts when it records none."""
    from tacrefine.sim.objects import get_object
    from tacrefine.sim.unseen_testonly import unseen_specs

    testonly = {s.name for s in unseen_specs(suite)}
    names: list[str] = []
    for name in ckpt.get("object_names") or []:
        if not isinstance(name, str) or name in testonly or name.startswith(("random_", "unseen_")):
            continue
        try:
            get_object(name)
        except (KeyError, ValueError):  # a user part given by path: not re-creatable by name
            continue
        names.append(name)
    if not names:
        names = list(_suite_seen(suite))
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(_family(name), []).append(name)
    counts = dict.fromkeys(groups, 0)
    order = sorted(groups)
    k = 0
    while sum(counts.values()) < min(n_parts, len(names)):
        fam = order[k % len(order)]
        if counts[fam] < len(groups[fam]):
            counts[fam] += 1
        k += 1
    chosen = []
    for fam in order:
        members, n = groups[fam], counts[fam]
        idx = sorted({int(round(i)) for i in np.linspace(0, len(members) - 1, n)}) if n else []
        chosen += [members[i] for i in idx]
    return chosen


def _suite_seen(suite: str) -> Sequence[str]:
    if suite == "jaw":
        from tacrefine.evaluation.episodes.protocol import JAW_SEEN

        return JAW_SEEN
    from tacrefine.sim.objects import PAPER_OBJECT_SET

    return PAPER_OBJECT_SET


def max_sigma(record: Mapping[str, Any]) -> float | None:
    """Largest error-head sigma score (mm + deg) the controller saw in one episode."""
    return (record.get("self_check") or {}).get("max_sigma_score")


def other_flag(record: Mapping[str, Any]) -> bool:
    """The episode is flagged by a signal other than the error head (undone or inconsistent
    step, unconverged budget): no threshold of the head can clear it."""
    sources = (record.get("self_check") or {}).get("flag_sources") or {}
    return any(bool(v) for k, v in sources.items() if k != "error_head")


def threshold_for(scores: Sequence[float], false_alarm: float) -> float:
    """Smallest of ``scores`` such that at most ``false_alarm`` of them lie above it."""
    values = np.sort(np.asarray(scores, dtype=float))
    if values.size == 0:
        raise ValueError("no scores to calibrate on")
    index = max(0, math.ceil(values.size * (1.0 - false_alarm)) - 1)
    return float(values[index])


def _rate(flags: Sequence[bool]) -> float | None:
    return float(np.mean(flags)) if len(flags) else None


def _quantiles(values: Sequence[float]) -> dict[str, float | None]:
    arr = np.asarray(values, dtype=float)
    return {f"q{int(q * 100)}": (float(np.quantile(arr, q)) if arr.size else None) for q in QUANTILES}


def summarise(records: Sequence[Mapping[str, Any]], false_alarm: float, before: float) -> dict[str, Any]:
    """Threshold and what it gives on the calibration episodes (``before``: the old threshold)."""
    rows = [r for r in records if not r.get("lost") and max_sigma(r) is not None]
    ok = [r for r in rows if r["success"][SUCCESS_KEY]]
    bad = [r for r in rows if not r["success"][SUCCESS_KEY]]
    if not ok:
        raise ValueError(f"no calibration episode succeeded at {SUCCESS_KEY} ({len(records)} played): the "
                         "checkpoint does not work on its own training parts, or the env does not fit it")
    threshold = threshold_for([max_sigma(r) for r in ok], false_alarm)

    def rates(t: float) -> dict[str, float | None]:
        head = {id(r): max_sigma(r) > t for r in rows}
        return {"head_false_alarm": _rate([head[id(r)] for r in ok]),
                "head_recall": _rate([head[id(r)] for r in bad]),
                "flag_false_alarm": _rate([head[id(r)] or other_flag(r) for r in ok]),
                "flag_recall": _rate([head[id(r)] or other_flag(r) for r in bad])}

    return {"unfamiliar_sigma": threshold, "previous_unfamiliar_sigma": before, "success_key": SUCCESS_KEY,
            "requested_false_alarm": false_alarm, "episodes": len(records), "scored": len(rows),
            "lost": sum(bool(r.get("lost")) for r in records), "succeeding": len(ok), "failing": len(bad),
            "sigma_succeeding": _quantiles([max_sigma(r) for r in ok]),
            "sigma_failing": _quantiles([max_sigma(r) for r in bad]),
            "other_flag_false_alarm": _rate([other_flag(r) for r in ok]),
            "after": rates(threshold), "before": rates(before),
            "per_episode": [{"object": r["object"], "target_mode": r["target_mode"], "episode": r["episode"],
                             "seed": r["seed"], "success": bool(r["success"][SUCCESS_KEY]), "lost": bool(r.get("lost")),
                             "max_sigma": max_sigma(r), "other_flag": other_flag(r)} for r in records]}


@locked_output(lambda a: a["cfg"].report_dir, "calibration")
def calibrate(cfg: CalibrateConfig) -> dict[str, Any]:
    """Run the calibration episodes, write the calibrated checkpoint and the report; returns the report."""
    from tacrefine.evaluation.episodes.protocol import EvalConfig
    from tacrefine.evaluation.episodes.rollouts import evaluate_policies
    from tacrefine.evaluation.episodes.runner import JOURNAL_DIR
    from tacrefine.policy.assessment import AssessConfig
    from tacrefine.policy.checkpoint import load_checkpoint, reads_mirrored, save_checkpoint

    ckpt = load_checkpoint(cfg.checkpoint)
    require_error_head(ckpt)
    before = AssessConfig.from_checkpoint(ckpt)
    suite = checkpoint_suite(ckpt, cfg.suite)
    parts = training_parts(ckpt, suite, cfg.parts)
    eval_cfg = EvalConfig(objects=tuple(parts), env_id=SUITE_ENVS[suite], episodes_per_object=cfg.episodes,
                          target_modes=tuple(cfg.modes), seed=cfg.seed, stop="policy", plots=False, render=False,
                          progress=cfg.progress, panel_episodes=0)
    out_dir = cfg.report_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    run = evaluate_policies(eval_cfg, [str(cfg.checkpoint)], workers=cfg.workers, journal=out_dir / JOURNAL_DIR)
    summary = summarise(run.episodes, cfg.false_alarm, before.unfamiliar_sigma)
    thresholds = {**asdict(before), "unfamiliar_sigma": summary["unfamiliar_sigma"]}
    AssessConfig(**thresholds)  # the values the policy will read back are valid
    report = {"checkpoint": str(cfg.checkpoint), "out": str(cfg.out), "suite": suite, "parts": parts,
              "modes": list(cfg.modes), "episodes_per_part": cfg.episodes, "seed": cfg.seed,
              "workers": cfg.workers, "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              # the threshold fits the readings it was measured with (each one's sigma is averaged)
              "reading": {"two_way": True, "mirror": reads_mirrored(ckpt)},
              "self_assessment": thresholds, **summary}
    ckpt.pop("path", None)
    ckpt["self_assessment"] = thresholds
    ckpt["calibration"] = json.loads(json.dumps({k: v for k, v in report.items()
                                                 if k not in ("self_assessment", "per_episode")}))
    save_checkpoint(cfg.out, ckpt)
    atomic_write_bytes(out_dir / "calibration.json", (json.dumps(report, indent=1) + "\n").encode("utf-8"))
    atomic_write_bytes(out_dir / "calibration.md", markdown(report).encode("utf-8"))
    return report


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.1f} %"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def markdown(report: Mapping[str, Any]) -> str:
    """The report in a few lines for a person."""
    qs = list(report["sigma_succeeding"])
    lines = [
        f"# Calibration of {report['checkpoint']}", "",
        f"Written: `{report['out']}` with `self_assessment.unfamiliar_sigma` = "
        f"**{report['unfamiliar_sigma']:.3f}** (was {report['previous_unfamiliar_sigma']:.3f}).", "",
        f"{report['episodes']} no-oracle episodes ({report['suite']} suite, {len(report['parts'])} training parts x "
        f"{report['episodes_per_part']} episodes x modes {', '.join(report['modes'])}, seed {report['seed']}): "
        f"{report['succeeding']} succeed at {report['success_key']}, {report['failing']} fail, "
        f"{report['lost']} lost. Requested false alarm {_pct(report['requested_false_alarm'])}.", "",
        "Largest sigma score (mm + deg) per episode:", "",
        "| episodes | " + " | ".join(qs) + " |", "|---|" + "---|" * len(qs),
        "| succeeding | " + " | ".join(_num(report["sigma_succeeding"][q]) for q in qs) + " |",
        "| failing | " + " | ".join(_num(report["sigma_failing"][q]) for q in qs) + " |", "",
        "On the calibration episodes (head = the error head alone; flag = the whole unfamiliar flag, "
        "with undone / inconsistent steps and an unconverged budget):", "",
        "| threshold | head false alarm | head recall | flag false alarm | flag recall |", "|---|---|---|---|---|",
    ]
    for label, key, t in (("before", "before", report["previous_unfamiliar_sigma"]),
                          ("after", "after", report["unfamiliar_sigma"])):
        r = report[key]
        lines.append(f"| {label} ({t:.3f}) | {_pct(r['head_false_alarm'])} | {_pct(r['head_recall'])} | "
                     f"{_pct(r['flag_false_alarm'])} | {_pct(r['flag_recall'])} |")
    lines += ["", f"Parts: {', '.join(report['parts'])}", ""]
    return "\n".join(lines)


__all__ = ["CalibrateConfig", "DEFAULT_SEED", "SUCCESS_KEY", "calibrate", "checkpoint_suite", "markdown", "max_sigma",
           "other_flag", "require_error_head", "summarise", "threshold_for", "training_parts"]
