"""Command line of ``scripts/main.py``: argument parsing only (the job: :mod:`tacrefine.pipelines.main_job`)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence

from tacrefine.cli.arguments import add_units_argument
from tacrefine.cli.errors import cli_entry, fail
from tacrefine.config import ConfigError
from tacrefine.pipelines.main_job import (  # noqa: F401  (the job's names, re-exported from their old home)
    SMOKE,
    MainConfig,
    MainEvaluation,
    check_resumable,
    hand_data_defaults,
    load_main_config,
    run_main,
    stage_benchmark,
    stage_data,
    stage_parts,
    stage_train,
    training_config,
)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "main.py",
        description="Generate a dataset, train TacRefineNet, benchmark it against the baselines. Re-running "
                    "the same command resumes: finished dataset shards are kept, training continues from "
                    "last.pt, the benchmark is redone.",
        epilog="examples:\n"
               "  python scripts/main.py                          # embedded defaults, the hand suite\n"
               "  python scripts/main.py --smoke                  # the whole chain in ~1 min\n"
               "  python scripts/main.py --config configs/main.yaml --set training.train.epochs=20 "
               "--out runs/long",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file (sections out, progress, data, training, evaluation)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[],
                        metavar="KEY=VALUE",
                        help="overrides, e.g. data.samples_per_object=400 training.train.epochs=5")
    parser.add_argument("--out", help="output directory (default: the config's out, runs/main)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a pipeline check in ~1 minute")
    parser.add_argument("--object", dest="object_paths", action="append", default=[], metavar="PATH",
                        help="a part file (.urdf or a mesh: .obj .stl .ply .glb .gltf .dae .3mf) to add to the data "
                             "and to score the trained policy on (OUT/parts/); repeat for several")
    add_units_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    from tacrefine.data.storage import DatasetError
    from tacrefine.policy.checkpoint import CheckpointError

    overrides = list(args.overrides)
    if args.out:
        overrides.append(f"out={args.out}")
    if args.no_progress:
        overrides.append("progress=false")
    try:
        cfg = load_main_config(args.config, overrides, smoke=args.smoke)
        if args.object_paths:
            from tacrefine.sim.object_lists import part_mapping

            parts = tuple(part_mapping(p, units=args.units) for p in args.object_paths)
            cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, objects=(*cfg.data.objects, *parts)))
        print(f"main job -> {cfg.out}: {len(cfg.data.objects)} objects x "
              f"{cfg.data.samples_per_object} grasps; "
              f"{cfg.training.train.epochs} epochs x {cfg.training.train.steps_per_epoch} steps x "
              f"{cfg.training.train.batch_size} pairs; benchmark vs {', '.join(cfg.evaluation.baselines)}",
              flush=True)
        run_main(cfg)
    except (ConfigError, DatasetError, CheckpointError, FileNotFoundError, FileExistsError) as exc:
        return fail(exc)
    return 0


__all__ = ["MainConfig", "MainEvaluation", "SMOKE", "load_main_config", "main", "run_main"]
