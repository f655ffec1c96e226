"""Command line of the benchmarks: argument parsing only (work: :mod:`tacrefine.evaluation`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tacrefine.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmark.py",
        description="Grip-precision benchmark (fixed protocol: default objects, env offset ranges, fixed "
                    "seeds, 5 steps, fixed and random targets, plus a noisy + randomised condition) and "
                    "speed benchmark.",
        epilog="examples:\n"
               "  python scripts/benchmark.py precision --out runs/bench    # pretrained, if shipped\n"
               "  python scripts/benchmark.py precision --policy runs/main/train/best.pt --out runs/bench\n"
               "  python scripts/benchmark.py speed --out runs/bench\n"
               "  python scripts/benchmark.py all --policy runs/main/train/best.pt --out runs/bench",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("precision", "success and errors of the learned policy and all baselines"),
                       ("speed", "frames, re-grasps, env steps, data generation, training, latency"),
                       ("all", "precision, then speed")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--out", required=True, help="output directory")
        if name != "speed":
            p.add_argument("--policy", default=None, metavar="SPEC",
                           help="learned policy: a checkpoint path or 'pretrained' (default: pretrained if "
                                "the package ships it, otherwise baselines only)")
            p.add_argument("--episodes-per-object", type=int, default=None,
                           help="override the protocol's episodes per object (marks the result off-protocol)")
            p.add_argument("--no-plots", action="store_true", help="reports without plots")
            p.add_argument("--no-progress", action="store_true", help="no progress bars")
        if name != "precision":
            p.add_argument("--quick", action="store_true", help="shorter speed timings (less precise)")
    return parser


def resolve_learned(spec: str | None) -> tuple[str | None, str | None]:
    """The learned policy to benchmark and, when there is none, why."""
    from tacrefine.policy.registry import PRETRAINED_NAME, pretrained_checkpoint

    if spec is None:
        if pretrained_checkpoint().is_file():
            return PRETRAINED_NAME, None
        return None, (f"no pretrained checkpoint is shipped ({pretrained_checkpoint()}); benchmarking the "
                      "baselines only - pass --policy runs/<run>/best.pt to include a trained policy")
    if spec.startswith("baseline:"):
        raise ConfigError(f"--policy {spec}: baselines always run; --policy names the learned policy")
    path = pretrained_checkpoint() if spec == PRETRAINED_NAME else Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"--policy {spec}: no checkpoint at {path}")
    return spec, None


def precision(args: argparse.Namespace) -> int:
    from tacrefine.evaluation.report import precision_table
    from tacrefine.evaluation.runner import run_precision_benchmark

    learned, why = resolve_learned(args.policy)
    if why:
        print(f"note: {why}", flush=True)
    summary = run_precision_benchmark(learned, args.out, episodes_per_object=args.episodes_per_object,
                                      progress=not args.no_progress, plots=not args.no_plots)
    out = Path(args.out)
    print()
    print("grip-precision benchmark")
    print(precision_table(summary))
    print(f"\nwritten: {out / 'precision.json'}; full reports and plots in {out / 'clean'}"
          + (f" and {out / 'noisy_dr'}" if summary.get("robustness") else ""))
    return 0


def speed(args: argparse.Namespace) -> int:
    from tacrefine.evaluation.speed import SpeedConfig, run_speed, speed_table, write_speed

    cfg = SpeedConfig(min_seconds=0.5, env_episodes=5, generation_samples_per_object=40) if args.quick \
        else SpeedConfig()
    result = run_speed(cfg)
    path = write_speed(result, args.out)
    print()
    print("speed benchmark (one core unless stated)")
    print(speed_table(result))
    print(f"\nwritten: {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from tacrefine.training.checkpoint import CheckpointError
    except ImportError:
        CheckpointError = RuntimeError  # noqa: N806
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        if args.command in ("precision", "all"):
            code = precision(args)
            if code:
                return code
        if args.command in ("speed", "all"):
            return speed(args)
    except (ConfigError, CheckpointError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
