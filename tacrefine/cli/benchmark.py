"""Command line of the benchmarks: argument parsing only (work: :mod:`tacrefine.evaluation`)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from pathlib import Path

from tacrefine.cli.errors import cli_entry, fail
from tacrefine.config import ConfigError
from tacrefine.lock import output_lock


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "benchmark.py",
        description="Grip-precision benchmark (fixed protocol per suite - the parallel jaw and the paper's "
                    "three-finger task: each suite's objects and offset ranges, fixed seeds, 5 steps, fixed and "
                    "random targets, per object class, plus a noisy + randomised condition), the paper's 2- vs "
                    "3-finger ablation, and the speed benchmark.",
        epilog="examples:\n"
               "  python scripts/benchmark.py precision --out runs/bench    # the shipped checkpoints\n"
               "  python scripts/benchmark.py precision --suite hand --policy runs/main/train/best.pt "
               "--out runs/bench\n"
               "  python scripts/benchmark.py ablation --out runs/ablation   # two small training runs\n"
               "  python scripts/benchmark.py speed --out runs/bench\n"
               "  python scripts/benchmark.py scale --out runs/bench    # workers, Ray, training memory\n"
               "  python scripts/benchmark.py parts --out runs/parts    # unseen parts by path, random_urdfs\n"
               "  python scripts/benchmark.py all --out runs/bench\n"
               "  python scripts/benchmark.py transfer --out runs/bench    # sim -> real-like fine-tuning",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("precision", "success and errors of the learned policy and all baselines"),
                       ("ablation", "2 vs 3 fingers of touch: same hand data, same training budget"),
                       ("speed", "frames, re-grasps, env steps, data generation, training, latency"),
                       ("parts", "parts never seen, by path only: held-out parts, PyBullet's random_urdfs"),
                       ("all", "precision, ablation, then speed"),
                       ("figures", "print the README's figures (Markdown) from the JSON files in --out")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--out", required=True, help="output directory")
        if name in ("precision", "all"):
            p.add_argument("--suite", dest="suites", nargs="+", default=None, metavar="SUITE",
                           help="suites to run (default: all of the protocol's: jaw hand)")
            p.add_argument("--stop", choices=("policy", "oracle"), default="policy",
                           help="how episodes end: policy = no oracle, the policy decides (default); oracle = the "
                                "old protocol (the env ends an episode once within 1 mm / 1 deg)")
            p.add_argument("--workers", type=int, default=1, help="local worker processes (results do not depend "
                                                                   "on it; 1)")
        if name in ("ablation", "all"):
            p.add_argument("--config", dest="ablation_config", default=None,
                           help="ablation YAML, e.g. configs/ablation_families.yaml (default: the embedded small one)")
            p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[],
                           metavar="KEY=VALUE", help="ablation overrides, e.g. train.epochs=4")
        if name not in ("speed", "figures"):
            p.add_argument("--policy", default=None, metavar="SPEC",
                           help="learned policy: a checkpoint path or 'pretrained' (default: pretrained if "
                                "the package ships it, otherwise baselines only)")
            p.add_argument("--episodes-per-object", type=int, default=None,
                           help="override the protocol's episodes per object (marks the result off-protocol)")
            p.add_argument("--no-plots", action="store_true", help="reports without plots")
            p.add_argument("--no-progress", action="store_true", help="no progress bars")
        if name == "parts":
            p.add_argument("--per-family", type=int, default=2, help="held-out seeds per jaw family (2)")
            p.add_argument("--random-urdfs", type=int, default=100, help="PyBullet random_urdfs to try (100)")
            p.add_argument("--decomposition-only", action="store_true",
                           help="only time the convex decomposition of a 50k-triangle non-convex part")
        if name in ("speed", "all"):
            p.add_argument("--quick", action="store_true", help="shorter speed timings (less precise)")
    sc = sub.add_parser("scale", help="grasps/s on 1 and 2 local workers and on Ray, training pairs/s, training "
                                      "peak memory vs dataset size",
                        description="Scale-out figures: the same generation job on 1 and 2 local workers and a "
                                    "local Ray (2 CPUs; shards compared), training throughput, and training peak "
                                    "RSS on 10k, 100k and 1M samples (images streamed from the shards; the "
                                    "largest also loaded into memory). Writes scale.json.")
    sc.add_argument("--out", required=True, help="output directory (scale.json)")
    sc.add_argument("--quick", action="store_true", help="a smaller job and 2k / 20k samples (less precise)")
    sc.add_argument("--no-ray", action="store_true", help="leave out the Ray run")
    sc.add_argument("--no-progress", action="store_true", help="no progress lines")
    tr = sub.add_parser("transfer", help="sim-only vs real-like-only vs pre-trained + fine-tuned on a real-like "
                                         "sensor domain (docs/sensors.md)",
                        description="Generate simulated (piezo_11x9) and real-like data, train three small "
                                    "policies, score them on GripRefine-v0(sensor=real_like, domain "
                                    "randomisation) at 2 mm / 2 deg.")
    tr.add_argument("--out", required=True, help="output directory (transfer.json)")
    tr.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="FIELD=VALUE",
                    help="TransferConfig overrides, e.g. episodes_per_object=20 real_per_object=100")
    tr.add_argument("--no-progress", action="store_true", help="no progress lines")
    return parser


def transfer(args: argparse.Namespace) -> int:
    from tacrefine.config import load_config
    from tacrefine.evaluation.benchmarks.transfer import TransferConfig, run_transfer, transfer_table

    cfg = load_config(TransferConfig, None, args.overrides)
    result = run_transfer(cfg, args.out, progress=not args.no_progress)
    print()
    print("transfer benchmark: on the real-like domain (sensor real_like + domain randomisation)")
    print(transfer_table(result))
    gain = result["finetuned_minus_sim_only"]
    print(f"fine-tuned minus simulation-only, success points: 2 mm / 2 deg after the first step "
          f"{gain['success_2mm_2deg_first_step'] * 100:+.1f}, at the end {gain['success_2mm_2deg'] * 100:+.1f}; "
          f"1 mm / 1 deg at the end {gain['success_1mm_1deg'] * 100:+.1f}\nwritten: {result['path']}")
    return 0


def resolve_learned(spec: str | None) -> tuple[str | None, str | None]:
    """The learned policy to benchmark and, when there is none, why. ``pretrained`` picks, per
    suite, the shipped checkpoint that fits the suite's env."""
    from tacrefine.policy.registry import PRETRAINED_NAME, pretrained_checkpoints

    if spec is None or spec == PRETRAINED_NAME:
        if pretrained_checkpoints():
            return PRETRAINED_NAME, None
        if spec is None:
            return None, ("no pretrained checkpoint is shipped; benchmarking the baselines only - pass "
                          "--policy runs/<run>/best.pt to include a trained policy")
        raise FileNotFoundError(f"--policy {spec}: no pretrained checkpoint is shipped")
    if spec.startswith("baseline:"):
        raise ConfigError(f"--policy {spec}: baselines always run; --policy names the learned policy")
    if not Path(spec).is_file():
        raise FileNotFoundError(f"--policy {spec}: no checkpoint at {spec}")
    return spec, None


def precision(args: argparse.Namespace) -> int:
    from tacrefine.evaluation.benchmarks.precision import run_precision_benchmark
    from tacrefine.evaluation.results.report import precision_table

    learned, why = resolve_learned(args.policy)
    if why:
        print(f"note: {why}", flush=True)
    import dataclasses

    from tacrefine.evaluation.episodes.protocol import PRECISION_PROTOCOL

    protocol = dataclasses.replace(PRECISION_PROTOCOL, stop=args.stop)
    summary = run_precision_benchmark(learned, args.out, protocol=protocol, suites=args.suites,
                                      episodes_per_object=args.episodes_per_object,
                                      progress=not args.no_progress, plots=not args.no_plots, workers=args.workers)
    out = Path(args.out)
    print()
    print("grip-precision benchmark")
    print(precision_table(summary))
    print(f"\nwritten: {out / 'precision.json'}"
          + (f", {out / 'precision.png'}" if summary.get("plots") else "")
          + "; full reports and plots in " + ", ".join(f"{out / name}/clean" for name in summary["suites"]))
    return 0


def ablation(args: argparse.Namespace) -> int:
    from tacrefine.evaluation.benchmarks.ablation import ablation_table, load_ablation_config, run_ablation

    overrides = list(args.overrides)
    if args.no_progress:
        overrides.append("progress=false")
    if args.no_plots:
        overrides.append("plots=false")
    if args.episodes_per_object is not None:
        overrides.append(f"episodes_per_object={args.episodes_per_object}")
    cfg = load_ablation_config(args.ablation_config, overrides)
    summary = run_ablation(cfg, Path(args.out) / "ablation")
    print()
    print("ablation: fingers of touch (TacRefineNet v2: two fingers clearly worse than three)")
    print(ablation_table(summary))
    print(f"\nwritten: {Path(args.out) / 'ablation' / 'ablation.json'}")
    return 0


def parts(args: argparse.Namespace) -> int:
    from tacrefine.evaluation.benchmarks.parts import parts_table, run_parts_benchmark

    if args.decomposition_only:
        import json

        from tacrefine.config import atomic_write_bytes
        from tacrefine.evaluation.benchmarks.decompose import decomposition_line, time_decomposition

        row = time_decomposition()
        Path(args.out).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(args.out) / "decomposition.json", (json.dumps(row, indent=2) + "\n").encode())
        print(decomposition_line(row))
        print(f"written: {Path(args.out) / 'decomposition.json'}")
        return 0
    learned, why = resolve_learned(args.policy)
    if learned is None:
        raise FileNotFoundError(f"benchmark parts needs a learned policy: {why}")
    summary = run_parts_benchmark(args.out, policy=learned, per_family=args.per_family,
                                  episodes=args.episodes_per_object or 10, random_urdfs=args.random_urdfs,
                                  progress=not args.no_progress, plots=not args.no_plots)
    print()
    print(parts_table(summary))
    print(f"\nwritten: {Path(args.out) / 'parts.json'}; report: {Path(args.out) / 'held_out_by_path' / 'report.md'}")
    return 0


def speed(args: argparse.Namespace) -> int:
    from tacrefine.evaluation.benchmarks.speed import SpeedConfig, run_speed, speed_table, write_speed

    cfg = SpeedConfig(min_seconds=0.5, env_episodes=5, generation_samples_per_object=100,
                      main_job_args=("--smoke",)) if args.quick else SpeedConfig()
    result = run_speed(cfg)
    path = write_speed(result, args.out)
    print()
    print("speed benchmark (one core unless stated)")
    print(speed_table(result))
    print(f"\nwritten: {path}")
    return 0


def scale(args: argparse.Namespace) -> int:
    from tacrefine.evaluation.benchmarks.scale import ScaleConfig, run_scale, scale_table, write_scale

    cfg = ScaleConfig(ray=not args.no_ray, progress=not args.no_progress)
    if args.quick:
        cfg = ScaleConfig(samples_per_object=100, shard_size=25, rss_sizes=(2_000, 20_000), ray=cfg.ray,
                          progress=cfg.progress)
    result = run_scale(cfg)
    path = write_scale(result, args.out)
    print()
    print("scale benchmark (wall times include worker start-up; load average in the JSON)")
    print(scale_table(result))
    print(f"\nwritten: {path}")
    return 0


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        from tacrefine.policy.checkpoint import CheckpointError
    except ImportError:
        CheckpointError = RuntimeError  # noqa: N806
    lock = contextlib.ExitStack()  # every subcommand but figures writes --out: one job at a time
    try:
        if args.command != "figures":
            lock.enter_context(output_lock(args.out, f"benchmark {args.command}"))
        Path(args.out).mkdir(parents=True, exist_ok=True)
        if args.command == "figures":
            from tacrefine.evaluation.results.figures import figures_markdown

            print(figures_markdown(args.out))
            return 0
        if args.command in ("precision", "all"):
            code = precision(args)
            if code:
                return code
        if args.command == "parts":
            return parts(args)
        if args.command in ("ablation", "all"):
            code = ablation(args)
            if code:
                return code
        if args.command in ("speed", "all"):
            return speed(args)
        if args.command == "transfer":
            return transfer(args)
        if args.command == "scale":
            return scale(args)
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as exc:
        return fail(exc)
    finally:
        lock.close()
    return 0
