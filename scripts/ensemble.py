"""Combine checkpoints into one ensemble: ``python scripts/ensemble.py A.pt B.pt --out ENS.pt``."""

from tacrefine.cli.ensemble import main

if __name__ == "__main__":
    raise SystemExit(main())
