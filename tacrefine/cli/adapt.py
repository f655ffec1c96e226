"""Command line of ``scripts/adapt.py``: argument parsing only (work: :mod:`tacrefine.pipelines.adapt`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tacrefine.cli.arguments import add_units_argument
from tacrefine.cli.errors import cli_entry, fail
from tacrefine.config import ConfigError


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "adapt.py",
        description="Adapt the shipped policy to one part: evaluate it, generate grasps of the part, fine-tune, "
                    "evaluate again. Writes DIR/policy.pt, DIR/report.md and DIR/before_after.png. Rerun the same "
                    "command to resume. The defaults take about 5-10 minutes on 2 cores.",
        epilog="examples:\n"
               "  python scripts/adapt.py --object parts/bracket.urdf --out runs/adapt_bracket\n"
               "  python scripts/adapt.py --object parts/duck.obj --out runs/duck --samples 4000 --steps 2000\n"
               "  python -c \"import gymnasium as gym, tacrefine; env = gym.make('tacrefine/GripRefine-v0', "
               "objects=[{'name': 'bracket', 'urdf': 'parts/bracket.urdf'}]); "
               "policy = tacrefine.load_policy('runs/adapt_bracket/policy.pt', env=env)\"",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--object", dest="part", required=True, metavar="PART",
                        help="the part: a .urdf or mesh file (.obj .stl .ply .glb .gltf .dae .3mf; grasp inferred, "
                             "docs/user_parts.md), or an object name (rod_r4, plates-17)")
    add_units_argument(parser)
    parser.add_argument("--out", required=True, help="output directory (rerun with the same one to resume)")
    parser.add_argument("--policy", default="pretrained", help="policy to start from: pretrained or a checkpoint")
    parser.add_argument("--samples", type=int, default=1200, help="grasps of the part to generate (1200)")
    parser.add_argument("--steps", type=int, default=600, help="fine-tuning steps of 256 pairs (600)")
    parser.add_argument("--lr", type=float, default=5e-4, help="peak fine-tuning learning rate (5e-4)")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes before and after (20)")
    parser.add_argument("--target-mode", choices=("fixed", "random", "both"), default="fixed",
                        help="evaluation targets (fixed)")
    parser.add_argument("--workers", type=int, default=2, help="data generation processes (2)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for fine-tuning (2)")
    parser.add_argument("--seed", type=int, default=0, help="data seed; evaluation seeds derive from seed + 1")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from tacrefine.sim.mesh_io import show_part_messages

    show_part_messages()
    from tacrefine.data.storage import DatasetError
    from tacrefine.pipelines.adapt import AdaptConfig, run_adaptation
    from tacrefine.policy.checkpoint import CheckpointError

    modes = ("fixed", "random") if args.target_mode == "both" else (args.target_mode,)
    try:
        cfg = AdaptConfig(part=args.part, out=args.out, policy=args.policy, samples=args.samples, steps=args.steps,
                          lr=args.lr, episodes=args.episodes, target_modes=modes, workers=args.workers,
                          threads=args.threads, seed=args.seed, progress=not args.no_progress,
                          units=args.units)
        summary = run_adaptation(cfg)
    except (ConfigError, DatasetError, CheckpointError, FileNotFoundError, ValueError) as exc:
        return fail(exc)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    before, after = summary["success_before"], summary["success_after"]
    print(f"\n{summary['object']}: success at 5 mm / 5 deg {100 * before['5mm_5deg']:.1f} % -> "
          f"{100 * after['5mm_5deg']:.1f} %, at 1 mm / 1 deg {100 * before['1mm_1deg']:.1f} % -> "
          f"{100 * after['1mm_1deg']:.1f} %")
    print(f"policy: {summary['policy']}\nreport: {args.out}/report.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
