"""Simulated dataset generation: grasps at random offsets around the nominal grasp.

Work is cut into shards, each one object and a fixed number of samples. A shard's
content depends only on the config and ``(seed, shard index)``: its random stream is
``SeedSequence([seed, index])`` and it runs in a fresh physics world. So shards can be
produced in any order by any number of worker processes, a killed run resumes by
producing exactly the shards that the manifest does not list, and any shard can be
regenerated bit for bit.

Every sample is a successful grasp: grasps where a pad does not touch, no taxel reads, or
the object is knocked over / pushed away are rejected, counted and redrawn.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine import geometry
from tacrefine.config import ConfigError, require, require_int, require_positive, save_config, to_dict
from tacrefine.data import storage
from tacrefine.data.samples import GraspSamples
from tacrefine.data.storage import DatasetError
from tacrefine.sim.cell import CellConfig

#: Failures after which the object is no longer where the cell placed it: place it anew.
_DISPLACED = ("dropped", "pushed_away")
#: Config fields that do not change the data (ignored when checking a resumed run).
_RUNTIME_FIELDS = ("workers",)


def _default_objects() -> tuple[str, ...]:
    from tacrefine.sim.objects import DEFAULT_OBJECT_SET

    return tuple(DEFAULT_OBJECT_SET)


#: Offset half-ranges of the parallel-jaw task (mm / deg), the default of :class:`DataConfig`.
DEFAULT_OFFSET_RANGE: dict[str, float] = {"y": 5.0, "z": 5.0, "roll": 10.0}
#: DoF of an object whose spec does not name its own (objects from before per-class DoF).
FALLBACK_DOFS = ("y", "z", "roll")


def _dof_list(value: Any, field_name: str) -> tuple[str, ...]:
    try:
        return geometry.validate_dofs(value, field_name)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class DataConfig:
    """How to generate a simulated grasp dataset.

    Every per-DoF value is a ``{dof: value}`` mapping (mm for translations, degrees for
    rotations). Each object refines its own DoF set (its class's: rods ``{z, roll}``,
    plates ``{z, roll, pitch}``, discs ``{y, z, pitch}``, the jaw's features
    ``{y, z, roll}``); offsets are drawn in those DoF only, and every sample records its
    object's DoF mask and class, so training learns each DoF from the objects that refine it.

    Attributes:
        objects: names of built-in objects (default: the simulator's default object set).
        samples_per_object: accepted grasps per object.
        shard_size: samples per shard file (the unit of parallel work and of resuming).
        seed: root seed; shard ``i`` uses ``SeedSequence([seed, i])``.
        workers: worker processes; 0 = one per CPU core.
        offset_range: half-range of the uniform wrist offset per DoF, ``{dof: mm or deg}``;
            must cover every DoF an object refines.
        refined_dofs: ``null`` = each object refines its class's DoF; a list = every object
            refines exactly these (one DoF set for the whole dataset).
        class_dofs: per-class DoF sets that replace the registry's, ``{class: [dof, ...]}``.
        grasps_per_placement: grasps before the object is put down at a new random spot.
        max_rejects: a shard fails once this many of its grasps were rejected.
        cell: the simulated hand, sensor and world.
    """

    objects: tuple[str, ...] = field(default_factory=_default_objects)
    samples_per_object: int = 1000
    shard_size: int = 250
    seed: int = 0
    workers: int = 0
    offset_range: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_OFFSET_RANGE))
    refined_dofs: tuple[str, ...] | None = None
    class_dofs: dict[str, Any] = field(default_factory=dict)
    grasps_per_placement: int = 10
    max_rejects: int = 1000
    cell: CellConfig = field(default_factory=CellConfig)

    def __post_init__(self) -> None:
        from tacrefine.sim.objects import validate_object_names

        object.__setattr__(self, "objects", validate_object_names("data.objects", self.objects))
        for name in ("samples_per_object", "shard_size", "grasps_per_placement", "max_rejects"):
            require_int(f"data.{name}", getattr(self, name), 1)
        for name in ("seed", "workers"):
            require_int(f"data.{name}", getattr(self, name), 0)
        require(isinstance(self.offset_range, dict) and bool(self.offset_range), "data.offset_range",
                f"a mapping {{dof: mm or deg}} with keys among {list(geometry.DOF_NAMES)}", self.offset_range)
        ranges: dict[str, float] = {}
        for dof in geometry.DOF_NAMES:  # canonical order
            if dof in self.offset_range:
                value = self.offset_range[dof]
                require(isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value),
                        f"data.offset_range.{dof}", "a finite number (mm or deg)", value)
                require_positive(f"data.offset_range.{dof}", value, allow_zero=True)
                ranges[dof] = float(value)
        unknown = sorted(set(self.offset_range) - set(geometry.DOF_NAMES))
        require(not unknown, "data.offset_range", f"keys among {list(geometry.DOF_NAMES)}", unknown)
        object.__setattr__(self, "offset_range", ranges)
        if self.refined_dofs is not None:
            object.__setattr__(self, "refined_dofs", _dof_list(self.refined_dofs, "data.refined_dofs"))
        require(isinstance(self.class_dofs, dict), "data.class_dofs", "a mapping {class: [dof, ...]}",
                self.class_dofs)
        object.__setattr__(self, "class_dofs", {str(k): list(_dof_list(v, f"data.class_dofs.{k}"))
                                                for k, v in self.class_dofs.items()})
        require(isinstance(self.cell, CellConfig), "data.cell", "a cell config mapping", self.cell)
        for name in self.objects:
            missing = [d for d in self.object_dofs(name) if d not in self.offset_range]
            require(not missing, "data.offset_range", f"a range for every DoF object {name!r} refines "
                    f"({list(self.object_dofs(name))}); missing {missing}", self.offset_range)

    def object_dofs(self, name: str) -> tuple[str, ...]:
        """DoF refined for object ``name``: ``refined_dofs``, else ``class_dofs``, else its own."""
        if self.refined_dofs is not None:
            return self.refined_dofs
        from tacrefine.sim.objects import get_object

        spec = get_object(name)
        if spec.category in self.class_dofs:
            return tuple(self.class_dofs[spec.category])
        return tuple(getattr(spec, "dofs", None) or FALLBACK_DOFS)

    def union_dofs(self) -> tuple[str, ...]:
        """Every DoF some object refines (the heads of a network trained on this data)."""
        seen = {d for name in self.objects for d in self.object_dofs(name)}
        return tuple(d for d in geometry.DOF_NAMES if d in seen)

    def offset_half_range(self, dofs: Sequence[str] | None = None) -> np.ndarray:
        """Half-ranges as a 6-vector in metres / radians, zero outside ``dofs`` (default: all given)."""
        keep = set(self.offset_range if dofs is None else dofs)
        return np.array([(self.offset_range.get(d, 0.0) if d in keep else 0.0)
                         * (1e-3 if d in geometry.TRANSLATION_DOFS else np.pi / 180.0)
                         for d in geometry.DOF_NAMES])

    def n_workers(self) -> int:
        """Processes to use; 0 means the cores this process may run on (respects CPU affinity)."""
        if self.workers:
            return self.workers
        affinity = getattr(os, "sched_getaffinity", None)
        return len(affinity(0)) if affinity else (os.cpu_count() or 1)


@dataclass(frozen=True)
class ShardSpec:
    """One unit of work: ``n_samples`` grasps of ``object_name``, stored as shard ``index``."""

    index: int
    object_name: str
    n_samples: int


def plan_shards(cfg: DataConfig) -> list[ShardSpec]:
    """Shards in index order: per object, full shards then the remainder."""
    plan: list[ShardSpec] = []
    for name in cfg.objects:
        left = cfg.samples_per_object
        while left > 0:
            n = min(cfg.shard_size, left)
            plan.append(ShardSpec(len(plan), name, n))
            left -= n
    return plan


def generation_metadata(cfg: DataConfig) -> dict[str, Any]:
    """What the manifest records about a simulated dataset (everything that shaped the data)."""
    from tacrefine.sim.objects import get_object

    generation = {k: v for k, v in to_dict(cfg).items() if k not in _RUNTIME_FIELDS}
    sensor = cfg.cell.sensor
    return {
        "source": "simulation",
        "generator": "tacrefine.data.generate",
        "generation": generation,
        "refined_dofs": list(cfg.union_dofs()),
        "offset_range": dict(cfg.offset_range),
        "object_dofs": {n: list(cfg.object_dofs(n)) for n in cfg.objects},
        "tactile_shape": [cfg.cell.gripper.n_fingers, sensor.channels, sensor.rows, sensor.cols],
        "sensor": to_dict(sensor),
        "gripper": to_dict(cfg.cell.gripper),
        "object_categories": {n: get_object(n).category for n in cfg.objects},
        "units": {
            "joints": "m",
            "grasp": "4x4 object pose in the wrist frame, m",
            "offset": "wrist increment (x, y, z [m], roll, pitch, yaw [rad])",
            "tactile": "counts 0-255",
        },
    }


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
    Raises :class:`DatasetError` after ``cfg.max_rejects`` rejections.
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
        cell.load_object(spec.object_name)
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
                    raise DatasetError(
                        f"{storage.shard_label(spec.index)}: object {spec.object_name!r} rejected "
                        f"{sum(rejected.values())} grasps ({dict(rejected)}) for {len(tactile)} accepted; "
                        f"narrow the offset ranges or raise max_rejects")
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
    samples = GraspSamples(
        tactile=np.stack(tactile), joints=np.stack(joints), grasp=np.stack(grasps), offset=np.stack(offsets),
        object_id=np.zeros(spec.n_samples, np.int32), object_names=[spec.object_name],
        dof_mask=np.tile(mask, (spec.n_samples, 1)), object_classes=[cell.spec.category],
    )
    return samples, rejected


def _produce(cfg: DataConfig, spec: ShardSpec, root: str, cell: Any,
             progress: Callable[[int], None] | None) -> dict:
    """Generate and write one shard; returns its manifest entry (the manifest is not touched)."""
    start = time.perf_counter()
    samples, rejected = generate_shard(cfg, spec, cell=cell, progress=progress)
    seconds = round(time.perf_counter() - start, 3)
    extra = {"rejected_by_reason": dict(sorted(rejected.items())), "seconds": seconds}
    return storage.write_shard(root, spec.index, samples, seed=cfg.seed, n_rejected=sum(rejected.values()),
                               extra=extra)


# -- worker processes ---------------------------------------------------------------------
_progress_queue: Any = None
_worker_cell: Any = None


def _init_worker(progress_queue: Any) -> None:
    global _progress_queue
    _progress_queue = progress_queue


def _cell_for(cfg: DataConfig) -> Any:
    """The worker's one physics world, built on first use inside the worker (never inherited)."""
    global _worker_cell
    if _worker_cell is not None and _worker_cell.config != cfg.cell:
        _worker_cell.close()
        _worker_cell = None
    if _worker_cell is None:
        from tacrefine.sim.cell import GraspCell

        _worker_cell = GraspCell(cfg.cell)
    return _worker_cell


def _worker_task(cfg: DataConfig, spec: ShardSpec, root: str) -> dict:
    """Runs in a worker process: generate one shard, report progress through the queue."""
    pending = [0]

    def report(n: int) -> None:
        pending[0] += n
        if pending[0] >= 4:
            _progress_queue.put(pending[0])
            pending[0] = 0

    entry = _produce(cfg, spec, root, _cell_for(cfg), report)
    if pending[0]:
        _progress_queue.put(pending[0])
    return entry


# -- the driver ---------------------------------------------------------------------------
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _json_normal(value: Any) -> Any:
    return json.loads(json.dumps(value))


def prepare_output(cfg: DataConfig, out: Path, plan: list[ShardSpec]) -> set[int]:
    """Create or resume the dataset at ``out``; returns the indices of shards already done.

    Temp files and unrecorded shards of an interrupted run are removed; recorded shards
    whose file is missing or fails its checksum are dropped from the manifest and redone.
    A directory holding a dataset made with another config is refused.
    """
    metadata = generation_metadata(cfg)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a directory")
    if not storage.manifest_path(out).is_file():
        if out.is_dir():
            for path in out.iterdir():  # leftovers of a run killed while writing its first manifest
                if path.name.startswith(".") and path.name.endswith(".tmp"):
                    path.unlink()
            if any(out.iterdir()):
                raise DatasetError(f"{out}: directory is not empty and holds no {storage.MANIFEST_NAME}; "
                                   f"choose a new or empty output directory")
        storage.init_manifest(out, metadata, n_shards_planned=len(plan))
        save_config(cfg, out / "config.yaml")
        return set()
    manifest = storage.read_manifest(out)
    old = manifest.get("metadata", {}).get("generation") or {}
    new = _json_normal(metadata["generation"])
    if old != new:
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise DatasetError(f"{out}: holds a dataset generated with a different config (differs in {diff}); "
                           f"use a new output directory or the same config")
    storage.remove_partial_files(out)
    if not (out / "config.yaml").is_file():
        save_config(cfg, out / "config.yaml")
    by_index = {s.index: s for s in plan}
    done: set[int] = set()
    bad: list[int] = []
    for entry in manifest["shards"]:
        spec = by_index.get(entry["index"])
        path = out / entry["file"]
        ok = (spec is not None and entry["n_samples"] == spec.n_samples and path.is_file()
              and storage.sha256_file(path) == entry["sha256"])
        if ok:
            done.add(entry["index"])
        else:
            bad.append(entry["index"])
    if bad:
        storage.drop_shards(out, bad)
        for index in bad:
            (out / storage.shard_name(index)).unlink(missing_ok=True)
    return done


def generate_dataset(
    cfg: DataConfig,
    out: str | Path,
    *,
    max_shards: int | None = None,
    progress: bool = True,
) -> GenerationSummary:
    """Generate (or resume) the dataset described by ``cfg`` into directory ``out``.

    ``max_shards`` stops after that many new shards (a partial run that a later call
    completes). The manifest is rewritten atomically after every finished shard.
    """
    from tqdm import tqdm

    out = Path(out)
    plan = plan_shards(cfg)
    done = prepare_output(cfg, out, plan)
    todo = [s for s in plan if s.index not in done]
    if max_shards is not None:
        if max_shards < 0:
            raise ConfigError(f"max_shards: got {max_shards!r}; allowed: an integer >= 0")
        todo = todo[:max_shards]
    done_samples = sum(s.n_samples for s in plan if s.index in done)
    total = sum(s.n_samples for s in plan)
    bar = tqdm(total=total, initial=done_samples, unit="grasp", desc="generate", disable=not progress,
               dynamic_ncols=True)
    start = time.perf_counter()
    entries: list[dict] = []

    def finished(entry: dict) -> None:
        storage.record_shard(out, entry)
        entries.append(entry)
        bar.set_postfix(rejected=sum(e["n_rejected"] for e in entries))

    try:
        n_workers = min(cfg.n_workers(), len(todo))
        if n_workers <= 1 and todo:
            from tacrefine.sim.cell import GraspCell

            cell = GraspCell(cfg.cell)
            try:
                for spec in todo:
                    finished(_produce(cfg, spec, str(out), cell, bar.update))
            finally:
                cell.close()
        elif todo:
            _run_pool(cfg, todo, out, n_workers, bar, finished)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    n_new = sum(e["n_samples"] for e in entries)
    manifest = storage.read_manifest(out)
    return GenerationSummary(
        out=str(out), samples=n_new, rejected=sum(e["n_rejected"] for e in entries),
        seconds=round(seconds, 3),
        samples_per_s=round(n_new / seconds, 2) if seconds > 0 else 0.0, shards_generated=len(entries),
        shards_skipped=len(done), shards_planned=len(plan), samples_total=manifest["n_samples"],
        complete=len(manifest["shards"]) == len(plan),
    )


def _run_pool(cfg: DataConfig, todo: list[ShardSpec], out: Path, n_workers: int, bar: Any,
              finished: Callable[[dict], None]) -> None:
    """Spread shards over spawned worker processes; the manifest is written only here.

    A process pool executor (not ``multiprocessing.Pool``) so that a worker that dies hard
    surfaces as an error instead of a hang.
    """
    ctx = mp.get_context("spawn")  # fresh interpreters: no PyBullet state is ever inherited
    progress_queue = ctx.Queue()

    def drain(timeout: float) -> None:
        try:
            bar.update(progress_queue.get(timeout=timeout) if timeout > 0 else progress_queue.get_nowait())
            while True:
                bar.update(progress_queue.get_nowait())
        except queue.Empty:
            pass

    pool = ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(progress_queue,))
    try:
        pending = {pool.submit(_worker_task, cfg, s, str(out)) for s in todo}
        while pending:
            drain(0.05)
            ready, pending = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
            for future in ready:
                finished(future.result())  # re-raises a worker's exception here
        drain(0.0)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        progress_queue.close()
