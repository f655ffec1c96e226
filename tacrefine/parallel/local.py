"""Local executor: the driver plus worker processes on this machine.

``workers`` lanes run jobs: the driver itself (warm imports, no start-up) and ``workers - 1``
spawned processes, fresh interpreters that inherit none of the driver's state, each with
one math thread (``SINGLE_THREAD_ENV``) so N lanes on N cores do not oversubscribe them.

Why the driver works too: a spawned process costs about half a second of imports
(PyBullet, SciPy's spatial package, h5py) before its first job. Measured on the 2-core
machine, two spawned workers lost that start-up on both cores at once, which capped a
5-10 s run at 1.45-1.6x the one-worker speed; with the driver as the first lane only the
extra lanes pay it, and they pay it while the driver already works. The driver's
coordination (results, progress, manifest) happens between its own jobs and in the pool's
result thread, which also hands each process its next job the moment it finishes one, so
no process waits for the driver. Results still come back in job order.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from tacrefine.config import ConfigError
from tacrefine.parallel.base import EXECUTORS, SINGLE_THREAD_ENV, Job, OrderedResults, Report, cpu_count, task_error
from tacrefine.parallel.parent_watch import start_parent_watch

#: GIL switch interval of the driver while it runs jobs beside the pool (Python's default: 5 ms).
_SWITCH_INTERVAL_S = 0.0005

_progress_queue: Any = None


def _init_worker(progress_queue: Any, driver_pid: int | None = None) -> None:
    global _progress_queue
    _progress_queue = progress_queue
    start_parent_watch(driver_pid)  # the worker ends when the driver is gone, however it went


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


class _Dispatch:
    """Hands out job indices in order to the driver and to the pool (from the pool's result
    thread), and stops handing out after a failure or an interrupt."""

    def __init__(self, n_jobs: int, pool_slots: int) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._n_jobs = n_jobs
        self._pool_free = pool_slots
        self.handed_to_pool = 0
        self.stopped = False

    def take(self, for_pool: bool = False) -> int | None:
        with self._lock:
            if self.stopped or self._next >= self._n_jobs or (for_pool and self._pool_free <= 0):
                return None
            index = self._next
            self._next += 1
            if for_pool:
                self._pool_free -= 1
                self.handed_to_pool += 1
            return index

    def pool_slot_freed(self) -> None:
        with self._lock:
            self._pool_free += 1

    def stop(self) -> None:
        with self._lock:
            self.stopped = True


class LocalExecutor:
    """``workers`` lanes: the driver, plus ``workers - 1`` spawned processes."""

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

        lanes = min(self.workers, len(jobs))
        if lanes <= 1:
            for index in range(len(jobs)):
                try:
                    result = fn(*jobs[index].args, lambda n, i=index: credit(i, n))
                except Exception as exc:
                    raise task_error(jobs[index], exc) from exc
                complete(index)
                yield result
            return
        yield from self._run_with_pool(fn, jobs, lanes - 1, credit, complete)

    def _run_with_pool(self, fn: Callable[..., Any], jobs: list[Job], n_processes: int,
                       credit: Callable[[int, int], None],
                       complete: Callable[[int], None]) -> Iterator[Any]:
        ctx = mp.get_context("spawn")  # fresh interpreters: nothing of the driver's state is inherited
        progress_queue = ctx.Queue()
        pool = ProcessPoolExecutor(n_processes, mp_context=ctx, initializer=_init_worker,
                                   initargs=(progress_queue, os.getpid()))
        dispatch = _Dispatch(len(jobs), n_processes)
        finished: queue.SimpleQueue = queue.SimpleQueue()  # (index, future) of finished pool jobs
        ordered = OrderedResults()
        collected = [0]  # pool jobs whose outcome the driver has taken in

        def feed() -> None:
            """Give every idle process a job (from the driver, then from the pool's result thread)."""
            while (index := dispatch.take(for_pool=True)) is not None:
                try:
                    future = pool.submit(_run_in_worker, fn, index, jobs[index].args)
                except RuntimeError as exc:  # a broken or closing pool: the job fails, nothing else starts
                    dispatch.stop()
                    future = Future()
                    future.set_exception(exc)
                    finished.put((index, future))
                    return
                future.add_done_callback(lambda f, i=index: on_done(i, f))

        def on_done(index: int, future: Future) -> None:
            if future.cancelled() or future.exception() is not None:
                dispatch.stop()
            finished.put((index, future))
            dispatch.pool_slot_freed()
            feed()

        def drain() -> None:
            with contextlib.suppress(queue.Empty):
                while True:
                    index, n = progress_queue.get_nowait()
                    credit(index, n)

        def collect(block: bool) -> None:
            with contextlib.suppress(queue.Empty):
                while True:
                    index, future = finished.get(timeout=0.1) if block else finished.get_nowait()
                    block = False
                    collected[0] += 1
                    if future.cancelled():
                        continue
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

        def run_here(index: int) -> None:
            def report(n: int) -> None:
                credit(index, n)
                drain()

            try:
                result = fn(*jobs[index].args, report)
            except Exception as exc:
                dispatch.stop()
                error = task_error(jobs[index], exc)
                error.__cause__ = exc  # keep the job's own traceback, as for a pool job
                ordered.fail(index, error)
                return
            complete(index)
            ordered.add(index, result)

        # The driver's jobs hold the GIL through long C calls (PyBullet); the pool's result thread
        # needs it to hand a process its next job. A short switch interval lets it in at once.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, _SWITCH_INTERVAL_S))
        try:
            with _environment(SINGLE_THREAD_ENV):  # the processes spawn on these first submits
                feed()
            while True:
                collect(block=False)
                drain()
                yield from ordered.ready()
                index = dispatch.take()
                if index is not None:
                    run_here(index)
                    continue
                if collected[0] >= dispatch.handed_to_pool:
                    break
                collect(block=True)
            yield from ordered.ready()  # raises the first failure in job order, if any
            drain()
        finally:
            dispatch.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            progress_queue.close()
            sys.setswitchinterval(switch_interval)


def _make_local(workers: int, ray_address: str | None) -> LocalExecutor:
    if ray_address is not None:
        raise ConfigError(f"ray_address: given ({ray_address!r}) but backend is 'local'; allowed: use it "
                          f"with backend 'ray'")
    return LocalExecutor(workers or cpu_count())


EXECUTORS.register("local", _make_local)
