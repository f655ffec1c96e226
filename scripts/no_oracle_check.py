"""No-oracle check of checkpoints on the seen parts, the hexagon or the true unseen split.

The env never terminates on success (thresholds 1e-6), every episode runs its 5 steps (or
stops when a self-checking policy says so) and ground truth scores only the final state
(:mod:`tacrefine.evaluation.deployable`). The figures of the shipped checkpoints' READMEs:

    python scripts/no_oracle_check.py --suite jaw --set seen --mode random --episodes 2 \\
        --policies OLD.pt NEW.pt --out runs/check/jaw_seen.json
    python scripts/no_oracle_check.py --suite jaw --set unseen --random-urdfs 10 --episodes 2 ...

``--set unseen`` takes :func:`tacrefine.sim.unseen_testonly.unseen_split` (by path).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ENV_IDS = {"jaw": "tacrefine/GripRefine-v0", "hand": "tacrefine/GripRefineHand-v0"}


def main(argv: list[str] | None = None) -> int:
    import gymnasium as gym

    import tacrefine  # noqa: F401  (registers the env ids)
    from tacrefine.config import atomic_write_bytes
    from tacrefine.evaluation.deployable import (
        NO_ORACLE,
        build_policy,
        part_entry,
        run_episode,
        summarize,
        summary_table,
    )
    from tacrefine.evaluation.protocol import JAW_SEEN, episode_seed

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=sorted(ENV_IDS), required=True)
    ap.add_argument("--set", choices=("seen", "hexagon", "unseen"), required=True)
    ap.add_argument("--policies", nargs="+", required=True, help="checkpoint paths, pretrained, selfcheck:SPEC")
    ap.add_argument("--episodes", type=int, default=5, help="episodes per part and policy")
    ap.add_argument("--mode", choices=("fixed", "random"), default="fixed", help="target mode")
    ap.add_argument("--random-urdfs", type=int, default=100, help="jaw unseen: random_urdfs 000..N-1 that fit")
    ap.add_argument("--seed", type=int, default=424242)
    ap.add_argument("--out", required=True, help="JSON of the records and summary")
    a = ap.parse_args(argv)
    if a.set == "seen":
        from tacrefine.sim.objects import PAPER_OBJECT_SET

        parts: list = list(JAW_SEEN) if a.suite == "jaw" else list(PAPER_OBJECT_SET)
    elif a.set == "hexagon":
        parts = ["hexagon"]
    else:
        from tacrefine.sim.unseen_testonly import unseen_split

        parts = unseen_split(a.suite, Path(a.out).parent / f"unseen_{a.suite}", random_urdfs=range(a.random_urdfs))
    records, start = [], time.perf_counter()
    for part in parts:
        name, entry = part_entry(part)
        env = gym.make(ENV_IDS[a.suite], objects=[entry], max_episode_steps=5, disable_env_checker=True,
                       target_mode=a.mode, **NO_ORACLE)
        try:
            for spec in a.policies:
                policy = build_policy(spec, env, 5)
                for ep in range(a.episodes):
                    seed = episode_seed(a.seed, name, a.mode, ep)
                    records.append({"policy": spec, **run_episode(env, policy, part=name, seed=seed, max_steps=5)})
        finally:
            env.close()
        print(f"{name}: done ({time.perf_counter() - start:.0f} s)", flush=True)
    summary = summarize(records)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    payload = {"args": vars(a), "summary": summary, "records": records}
    atomic_write_bytes(Path(a.out), (json.dumps(payload, indent=1, default=str) + "\n").encode())
    print(summary_table(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
