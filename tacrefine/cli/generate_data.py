"""Command line of dataset generation and validation: argument parsing only.

The work is in :mod:`tacrefine.data.generate` and :mod:`tacrefine.data.storage`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from tacrefine.cli.arguments import add_units_argument
from tacrefine.cli.errors import cli_entry, fail
from tacrefine.config import ConfigError


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "generate_data.py",
        description="Generate a simulated grasp dataset (HDF5 shards + manifest.json), or check one.",
        epilog="examples:\n"
               "  python scripts/generate_data.py generate --out data/default\n"
               "  python scripts/generate_data.py generate --out data/tiny --set samples_per_object=50 "
               "objects=[rod_r4,plate_w6]\n"
               "  python scripts/generate_data.py generate --out data/default  # resumes if interrupted\n"
               "  python scripts/generate_data.py generate --out /shared/data --backend ray --ray-address auto\n"
               "  python scripts/generate_data.py generate --out data/mine --object parts/bracket.urdf\n"
               "  python scripts/generate_data.py validate data/default",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate (or resume) a dataset",
                         description="Generate a dataset into --out; rerunning with the same config resumes.")
    gen.add_argument("--out", required=True, help="dataset directory (created; resumed if it has a manifest)")
    gen.add_argument("--config", help="YAML file with DataConfig fields (defaults if omitted)")
    gen.add_argument("--workers", type=int, help="worker processes (0 = one per CPU core); overrides config")
    gen.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="FIELD=VALUE",
                     help="overrides, e.g. samples_per_object=200 offset_range={y:5,z:5,roll:10} "
                          "cell.sensor.shear=true")
    gen.add_argument("--backend", choices=("local", "ray"), default="local",
                     help="where shards run: local worker processes (default) or Ray")
    gen.add_argument("--ray-address", metavar="ADDRESS",
                     help="Ray cluster to use with --backend ray (e.g. auto, HEAD_IP:6379); default: start a "
                          "local Ray. With several machines, --out must be on storage they all write")
    gen.add_argument("--object", dest="object_paths", action="append", default=[], metavar="PATH",
                     help="a part file (.urdf or a mesh: .obj .stl .ply .glb .gltf .dae .3mf) to generate data "
                          "for; repeat for several. Replaces the config's objects; the grasp is inferred from the "
                          "geometry (docs/user_parts.md)")
    add_units_argument(gen)
    gen.add_argument("--max-shards", type=int, help="stop after this many new shards (rerun to continue)")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    val = sub.add_parser("validate", help="check every shard of a dataset",
                         description="Check checksums, readability, shapes and values; exit 1 if invalid.")
    val.add_argument("dir", help="dataset directory")
    return parser


def _generate(args: argparse.Namespace) -> int:
    from tacrefine.config import load_config
    from tacrefine.data.generate import DataConfig, generate_dataset

    overrides = list(args.overrides) + ([f"workers={args.workers}"] if args.workers is not None else [])
    cfg = load_config(DataConfig, args.config, overrides)
    if args.object_paths:
        from tacrefine.sim.object_lists import part_mapping

        parts = tuple(part_mapping(p, units=args.units) for p in args.object_paths)
        cfg = dataclasses.replace(cfg, objects=parts, user_objects=())
    if args.ray_address and args.backend != "ray":
        raise ConfigError("--ray-address: given without --backend ray; allowed: use it with --backend ray")
    summary = generate_dataset(cfg, args.out, max_shards=args.max_shards, progress=not args.no_progress,
                               backend=args.backend, ray_address=args.ray_address)
    print(f"dataset: {summary.out}")
    print(f"this run: {summary.samples} samples in {summary.shards_generated} shards "
          f"({summary.shards_skipped} already done), {summary.rejected} rejected grasps, "
          f"{summary.seconds:.1f} s, {summary.samples_per_s:.1f} samples/s")
    state = "complete" if summary.complete else "incomplete (rerun the same command to continue)"
    print(f"dataset: {summary.samples_total} samples, {summary.shards_planned} shards planned, {state}")
    if summary.left_out:
        print(f"left out (data.skip_unusable: fewer than 2 grasps before max_rejects; listed in the manifest's "
              f"left_out): {', '.join(summary.left_out)}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from tacrefine.data.storage import check_dataset, shard_label

    root = Path(args.dir)
    report = check_dataset(root)
    manifest = report.manifest or {}
    entries = {e["index"]: e for e in manifest.get("shards", [])}
    indices = sorted(set(entries) | set(report.shard_problems))
    if indices:
        print(f"{'shard':>6}  {'file':<16} {'samples':>8} {'rejected':>8}  {'status':<7} objects")
    for index in indices:
        entry = entries.get(index, {})
        status = "BAD" if index in report.shard_problems else "ok"
        objects = ",".join(entry.get("objects", []))
        print(f"{index:>6}  {entry.get('file', '-'):<16} {entry.get('n_samples', 0):>8} "
              f"{entry.get('n_rejected', 0):>8}  {status:<7} {objects}")
    problems = report.problems()
    if problems:
        bad = ", ".join(shard_label(i) for i in sorted(report.shard_problems))
        where = f" in {bad}" if bad else ""
        print(f"\n{root}: INVALID, {len(problems)} problem(s){where}", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    left_out = manifest.get("left_out", [])
    print(f"\n{root}: valid, {manifest.get('n_samples', 0)} samples in {len(entries)} shards")
    if left_out:
        print(f"left out (pool parts with fewer than 2 grasps): {', '.join(e['object'] for e in left_out)}")
    return 0


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from tacrefine.sim.mesh_io import show_part_messages

    show_part_messages()
    from tacrefine.data.storage import DatasetError
    from tacrefine.parallel import TaskError

    try:
        return _generate(args) if args.command == "generate" else _validate(args)
    except (ConfigError, DatasetError, TaskError) as exc:
        return fail(exc)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
