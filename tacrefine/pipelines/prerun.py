"""The benchmark's baseline episodes, played in the background while the policy trains.

Training leaves part of the second core idle (two torch threads on a small network reach
about 1.5-1.7 cores), and the baselines (noop, random, servo, oracle) do not depend on the
policy being trained. So while the training stage runs, one low-priority process (``nice``
10: it takes only CPU time that training leaves) measures the benchmark's unseen parts and
plays the baselines' clean episodes into the benchmark's evaluation journal
(:mod:`tacrefine.evaluation.episodes.journal`). When training ends the process is stopped;
the benchmark stage then finds the finished jobs by their key and plays only the rest, so
the results are exactly those of a run without it (episodes are functions of their seeds).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: niceness of the background process: below training (19, the lowest, starved it: measured)
NICENESS = 10


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(0)  # unwind, so files being written atomically leave no temporary behind


def play_baselines(protocol: Any, suites: Sequence[str], out: str, episodes_per_object: int | None) -> None:
    """The process body: every suite's clean baseline jobs into ``OUT/<suite>/clean`` (journal only)."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if hasattr(os, "nice"):
        os.nice(NICENESS)
    from tacrefine.evaluation.episodes.rollouts import evaluate_policies
    from tacrefine.evaluation.episodes.runner import JOURNAL_DIR

    root = Path(out)
    specs = list(protocol.baselines)
    for name in suites:
        cfg = protocol.eval_config(name, episodes_per_object=episodes_per_object, progress=False, plots=False,
                                   parts_folder=root / "unseen_parts")
        evaluate_policies(cfg, specs, workers=1, journal=root / name / "clean" / JOURNAL_DIR)


class BaselinePrerun:
    """Start with :meth:`start`, end with :meth:`stop` (also as a context manager)."""

    def __init__(self, protocol: Any, suites: Sequence[str], out: str | Path,
                 episodes_per_object: int | None = None) -> None:
        self.args = (protocol, tuple(suites), str(out), episodes_per_object)
        self.process: Any = None

    def start(self) -> BaselinePrerun:
        if not self.args[0].baselines:
            return self
        ctx = multiprocessing.get_context("spawn")
        self.process = ctx.Process(target=play_baselines, args=self.args, name="tacrefine-baseline-prerun",
                                   daemon=True)
        self.process.start()
        return self

    def stop(self, timeout: float = 10.0) -> str:
        """Stop the process (finished jobs stay in the journal); returns how it ended."""
        proc = self.process
        if proc is None:
            return "not started"
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join()
            outcome = "stopped"
        else:
            proc.join()
            outcome = "finished" if proc.exitcode == 0 else f"failed (exit code {proc.exitcode})"
        self.process = None
        if outcome.startswith("failed"):  # harmless: the benchmark stage plays every job it lacks
            log.warning("the baselines' background episodes %s; the benchmark plays them itself", outcome)
        return outcome

    def __enter__(self) -> BaselinePrerun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["NICENESS", "BaselinePrerun", "play_baselines"]
