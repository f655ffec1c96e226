"""Command line of calibration: argument parsing only; the work is in :mod:`tacrefine.pipelines.calibrate`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tacrefine.cli.errors import cli_entry

MODES = {"fixed": ("fixed",), "random": ("random",), "both": ("fixed", "random")}


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    from tacrefine.pipelines.calibrate import DEFAULT_SEED

    parser = argparse.ArgumentParser(
        prog=prog or "calibrate.py",
        description="Calibrate the unfamiliar-part flag of a checkpoint with an error head: run no-oracle "
                    "episodes (the self-checking controller) on held-out reset seeds of the checkpoint's own "
                    "training parts, set self_assessment.unfamiliar_sigma to the quantile of the largest "
                    "per-episode sigma score that gives --false-alarm on the episodes that succeed at 5 mm / "
                    "5 deg, and write a copy of the checkpoint with it (plus calibration.json / .md).",
        epilog="example:\n  tacrefine calibrate runs/jaw/best.pt --out runs/jaw/calibrated.pt --workers 2\n"
               "Rerunning the same command resumes from the episodes already played (OUT.calibration/.jobs);\n"
               "a different --false-alarm then only recomputes the threshold.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="checkpoint (.pt) whose network has an error head")
    parser.add_argument("--suite", help="jaw (parallel jaw) or hand (three fingers); default: the checkpoint's gripper")
    parser.add_argument("--parts", type=int, default=52,
                        help="training parts to play, spread over the checkpoint's families (default 52)")
    parser.add_argument("--episodes", type=int, default=5, help="episodes per part and target mode (default 5)")
    parser.add_argument("--mode", default="both", help="target mode: fixed, random or both (default both)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"base of the reset seeds (default {DEFAULT_SEED}, held out from the benchmarks')")
    parser.add_argument("--false-alarm", type=float, default=0.05,
                        help="share of succeeding calibration episodes the head may flag (default 0.05)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (results do not depend on it)")
    parser.add_argument("--out", help="calibrated copy to write (default: CHECKPOINT_calibrated.pt beside it)")
    parser.add_argument("--report", help="report folder (default: OUT.calibration)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from tacrefine.config import require_choice
    from tacrefine.pipelines.calibrate import CalibrateConfig, calibrate

    require_choice("--mode", args.mode, tuple(MODES))
    source = Path(args.checkpoint)
    out = args.out or str(source.with_name(f"{source.stem}_calibrated.pt"))
    cfg = CalibrateConfig(checkpoint=str(source), out=out, suite=args.suite, parts=args.parts,
                          episodes=args.episodes, modes=MODES[args.mode], seed=args.seed,
                          false_alarm=args.false_alarm, workers=args.workers, report=args.report,
                          progress=not args.no_progress)
    report = calibrate(cfg)
    after = report["after"]
    print(f"wrote {out}: unfamiliar_sigma {report['unfamiliar_sigma']:.3f} (was "
          f"{report['previous_unfamiliar_sigma']:.3f}); on {report['episodes']} calibration episodes "
          f"({report['succeeding']} succeed at 5/5): head false alarm {100 * after['head_false_alarm']:.1f} %, "
          f"whole flag {100 * after['flag_false_alarm']:.1f} %; report in {cfg.report_dir}")
    return 0
