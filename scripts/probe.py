"""Probe a part before trusting a policy on it: ``python scripts/probe.py --object PART.urdf --suite jaw``."""

from tacrefine.cli.probe import main

if __name__ == "__main__":
    raise SystemExit(main())
