"""The executor seam: what a job is, how results come back, how remote errors are named."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tacrefine.config import ConfigError
from tacrefine.registry import Registry

#: Backends a user can choose with ``--backend`` (the built-in entries of :data:`EXECUTORS`).
BACKENDS = ("local", "ray")

#: Environment of worker processes: one math thread each (N workers on N cores must not
#: start N x N BLAS / OpenMP threads that fight over the cores).
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: A job's progress callback: ``report(n)`` adds ``n`` units to the run's progress bar.
Report = Callable[[int], None]


@dataclass(frozen=True)
class Job:
    """One unit of work: ``fn(*args, report)`` run somewhere, its result returned to the driver.

    Attributes:
        args: picklable arguments (``fn`` itself must be a module-level function).
        label: what a user needs to find the failing work, e.g. ``shard 00003 (object 'wedge', seed 0)``.
        weight: progress units the job stands for (the executor completes the count at the end).
    """

    args: tuple
    label: str
    weight: int = 1


class TaskError(RuntimeError):
    """A job failed on a worker; the message names the job (object, seed) and the original error."""


def task_error(job: Job, exc: BaseException) -> TaskError:
    detail = f"{type(exc).__name__}: {exc}"
    return TaskError(f"{job.label} failed: {detail}")


class Executor(Protocol):
    """Runs jobs; yields their results in job order whatever order they finish in."""

    workers: int

    def run(self, fn: Callable[..., Any], jobs: Sequence[Job], progress: Report) -> Iterator[Any]:
        """Results of ``fn`` over ``jobs`` in job order; raises :class:`TaskError` naming the failed job."""
        ...

    def close(self) -> None: ...


def cpu_count() -> int:
    """Cores this process may run on (respects CPU affinity)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else (os.cpu_count() or 1)


#: Executor factories by backend name: ``factory(workers, ray_address) -> Executor``. Each
#: backend module registers its own; this seam never imports them.
EXECUTORS: Registry[Callable[[int, str | None], Executor]] = Registry(
    "backend", providers=("tacrefine.parallel.local", "tacrefine.parallel.ray_backend"))


def make_executor(backend: str = "local", workers: int = 0, ray_address: str | None = None) -> Executor:
    """The executor of ``backend``: ``local`` processes (``workers``; 0 = one per core) or ``ray``
    (``ray_address``: a running cluster such as ``ray://head:10001`` or ``auto``; None starts a local Ray)."""
    if backend not in EXECUTORS:
        raise ConfigError(f"backend: got {backend!r}; allowed: {', '.join(EXECUTORS.names())}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ConfigError(f"workers: got {workers!r}; allowed: an integer >= 0 (0 = one per CPU core)")
    return EXECUTORS.get(backend)(workers, ray_address)


class OrderedResults:
    """Buffers results that finish early so they are handed out in job order.

    A failure is handed out in job order too (raised when its turn comes), so which error a
    user sees never depends on scheduling; ``failed`` tells the executor to submit no more.
    """

    def __init__(self) -> None:
        self._done: dict[int, Any] = {}
        self._errors: dict[int, TaskError] = {}
        self.next = 0

    @property
    def failed(self) -> bool:
        return bool(self._errors)

    def add(self, index: int, result: Any) -> None:
        self._done[index] = result

    def fail(self, index: int, error: TaskError) -> None:
        self._errors[index] = error

    def ready(self) -> Iterator[Any]:
        while True:
            if self.next in self._errors:
                raise self._errors[self.next]
            if self.next not in self._done:
                return
            yield self._done.pop(self.next)
            self.next += 1


def probe_job(value: int, fail_on: int | None, report: Report) -> tuple[int, int]:
    """A job that only says where it ran: ``(value, process id)``; raises ``ValueError`` when
    ``value == fail_on``. Measures worker start-up (benchmarks) and checks an executor's
    plumbing (tests) without any simulation."""
    if value == fail_on:
        raise ValueError(f"probe job {value} fails on purpose")
    report(1)
    return value, os.getpid()
