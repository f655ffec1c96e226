"""Train TacRefineNet: ``python scripts/train.py --config configs/default.yaml [--set k=v ...]``."""

from tacrefine.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
