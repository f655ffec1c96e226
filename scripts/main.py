"""The main job, end to end (data -> training -> evaluation):
``python scripts/main.py [--config configs/main.yaml]``."""

from tacrefine.cli.main_job import main

if __name__ == "__main__":
    raise SystemExit(main())
