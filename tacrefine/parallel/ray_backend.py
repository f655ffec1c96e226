"""Ray executor: each job is a Ray task (``num_cpus=1``) on a local Ray or a cluster.

Only Ray's own API: ``ray.init`` (a running cluster by address, or a local Ray),
``ray.remote`` tasks, ``ray.wait`` / ``ray.get``. The driver keeps at most a few tasks per
CPU in flight (memory flat for any number of jobs) and hands results out in job order.
A task's exception comes back as :class:`~tacrefine.parallel.base.TaskError` naming the
job (object, seed) and the original error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tacrefine.config import ConfigError
from tacrefine.parallel.base import EXECUTORS, SINGLE_THREAD_ENV, Job, OrderedResults, Report, task_error

#: Tasks in flight per CPU of the cluster (keeps every CPU fed while results travel back).
_IN_FLIGHT_PER_CPU = 2


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("backend: 'ray' needs Ray, which is not installed; allowed: install it with "
                          "pip install -e \".[ray]\", or use backend 'local'") from exc
    return ray


def _call(fn: Callable[..., Any], args: tuple) -> Any:
    """Runs on a Ray worker: the job without fine-grained progress (counted when it finishes)."""
    return fn(*args, None)


def _named(job: Job, cause: BaseException, raised: BaseException) -> Exception:
    error = task_error(job, cause)
    error.__cause__ = raised
    return error


class RayExecutor:
    """Jobs as Ray tasks. ``address``: a running cluster (``auto``, ``HOST:6379``,
    ``ray://HOST:10001``); None starts a local Ray with ``workers`` CPUs (0 = all cores).
    A Ray already initialised in this process (e.g. by a test fixture) is used as it is."""

    def __init__(self, address: str | None = None, workers: int = 0) -> None:
        ray = _import_ray()
        self._owns = not ray.is_initialized()
        if self._owns:
            kwargs: dict[str, Any] = {"include_dashboard": False,
                                      "runtime_env": {"env_vars": dict(SINGLE_THREAD_ENV)}}
            if address is None:
                kwargs["num_cpus"] = workers or None
            try:
                ray.init(address=address, **kwargs)
            except ConnectionError as exc:
                raise ConfigError(f"ray_address: cannot connect to {address!r} ({exc}); allowed: the address of "
                                  f"a running Ray head (ray start --head prints it), 'auto', or none for a "
                                  f"local Ray") from exc
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_call)

    def close(self) -> None:
        if self._owns:
            _import_ray().shutdown()
            self._owns = False

    def run(self, fn: Callable[..., Any], jobs: Sequence[Job], progress: Report) -> Iterator[Any]:
        ray = _import_ray()
        jobs = list(jobs)
        ordered = OrderedResults()
        running: dict[Any, int] = {}
        next_job = 0
        limit = self.workers * _IN_FLIGHT_PER_CPU
        fn_ref = ray.put(fn)
        try:
            while (next_job < len(jobs) and not ordered.failed) or running:
                while next_job < len(jobs) and not ordered.failed and len(running) < limit:
                    running[self._remote.remote(fn_ref, jobs[next_job].args)] = next_job
                    next_job += 1
                done, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
                for ref in done:
                    index = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        ordered.fail(index, _named(jobs[index], getattr(exc, "cause", None) or exc, exc))
                        continue
                    except ray.exceptions.RayError as exc:  # worker died, node lost, ...
                        ordered.fail(index, _named(jobs[index], exc, exc))
                        continue
                    progress(jobs[index].weight)
                    ordered.add(index, result)
                yield from ordered.ready()
            yield from ordered.ready()  # raises the first failure in job order, if any
        finally:
            for ref in running:  # interrupted or failed: do not leave work running on the cluster
                ray.cancel(ref, force=True)


def _make_ray(workers: int, ray_address: str | None) -> RayExecutor:
    return RayExecutor(address=ray_address, workers=workers)


EXECUTORS.register("ray", _make_ray)
