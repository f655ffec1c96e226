"""Export a policy to ONNX / TorchScript: ``python scripts/export.py --policy CKPT --format onnx --out FILE``."""

from tacrefine.cli.export import main

if __name__ == "__main__":
    raise SystemExit(main())
