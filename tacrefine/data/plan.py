"""What to generate: the dataset config, its cut into shards, and the metadata it records.

A shard is the unit of parallel work and of resuming: shard ``i`` holds ``n_samples`` grasps
of one object and draws all its randomness from ``SeedSequence([seed, i])``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tacrefine import geometry
from tacrefine.config import ConfigError, require, require_int, require_positive, to_dict
from tacrefine.sim.cell import CellConfig

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
        objects: object names, family specs (``family:plates:0-99``) and user parts as
            mappings (``{name, urdf | mesh, ...}``); default: the simulator's default object set.
            Stored as names, with the user parts' mappings moved to ``user_objects``.
        user_objects: the user part mappings that names in ``objects`` refer to.
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
        hand: a registered hand (``parallel_jaw``, ``three_finger``) whose config replaces
            ``cell.gripper``; ``null`` = ``cell.gripper`` as given.
        cell: the simulated hand, sensor and world.
        skip_unusable: leave out (and name, in ``skipped_objects`` and the log) the parts the
            hand cannot take (refused on load, or wider than the open hand) instead of refusing
            the config, and let a part that reaches ``max_rejects`` keep the grasps it gave (at
            least 2; its shard records ``gave_up``), or leave it out of the data when it gave
            fewer (the manifest's ``left_out``), instead of failing the run: for pools of
            found shapes such as ``pybullet:random_urdfs:100-899``.
        skipped_objects: ``{name: reason}`` of the parts ``skip_unusable`` left out (filled in).
    """

    objects: tuple[str | dict, ...] = field(default_factory=_default_objects)
    user_objects: tuple[dict, ...] = ()
    samples_per_object: int = 1000
    shard_size: int = 250
    seed: int = 0
    workers: int = 0
    offset_range: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_OFFSET_RANGE))
    refined_dofs: tuple[str, ...] | None = None
    class_dofs: dict[str, Any] = field(default_factory=dict)
    grasps_per_placement: int = 10
    max_rejects: int = 1000
    hand: str | None = None
    cell: CellConfig = field(default_factory=CellConfig)
    skip_unusable: bool = False
    skipped_objects: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from tacrefine.sim.object_lists import normalise_object_list

        self._resolve_hand()
        require(isinstance(self.skip_unusable, bool), "data.skip_unusable", "true or false", self.skip_unusable)
        require(isinstance(self.skipped_objects, dict), "data.skipped_objects", "a mapping {name: reason}",
                self.skipped_objects)
        if self.skip_unusable:
            self._leave_out_unusable()
        names, users = normalise_object_list("data.objects", self.objects, self.user_objects)
        object.__setattr__(self, "objects", names)
        object.__setattr__(self, "user_objects", users)
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
        from tacrefine.sim.user_parts import check_fits

        for name in self.objects:  # a part the open hand cannot clear is refused now, by name
            check_fits(self.object_spec(name), self.cell.gripper.max_opening_mm,
                       self.cell.gripper.release_clearance_mm)
        for name in self.objects:
            missing = [d for d in self.object_dofs(name) if d not in self.offset_range]
            require(not missing, "data.offset_range", f"a range for every DoF object {name!r} refines "
                    f"({list(self.object_dofs(name))}); missing {missing}", self.offset_range)

    def _resolve_hand(self) -> None:
        require(isinstance(self.cell, CellConfig), "data.cell", "a cell config mapping", self.cell)
        if self.hand is not None:
            from dataclasses import replace

            from tacrefine.sim.hands import HANDS, hand_config

            require(self.hand in HANDS, "data.hand", f"one of {list(HANDS.names())} or null", self.hand)
            if self.cell.gripper.kind != self.hand:
                object.__setattr__(self, "cell", replace(self.cell, gripper=hand_config(self.hand)))

    def _leave_out_unusable(self) -> None:
        import logging

        from tacrefine.sim.object_lists import usable_items

        gripper = self.cell.gripper
        kept, skipped = usable_items(self.objects, self.user_objects, gripper.max_opening_mm,
                                     gripper.release_clearance_mm)
        if skipped:
            logging.getLogger(__name__).warning(
                "data.skip_unusable: left out %d of %d parts the %s cannot take: %s", len(skipped),
                len(kept) + len(skipped), gripper.kind, ", ".join(sorted(skipped)))
        require(bool(kept), "data.objects", "at least one part the hand can take", sorted(skipped))
        object.__setattr__(self, "objects", tuple(kept))
        object.__setattr__(self, "skipped_objects", {**self.skipped_objects, **skipped})

    def object_spec(self, name: str) -> Any:
        """The :class:`ObjectSpec` of ``name`` (built-in, family part or user part)."""
        from tacrefine.sim.object_lists import user_specs
        from tacrefine.sim.objects import get_object

        return get_object(name, user_specs("data.user_objects", self.user_objects))

    def object_dofs(self, name: str) -> tuple[str, ...]:
        """DoF refined for object ``name``: ``refined_dofs``, else ``class_dofs``, else its own."""
        if self.refined_dofs is not None:
            return self.refined_dofs
        spec = self.object_spec(name)
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
        "object_categories": {n: cfg.object_spec(n).category for n in cfg.objects},
        "units": {
            "joints": "m",
            "grasp": "4x4 object pose in the wrist frame, m",
            "offset": "wrist increment (x, y, z [m], roll, pitch, yaw [rad])",
            "tactile": "counts 0-255",
        },
    }
