"""Local executor: worker processes on this machine (or the driver itself for one worker).

One worker runs the jobs in the driver process (warm imports, no start-up). More workers
are spawned processes: fresh interpreters that inherit none of the driver's state, each
with one math thread (``SINGLE_THREAD_ENV``) so N workers on N cores do not oversubscribe
them. Each costs about a second of start-up (imports of PyBullet, SciPy, h5py), paid once
per run, in parallel. Jobs are handed out a few at a time per process, so the driver's
memory stays flat however many jobs a run has.

Measured and rejected: running jobs in the driver as an extra lane beside the pool (to
hide the workers' start-up) made the driver's own jobs 2-3x slower, because its thread
then also serves the pool's result handling; the driver only coordinates.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from tacrefine.parallel.base import SINGLE_THREAD_ENV, Job, OrderedResults, Report, task_error

#: Jobs queued per worker process beyond the one it runs (keeps workers busy, memory bounded).
_QUEUED_PER_PROCESS = 1

_progress_queue: Any = None


def _init_worker(progress_queue: Any) -> None:
    global _progress_queue
    _progress_queue = progress_queue


def _run_in_worker(fn: Callable[..., Any], index: int, args: tuple) -> Any:
    """Runs in a worker process: the job, with its progress sent to the driver in small batches."""
    pending = [0]

    def report(n: int) -> None:
        pending[0] += n
        if pending[0] >= 4:
            _progress_queue.put((index, pending[0]))
            pending[0] = 0

    result = fn(*args, report)
    if pending[0]:
        _progress_queue.put((index, pending[0]))
    return result


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for processes started inside the block (the driver's own
    libraries are already loaded and keep their settings)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class LocalExecutor:
    """``workers`` processes (1: the driver itself)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, int(workers))

    def close(self) -> None:
        """Nothing outlives a run (pools are made and shut down inside :meth:`run`)."""

    def run(self, fn: Callable[..., Any], jobs: Sequence[Job], progress: Report) -> Iterator[Any]:
        jobs = list(jobs)
        reported = [0] * len(jobs)

        def credit(index: int, n: int) -> None:
            reported[index] += n
            progress(n)

        def complete(index: int) -> None:  # the bar counts each job's full weight once it is done
            rest = jobs[index].weight - reported[index]
            if rest > 0:
                credit(index, rest)

        def run_here(index: int) -> Any:
            try:
                result = fn(*jobs[index].args, lambda n: credit(index, n))
            except Exception as exc:
                raise task_error(jobs[index], exc) from exc
            complete(index)
            return result

        n_processes = min(self.workers, len(jobs))
        if n_processes <= 1:
            for index in range(len(jobs)):
                yield run_here(index)
            return
        yield from self._run_with_pool(fn, jobs, n_processes, credit, complete)

    def _run_with_pool(self, fn: Callable[..., Any], jobs: list[Job], n_processes: int,
                       credit: Callable[[int, int], None],
                       complete: Callable[[int], None]) -> Iterator[Any]:
        ctx = mp.get_context("spawn")  # fresh interpreters: nothing of the driver's state is inherited
        progress_queue = ctx.Queue()
        pool = ProcessPoolExecutor(n_processes, mp_context=ctx, initializer=_init_worker,
                                   initargs=(progress_queue,))
        ordered = OrderedResults()
        running: dict[Future, int] = {}
        next_job = 0

        def drain() -> None:
            with contextlib.suppress(queue.Empty):
                while True:
                    index, n = progress_queue.get_nowait()
                    credit(index, n)

        def collect(futures: set[Future]) -> None:
            for future in futures:
                index = running.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # the worker's exception (or a dead worker), named by job
                    error = task_error(jobs[index], exc)
                    error.__cause__ = exc
                    ordered.fail(index, error)
                    continue
                drain()
                complete(index)
                ordered.add(index, result)

        try:
            while (next_job < len(jobs) and not ordered.failed) or running:
                with _environment(SINGLE_THREAD_ENV):  # workers spawn on submit
                    while (next_job < len(jobs) and not ordered.failed
                           and len(running) < n_processes * (1 + _QUEUED_PER_PROCESS)):
                        running[pool.submit(_run_in_worker, fn, next_job, jobs[next_job].args)] = next_job
                        next_job += 1
                drain()
                done, _ = wait(set(running), timeout=0.1, return_when=FIRST_COMPLETED)
                collect(done)
                yield from ordered.ready()
            yield from ordered.ready()  # raises the first failure in job order, if any
            drain()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            progress_queue.close()
