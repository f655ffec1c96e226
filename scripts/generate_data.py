"""Generate or validate a grasp dataset; see ``python scripts/generate_data.py --help``."""

from tacrefine.cli.generate_data import main

if __name__ == "__main__":  # required: worker processes are spawned and re-import this file
    raise SystemExit(main())
