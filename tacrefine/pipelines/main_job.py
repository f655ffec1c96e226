"""The main job, end to end: generate a dataset, train TacRefineNet, benchmark it against the
baselines, print the table and say where the plots are. A library function (:func:`run_main`),
so a notebook runs it as ``scripts/main.py`` does; :mod:`tacrefine.cli.main_job` parses the flags.

Stages and resuming (re-running the same command continues where it stopped):

1. data      ``OUT/data``      finished shards are kept (the manifest lists them);
2. training  ``OUT/train``     continues from ``last.pt`` (bit for bit, see the loop);
3. benchmark ``OUT/benchmark`` always redone (it is cheap and its inputs may have changed).

Configuration: :class:`MainConfig` embeds the data generator's ``DataConfig`` and the
training ``RunConfig``, with defaults for the paper's task (the three-finger hand on the 15
rods, plates and discs, benchmarked in the ``hand`` suite) sized to finish well within 15
minutes on 2 cores.
``configs/main.yaml`` spells those defaults out; ``--smoke`` (= ``configs/smoke_main.yaml``)
shrinks everything to a 1-2 minute pipeline check. ``--set section.field=value`` overrides.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tacrefine.config import (
    ConfigError,
    from_dict,
    merge,
    parse_overrides,
    read_yaml_mapping,
    require,
    save_config,
    to_dict,
)
from tacrefine.data.paper_task import hand_data_defaults
from tacrefine.evaluation.episodes.protocol import BASELINE_SPECS
from tacrefine.lock import locked_output


def _training_defaults() -> Any:
    from tacrefine.policy.model_config import ModelConfig
    from tacrefine.training.config import DataRef, OptimConfig, RunConfig, TrainConfig

    return RunConfig(
        data=DataRef(val_fraction=0.1, val_pairs=2048, norm_pairs=8192),
        # Half the encoder channels: 1.8x the pairs per CPU second, and the hand suite's figures
        # hold (measured: docs/scale.md, "Time to precision").
        model=ModelConfig(conv_channels=(8, 16, 32)),
        # rotations weigh 3: +-15 deg offsets make 1 deg a smaller share of the spread than 1 mm,
        # and the shorter run's misses were plates left 5-6 deg off (weight 2: random target 5/5
        # 96.7 %, weight 3: 97.3 %); lr 2e-3 (3e-3: fixed 1/1 95.3 %). docs/scale.md, "The main
        # job in 150 s".
        optim=OptimConfig(lr=2e-3, warmup_steps=50, rotation_weight=3.0),
        # Two torch threads: both cores. The 10x stall of two threads on busy shared cores came
        # from OpenMP threads spinning while they wait; the command-line tools make them sleep
        # instead (tacrefine.runtime), which removes it (measured: docs/scale.md).
        # 750 steps of 128 pairs (was 1,000, and 2,000 before that).
        train=TrainConfig(epochs=6, steps_per_epoch=125, batch_size=128, num_threads=2),
    )


@dataclass(frozen=True)
class MainEvaluation:
    """The benchmark stage.

    Attributes:
        checkpoint: which checkpoint of the run to evaluate (``best.pt`` or ``last.pt``).
        episodes_per_object: ``null`` = the precision protocol's; anything else is marked
            off-protocol in ``precision.json``.
        baselines: baselines evaluated beside the trained policy.
        noisy: also run the noisy + domain-randomised condition for the trained policy.
        plots: write plots and tactile panels.
        suites: benchmark suites to score the trained policy in (it must fit their env: the
            suite of the hand the data was generated with).
        workers: local worker processes the episodes run on (2 = both cores; the results
            are the same for any number, only the timing fields differ).
        prerun_baselines: play the baselines' clean episodes in a low-priority background
            process while the policy trains, on the CPU time training leaves idle
            (:mod:`tacrefine.pipelines.prerun`; the results are the same either way).
    """

    checkpoint: str = "best.pt"
    episodes_per_object: int | None = None
    baselines: tuple[str, ...] = BASELINE_SPECS
    noisy: bool = True
    plots: bool = True
    suites: tuple[str, ...] = ("hand",)
    workers: int = 2
    prerun_baselines: bool = True

    def __post_init__(self) -> None:
        from tacrefine.config import require_int

        require_int("evaluation.workers", self.workers, 1)
        require(isinstance(self.prerun_baselines, bool), "evaluation.prerun_baselines", "true or false",
                self.prerun_baselines)
        from tacrefine.evaluation.episodes.protocol import SUITES
        from tacrefine.policy.baselines import BASELINES

        require(len(self.suites) >= 1, "evaluation.suites", f"a non-empty list among {list(SUITES)}",
                list(self.suites))
        for name in self.suites:
            require(name in SUITES, "evaluation.suites[]", f"one of {list(SUITES)}", name)
        object.__setattr__(self, "suites", tuple(self.suites))
        require(self.checkpoint in ("best.pt", "last.pt"), "evaluation.checkpoint", "best.pt or last.pt",
                self.checkpoint)
        epo = self.episodes_per_object
        require(epo is None or (isinstance(epo, int) and not isinstance(epo, bool) and epo >= 1),
                "evaluation.episodes_per_object", "null or an integer >= 1", epo)
        known = [f"baseline:{n}" for n in BASELINES]
        for spec in self.baselines:
            require(spec in known, "evaluation.baselines[]", f"one of {known}", spec)
        object.__setattr__(self, "baselines", tuple(self.baselines))


@dataclass(frozen=True)
class MainConfig:
    """The whole main job. ``training.data.path`` and ``training.train.out_dir`` are set by
    the job (``OUT/data``, ``OUT/train``); values given for them are ignored.

    ``train_processes``: training runs data-parallel in this many processes (1 = in the job's
    own process). ``training.train.batch_size`` and ``num_threads`` are per machine: each
    process draws ``batch_size / train_processes`` pairs per step on ``num_threads /
    train_processes`` threads, so the effective batch and the schedule stay the config's
    (the weights differ in the last bits from a single-process run: docs/scale.md).
    """

    out: str = "runs/main"
    progress: bool = True
    train_processes: int = 1
    data: Any = field(default_factory=hand_data_defaults)
    training: Any = field(default_factory=_training_defaults)
    evaluation: MainEvaluation = field(default_factory=MainEvaluation)

    def __post_init__(self) -> None:
        from tacrefine.data.generate import DataConfig
        from tacrefine.training.config import RunConfig

        require(isinstance(self.out, str) and bool(self.out), "out", "a non-empty directory path", self.out)
        from tacrefine.config import require_int

        require_int("train_processes", self.train_processes, 1)
        if isinstance(self.data, dict):
            object.__setattr__(self, "data", from_dict(DataConfig, self.data, prefix="data."))
        if isinstance(self.training, dict):
            object.__setattr__(self, "training", from_dict(RunConfig, self.training, prefix="training."))
        require(isinstance(self.data, DataConfig), "data", "a data generation mapping",
                type(self.data).__name__)
        require(isinstance(self.training, RunConfig), "training", "a training run mapping",
                type(self.training).__name__)


#: ``--smoke``: the whole chain in about a minute (checks the pipeline, not accuracy).
#: Kept equal to configs/smoke_main.yaml (a test checks it).
SMOKE: dict[str, Any] = {
    "out": "runs/main_smoke",
    "data": {"objects": ["rod_d8_l100", "plate_t3_w50", "disc_d36_t3"], "samples_per_object": 40,
             "shard_size": 20, "workers": 1},
    "training": {
        "data": {"val_fraction": 0.2, "val_pairs": 64, "norm_pairs": 256},
        "model": {"width": 32, "conv_channels": [8, 16, 32], "conv_strides": [1, 2, 1], "token_grid": [3, 3],
                  "num_heads": 2, "proprio_hidden": 32, "head_hidden": 64},
        "optim": {"warmup_steps": 5},
        "train": {"epochs": 2, "steps_per_epoch": 10, "batch_size": 32, "val_batch_size": 256},
    },
    "evaluation": {"episodes_per_object": 1, "baselines": ["baseline:noop", "baseline:oracle"], "workers": 1},
}


def load_main_config(path: str | Path | None = None, overrides: Sequence[str] = (), smoke: bool = False,
                     ) -> MainConfig:
    """Embedded defaults (or the smoke set), then the YAML file, then ``--set`` overrides.

    Sections merge field by field over the defaults, so a YAML file or override names only
    what it changes.
    """
    data: dict[str, Any] = to_dict(MainConfig())
    if smoke:
        data = merge(data, SMOKE)
    if path is not None:
        loaded = read_yaml_mapping(path)
        data = merge(data, loaded)
    data = merge(data, parse_overrides(overrides))
    return from_dict(MainConfig, data)


def training_config(cfg: MainConfig, out: Path) -> Any:
    """The run config with the job's data and run directories, and the batch of one of its
    ``train_processes`` processes."""
    run = cfg.training
    batch, procs = run.train.batch_size, cfg.train_processes
    require(batch % procs == 0, "training.train.batch_size", f"a multiple of train_processes ({procs})", batch)
    return dataclasses.replace(
        run, data=dataclasses.replace(run.data, path=str(out / "data")),
        train=dataclasses.replace(run.train, out_dir=str(out / "train"), progress=cfg.progress,
                                  batch_size=batch // procs))


def _comparable(section: Any, ignore: Sequence[str] = ()) -> dict[str, Any]:
    return {k: v for k, v in to_dict(section).items() if k not in ignore}


def check_resumable(saved: Any, wanted: Any) -> None:
    """Refuse to resume a run whose settings differ from the config (other than its length)."""
    diffs = []
    for name, ignore in (("model", ("dofs", "num_fingers", "in_channels")), ("optim", ()), ("augment", ()),
                         ("train", ("epochs", "out_dir", "progress", "val_batch_size")),
                         ("data", ("path", "refined_dofs"))):
        a, b = _comparable(getattr(saved, name), ignore), _comparable(getattr(wanted, name), ignore)
        diffs += [f"training.{name}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if diffs:
        raise ConfigError(f"{saved.train.out_dir} holds a training run with other settings "
                          f"({', '.join(diffs)}); "
                          "use another --out, restore those settings, or delete that directory to start over")


def train_in_processes(args: Sequence[str], processes: int) -> None:
    """``train.py ARGS`` as ``processes`` data-parallel processes (torchrun, gloo on CPU).

    One process with two threads keeps only ~1.5 cores busy on this small network (Python and
    autograd between the kernels run on one thread); two processes with one thread each keep
    ~1.85 busy: 2,190 against 1,770 pairs/s for the main job's training alone. With the
    baselines playing in the background the single process was the faster job (the
    synchronous processes wait for each other whenever the background takes a core), so it
    stays the default (docs/scale.md).
    """
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "tacrefine.cli.train", *args]
    code = subprocess.run(command, check=False).returncode  # an argument list: no shell
    if code != 0:
        raise RuntimeError(f"training in {processes} processes failed (exit code {code}; its messages are above); "
                           "rerun to resume from the last finished epoch, or set train_processes=1")


def stage_data(cfg: MainConfig, out: Path) -> dict[str, Any]:
    from tacrefine.data.generate import generate_dataset

    summary = generate_dataset(cfg.data, out / "data", progress=cfg.progress)
    if not summary.complete:
        raise RuntimeError(f"dataset {out / 'data'} is incomplete after generation")
    return summary.as_dict()


def stage_train(cfg: MainConfig, out: Path) -> dict[str, Any]:
    from tacrefine.training.config import load_run_config
    from tacrefine.training.loop import finished_run, resume_run, train

    run_cfg = training_config(cfg, out)
    run_dir = out / "train"
    resume = [f"train.epochs={run_cfg.train.epochs}", f"train.progress={str(cfg.progress).lower()}",
              f"data.path={run_cfg.data.path}"]
    if (run_dir / "last.pt").is_file() and (run_dir / "config.yaml").is_file():
        check_resumable(load_run_config(run_dir / "config.yaml"), run_cfg)
        print(f"resuming training from {run_dir / 'last.pt'}", flush=True)
        if cfg.train_processes > 1:
            train_in_processes(["--resume", str(run_dir), "--set", *resume], cfg.train_processes)
            result = finished_run(run_dir)
        else:
            result = resume_run(run_dir, resume)
    elif cfg.train_processes > 1:
        request = out / "train_request.yaml"
        save_config(run_cfg, request)
        train_in_processes(["--config", str(request), "--overwrite"], cfg.train_processes)
        result = finished_run(run_dir)
    else:
        result = train(run_cfg, overwrite=True)
    from tacrefine.training.loop import time_to_precision
    from tacrefine.training.reporting import time_curve

    last = result.last
    return {"run_dir": str(result.run_dir), "epochs_done": result.epochs_done,
            "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
            "parameters": result.parameters, "initial_error": result.initial_error,
            "last_epoch": {k: v for k, v in last.items() if isinstance(v, (int, float))},
            "seconds_to_0.5mm": time_to_precision(result.history, rot_deg=math.inf),
            "seconds_to_0.5mm_0.5deg": time_to_precision(result.history), "curve": time_curve(result.history)}


def _protocol(cfg: MainConfig) -> Any:
    from tacrefine.evaluation.episodes.protocol import PRECISION_PROTOCOL

    return dataclasses.replace(PRECISION_PROTOCOL, baselines=cfg.evaluation.baselines)


def stage_train_with_prerun(cfg: MainConfig, out: Path) -> dict[str, Any]:
    """:func:`stage_train`, with the baselines' benchmark episodes playing in the background."""
    if not cfg.evaluation.prerun_baselines:
        return stage_train(cfg, out)
    from tacrefine.pipelines.prerun import BaselinePrerun

    prerun = BaselinePrerun(_protocol(cfg), cfg.evaluation.suites, out / "benchmark",
                            cfg.evaluation.episodes_per_object).start()
    try:
        result = stage_train(cfg, out)
    finally:
        outcome = prerun.stop()
    print(f"(the baselines' benchmark episodes meanwhile, in the background: {outcome})", flush=True)
    return result


def stage_benchmark(cfg: MainConfig, out: Path) -> dict[str, Any]:
    from tacrefine.evaluation.benchmarks.precision import run_precision_benchmark

    checkpoint = out / "train" / cfg.evaluation.checkpoint
    if not checkpoint.is_file():
        raise FileNotFoundError(f"no checkpoint {checkpoint}: training did not finish an epoch")
    protocol = _protocol(cfg)
    return run_precision_benchmark(str(checkpoint), out / "benchmark", protocol=protocol,
                                   suites=cfg.evaluation.suites,
                                   episodes_per_object=cfg.evaluation.episodes_per_object,
                                   progress=cfg.progress, plots=cfg.evaluation.plots,
                                   noisy=cfg.evaluation.noisy, workers=cfg.evaluation.workers)


def stage_parts(cfg: MainConfig, out: Path) -> dict[str, Any]:
    """The trained policy (and the noop and oracle baselines) on the user's own parts."""
    from tacrefine.evaluation.episodes.protocol import EvalConfig
    from tacrefine.evaluation.results.evaluate import run_evaluation

    checkpoint = out / "train" / cfg.evaluation.checkpoint
    hand = getattr(cfg.data.cell.gripper, "kind", "parallel_jaw")
    env_id = "tacrefine/GripRefineHand-v0" if hand == "three_finger" else "tacrefine/GripRefine-v0"
    eval_cfg = EvalConfig(objects=tuple(cfg.data.user_objects), env_id=env_id,
                          episodes_per_object=cfg.evaluation.episodes_per_object, progress=cfg.progress,
                          plots=cfg.evaluation.plots)
    specs = [str(checkpoint), "baseline:noop", "baseline:oracle"]
    report = run_evaluation(eval_cfg, specs, out / "parts")
    from tacrefine.evaluation.results.markdown import text_table
    from tacrefine.evaluation.results.trust import TRUST_HEADER, trust_rows, unfamiliar_warnings

    warnings = unfamiliar_warnings(report)
    print(text_table(TRUST_HEADER, trust_rows(report)), *warnings, sep="\n", flush=True)
    return {spec: report["results"][spec]["overall"]["success"] for spec in specs} | {"warnings": warnings}


@locked_output(lambda a: a["cfg"].out, "main job")
def run_main(cfg: MainConfig) -> dict[str, Any]:
    """Run (or resume) the three stages; returns the job summary (also ``OUT/summary.json``)."""
    from tacrefine.evaluation.results.report import precision_table, write_json

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "main_config.yaml")
    summary: dict[str, Any] = {"out": str(out), "stages": {}}
    t_job = time.perf_counter()
    stages = (("data", "dataset", stage_data), ("training", "training", stage_train_with_prerun),
              ("benchmark", "benchmark", stage_benchmark))
    if cfg.data.user_objects:  # --object PATH / user parts in data.objects: scored on their own too
        stages += (("parts", "your parts", stage_parts),)
    for i, (key, title, fn) in enumerate(stages, 1):
        print(f"\n=== [{i}/{len(stages)}] {title} ({out / ('train' if key == 'training' else key)}) ===",
              flush=True)
        t0 = time.perf_counter()
        result = fn(cfg, out)
        seconds = time.perf_counter() - t0
        summary["stages"][key] = {"seconds": round(seconds, 1), "result": result}
        print(f"--- {title} done in {seconds:.0f} s", flush=True)
        write_json(summary, out / "summary.json")
    summary["seconds"] = round(time.perf_counter() - t_job, 1)
    write_json(summary, out / "summary.json")
    bench = summary["stages"]["benchmark"]["result"]
    print("\n=== grip-precision benchmark: trained policy vs baselines ===")
    print(precision_table(bench))
    for name in bench["suites"]:
        plots = out / "benchmark" / name / "clean"
        print(f"\nplots ({name}): {plots}/ (error_vs_step.png, final_error_ecdf.png, success.png, tactile_*.png, "
              f"episode_*.gif); report: {plots / 'report.md'}")
    if bench.get("plots"):
        print(f"overview: {out / 'benchmark' / 'precision.png'}")
    if "parts" in summary["stages"]:
        print(f"your parts: {out / 'parts' / 'report.md'}")
        print(*summary["stages"]["parts"]["result"].get("warnings", []), sep="\n")
    print(f"training curves: {out / 'train' / 'curves.png'}; summary: {out / 'summary.json'}; "
          f"total {summary['seconds']:.0f} s")
    return summary


__all__ = ["MainConfig", "MainEvaluation", "SMOKE", "hand_data_defaults", "load_main_config", "run_main",
           "stage_benchmark",
           "stage_data", "stage_parts", "stage_train", "stage_train_with_prerun", "training_config"]

