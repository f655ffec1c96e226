"""Reading a user's mesh file through trimesh: its pieces, checked, in the file's own units.

Why a library: CAD parts arrive as STL (ASCII or binary), OBJ, PLY, GLB / glTF, DAE or 3MF;
trimesh reads them all (DAE through pycollada, 3MF through lxml and networkx) and applies a
scene's node transforms, so every format gives the same thing: a list of pieces (an OBJ's
objects / groups, a scene's meshes) with their vertices and triangles.

Every problem is a :class:`ConfigError` naming the file (and the piece): an unreadable,
empty or corrupt file, a piece with a non-finite vertex (never dropped: dropping it would
change the part's shape without a word). Triangles of zero area are removed (CAD exports
hold slivers); what they leave is checked for a volume by :mod:`tacrefine.sim.decompose`.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tacrefine.config import ConfigError

logger = logging.getLogger(__name__)

#: What a part's ``units`` may be: metres per file unit.
UNITS = {"m": 1.0, "mm": 1e-3, "cm": 1e-2, "in": 0.0254}
#: The mesh formats read (trimesh's loaders; DAE needs pycollada, 3MF lxml and networkx).
MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb", ".gltf", ".dae", ".3mf")
#: trimesh's unit names (what a DAE or 3MF file declares) as ours
_DECLARED = {"meters": "m", "meter": "m", "m": "m", "millimeters": "mm", "millimeter": "mm", "mm": "mm",
             "centimeters": "cm", "centimeter": "cm", "cm": "cm", "inches": "in", "inch": "in", "in": "in"}
#: the largest part read, in triangles (memory and decomposition time grow with it)
MAX_TRIANGLES = 2_000_000


@dataclass(frozen=True)
class MeshPiece:
    """One piece of a mesh file (file units): an OBJ object / group or a scene's mesh."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray


@dataclass(frozen=True)
class MeshFile:
    """A mesh file's pieces and the unit it declares (None: it declares none)."""

    pieces: tuple[MeshPiece, ...]
    declared_units: str | None


def _load_scene(path: Path):
    import trimesh

    kwargs: dict = {"force": "scene", "process": False}
    if path.suffix.lower() == ".obj":  # one piece per object / group, as PyBullet's importer
        kwargs.update(split_objects=True, split_groups=True, group_material=False, skip_materials=True)
    return trimesh.load(str(path), **kwargs)


def _pieces(scene, path: Path, where: str) -> list[MeshPiece]:
    import trimesh

    pieces = []
    names = list(scene.geometry)
    if path.suffix.lower() == ".obj":  # trimesh lists an OBJ's objects in reverse: the file's order
        order = {}
        with open(path, "rb") as handle:
            for line in handle:
                if line[:2] in (b"o ", b"g "):
                    order.setdefault(line[2:].strip().decode(errors="replace"), len(order))
        names.sort(key=lambda n: order.get(n, len(order)))
    placed = [(node, name) for name in names for node in sorted(scene.graph.geometry_nodes.get(name, ()))]
    for node, geometry_name in placed:
        transform = scene.graph[node][0]
        geometry = scene.geometry[geometry_name]
        if not isinstance(geometry, trimesh.Trimesh) or len(geometry.faces) == 0:
            continue  # points or lines: nothing to touch
        name = str(node)
        vertices = np.asarray(geometry.vertices, dtype=float)
        if not np.isfinite(vertices).all():
            bad = int((~np.isfinite(vertices).all(axis=1)).sum())
            raise ConfigError(f"{where}: mesh {str(path)!r}, piece {name!r}: {bad} vertices are not finite numbers "
                              f"(NaN or inf); fix or remove the piece")
        faces = np.asarray(geometry.faces, dtype=np.int64)
        if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
            raise ConfigError(f"{where}: mesh {str(path)!r}, piece {name!r}: faces name vertices that do not exist")
        moved = vertices @ np.asarray(transform)[:3, :3].T + np.asarray(transform)[:3, 3]
        mesh = trimesh.Trimesh(moved, faces, process=True)  # merges duplicate vertices (STL is a soup)
        mesh.update_faces(mesh.nondegenerate_faces())
        mesh.remove_unreferenced_vertices()
        if len(mesh.faces):
            pieces.append(MeshPiece(name, np.asarray(mesh.vertices, dtype=float), np.asarray(mesh.faces)))
    return pieces


def _stamp(path: Path) -> tuple:
    try:
        stat = os.stat(path)
    except OSError:
        return ()
    return (stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read(path: str, stamp: tuple, where: str) -> MeshFile:
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise ConfigError(f"{where}: {path!r} is not a mesh file; allowed: {list(MESH_SUFFIXES)}")
    if not stamp:
        raise ConfigError(f"{where}: mesh {path!r} does not exist or cannot be read")
    if stamp[0] == 0:
        raise ConfigError(f"{where}: mesh {path!r} is empty (0 bytes)")
    try:
        scene = _load_scene(file)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loader fails its own way on a corrupt file
        raise ConfigError(f"{where}: mesh {path!r} could not be read as {suffix[1:].upper()} "
                          f"({type(exc).__name__}: {exc}); allowed: a readable {list(MESH_SUFFIXES)} file") from exc
    triangles = sum(len(getattr(g, "faces", ())) for g in scene.geometry.values())
    if triangles > MAX_TRIANGLES:
        raise ConfigError(f"{where}: mesh {path!r} has {triangles} triangles; allowed: at most {MAX_TRIANGLES} "
                          f"(simplify it in your CAD tool)")
    pieces = _pieces(scene, file, where)
    if not pieces:
        raise ConfigError(f"{where}: mesh {path!r} holds no triangles of non-zero area (an empty, corrupt or "
                          f"point-only file); the hand cannot touch it")
    declared = _DECLARED.get(str(scene.units).lower()) if getattr(scene, "units", None) else None
    return MeshFile(tuple(pieces), declared)


def read_mesh(path: str | Path, where: str) -> MeshFile:
    """The pieces of a mesh file (cached per version of the file); refused by name when bad."""
    return _read(str(path), _stamp(Path(path)), where)


def unit_scale(units: str, field: str) -> float:
    """Metres per file unit of ``units`` (refused naming ``field`` and the allowed units)."""
    if units not in UNITS:
        raise ConfigError(f"{field}: unit {units!r} is unknown; allowed: {list(UNITS)}")
    return UNITS[units]


def unit_hint(extent_m: float, scale_m: float) -> str:
    """A sentence naming the unit that would bring a part of ``extent_m`` (read at ``scale_m``
    metres per file unit) to a hand-sized 5-300 mm, or '' when none does."""
    for name, metres in UNITS.items():
        size_mm = extent_m / scale_m * metres * 1000
        if metres != scale_m and 5.0 <= size_mm <= 300.0:
            return f"; the file is probably in {name} ({size_mm:.1f} mm read so): give units: {name} (--units {name})"
    return ""


def show_part_messages() -> None:
    """Show what reading parts reports (a decomposition's pieces, time and volume; warnings) on
    stderr, for a command line that sets up no logging of its own."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("tacrefine.sim").setLevel(logging.INFO)
