"""Command line of dataset conversion: argument parsing only (work: :mod:`tacrefine.data.lerobot`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tacrefine.cli.errors import cli_entry, fail
from tacrefine.config import ConfigError

FORMATS = ("lerobot",)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "dataset.py",
        description="Convert grasp datasets between this project's shards and other formats "
                    "(LeRobot v3.0: parquet episodes + meta/info.json).",
        epilog="examples:\n"
               "  python scripts/dataset.py export data/default --format lerobot --out exports/default_lerobot\n"
               "  python scripts/dataset.py import recordings/rig_2025_01 --format lerobot --out data/real "
               "--refined-dofs y z roll\n"
               "  python scripts/generate_data.py validate data/real",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("export", "write a dataset of ours (SRC) in another format"),
                       ("import", "turn a recording in another format (SRC) into a dataset of ours")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("src", metavar="SRC", help="source directory")
        p.add_argument("--format", required=True, choices=FORMATS, help="the other format")
        p.add_argument("--out", required=True, metavar="DST", help="destination directory (must not hold a dataset)")
        if name == "export":
            p.add_argument("--fps", type=int, default=10, help="nominal frame rate recorded in info.json "
                                                              "(one frame = one grasp; default 10)")
            p.add_argument("--robot-type", default="tacrefine-gripper", help="robot_type in info.json")
        else:
            p.add_argument("--refined-dofs", nargs="+", default=None, metavar="DOF",
                           help="DoF the labels are for, recorded in the manifest (default: from the "
                                "recording's meta/tacrefine.json, if any)")
    return parser


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from tacrefine.data.lerobot import export_lerobot, import_lerobot
    from tacrefine.data.storage import DatasetError
    from tacrefine.geometry import validate_dofs

    try:
        if args.command == "export":
            if args.fps < 1:
                raise ConfigError(f"--fps: got {args.fps}; allowed: an integer >= 1")
            info = export_lerobot(args.src, args.out, fps=args.fps, robot_type=args.robot_type)
            print(f"{args.out}: LeRobot {info['codebase_version']} dataset, {info['total_episodes']} episodes, "
                  f"{info['total_frames']} frames, features {sorted(info['features'])}")
        else:
            dofs = None
            if args.refined_dofs is not None:
                try:
                    dofs = validate_dofs(args.refined_dofs, "--refined-dofs")
                except ValueError as exc:
                    raise ConfigError(str(exc)) from None
            manifest = import_lerobot(args.src, args.out, refined_dofs=dofs)
            print(f"{args.out}: {manifest['n_samples']} samples in {len(manifest['shards'])} shards; "
                  f"check with: python scripts/generate_data.py validate {args.out}")
    except (ConfigError, DatasetError, FileNotFoundError) as exc:
        return fail(exc)
    return 0
