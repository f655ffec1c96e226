"""Executors: run independent jobs (dataset shards, evaluation episodes) on local processes or Ray.

The drivers (:mod:`tacrefine.data.generate`, :mod:`tacrefine.evaluation.episodes.runner`) plan the
jobs, hand them to an executor and consume the results **in job order**, so what they
write never depends on which worker ran what or when it finished.
"""

from tacrefine.parallel.base import BACKENDS, Executor, Job, TaskError, make_executor

__all__ = ["BACKENDS", "Executor", "Job", "TaskError", "make_executor"]
