"""Command line of policy export: argument parsing only; the work is in :mod:`tacrefine.policy.export`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tacrefine.cli.errors import cli_entry, fail


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "export.py",
        description="Export a trained policy (network + input normalisation + DoF-mask handling) to ONNX "
                    "(run it with onnxruntime: tacrefine.load_policy('policy.onnx', env=env)) or TorchScript.")
    parser.add_argument("--policy", required=True,
                        help="checkpoint (.pt written by training) or 'pretrained' (the shipped parallel-jaw one)")
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="default onnx")
    parser.add_argument("--out", required=True, help="file to write (e.g. policy.onnx / policy.ts)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    return parser


@cli_entry
def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from tacrefine.policy.checkpoint import CheckpointError
    from tacrefine.policy.registry import PRETRAINED_NAME, pretrained_checkpoint

    source = pretrained_checkpoint() if args.policy == PRETRAINED_NAME else args.policy
    try:
        from tacrefine.policy.export import export_policy

        meta = export_policy(source, args.out, fmt=args.format, opset=args.opset)
    except ImportError as exc:
        code = fail(exc)
        print("ONNX export needs onnx and onnxscript: pip install 'tacrefine[export]'", file=sys.stderr)
        return code
    except (CheckpointError, ValueError) as exc:
        return fail(exc)
    print(f"wrote {args.out} ({args.format}): inputs {meta['inputs']}, outputs {meta['outputs']}, "
          f"dofs {meta['checkpoint']['refined_dofs']}")
    return 0
