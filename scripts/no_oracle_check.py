"""No-oracle check of checkpoints on the seen parts, the hexagon or the test-only unseen split:
``python scripts/no_oracle_check.py --suite jaw --set unseen --policies CKPT --out DIR``
(the same as ``tacrefine check``)."""

from tacrefine.cli.check import main

if __name__ == "__main__":
    raise SystemExit(main())
