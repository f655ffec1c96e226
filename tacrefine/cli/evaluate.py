"""Command line of the closed-loop evaluation: argument parsing only (work: :mod:`tacrefine.evaluation`)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tacrefine.cli.arguments import add_units_argument
from tacrefine.cli.errors import cli_entry, fail
from tacrefine.config import ConfigError

ALL_BASELINES = "baselines"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "evaluate.py",
        description="Roll policies out in GripRefine-v0 on the same seeded episodes and write report.json, "
                    "report.md and plots to --out. Policy specs: baseline:noop|random|servo|oracle, "
                    f"pretrained, a checkpoint path, or '{ALL_BASELINES}' for all four baselines.",
        epilog="examples:\n"
               "  python scripts/evaluate.py --policy baseline:oracle --policy baseline:noop \\\n"
               "      --out runs/eval\n"
               "  python scripts/evaluate.py --policy runs/main/train/best.pt --policy baselines \\\n"
               "      --out runs/eval --episodes-per-object 20 --target-mode fixed --noise \\\n"
               "      --domain-randomization\n"
               "  python scripts/evaluate.py --policy pretrained --out runs/eval --config my_eval.yaml "
               "--set max_steps=10",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--policy", dest="policies", action="append", required=True, metavar="SPEC",
                        help="policy to evaluate (repeat for several; they share one table)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--config", help="YAML file of EvalConfig fields (objects, episodes_per_object, ...)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[],
                        metavar="KEY=VALUE",
                        help="EvalConfig overrides, e.g. episodes_per_object=20 env_kwargs.max_step.y=3")
    parser.add_argument("--episodes-per-object", type=int, help="episodes per object and target mode (10)")
    parser.add_argument("--env", dest="env_id", metavar="ID",
                        help="env id (default tacrefine/GripRefine-v0; tacrefine/GripRefineHand-v0 for the paper's "
                             "three-finger task); without --objects, that env's own objects")
    parser.add_argument("--objects", nargs="+", help="object names (default: the env's default object set)")
    parser.add_argument("--object", dest="object_paths", action="append", default=[], metavar="PATH",
                        help="a part file (.urdf or a mesh: .obj .stl .ply .glb .gltf .dae .3mf) to evaluate on; "
                             "repeat for several. Joins the objects of --objects or of the config; replaces the "
                             "default objects")
    add_units_argument(parser)
    parser.add_argument("--target-mode", choices=("fixed", "random", "both"), help="target modes (both)")
    parser.add_argument("--max-steps", type=int, help="refinement steps per episode (5)")
    parser.add_argument("--seed", type=int, help="base seed of the episode seeds (0)")
    parser.add_argument("--stop", choices=("policy", "oracle"),
                        help="how an episode ends: policy = no oracle, the policy decides (default); oracle = the "
                             "old protocol, the env ends it once within its success thresholds")
    parser.add_argument("--noise", action="store_true", default=None, help="tactile sensor noise")
    parser.add_argument("--domain-randomization", action="store_true", default=None,
                        help="per-episode friction, mass, pad stiffness and sensor randomisation")
    parser.add_argument("--sensor", metavar="NAME|PATH",
                        help="sensor profile of the env: a built-in name (default, piezo_11x9, real_like) or a "
                             "YAML file (docs/sensors.md)")
    parser.add_argument("--sensor-mismatch", choices=("refuse", "warn"),
                        help="a learned policy trained with another sensor: refuse (default) or warn")
    parser.add_argument("--workers", type=int, default=1,
                        help="local worker processes (default 1; 0 = one per CPU core)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="where episodes run: local processes (default) or Ray")
    parser.add_argument("--ray-address", metavar="ADDRESS",
                        help="Ray cluster for --backend ray (e.g. auto, HEAD_IP:6379); default: a local Ray")
    parser.add_argument("--no-plots", action="store_true", help="write report.json and report.md only")
    parser.add_argument("--no-render", action="store_true", help="leave the scene render out of the GIF")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--record-lerobot", metavar="DIR",
                        help="also record every episode as a LeRobot v3.0 dataset (tactile images, state, action, "
                             "done; task = part) in DIR (plays every episode: no resume from earlier jobs)")
    parser.add_argument("--rerun", metavar="FILE.rrd",
                        help="also write every episode step by step to a Rerun recording (needs tacrefine[rerun]); "
                             "open it with `rerun FILE.rrd`")
    parser.add_argument("--record-fps", type=int, default=10, help="frames per second stated in the LeRobot dataset")
    return parser


def expand_specs(specs: Sequence[str]) -> list[str]:
    """``baselines`` -> the four baseline specs; duplicates dropped, order kept."""
    from tacrefine.evaluation.episodes.protocol import BASELINE_SPECS

    out: list[str] = []
    for spec in specs:
        out.extend(BASELINE_SPECS if spec == ALL_BASELINES else [spec])
    return list(dict.fromkeys(out))


def config_from_args(args: argparse.Namespace):
    """EvalConfig: defaults < --config < --set < explicit flags."""
    from tacrefine.config import load_config
    from tacrefine.evaluation.episodes.protocol import TARGET_MODES, EvalConfig

    cfg = load_config(EvalConfig, args.config, args.overrides)
    changes = {}
    for name in ("episodes_per_object", "max_steps", "stop", "seed", "noise", "domain_randomization"):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.env_id:
        changes["env_id"] = args.env_id
        if not args.objects and not args.object_paths:
            from tacrefine.evaluation.episodes.protocol import Suite

            changes["objects"] = Suite("cli", args.env_id, "").object_names()
    if args.objects or args.object_paths:
        from tacrefine.evaluation.episodes.protocol import EvalConfig
        from tacrefine.sim.object_lists import part_mapping

        base: tuple = tuple(args.objects or ())
        if not args.objects and args.object_paths and cfg.objects != EvalConfig().objects:
            base = tuple(cfg.env_objects())  # the config chose objects: the part files join them
        changes["objects"] = (*base, *(part_mapping(p, units=args.units) for p in args.object_paths))
        changes["user_objects"] = ()
    if args.target_mode:
        changes["target_modes"] = TARGET_MODES if args.target_mode == "both" else (args.target_mode,)
    if args.sensor:
        changes["env_kwargs"] = {**cfg.env_kwargs, "sensor": args.sensor}
    if args.sensor_mismatch:
        changes["sensor_mismatch"] = args.sensor_mismatch
    if args.no_plots:
        changes["plots"] = False
    if args.no_render:
        changes["render"] = False
    if args.no_progress:
        changes["progress"] = False
    return dataclasses.replace(cfg, **changes)


def recorder(args: argparse.Namespace, cfg: Any) -> Callable[[Any], None]:
    """The recordings asked for on the command line, written from the episodes' traces; refuses
    up front what would fail after the evaluation (an existing dataset, a missing SDK)."""
    if args.record_lerobot and (Path(args.record_lerobot) / "meta" / "info.json").exists():
        raise ConfigError(f"--record-lerobot: {args.record_lerobot} already holds a LeRobot dataset; "
                          "allowed: a new or empty directory")
    if args.rerun:
        import importlib.util

        if importlib.util.find_spec("rerun") is None:
            raise ConfigError("--rerun: the Rerun SDK is not installed; pip install 'tacrefine[rerun]'")
    if args.record_fps <= 0:
        raise ConfigError(f"--record-fps: got {args.record_fps}; allowed: a positive integer")

    def write(run: Any) -> None:
        if args.record_lerobot:
            from tacrefine.evaluation.results.lerobot_record import write_episodes

            info = write_episodes(run.traces, args.record_lerobot, fps=args.record_fps,
                                  metadata={"source": "tacrefine evaluate --record-lerobot", "env_id": cfg.env_id,
                                            "env_kwargs": run.env_info.get("kwargs"),
                                            "sensor": run.env_info.get("sensor")})
            print(f"LeRobot dataset: {args.record_lerobot} ({info['total_episodes']} episodes, "
                  f"{info['total_frames']} frames)", flush=True)
        if args.rerun:
            from tacrefine.evaluation.results.rerun_record import write_rrd

            print(f"Rerun recording: {write_rrd(run.traces, args.rerun)} (open with: rerun {args.rerun})", flush=True)

    return write


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from tacrefine.sim.mesh_io import show_part_messages

    show_part_messages()

    from tacrefine.evaluation.results.evaluate import run_evaluation
    from tacrefine.evaluation.results.report import console_summary
    from tacrefine.parallel import TaskError

    try:
        from tacrefine.policy.checkpoint import CheckpointError
    except ImportError:  # the training package is optional for baselines
        CheckpointError = RuntimeError  # noqa: N806
    try:
        cfg = config_from_args(args)
        specs = expand_specs(args.policies)
        print(f"evaluating {len(specs)} policies x {cfg.n_episodes} episodes "
              f"({len(cfg.objects)} objects x {len(cfg.target_modes)} target modes x "
              f"{cfg.episodes_per_object}), "
              f"at most {cfg.max_steps} steps each", flush=True)
        if args.ray_address and args.backend != "ray":
            raise ConfigError("--ray-address: given without --backend ray; allowed: use it with --backend ray")
        report = run_evaluation(cfg, specs, args.out, backend=args.backend, workers=args.workers,
                                ray_address=args.ray_address,
                                recorder=recorder(args, cfg) if (args.record_lerobot or args.rerun) else None)
    except (ConfigError, CheckpointError, FileNotFoundError, TaskError) as exc:
        return fail(exc)
    except ValueError as exc:  # e.g. a checkpoint that does not fit the env
        return fail(exc)
    out = Path(args.out)
    print()
    print(console_summary(report))
    print(f"\nreport: {out / 'report.md'} and {out / 'report.json'} ({report['seconds']:.1f} s)")
    if report.get("plots"):
        print(f"plots in {out}/: {', '.join(report['plots'].values())}")
    return 0
