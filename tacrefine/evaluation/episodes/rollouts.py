"""Orchestration: every policy on every episode of a config, as jobs on an executor, with a
journal so that an interrupted evaluation resumes; records come back in episode order."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tacrefine.evaluation.episodes.protocol import EvalConfig, episode_seed
from tacrefine.evaluation.episodes.runner import (
    RESUME_PIECES,
    Capture,
    EvaluationRun,
    _episode_order,
    panel_objects,
    policy_slug,
    progress_bar,
)


def _single_thread_torch(specs: Sequence[str]) -> int | None:
    """Decisions are batches of one: extra torch threads only add synchronisation (and stall
    badly on a busy machine). Returns the previous thread count to restore, if changed."""
    if all(str(s).startswith("baseline:") for s in specs):
        return None
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    return old


def evaluate_policies(cfg: EvalConfig, specs: Sequence[str], *, backend: str = "local", workers: int = 1,
                      ray_address: str | None = None, journal: str | Path | None = None,
                      record: bool = False) -> EvaluationRun:
    """Run every policy on every episode of ``cfg``.

    The episodes run as jobs on an executor (``backend`` ``local`` with ``workers``
    processes, or ``ray``); records come back in episode order and are the same whatever
    the backend and the number of workers (only the timing fields differ). ``journal``: a
    directory where each finished job is recorded and from which a rerun takes the jobs
    already done (:mod:`tacrefine.evaluation.episodes.journal`); None writes nothing.
    ``record``: keep every episode's step-by-step trace (``run.traces``); all episodes are then
    played (a journal's records carry no traces).
    """
    from tacrefine.evaluation.episodes.jobs import EpisodeJob, cut, run_episodes
    from tacrefine.evaluation.episodes.journal import Journal
    from tacrefine.parallel import Job, make_executor

    specs = list(dict.fromkeys(str(s) for s in specs))
    if not specs:
        raise ValueError("evaluate_policies: give at least one policy spec")
    shown = panel_objects(cfg.objects, cfg.panel_episodes, cfg.object_spec)
    capture_keys = frozenset((cfg.target_modes[0], name, 0) for name in shown)
    gif_key = (cfg.target_modes[0], shown[0], 0) if shown else None
    t_start = time.perf_counter()
    executor = make_executor(backend, workers, ray_address)
    pieces = 1 if executor.workers <= 1 else 2 * executor.workers
    journal = None if record else journal
    if journal is not None:  # a cut that does not depend on 1-4 workers: a resumed run finds the same jobs
        pieces = max(pieces, min(RESUME_PIECES, len(_episode_order(cfg)) // 2))
    jobs = []
    for spec in specs:
        for mode in cfg.target_modes:
            for items in cut(_episode_order(cfg), pieces):
                work = EpisodeJob(spec, mode, items, capture_keys, gif_key, record)
                first = items[0]
                jobs.append(Job(args=(cfg, work), weight=len(items),
                                label=f"evaluation of {spec} ({mode} target), object {first[1]!r}, "
                                      f"seed {episode_seed(cfg.seed, first[1], mode, first[0])}"))
    episodes: list[dict[str, Any]] = []
    captures: list[Capture] = []
    traces: list[Any] = []
    policy_info_: dict[str, dict[str, Any]] = {}
    env_info_: dict[str, Any] = {}
    old_threads = _single_thread_torch(specs)
    book = Journal(journal, cfg) if journal is not None else None
    done = {i: r for i, job in enumerate(jobs) if book and (r := book.load(job.args[1])) is not None}
    if book is not None:
        book.report_damaged()
    todo = [i for i in range(len(jobs)) if i not in done]
    bar = progress_bar(cfg.n_episodes * len(specs), "evaluate", cfg.progress)
    bar.update(sum(jobs[i].weight for i in done))
    try:
        # closed however the loop ends (e.g. book.save fails): the pool stops and the GIL switch
        # interval comes back now, not when the abandoned generator is collected
        with contextlib.closing(executor.run(run_episodes, [jobs[i] for i in todo], bar.update)) as fresh:
            for index, job in enumerate(jobs):
                work = job.args[1]
                if index in done:
                    result = done[index]
                else:
                    result = next(fresh)
                    if book is not None:
                        book.save(work, result)
                episodes += result["records"]
                captures += result["captures"]
                traces += result.get("traces", [])
                env_info_ = env_info_ or result["env_info"]
                info = policy_info_.setdefault(work.spec, {**result["policy_info"], "seconds": 0.0, "episodes": 0})
                info["seconds"] += result["seconds"]
                info["episodes"] += len(result["records"])
                bar.set_postfix_str(f"{policy_slug(work.spec)} {work.mode}", refresh=False)
    finally:
        bar.close()
        executor.close()
        if old_threads is not None:
            import torch

            torch.set_num_threads(old_threads)
    return EvaluationRun(config=cfg, specs=specs, episodes=episodes, captures=captures, env_info=env_info_,
                         policy_info=[policy_info_[s] for s in specs if s in policy_info_],
                         seconds=time.perf_counter() - t_start, traces=traces)
