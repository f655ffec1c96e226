"""The paper's finger ablation: how much does the third finger's touch add?

TacRefineNet v2 reports two fingers clearly worse than three. Here both variants learn
from the *same* dataset (one generation run on the suite's hand and objects) with the *same*
training budget (steps, batch, seed); they differ only in which fingertips' tactile images
the network reads (``model.fingers_used``; every finger's joints are still read: encoders
are not touch). Both are then scored on the same seeded episodes of the suite.

Stages resume like the main job: finished shards and finished training runs are kept.
Output: ``OUT/data``, ``OUT/<variant>/`` (runs), ``OUT/eval/`` (report), ``OUT/ablation.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tacrefine.config import ConfigError, from_dict, merge, parse_overrides, require, require_int, to_dict
from tacrefine.evaluation.markdown import _pct, text_table
from tacrefine.evaluation.protocol import SUITES, threshold_key


def _data_defaults() -> Any:
    from tacrefine.cli.main_job import hand_data_defaults

    return dataclasses.replace(hand_data_defaults(), samples_per_object=120, shard_size=120)


def _training_defaults() -> Any:
    from tacrefine.training.config import DataRef, OptimConfig, RunConfig, TrainConfig

    return RunConfig(data=DataRef(val_fraction=0.1, val_pairs=1024, norm_pairs=4096),
                     optim=OptimConfig(lr=2e-3, warmup_steps=50),
                     train=TrainConfig(epochs=4, steps_per_epoch=150, batch_size=64, num_threads=1))


@dataclass(frozen=True)
class AblationConfig:
    """The ablation run.

    Attributes:
        suite: the benchmark suite whose env scores the variants (``hand``).
        data: the dataset both variants learn from (a :class:`~tacrefine.data.generate.DataConfig`).
        dataset: an existing dataset directory to use instead of generating ``data``.
        training: the training run both variants share (a ``RunConfig``; ``model.fingers_used``
            is set per variant).
        variants: ``{name: finger indices whose touch is read}`` (``null`` = all fingers).
        episodes_per_object: scored episodes per object and target mode.
        target_modes: ``fixed`` and/or ``random``.
        seed: base seed of the scored episodes.
        progress, plots: progress bars; evaluation plots.
    """

    suite: str = "hand"
    data: Any = field(default_factory=_data_defaults)
    dataset: str | None = None
    training: Any = field(default_factory=_training_defaults)
    variants: dict[str, Any] = field(default_factory=lambda: {"3_fingers": None, "2_fingers": [0, 1]})
    episodes_per_object: int = 3
    target_modes: tuple[str, ...] = ("fixed",)
    seed: int = 20250929
    progress: bool = True
    plots: bool = True

    def __post_init__(self) -> None:
        from tacrefine.data.generate import DataConfig
        from tacrefine.training.config import RunConfig

        require(self.suite in SUITES, "suite", f"one of {list(SUITES)}", self.suite)
        if isinstance(self.data, dict):
            object.__setattr__(self, "data", from_dict(DataConfig, self.data, prefix="data."))
        if isinstance(self.training, dict):
            object.__setattr__(self, "training", from_dict(RunConfig, self.training, prefix="training."))
        require(isinstance(self.variants, dict) and len(self.variants) >= 2, "variants",
                "a mapping of at least two {name: [finger indices] or null}", self.variants)
        for name, fingers in self.variants.items():
            require(fingers is None or (isinstance(fingers, (list, tuple)) and len(fingers) >= 1),
                    f"variants.{name}", "null (all fingers) or a non-empty list of finger indices", fingers)
        require_int("episodes_per_object", self.episodes_per_object, 1)
        object.__setattr__(self, "target_modes", tuple(self.target_modes))


def load_ablation_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> AblationConfig:
    """Embedded defaults, then a YAML file, then ``key=value`` overrides (merged field by field)."""
    data: dict[str, Any] = to_dict(AblationConfig())
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        require(isinstance(loaded, dict), str(path), "a YAML mapping at the top level", type(loaded).__name__)
        data = merge(data, loaded)
    data = merge(data, parse_overrides(overrides))
    # the variants mapping is replaced, not merged: a YAML that names two variants means those two
    if path is not None and "variants" in (loaded or {}):
        data["variants"] = loaded["variants"]
    return from_dict(AblationConfig, data)


def _train_variant(cfg: AblationConfig, data_dir: Path, run_dir: Path, fingers: Any) -> Path:
    """Train (or resume) one variant; returns its best checkpoint."""
    from tacrefine.training.loop import resume_run, train

    run = cfg.training
    run = dataclasses.replace(
        run, data=dataclasses.replace(run.data, path=str(data_dir)),
        model=dataclasses.replace(run.model, fingers_used=None if fingers is None else tuple(fingers)),
        train=dataclasses.replace(run.train, out_dir=str(run_dir), progress=cfg.progress))
    if (run_dir / "last.pt").is_file() and (run_dir / "config.yaml").is_file():
        resume_run(run_dir, [f"train.epochs={run.train.epochs}", f"train.progress={str(cfg.progress).lower()}"])
    else:
        train(run, overwrite=True)
    return run_dir / "best.pt"


def run_ablation(cfg: AblationConfig, out: str | Path) -> dict[str, Any]:
    """Generate (or reuse) the data, train every variant, score them; writes ``ablation.json``."""
    from tacrefine.evaluation.protocol import EvalConfig
    from tacrefine.evaluation.report import write_json
    from tacrefine.evaluation.runner import run_evaluation

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    suite = SUITES[cfg.suite]
    if not suite.available():
        raise ConfigError(f"suite: {cfg.suite!r} needs env {suite.env_id}, which is not registered")
    if cfg.dataset:
        data_dir = Path(cfg.dataset)
        require(data_dir.is_dir(), "dataset", "an existing dataset directory", cfg.dataset)
    else:
        from tacrefine.data.generate import generate_dataset

        data_dir = out / "data"
        summary = generate_dataset(cfg.data, data_dir, progress=cfg.progress)
        require(summary.complete, "data", "a dataset that generation completed", str(data_dir))
    checkpoints = {name: str(_train_variant(cfg, data_dir, out / name, fingers))
                   for name, fingers in cfg.variants.items()}
    eval_cfg = EvalConfig(objects=suite.object_names(), env_id=suite.env_id,
                          episodes_per_object=cfg.episodes_per_object, target_modes=cfg.target_modes,
                          max_steps=5, seed=cfg.seed, env_kwargs=dict(suite.env_kwargs), plots=cfg.plots,
                          progress=cfg.progress)
    report = run_evaluation(eval_cfg, list(checkpoints.values()), out / "eval")
    variants = {}
    for name, path in checkpoints.items():
        res = report["results"][path]
        overall = res["overall"]
        variants[name] = {
            "fingers_read": cfg.variants[name], "checkpoint": path, "episodes": overall["episodes"],
            "success": overall["success"], "lost": overall["lost"],
            "final_position_error_mm_median": overall["final"]["position_error_mm"]["median"],
            "final_rotation_error_deg_median": overall["final"]["rotation_error_deg"]["median"],
            "by_class": {k: v["success"] for k, v in res["by_class"].items()},
        }
    summary = {
        "schema": "tacrefine.benchmark.ablation", "schema_version": 1, "suite": cfg.suite,
        "env_id": suite.env_id, "dataset": str(data_dir), "config": to_dict(cfg), "variants": variants,
        "paper_v2": "two fingers clearly worse than three (simulation ablation)",
        "report": "eval/report.json", "provenance": report["provenance"],
    }
    write_json(summary, out / "ablation.json")
    return summary


def ablation_table(summary: dict[str, Any]) -> str:
    """Variants side by side at the success pairs that matter most."""
    keys = [threshold_key(5, 5), threshold_key(2, 2), threshold_key(1, 1)]
    rows = [[name, "all" if v["fingers_read"] is None else ",".join(map(str, v["fingers_read"])),
             str(v["episodes"]), *[_pct(v["success"][k]) for k in keys],
             f"{v['final_position_error_mm_median']:.2f}/{v['final_rotation_error_deg_median']:.2f}", str(v["lost"])]
            for name, v in summary["variants"].items()]
    header = ["variant", "touch of fingers", "eps", "5/5 %", "2/2 %", "1/1 %", "final med mm/deg", "lost"]
    return text_table(header, rows) + f"\nsuite {summary['suite']} ({summary['env_id']}); same data and budget"
