"""Simulated dataset generation: the driver that plans shards, runs them on an executor and
keeps the manifest.

Work is cut into shards (:mod:`tacrefine.data.plan`), each one object and a fixed number of
samples, produced by :func:`tacrefine.data.shard.produce_shard` on any worker of the chosen
executor (local processes or Ray, :mod:`tacrefine.parallel`). A shard is a pure function of
the config and ``(seed, shard index)``, so shards can run in any order on any number of
workers, a killed run resumes by producing exactly the shards without a valid record
(:mod:`tacrefine.data.records`), and any shard can be regenerated bit for bit.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tacrefine.config import ConfigError
from tacrefine.data import records, storage
from tacrefine.data.plan import DataConfig, ShardSpec, generation_metadata, plan_shards
from tacrefine.data.shard import generate_shard, produce_shard, shard_job_label
from tacrefine.lock import locked_output

#: The manifest is rewritten at most this often (records make it safe to lag behind).
MANIFEST_INTERVAL_S = 2.0


@dataclass
class GenerationSummary:
    """What a run did. ``samples``/``rejected``/``seconds`` count this run only."""

    out: str
    samples: int
    rejected: int
    seconds: float
    samples_per_s: float
    shards_generated: int
    shards_skipped: int
    shards_planned: int
    samples_total: int
    complete: bool
    backend: str = "local"
    workers: int = 1
    #: pool parts left out because they gave fewer than two grasps (``data.skip_unusable``)
    left_out: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@locked_output("out", "generation")
def generate_dataset(
    cfg: DataConfig,
    out: str | Path,
    *,
    max_shards: int | None = None,
    progress: bool = True,
    backend: str = "local",
    ray_address: str | None = None,
    executor: Any = None,
) -> GenerationSummary:
    """Generate (or resume) the dataset described by ``cfg`` into directory ``out``.

    ``max_shards`` stops after that many new shards (a partial run that a later call
    completes). ``backend``: ``local`` (``cfg.workers`` processes) or ``ray``
    (``ray_address``, or a local Ray); ``executor`` overrides both (an object from
    :func:`tacrefine.parallel.make_executor`, kept open by the caller). With Ray on several
    machines, ``out`` must be a directory every machine can write (shared storage).
    """
    from tqdm import tqdm

    from tacrefine.parallel import make_executor

    out = Path(out)
    plan = plan_shards(cfg)
    if max_shards is not None and (not isinstance(max_shards, int) or max_shards < 0):
        raise ConfigError(f"max_shards: got {max_shards!r}; allowed: an integer >= 0")
    own = executor is None
    if own:
        executor = make_executor(backend, cfg.workers, ray_address)
    done = records.prepare_output(cfg, out, plan)
    todo = [s for s in plan if s.index not in done]
    if max_shards is not None:
        todo = todo[:max_shards]
    done_samples = sum(s.n_samples for s in plan if s.index in done)
    total = sum(s.n_samples for s in plan)
    bar = tqdm(total=total, initial=done_samples, unit="grasp", desc="generate", disable=not progress,
               dynamic_ncols=True)
    start = time.perf_counter()
    entries: list[dict] = []
    unsaved: list[dict] = []
    last_save = time.perf_counter()
    jobs = [_job(cfg, spec, out) for spec in todo]
    try:
        with contextlib.closing(executor.run(produce_shard, jobs, bar.update)) as results:  # see evaluation
            for entry in results:
                entries.append(entry)
                unsaved.append(entry)
                bar.set_postfix(rejected=sum(e["n_rejected"] for e in entries))
                if time.perf_counter() - last_save >= MANIFEST_INTERVAL_S:
                    records.update_manifest(out, unsaved)
                    unsaved, last_save = [], time.perf_counter()
    finally:
        records.update_manifest(out, unsaved)  # also on interrupt: what finished is kept
        bar.close()
        if own:
            executor.close()
    seconds = time.perf_counter() - start
    n_new = sum(e["n_samples"] for e in entries)
    manifest = storage.read_manifest(out)
    return GenerationSummary(
        out=str(out), samples=n_new, rejected=sum(e["n_rejected"] for e in entries),
        seconds=round(seconds, 3),
        samples_per_s=round(n_new / seconds, 2) if seconds > 0 else 0.0, shards_generated=len(entries),
        shards_skipped=len(done), shards_planned=len(plan), samples_total=manifest["n_samples"],
        complete=len(manifest["shards"]) + len(manifest.get("left_out", [])) == len(plan),
        backend=backend if own else type(executor).__name__, workers=executor.workers,
        left_out=tuple(e["object"] for e in manifest.get("left_out", [])),
    )


def _job(cfg: DataConfig, spec: ShardSpec, out: Path) -> Any:
    from tacrefine.parallel import Job

    return Job(args=(cfg, spec, str(out)), label=shard_job_label(cfg, spec), weight=spec.n_samples)


__all__ = ["DataConfig", "GenerationSummary", "ShardSpec", "generate_dataset", "generate_shard",
           "generation_metadata", "plan_shards", "produce_shard"]
