"""Command line of the no-oracle check: argument parsing only; the episodes, report and tables
are the evaluation's (:mod:`tacrefine.evaluation.results.evaluate`).

A quick check of a retrained checkpoint on the seen parts, the hexagon or the test-only unseen
split, under the deployable protocol (:class:`~tacrefine.evaluation.episodes.protocol.EvalConfig`'s
default): the env never terminates on success, a learned policy stops itself through its
self-checking controller, ground truth scores only the final grasp; the tables add the harm
rate, the worst part and the unfamiliar flag's recall / false alarms.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tacrefine.cli.errors import cli_entry

ENV_IDS = {"jaw": "tacrefine/GripRefine-v0", "hand": "tacrefine/GripRefineHand-v0"}
SETS = ("seen", "hexagon", "unseen")
#: reset seeds of the check: held out from every dataset's and the benchmark's (20250929)
SEED = 424242


def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"got {text!r}; allowed: an integer >= {minimum}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"got {value}; allowed: an integer >= {minimum}")
        return value

    return parse


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "no_oracle_check.py", description=__doc__.split("\n\n")[1],
        epilog="examples:\n"
               "  tacrefine check --suite jaw --set seen --mode random --episodes 2 \\\n"
               "      --policies pretrained runs/new/best.pt --out runs/check/jaw_seen\n"
               "  tacrefine check --suite jaw --set unseen --random-urdfs 10 --episodes 2 \\\n"
               "      --policies selfcheck:runs/new/best.pt --out runs/check/jaw_unseen",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=sorted(ENV_IDS), required=True)
    parser.add_argument("--set", choices=SETS, required=True,
                        help="seen: the suite's own parts; hexagon; unseen: the test-only split, by path")
    parser.add_argument("--policies", nargs="+", required=True, help="checkpoint paths, pretrained, baseline:NAME")
    parser.add_argument("--episodes", type=_at_least(1), default=5, help="episodes per part and policy (default 5)")
    parser.add_argument("--mode", choices=("fixed", "random"), default="fixed", help="target mode (default fixed)")
    parser.add_argument("--random-urdfs", type=_at_least(0), default=100,
                        help="jaw unseen: PyBullet's random_urdfs 000..N-1 that fit the hand (default 100)")
    parser.add_argument("--seed", type=_at_least(0), default=SEED, help=f"base reset seed (default {SEED})")
    parser.add_argument("--workers", type=_at_least(1), default=1, help="local worker processes (default 1)")
    parser.add_argument("--out", required=True, help="output directory (report.json, report.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def parts_of(suite: str, which: str, out: str | Path, random_urdfs: int) -> list:
    """The ``objects`` list of a check: names, or test-only parts written as URDFs under ``out``."""
    if which == "seen":
        from tacrefine.evaluation.episodes.protocol import JAW_SEEN
        from tacrefine.sim.objects import PAPER_OBJECT_SET

        return list(JAW_SEEN) if suite == "jaw" else list(PAPER_OBJECT_SET)
    if which == "hexagon":
        return ["hexagon"]
    from tacrefine.sim.unseen_testonly import unseen_split

    return unseen_split(suite, Path(out) / "unseen_parts", random_urdfs=range(random_urdfs))


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from tacrefine.evaluation.episodes.protocol import EvalConfig
    from tacrefine.evaluation.results.evaluate import run_evaluation
    from tacrefine.evaluation.results.report import console_summary

    cfg = EvalConfig(objects=tuple(parts_of(args.suite, args.set, args.out, args.random_urdfs)),
                     env_id=ENV_IDS[args.suite], episodes_per_object=args.episodes, target_modes=(args.mode,),
                     seed=args.seed, plots=False, render=False, progress=not args.no_progress)
    report = run_evaluation(cfg, args.policies, args.out, workers=args.workers)
    print(console_summary(report))
    return 0
