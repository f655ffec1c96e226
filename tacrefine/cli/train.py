"""Command line of training: argument parsing only, the work is in :mod:`tacrefine.training`."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
from collections.abc import Sequence

from tacrefine.cli.errors import cli_entry, fail
from tacrefine.config import ConfigError


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "train.py",
        description="Train TacRefineNet on a grasp dataset. The resolved config, metrics.csv, curves.png, "
                    "last.pt and best.pt are written to train.out_dir.",
        epilog="examples:\n"
               "  python scripts/train.py --config configs/smoke.yaml\n"
               "  python scripts/train.py --config configs/default.yaml \\\n"
               "      --set train.epochs=5 data.path=data/mine\n"
               "  python scripts/train.py --config configs/default.yaml \\\n"
               "      --set 'data.path=[data/old,data/new]'   # the union of two datasets\n"
               "  python scripts/train.py --resume runs/default\n"
               "  python scripts/train.py --init tacrefine/policy/pretrained/tacrefinenet.pt \\\n"
               "      --set data.path=data/real train.out_dir=runs/finetuned finetune.freeze_encoder=true",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="YAML run configuration (defaults of RunConfig if omitted)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[],
                        metavar="KEY=VALUE",
                        help="dotted overrides, e.g. train.epochs=5 optim.lr=1e-3 model.use_touch=false")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR from last.pt (only train.epochs, "
                             "train.progress and data.path may be overridden)")
    parser.add_argument("--init", metavar="CHECKPOINT",
                        help="fine-tune: start from this trained policy's weights and normaliser (refused, "
                             "with what differs, if it does not fit the model); see also finetune.mix and "
                             "finetune.freeze_encoder")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in an out_dir that already holds a run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    from tacrefine.runtime import configure_threads

    configure_threads(brief_spin=True)  # training alone: see tacrefine.runtime (before torch loads)
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    from tacrefine.data.storage import DatasetError
    from tacrefine.policy.checkpoint import CheckpointError
    from tacrefine.training.config import load_run_config
    from tacrefine.training.loop import resume_run, train

    overrides = list(args.overrides) + (["train.progress=false"] if args.no_progress else [])
    try:
        if args.resume:
            if args.init:
                raise ConfigError("--init: not used with --resume (the run continues from its last.pt)")
            if args.config:
                raise ConfigError("--config: not used with --resume (the run's own config.yaml is)")
            result = resume_run(args.resume, overrides)
        else:
            cfg = load_run_config(args.config, overrides)
            if args.init:
                cfg = dataclasses.replace(cfg, finetune=dataclasses.replace(cfg.finetune, init=args.init))
            result = train(cfg, overwrite=args.overwrite)
    except (ConfigError, CheckpointError, DatasetError, FileExistsError, FileNotFoundError) as exc:
        return fail(exc)
    last = result.last
    print(f"run: {result.run_dir}  parameters: {result.parameters}  epochs: {result.epochs_done}  "
          f"best val loss {result.best_val_loss:.4f} (epoch {result.best_epoch})")
    if last:
        parts = []
        for key, unit in (("pos", "mm"), ("rot", "deg")):
            med, p90 = last[f"val_{key}_median_{unit}"], last[f"val_{key}_p90_{unit}"]
            init = result.initial_error[f"{key}_median_{unit}"]
            if not math.isnan(med):
                parts.append(f"{key} median {med:.3f} {unit} (p90 {p90:.3f}; uncorrected {init:.3f})")
        print("last epoch validation: " + ", ".join(parts) + f"; {last['samples_per_s']:.0f} samples/s")
    return 0


if __name__ == "__main__":  # python -m tacrefine.cli.train (how the main job starts data-parallel training)
    raise SystemExit(main())
