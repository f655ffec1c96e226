"""Command line of ensemble building: argument parsing only; the work is
:func:`tacrefine.policy.checkpoint.combine_checkpoints`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tacrefine.cli.errors import cli_entry, fail


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "ensemble.py",
        description="Combine checkpoints trained on the same hand and sensor (other seeds or other data) into one "
                    "ensemble checkpoint: the policy acts on the members' mean increment, and their spread adds "
                    "to the error head's doubt (what the shrink and the unfamiliar flag read). The first "
                    "checkpoint's metadata and thresholds are kept; its flag threshold is dropped, so calibrate "
                    "the result.",
        epilog="example:\n  tacrefine ensemble runs/a/best.pt runs/b/best.pt --out runs/ens.pt\n"
               "  tacrefine calibrate runs/ens.pt --out runs/ens_calibrated.pt --workers 2",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", help="two or more checkpoints (.pt); the first is the primary")
    parser.add_argument("--out", required=True, help="ensemble checkpoint to write")
    return parser


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from tacrefine.policy.checkpoint import CheckpointError, combine_checkpoints

    try:
        written = combine_checkpoints(args.checkpoints, args.out)
    except (CheckpointError, ValueError) as exc:
        return fail(exc)
    print(f"wrote {args.out}: {len(written['ensemble']) + 1} networks over {written['refined_dofs']}; "
          f"set its flag threshold with: tacrefine calibrate {args.out}")
    return 0
