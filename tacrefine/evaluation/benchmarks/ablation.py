"""The paper's finger ablation: two fingers against three, on the same objects.

TacRefineNet v2 reports two fingers clearly worse than three. A variant is a hand (the
suite's env takes ``hand=``: ``three_finger`` or ``parallel_jaw``, on the same rods, plates
and discs) and optionally the fingertips whose touch the network reads
(``model.fingers_used``; every finger's joints are still read). Every variant gets the
*same data budget* (the same generation config and seed, on its own hand; variants on the
same hand share one dataset) and the *same training budget* (steps, batch, seed), and is
scored on the same seeded episodes of the suite's objects.

Stages resume like the main job: finished shards and finished training runs are kept.
Output: ``OUT/data_<hand>``, ``OUT/<variant>/`` (runs), ``OUT/eval_<variant>/`` (reports),
``OUT/ablation.json``.
"""

from __future__ import annotations

import dataclasses
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
    require_int,
    to_dict,
)
from tacrefine.evaluation.episodes.protocol import SUITES, threshold_key
from tacrefine.evaluation.results.markdown import _pct, text_table


def _data_defaults() -> Any:
    from tacrefine.data.paper_task import hand_data_defaults

    return dataclasses.replace(hand_data_defaults(), samples_per_object=150, shard_size=150)


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
        training: the training run every variant shares (a ``RunConfig``; ``model.fingers_used``
            is set per variant).
        variants: ``{name: {hand: NAME, fingers_used: [indices] or null}}``.
        objects: scored objects; empty = the suite's objects (the same for every variant).
        episodes_per_object: scored episodes per object and target mode.
        target_modes: ``fixed`` and/or ``random``.
        seed: base seed of the scored episodes.
        progress, plots: progress bars; evaluation plots.
    """

    suite: str = "hand"
    data: Any = field(default_factory=_data_defaults)
    dataset: str | None = None
    training: Any = field(default_factory=_training_defaults)
    variants: dict[str, Any] = field(default_factory=lambda: {
        "three_finger": {"hand": "three_finger", "fingers_used": None},
        "two_finger": {"hand": "parallel_jaw", "fingers_used": None}})
    objects: tuple[str, ...] = ()
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
        from tacrefine.sim.hands import HANDS

        require(isinstance(self.variants, dict) and len(self.variants) >= 2, "variants",
                "a mapping of at least two {name: {hand: NAME, fingers_used: [...] or null}}", self.variants)
        for name, v in self.variants.items():
            require(isinstance(v, dict) and set(v) <= {"hand", "fingers_used"} and "hand" in v, f"variants.{name}",
                    "a mapping {hand: NAME, fingers_used: [finger indices] or null}", v)
            require(v["hand"] in HANDS, f"variants.{name}.hand", f"one of {list(HANDS.names())}", v["hand"])
            fingers = v.get("fingers_used")
            require(fingers is None or (isinstance(fingers, (list, tuple)) and len(fingers) >= 1),
                    f"variants.{name}.fingers_used", "null (all fingers) or a non-empty list of finger indices",
                    fingers)
        require_int("episodes_per_object", self.episodes_per_object, 1)
        object.__setattr__(self, "target_modes", tuple(self.target_modes))


def load_ablation_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> AblationConfig:
    """Embedded defaults, then a YAML file, then ``key=value`` overrides (merged field by field)."""
    data: dict[str, Any] = to_dict(AblationConfig())
    layers = []
    if path is not None:
        loaded = read_yaml_mapping(path)
        layers.append(loaded)
    layers.append(parse_overrides(overrides))
    for layer in layers:
        data = merge(data, layer)
        if "variants" in layer:  # replaced, not merged: naming two variants means those two
            data["variants"] = layer["variants"]
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
    from tacrefine.data.generate import generate_dataset
    from tacrefine.evaluation.episodes.protocol import EvalConfig
    from tacrefine.evaluation.results.evaluate import run_evaluation
    from tacrefine.evaluation.results.report import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    suite = SUITES[cfg.suite]
    if not suite.available():
        raise ConfigError(f"suite: {cfg.suite!r} needs env {suite.env_id}, which is not registered")
    objects = tuple(cfg.objects) or suite.object_names()
    data_dirs: dict[str, Path] = {}
    variants: dict[str, Any] = {}
    for name, v in cfg.variants.items():
        hand = v["hand"]
        if hand not in data_dirs:
            if cfg.dataset and hand == cfg.data.hand:
                data_dirs[hand] = Path(cfg.dataset)
                require(data_dirs[hand].is_dir(), "dataset", "an existing dataset directory", cfg.dataset)
            else:
                data_dirs[hand] = out / f"data_{hand}"
                data_cfg = dataclasses.replace(cfg.data, hand=hand)
                done = generate_dataset(data_cfg, data_dirs[hand], progress=cfg.progress)
                require(done.complete, "data", "a dataset that generation completed", str(data_dirs[hand]))
        checkpoint = _train_variant(cfg, data_dirs[hand], out / name, v.get("fingers_used"))
        eval_cfg = EvalConfig(objects=objects, env_id=suite.env_id, episodes_per_object=cfg.episodes_per_object,
                              target_modes=cfg.target_modes, max_steps=5, seed=cfg.seed,
                              env_kwargs={**dict(suite.env_kwargs), "hand": hand}, plots=cfg.plots,
                              progress=cfg.progress)
        report = run_evaluation(eval_cfg, [str(checkpoint)], out / f"eval_{name}")
        res = report["results"][str(checkpoint)]
        overall = res["overall"]
        variants[name] = {
            "hand": hand, "fingers_used": v.get("fingers_used"), "checkpoint": str(checkpoint),
            "dataset": str(data_dirs[hand]), "episodes": overall["episodes"], "success": overall["success"],
            "lost": overall["lost"],
            "final_position_error_mm_median": overall["final"]["position_error_mm"]["median"],
            "final_rotation_error_deg_median": overall["final"]["rotation_error_deg"]["median"],
            "by_class": {k: v2["success"] for k, v2 in res["by_class"].items()},
            "report": f"eval_{name}/report.json",
        }
        prov = report["provenance"]
    summary = {
        "schema": "tacrefine.benchmark.ablation", "schema_version": 1, "suite": cfg.suite,
        "env_id": suite.env_id, "objects": list(objects), "config": to_dict(cfg), "variants": variants,
        "paper_v2": "two fingers clearly worse than three (simulation ablation)", "provenance": prov,
    }
    write_json(summary, out / "ablation.json")
    return summary


def ablation_table(summary: dict[str, Any]) -> str:
    """Variants side by side at the success pairs that matter most."""
    keys = [threshold_key(5, 5), threshold_key(2, 2), threshold_key(1, 1)]
    rows = [[name, v["hand"], "all" if v["fingers_used"] is None else ",".join(map(str, v["fingers_used"])),
             str(v["episodes"]), *[_pct(v["success"][k]) for k in keys],
             f"{v['final_position_error_mm_median']:.2f}/{v['final_rotation_error_deg_median']:.2f}", str(v["lost"])]
            for name, v in summary["variants"].items()]
    header = ["variant", "hand", "touch of fingers", "eps", "5/5 %", "2/2 %", "1/1 %", "final med mm/deg", "lost"]
    return text_table(header, rows) + f"\nsuite {summary['suite']} ({summary['env_id']}); same data and budget"
