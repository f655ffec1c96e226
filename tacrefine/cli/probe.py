"""Command line of the part probe: argument parsing only; the scan is
:mod:`tacrefine.evaluation.benchmarks.probe`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tacrefine.cli.errors import cli_entry
from tacrefine.config import ConfigError


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "probe.py",
        description="Probe a part before trusting a policy on it (in simulation, with ground truth): from "
                    "target grasps, offset each refined DoF by known amounts, re-grasp, and report how much "
                    "the tactile image changes (does touch see the DoF?) and how the policy reads it (its "
                    "gain: 1 reads the whole error). A misread DoF is what the failing test-only parts share; "
                    "the verdict names it and the adaptation command.",
        epilog="examples:\n"
               "  tacrefine probe --object parts/bracket.urdf --suite jaw --out runs/probe/bracket\n"
               "  tacrefine probe --part hexagon --suite jaw --policy runs/jaw/best.pt --out runs/probe/hexagon\n"
               "  tacrefine probe --split unseen --suite jaw --out runs/probe/jaw_unseen \\\n"
               "      --against runs/bench/jaw/clean/report.json   # the verdicts against benchmark episodes",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--object", metavar="PATH", help="a part file (.urdf, .obj, .stl, ...), as main.py --object")
    which.add_argument("--part", metavar="NAME", help="an object the env knows by name (hexagon, family:arms:3)")
    which.add_argument("--split", choices=("seen", "unseen"),
                       help="every part of the benchmark's split (unseen: the test-only parts, by path)")
    parser.add_argument("--against", metavar="REPORT",
                        help="with --split: an evaluation report.json of the same parts (e.g. the precision "
                             "benchmark's SUITE/clean/report.json) to set the verdicts against")
    parser.add_argument("--units", help="a mesh's length unit (as main.py --object)")
    parser.add_argument("--suite", choices=("jaw", "hand"), default="jaw", help="jaw (default) or hand")
    parser.add_argument("--policy", default="pretrained", help="a learned policy: checkpoint, export or pretrained")
    parser.add_argument("--resets", type=int, default=3, help="target grasps probed (default 3)")
    parser.add_argument("--points", type=int, default=17, help="offsets per DoF, odd (default 17)")
    parser.add_argument("--span", type=float, help="largest offset in mm / deg (default 8, or the env's largest step)")
    parser.add_argument("--seed", type=int, default=0, help="first reset seed (default 0)")
    parser.add_argument("--out", help="folder for probe.json and probe.png (default: print only)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from tacrefine.evaluation.benchmarks.probe import ProbeConfig, plot_probe, probe, probe_table
    from tacrefine.evaluation.results.report import write_json
    from tacrefine.sim.object_lists import part_mapping

    if args.split:
        return _split(args)
    if args.against:
        raise ConfigError("--against: only with --split (a report of the split's episodes)")
    part = part_mapping(args.object, units=args.units) if args.object else args.part
    cfg = ProbeConfig(part=part, suite=args.suite, policy=args.policy, resets=args.resets, points=args.points,
                      span=args.span, seed=args.seed)
    result = probe(cfg, progress=not args.no_progress)
    print(probe_table(result))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(result, out / "probe.json")
        plot_probe(result, out / "probe.png")
        print(f"\nwritten: {out / 'probe.json'}, {out / 'probe.png'}")
    return 0


def _split(args: argparse.Namespace) -> int:
    """Probe every part of a benchmark split; with ``--against``, set the verdicts against episodes."""
    import json

    from tacrefine.cli.check import parts_of
    from tacrefine.evaluation.benchmarks.probe import ProbeConfig, against_episodes, probe_parts
    from tacrefine.evaluation.results.report import write_json

    if not args.out:
        raise ConfigError("--out: required with --split (the parts are written there as URDFs)")
    out = Path(args.out)
    parts = parts_of(args.suite, args.split, out, 100)
    cfg = ProbeConfig(part="", suite=args.suite, policy=args.policy, resets=args.resets, points=args.points,
                      span=args.span, seed=args.seed)
    probed = probe_parts(cfg, parts, progress=not args.no_progress)
    trusted = [n for n, r in probed.items() if r.get("trusted")]
    refused = [n for n, r in probed.items() if "error" in r]
    distrusted = {n: r for n, r in probed.items() if "trusted" in r and not r["trusted"]}
    print(f"probed {len(probed)} parts of the {args.suite} {args.split} split: {len(trusted)} trusted, "
          f"{len(distrusted)} not, {len(refused)} refused ({', '.join(refused) or 'none'})")
    for name, r in distrusted.items():
        misread = [d for d, v in r["dofs"].items() if not v["reads"]]
        why = [f"lost in {len(r['lost'])} of {r['resets']} target grasps"] if r["lost"] else []
        why += [f"misreads {', '.join(misread)}"] if misread else []
        print(f"  {name}: {'; '.join(why)}")
    summary: dict[str, Any] = {"suite": args.suite, "split": args.split, "policy": args.policy, "parts": probed}
    if args.against:
        from tacrefine.evaluation.episodes.runner import policy_label

        episodes = json.loads(Path(args.against).read_text())["episodes"]
        label = policy_label(args.policy)
        mine = [e for e in episodes if e["policy"] == label and e.get("target_mode") == "fixed"]
        if not mine:
            found = sorted({str(e["policy"]) for e in episodes})
            raise ConfigError(f"--against: {args.against} has no fixed-target episodes of policy {label!r} (the "
                              f"probe's targets are fixed); allowed: a report with them (it has {found})")
        missing = [n for n, r in probed.items() if "trusted" in r and n not in {e["object"] for e in mine}]
        if missing:
            print(f"not in the report (left out): {', '.join(missing)}")
        summary["against"] = against_episodes(probed, mine)
        for group in ("trusted", "not_trusted"):
            row = summary["against"][group]
            if row["episodes"]:
                print(f"{group.replace('_', ' ')}: {row['parts']} parts, {row['episodes']} fixed-target episodes: "
                      f"{100 * row['success_5mm_5deg']:.1f} % at 5/5, {100 * row['success_1mm_1deg']:.1f} % at "
                      f"1/1, harm {100 * row['harm_rate']:.1f} %")
        for pct in (80, 50):
            against = summary["against"]
            below, above = against[f"below_{pct}_at_1mm_1deg"], against[f"at_least_{pct}_at_1mm_1deg"]
            print(f"parts below {pct} % at 1/1: {below['not_trusted']} of {below['parts']} not trusted; "
                  f"at or above: {above['not_trusted']} of {above['parts']}")
    write_json(summary, out / "probe_split.json")
    print(f"written: {out / 'probe_split.json'}")
    return 0
