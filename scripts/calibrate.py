"""Calibrate a checkpoint's unfamiliar-part flag: ``python scripts/calibrate.py CKPT --out CKPT2``."""

from tacrefine.cli.calibrate import main

if __name__ == "__main__":
    raise SystemExit(main())
