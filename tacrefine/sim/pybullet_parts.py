"""PyBullet's ``random_urdfs`` as parts by name: ``random_123``, or a range ``pybullet:random_urdfs:A-B``.

PyBullet ships 1,000 organic shapes (``pybullet_data/random_urdfs/000``-``999``): lumpy,
non-convex, nothing like a procedural family. Training on some of them is the cheapest way
to meet shapes no rule makes; the benchmark keeps ``000``-``099`` as test-only parts
(:mod:`tacrefine.sim.unseen_testonly`), so training configs take ``100``-``999``.

A name ``random_NNN`` resolves to the file as a user part (grasp, size and class inferred
from the geometry, measured once per user: :mod:`tacrefine.sim.measure_cache`), the same
part the benchmark's split gives by path under that name. Many of these shapes do not fit
a given hand or are refused on load (a NaN piece, too thick): a data config that lists a
range sets ``skip_unusable`` so that those are left out and named rather than refusing
the whole config (:class:`tacrefine.data.plan.DataConfig`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from tacrefine.config import ConfigError
from tacrefine.sim.objects import PART_SOURCES, ObjectSpec, PartSource

#: how many files PyBullet ships in ``random_urdfs``
COUNT = 1000
_NAME = re.compile(r"^random_(\d{3})$")
_SPEC = re.compile(r"^pybullet:random_urdfs(?::(\d+)-(\d+))?$")


def random_urdf_path(index: int) -> Path:
    """The file of ``random_urdfs`` number ``index`` (0-999) in the installed ``pybullet_data``."""
    import pybullet_data

    return Path(pybullet_data.getDataPath()) / "random_urdfs" / f"{index:03d}" / f"{index:03d}.urdf"


def part_name(index: int) -> str:
    """``7 -> "random_007"``: the one name of that file everywhere (training, benchmark, reports)."""
    return f"random_{index:03d}"


def is_range_spec(item: object) -> bool:
    return isinstance(item, str) and item.startswith("pybullet:")


def expand_range_spec(spec: str) -> list[str]:
    """``pybullet:random_urdfs:100-899`` -> ``["random_100", ..., "random_899"]``."""
    match = _SPEC.match(spec)
    if match is None:
        raise ConfigError(f"objects: {spec!r} is no PyBullet part spec; allowed: pybullet:random_urdfs:A-B "
                          f"with 0 <= A <= B <= {COUNT - 1}")
    first, last = (0, COUNT - 1) if match.group(1) is None else (int(match.group(1)), int(match.group(2)))
    if not first <= last <= COUNT - 1:
        raise ConfigError(f"objects: {spec!r}: the range is empty or beyond the files; allowed: "
                          f"pybullet:random_urdfs:A-B with 0 <= A <= B <= {COUNT - 1}")
    return [part_name(i) for i in range(first, last + 1)]


def expand_object_list(items: Sequence) -> list:
    """Replace every ``pybullet:`` range in ``items`` by its part names (other items kept, in order)."""
    out: list = []
    for item in items:
        out.extend(expand_range_spec(item) if is_range_spec(item) else [item])
    return out


def part_from_name(name: str) -> ObjectSpec | None:
    """The user part of ``random_NNN`` (``None`` for other names)."""
    match = _NAME.match(name)
    if match is None:
        return None
    path = random_urdf_path(int(match.group(1)))
    if not path.is_file():
        raise ConfigError(f"object {name!r}: {path} is missing from this PyBullet installation; allowed: "
                          f"random_000 to random_{COUNT - 1} where pybullet_data has the file")
    from tacrefine.sim.object_lists import user_spec

    return user_spec({"name": name, "urdf": str(path)})


PART_SOURCES.register("pybullet", PartSource(
    from_name=part_from_name, expand=expand_object_list,
    hint=lambda: f"a PyBullet shape random_NNN (000-{COUNT - 1}) or a range pybullet:random_urdfs:A-B"))


__all__ = ["COUNT", "expand_object_list", "expand_range_spec", "is_range_spec", "part_from_name", "part_name",
           "random_urdf_path"]
