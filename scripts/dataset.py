"""Export / import grasp datasets (LeRobot format); see ``python scripts/dataset.py --help``."""

from tacrefine.cli.dataset import main

if __name__ == "__main__":
    raise SystemExit(main())
