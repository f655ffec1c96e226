"""The local executor: results in job order, the driver as one of the lanes, failures named."""

from __future__ import annotations

import multiprocessing
import os
import sys

import pytest

from tacrefine.parallel import Job, TaskError
from tacrefine.parallel.base import probe_job
from tacrefine.parallel.local import LocalExecutor


def _jobs(n: int, fail_on: int | None = None) -> list[Job]:
    return [Job((i, fail_on), f"probe {i}") for i in range(n)]


def test_two_workers_are_the_driver_and_one_process_and_results_come_in_job_order():
    ticks: list[int] = []
    results = list(LocalExecutor(2).run(probe_job, _jobs(12), ticks.append))
    assert [value for value, _ in results] == list(range(12))
    pids = {pid for _, pid in results}
    assert os.getpid() in pids, "the driver runs jobs itself"
    assert len(pids) == 2, "and one spawned process runs the others"
    assert sum(ticks) == 12


def test_a_failed_job_is_named_and_nothing_after_it_is_returned():
    seen = []
    with pytest.raises(TaskError, match=r"probe 5 failed: ValueError: probe job 5 fails on purpose") as caught:
        for value, _ in LocalExecutor(2).run(probe_job, _jobs(12, fail_on=5), lambda n: None):
            seen.append(value)
    assert seen == [0, 1, 2, 3, 4]
    assert isinstance(caught.value.__cause__, ValueError), "the job's own traceback is kept"


def test_a_failure_in_the_drivers_own_job_keeps_its_traceback():
    # job 0 goes to the process first, so job 1 is the driver's
    with pytest.raises(TaskError, match=r"probe 1 failed") as caught:
        list(LocalExecutor(2).run(probe_job, _jobs(4, fail_on=1), lambda n: None))
    assert isinstance(caught.value.__cause__, ValueError)
    assert caught.value.__cause__.__traceback__ is not None


def test_an_abandoned_run_restores_the_switch_interval_and_shuts_its_pool():
    before = sys.getswitchinterval()
    results = LocalExecutor(2).run(probe_job, _jobs(12), lambda n: None)
    assert next(results)[0] == 0
    assert multiprocessing.active_children(), "the pool is working"
    assert sys.getswitchinterval() < before
    results.close()  # what a consumer that raised does (contextlib.closing)
    assert sys.getswitchinterval() == before
    assert multiprocessing.active_children() == []
