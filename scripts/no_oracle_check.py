"""No-oracle check of checkpoints on the seen parts, the hexagon or the true unseen split.

The same episode loop, report and tables as ``scripts/evaluate.py`` (the deployable protocol
is :class:`~tacrefine.evaluation.episodes.protocol.EvalConfig`'s default): the env never
terminates on success, a learned policy stops itself through its self-checking controller,
ground truth scores only the final grasp; the tables add the harm rate, the worst part and
the unfamiliar flag's recall / false alarms. A quick check of a retrained checkpoint:

    python scripts/no_oracle_check.py --suite jaw --set seen --mode random --episodes 2 \\
        --policies OLD.pt NEW.pt --out runs/check/jaw_seen
    python scripts/no_oracle_check.py --suite jaw --set unseen --random-urdfs 10 --episodes 2 ...

``--set unseen`` takes :func:`tacrefine.sim.unseen_testonly.unseen_split` (by path).
"""

from __future__ import annotations

import argparse
from pathlib import Path

ENV_IDS = {"jaw": "tacrefine/GripRefine-v0", "hand": "tacrefine/GripRefineHand-v0"}


def main(argv: list[str] | None = None) -> int:
    from tacrefine.evaluation.episodes.protocol import JAW_SEEN, EvalConfig
    from tacrefine.evaluation.results.evaluate import run_evaluation
    from tacrefine.evaluation.results.report import console_summary

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=sorted(ENV_IDS), required=True)
    ap.add_argument("--set", choices=("seen", "hexagon", "unseen"), required=True)
    ap.add_argument("--policies", nargs="+", required=True, help="checkpoint paths, pretrained, baseline:NAME")
    ap.add_argument("--episodes", type=int, default=5, help="episodes per part and policy")
    ap.add_argument("--mode", choices=("fixed", "random"), default="fixed", help="target mode")
    ap.add_argument("--random-urdfs", type=int, default=100, help="jaw unseen: random_urdfs 000..N-1 that fit")
    ap.add_argument("--seed", type=int, default=424242)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", required=True, help="output directory (report.json, report.md)")
    a = ap.parse_args(argv)
    if a.set == "seen":
        from tacrefine.sim.objects import PAPER_OBJECT_SET

        parts: list = list(JAW_SEEN) if a.suite == "jaw" else list(PAPER_OBJECT_SET)
    elif a.set == "hexagon":
        parts = ["hexagon"]
    else:
        from tacrefine.sim.unseen_testonly import unseen_split

        parts = unseen_split(a.suite, Path(a.out) / "unseen_parts", random_urdfs=range(a.random_urdfs))
    cfg = EvalConfig(objects=tuple(parts), env_id=ENV_IDS[a.suite], episodes_per_object=a.episodes,
                     target_modes=(a.mode,), seed=a.seed, plots=False, render=False)
    report = run_evaluation(cfg, a.policies, a.out, workers=a.workers)
    print(console_summary(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
