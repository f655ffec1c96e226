"""Evaluate policies in closed loop:
``python scripts/evaluate.py --policy SPEC [--policy SPEC ...] --out DIR``."""

from tacrefine.cli.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
