"""One shard, anywhere: draw grasps at random offsets, keep the good ones, write the shard file
and its checksummed record. This is the job the executors run (local processes or Ray).

Every sample is a successful grasp: grasps where a pad does not touch, no taxel reads, or
the object is knocked over / pushed away are rejected, counted and redrawn. A shard's
content depends only on the config and ``(seed, shard index)``: its random stream is
``SeedSequence([seed, index])`` and it runs in a brand-new physics world.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from tacrefine import geometry
from tacrefine.data import records, storage
from tacrefine.data.plan import DataConfig, ShardSpec
from tacrefine.data.samples import GraspSamples
from tacrefine.data.storage import DatasetError

#: grasps a pool part (``data.skip_unusable``) must give before it may stop at ``max_rejects``
#: with fewer than planned: two make a training pair
MIN_KEPT = 2


class UnusablePartError(DatasetError):
    """A pool part (``data.skip_unusable``) gave fewer than :data:`MIN_KEPT` grasps before
    ``max_rejects``: it is left out of the dataset (its shard is recorded as left out), not fatal."""

    def __init__(self, message: str, rejected: Counter) -> None:
        super().__init__(message)
        self.rejected = rejected


#: Failures after which the object is no longer where the cell placed it: place it anew.
_DISPLACED = ("dropped", "pushed_away")


def _has_signal(tactile: np.ndarray) -> bool:
    """Every finger's normal channel reads at least one taxel."""
    return bool((tactile[:, 0].reshape(tactile.shape[0], -1) > 0).any(axis=1).all())


def generate_shard(
    cfg: DataConfig,
    spec: ShardSpec,
    cell: Any = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[GraspSamples, Counter]:
    """Produce the samples of one shard; returns them and the rejections by reason.

    ``cell``: a GraspCell built from ``cfg.cell`` to reuse (anything with its interface in
    tests); by default one is built and closed here. A reused cell is reset to a brand-new
    physics world first, so the shard never depends on what the cell simulated before
    (``tests/test_reproducibility.py`` checks 1 vs 2 workers and any shard order).
    Raises :class:`DatasetError` after ``cfg.max_rejects`` rejections (:class:`UnusablePartError`
    for a pool part that gave fewer than :data:`MIN_KEPT` grasps).
    """
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, spec.index]))
    own = cell is None
    if own:
        from tacrefine.sim.cell import GraspCell

        cell = GraspCell(cfg.cell)
    dofs = cfg.object_dofs(spec.object_name)
    half = cfg.offset_half_range(dofs)
    tactile, joints, grasps, offsets = [], [], [], []
    rejected: Counter = Counter()
    try:
        if not own:
            cell.reset()
        cell.load_object(cfg.object_spec(spec.object_name))
        cell.place_object(rng)
        since_placed = 0
        while len(tactile) < spec.n_samples:
            if since_placed >= cfg.grasps_per_placement:
                cell.place_object(rng)
                since_placed = 0
            offset = rng.uniform(-1.0, 1.0, 6) * half
            res = cell.grasp_offset(offset, rng=rng)
            since_placed += 1
            failure = (res.failure or "unknown") if not res.ok else None
            if failure is None and not _has_signal(res.tactile):
                failure = "no_tactile_signal"
            if failure is not None:
                rejected[failure] += 1
                if sum(rejected.values()) >= cfg.max_rejects:
                    if cfg.skip_unusable and len(tactile) >= MIN_KEPT:
                        break  # a found shape that is hard to grasp: keep what it gave (recorded)
                    message = (f"{storage.shard_label(spec.index)}: object {spec.object_name!r} rejected "
                               f"{sum(rejected.values())} grasps ({dict(rejected)}) for {len(tactile)} accepted")
                    if cfg.skip_unusable:
                        raise UnusablePartError(message, rejected)
                    raise DatasetError(f"{message}; narrow the offset ranges or raise max_rejects")
                if failure in _DISPLACED:
                    cell.place_object(rng)
                    since_placed = 0
                continue
            tactile.append(np.asarray(res.tactile, np.uint8))
            joints.append(np.asarray(res.joints, np.float32))
            grasps.append(np.asarray(res.grasp, np.float64))
            offsets.append(offset)
            if progress is not None:
                progress(1)
    finally:
        if own:
            cell.close()
    mask = np.isin(np.array(geometry.DOF_NAMES), dofs)
    n = len(tactile)  # spec.n_samples, or fewer for a pool part that gave up (skip_unusable)
    samples = GraspSamples(
        tactile=np.stack(tactile), joints=np.stack(joints), grasp=np.stack(grasps), offset=np.stack(offsets),
        object_id=np.zeros(n, np.int32), object_names=[spec.object_name],
        dof_mask=np.tile(mask, (n, 1)), object_classes=[cell.spec.category],
    )
    return samples, rejected


# One physics client per process, reused from shard to shard: each shard resets it to a
# brand-new world, so reuse saves the client's start-up (4-25 ms) and nothing else.
_process_cell: Any = None


def _cell_for(cfg: DataConfig) -> Any:
    global _process_cell
    if _process_cell is not None and _process_cell.config != cfg.cell:
        _process_cell.close()
        _process_cell = None
    if _process_cell is None:
        from tacrefine.sim.cell import GraspCell

        _process_cell = GraspCell(cfg.cell)
    return _process_cell


def shard_job_label(cfg: DataConfig, spec: ShardSpec) -> str:
    """How a failing shard is named to the user: which object, which seed, which file."""
    return f"{storage.shard_label(spec.index)}, object {spec.object_name!r}, seed {cfg.seed}"


def produce_shard(cfg: DataConfig, spec: ShardSpec, root: str, report: Callable[[int], None] | None = None) -> dict:
    """The job: generate shard ``spec``, write its file and its record next to it; returns the
    record (the manifest entry). Runs on any worker that can write ``root``."""
    start = time.perf_counter()
    try:
        samples, rejected = generate_shard(cfg, spec, cell=_cell_for(cfg), progress=report)
    except UnusablePartError as exc:  # a pool part the hand cannot hold: recorded, no shard file
        entry = records.left_out_entry(spec, cfg.seed, f"fewer than {MIN_KEPT} grasps in {cfg.max_rejects}",
                                       exc.rejected)
        records.write_record(root, entry)
        return entry
    seconds = round(time.perf_counter() - start, 3)
    extra = {"rejected_by_reason": dict(sorted(rejected.items())), "seconds": seconds}
    if len(samples) < spec.n_samples:  # skip_unusable: the part gave up at max_rejects
        extra["gave_up"] = f"{len(samples)} of {spec.n_samples} grasps before {cfg.max_rejects} rejections"
    entry = storage.write_shard(root, spec.index, samples, seed=cfg.seed, n_rejected=sum(rejected.values()),
                                extra=extra)
    records.write_record(root, entry)
    return entry
