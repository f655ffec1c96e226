"""One command for a user's part: measure, generate data, fine-tune the shipped policy, measure again.

Stages, each written into ``out`` and skipped when already done (so an interrupted run
resumes where it stopped):

1. ``before/``  the starting policy evaluated on the part (closed loop, fixed seeds);
2. ``data/``    grasps of the part (the data generator; resumes shard by shard);
3. ``train/``   fine-tuning from the starting policy's weights (resumes from ``last.pt``);
4. ``policy.pt`` the fine-tuned checkpoint (``tacrefine.load_policy(path, env=env)``);
5. ``after/``   the fine-tuned policy evaluated on the same episodes;
6. ``report.md``, ``adapt.json`` and ``before_after.png``.

The evaluation seeds differ from the data seeds, so "after" measures grasps the fine-tuning
never saw.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tacrefine.config import ConfigError, atomic_write_bytes, require, require_int
from tacrefine.lock import locked_output

#: the thresholds the report tabulates (mm, deg)
REPORT_THRESHOLDS = ("10mm_10deg", "5mm_5deg", "2mm_2deg", "1mm_1deg")


@dataclass(frozen=True)
class AdaptConfig:
    """What ``scripts/adapt.py`` does (its flags; see ``--help``).

    Attributes:
        part: a part file path (URDF, OBJ, STL), a built-in name or a family part name.
        out: output directory.
        policy: the policy to start from (``pretrained`` or a checkpoint path).
        samples: grasps of the part to generate.
        steps: fine-tuning steps (batches of ``batch_size`` cross-combined pairs).
        batch_size: pairs per step.
        lr: peak learning rate of the fine-tuning (lower than training from scratch).
        episodes: evaluation episodes before and after (fixed target).
        target_modes: ``fixed`` and/or ``random`` evaluation targets.
        workers: data generation processes.
        threads: torch threads for fine-tuning.
        seed: data seed (evaluation uses seeds derived from ``seed + 1``).
        progress: progress bars.
        units: units of a mesh part file (m, mm, cm, in); None: what the file declares, else m.
    """

    part: str
    out: str
    policy: str = "pretrained"
    samples: int = 1200
    steps: int = 600
    batch_size: int = 256
    lr: float = 5e-4
    episodes: int = 20
    target_modes: tuple[str, ...] = ("fixed",)
    workers: int = 2
    threads: int = 2
    seed: int = 0
    progress: bool = True
    units: str | None = None

    def __post_init__(self) -> None:
        require(isinstance(self.part, str) and bool(self.part), "--object", "a part path or object name", self.part)
        for name, minimum in (("samples", 8), ("steps", 1), ("batch_size", 1), ("episodes", 1), ("workers", 1),
                              ("threads", 1), ("seed", 0)):
            require_int(f"--{name}", getattr(self, name), minimum)
        require(self.lr > 0, "--lr", "a number > 0", self.lr)


def _object_entry(part: str, units: str | None = None) -> str | dict[str, Any]:
    """A name stays a name; a file becomes a user part mapping (its grasp inferred)."""
    from tacrefine.sim.object_lists import PART_SUFFIXES, part_mapping

    if Path(part).suffix.lower() in PART_SUFFIXES:
        if not Path(part).is_file():
            raise ConfigError(f"--object: file {part!r} does not exist")
        return part_mapping(part, units=units)
    if units is not None:
        raise ConfigError(f"--units: given for {part!r}, which is an object name, not a mesh file")
    return part


def _write_json(data: dict[str, Any], path: Path) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def _evaluate(cfg: AdaptConfig, entry: Any, policy: str, out: Path) -> dict[str, Any]:
    """Closed-loop evaluation on the part; reuses a finished report (resume)."""
    from tacrefine.evaluation.episodes.protocol import EvalConfig
    from tacrefine.evaluation.results.evaluate import run_evaluation

    report_path = out / "report.json"
    if report_path.is_file():
        return json.loads(report_path.read_text())
    eval_cfg = EvalConfig(objects=(entry,), episodes_per_object=cfg.episodes, target_modes=cfg.target_modes,
                          max_steps=5, seed=cfg.seed + 1, render=False, progress=cfg.progress)
    return run_evaluation(eval_cfg, [policy], out)


def _starting_checkpoint(cfg: AdaptConfig, entry: Any) -> Path:
    """The checkpoint file behind ``cfg.policy`` for an env holding the part."""
    if cfg.policy != "pretrained":
        path = Path(cfg.policy)
        if not path.is_file():
            raise ConfigError(f"--policy: checkpoint {cfg.policy!r} does not exist; allowed: pretrained or a path")
        from tacrefine.policy.checkpoint import load_model

        _, _, ckpt = load_model(path)  # a bad file is refused here, by name, not inside a worker's job
        if ckpt.get("ensemble"):
            raise ConfigError(f"--policy: {cfg.policy!r} is an ensemble checkpoint; adapt one of its sources "
                              f"({', '.join(ckpt.get('ensemble_sources') or []) or 'the checkpoints it combines'}) "
                              "and combine again with `tacrefine ensemble`")
        return path
    import gymnasium as gym

    from tacrefine.policy.registry import pretrained_checkpoint

    env = gym.make("tacrefine/GripRefine-v0", objects=[entry])
    try:
        return pretrained_checkpoint(env)
    finally:
        env.close()


def _generate(cfg: AdaptConfig, entry: Any, dofs: tuple[str, ...], out: Path) -> dict[str, Any]:
    from tacrefine.data.generate import DataConfig, generate_dataset

    shard = max(8, min(200, cfg.samples // 4))
    data_cfg = DataConfig(objects=(entry,), samples_per_object=cfg.samples, shard_size=shard, seed=cfg.seed,
                          workers=cfg.workers, refined_dofs=dofs)
    summary = generate_dataset(data_cfg, out, progress=cfg.progress)
    return summary.as_dict()


def _finetune(cfg: AdaptConfig, checkpoint: Path, data_dir: Path, out: Path) -> Path:
    """Fine-tune from ``checkpoint`` on ``data_dir``; resumes a stopped run; returns best.pt."""
    from tacrefine.config import from_dict
    from tacrefine.policy.checkpoint import load_checkpoint
    from tacrefine.policy.model_config import ModelConfig
    from tacrefine.training.config import RunConfig
    from tacrefine.training.loop import resume_run, train

    best = out / "best.pt"
    done = out / "finished.json"
    if done.is_file() and best.is_file():
        return best
    if (out / "last.pt").is_file() and (out / "config.yaml").is_file():
        resume_run(out, [f"train.progress={str(cfg.progress).lower()}"])
    else:
        ckpt = load_checkpoint(checkpoint)
        # the adapted policy gets the additive error head (fresh) even from an older checkpoint
        model = dataclasses.replace(from_dict(ModelConfig, ckpt["model_config"]), error_head=True)
        epochs = max(1, round(cfg.steps / 100))
        run = RunConfig(model=model)
        # mirrored as the starting policy was, so that it is read the same way before and after
        trained = (ckpt.get("train_config") or {}).get("augment") or {}
        mirrors = {k: float(trained.get(k, 0.0)) for k in ("mirror_y", "mirror_x")}
        run = dataclasses.replace(
            run,
            augment=dataclasses.replace(run.augment, **mirrors),
            data=dataclasses.replace(run.data, path=str(data_dir), val_pairs=1024, norm_pairs=4096),
            optim=dataclasses.replace(run.optim, lr=cfg.lr, warmup_steps=min(50, cfg.steps // 5)),
            train=dataclasses.replace(run.train, epochs=epochs, steps_per_epoch=max(1, cfg.steps // epochs),
                                      batch_size=cfg.batch_size, num_threads=cfg.threads, out_dir=str(out),
                                      progress=cfg.progress),
            finetune=dataclasses.replace(run.finetune, init=str(checkpoint)),
        )
        train(run, overwrite=True)
    _write_json({"finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, done)
    return best


def _rates(report: dict[str, Any], spec: str) -> dict[str, float]:
    success = report["results"][spec]["overall"]["success"]
    return {k: float(success[k]) for k in REPORT_THRESHOLDS}


def _plot(before: dict[str, float], after: dict[str, float], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(REPORT_THRESHOLDS))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.bar(x - 0.2, [100 * before[k] for k in REPORT_THRESHOLDS], 0.4, label="before (starting policy)")
    ax.bar(x + 0.2, [100 * after[k] for k in REPORT_THRESHOLDS], 0.4, label="after adapt.py")
    ax.set_xticks(x, [k.replace("mm_", " mm / ").replace("deg", " deg") for k in REPORT_THRESHOLDS])
    ax.set_ylabel("success [%]")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(loc="lower left")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


@locked_output(lambda a: a["cfg"].out, "adaptation")
def run_adaptation(cfg: AdaptConfig) -> dict[str, Any]:
    """All stages (module docstring); returns what ``adapt.json`` holds."""
    import gymnasium as gym

    import tacrefine  # noqa: F401  (registers the env ids)

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    entry = _object_entry(cfg.part, cfg.units)
    env = gym.make("tacrefine/GripRefine-v0", objects=[entry])  # checks the part: file, size, fit
    name = env.unwrapped.object_specs[0].name
    dofs = tuple(env.unwrapped.refined_dofs)
    env.close()
    checkpoint = _starting_checkpoint(cfg, entry)
    # time spent on each stage, summed over the runs that worked on it; a stage finished by an
    # earlier run is "resumed": it only reloads its result, and keeps the time of the runs that did it
    state_path = out / "stages.json"
    state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.is_file() else {}
    timings: dict[str, float] = dict(state.get("seconds", {}))
    finished: list[str] = list(state.get("finished", []))
    resumed: list[str] = []

    def stage(label: str, fn: Any, *args: Any) -> Any:
        done_before = label in finished
        print(f"[adapt] {label} {'(finished before: reloading)' if done_before else '...'}", flush=True)
        start = time.perf_counter()
        try:
            result = fn(*args)
        finally:
            if not done_before:  # interrupted work counts too: the next run goes on from it
                timings[label] = round(timings.get(label, 0.0) + time.perf_counter() - start, 1)
                _write_json({"seconds": timings, "finished": finished}, state_path)
        if done_before:
            resumed.append(label)
        else:
            finished.append(label)
            _write_json({"seconds": timings, "finished": finished}, state_path)
        return result

    before = stage("evaluate before", _evaluate, cfg, entry, str(checkpoint), out / "before")
    data = stage("generate data", _generate, cfg, entry, dofs, out / "data")
    best = stage("fine-tune", _finetune, cfg, checkpoint, out / "data", out / "train")
    policy_path = out / "policy.pt"
    if not policy_path.is_file():
        tmp = out / ".policy.pt.tmp"
        shutil.copyfile(best, tmp)
        tmp.replace(policy_path)
    after = stage("evaluate after", _evaluate, cfg, entry, str(policy_path), out / "after")
    rates_before, rates_after = _rates(before, str(checkpoint)), _rates(after, str(policy_path))
    _plot(rates_before, rates_after, f"{name}: {cfg.episodes} episodes per target mode, <= 5 steps",
          out / "before_after.png")
    summary = {
        "part": cfg.part, "object": name, "starting_policy": str(checkpoint), "policy": str(policy_path),
        "config": dataclasses.asdict(cfg), "samples": data.get("samples_total"),
        "success_before": rates_before, "success_after": rates_after, "seconds": timings,
        "stages_resumed": resumed, "seconds_total_this_run": round(time.perf_counter() - t0, 1),
    }
    _write_json(summary, out / "adapt.json")
    atomic_write_bytes(out / "report.md", report_markdown(summary).encode())
    return summary


def report_markdown(summary: dict[str, Any]) -> str:
    """``report.md``: what was done and the before/after table."""
    cfg = summary["config"]
    rows = "\n".join(f"| {k.replace('_', ' / ')} | {100 * summary['success_before'][k]:.1f} | "
                     f"{100 * summary['success_after'][k]:.1f} |" for k in REPORT_THRESHOLDS)
    return (
        f"# adapt.py: {summary['object']}\n\n"
        f"- part: `{summary['part']}`\n- started from: `{summary['starting_policy']}`\n"
        f"- fine-tuned policy: `{summary['policy']}` (load with "
        f"`tacrefine.load_policy(path, env=env)` on an env holding the part)\n"
        f"- data: {summary['samples']} grasps of the part; fine-tuning: {cfg['steps']} steps x "
        f"{cfg['batch_size']} pairs, lr {cfg['lr']}\n"
        f"- evaluation: {cfg['episodes']} episodes per target mode ({', '.join(cfg['target_modes'])}), "
        f"at most 5 steps, the same seeds before and after, none used for the data\n"
        f"- time per stage (s, summed over runs; this run {summary['seconds_total_this_run']} s): "
        f"{summary['seconds']}; stages finished by an earlier run and reloaded: "
        f"{', '.join(summary.get('stages_resumed', [])) or 'none'}\n\n"
        f"| success at (mm / deg) | before [%] | after [%] |\n| --- | --- | --- |\n{rows}\n\n"
        f"![before and after](before_after.png)\n\n"
        f"Details: `before/report.md`, `after/report.md`, `train/metrics.csv`.\n"
    )
