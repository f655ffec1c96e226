"""Adapt the shipped policy to one part: ``python scripts/adapt.py --object PART --out DIR``."""

from tacrefine.cli.adapt import main

if __name__ == "__main__":
    raise SystemExit(main())
