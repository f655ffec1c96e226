"""Grip-precision and speed benchmarks: ``python scripts/benchmark.py precision|speed|all --out DIR``."""

from tacrefine.cli.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main())
