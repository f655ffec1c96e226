"""A mesh piece as convex hulls: as it is when convex, else decomposed by CoACD (cached on disk).

Why: a moving PyBullet body collides as convex pieces, and the taxel rays are cast against
the same pieces; a non-convex part (a washer, a bracket, a slot) taken as one hull is felt
as a block. CoACD (collision-aware convex decomposition, on PyPI as ``coacd``) keeps holes
and slots open: on a washer (30 mm, 12 mm hole) the taxels over the hole read 0 where the
hull reads them pressed (docs/user_parts.md has the comparison with PyBullet's V-HACD).

Its main setting, ``concavity`` (CoACD's ``threshold``, relative to the part's size: lower
is finer, more pieces, slower), is part of the cache key, with the piece's geometry and
the CoACD version. The cache is one JSON file per key in :func:`cache_dir`, written
atomically under a per-key lock (concurrent workers decompose once, the others wait and
read), verified when read (key and checksum; a bad file is decomposed anew).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from tacrefine.config import ConfigError, atomic_write_bytes
from tacrefine.sim.mesh_cache import user_cache_folder
from tacrefine.sim.mesh_io import MeshPiece

logger = logging.getLogger(__name__)

#: CoACD's concavity threshold used unless a part gives ``concavity``
DEFAULT_CONCAVITY = 0.05
#: the cache file layout (part of the key)
CACHE_FORMAT = 1
#: a vertex this far inside the hull (relative to the piece's diagonal) makes the piece non-convex
CONVEX_TOLERANCE = 1e-4


def cache_dir() -> Path:
    """``$TACREFINE_CACHE_DIR/decompositions`` (default ``~/.cache/tacrefine``), owner-only."""
    return user_cache_folder("decompositions", "decomposition cache", ConfigError)


def _hull(vertices: np.ndarray) -> ConvexHull | None:
    try:
        hull = ConvexHull(vertices)
    except (QhullError, ValueError):
        return None
    diag = float(np.linalg.norm(np.ptp(vertices, axis=0)))
    return hull if hull.volume > (1e-6 * diag) ** 3 * 1e3 else None


def is_convex(vertices: np.ndarray, faces: np.ndarray, hull: ConvexHull) -> bool:
    """Every vertex and every triangle's centre lies on the hull's surface (within
    :data:`CONVEX_TOLERANCE` of the size). Centres too: every vertex of an extruded outline
    (an L, a washer) lies on the hull's side faces, but a hole's wall does not."""
    tol = CONVEX_TOLERANCE * float(np.linalg.norm(np.ptp(vertices, axis=0)))
    eq = hull.equations
    points = np.concatenate([vertices, vertices[faces].mean(axis=1)])
    for i in range(0, len(points), 4096):
        distance = (points[i:i + 4096] @ eq[:, :3].T + eq[:, 3]).max(axis=1)  # <= 0 inside
        if (distance < -tol).any():
            return False
    return True


def _key(piece: MeshPiece, concavity: float) -> str:
    import coacd

    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(piece.vertices, dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(piece.faces, dtype="<i8").tobytes())
    settings = {"format": CACHE_FORMAT, "library": "coacd", "version": getattr(coacd, "__version__", "?"),
                "threshold": concavity, "seed": 0}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def _checksum(hulls: list) -> str:
    return hashlib.sha256(json.dumps(hulls).encode()).hexdigest()


def _read_cached(path: Path, key: str) -> list[np.ndarray] | None:
    """The hulls stored under ``key``, or None when missing or not intact (logged)."""
    try:
        data = json.loads(path.read_text())
        hulls = data["hulls"]
        ok = data["key"] == key and data["sha256"] == _checksum(hulls)
        arrays = [np.asarray(h, dtype=float).reshape(-1, 3) for h in hulls]
        ok = ok and bool(arrays) and all(np.isfinite(a).all() and len(a) >= 4 for a in arrays)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("decomposition cache %s unreadable (%s); decomposing again", path, exc)
        return None
    if not ok:
        logger.warning("decomposition cache %s does not match its key or checksum; decomposing again", path)
        return None
    return arrays


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (a sibling lock file): one process decomposes a key at a time."""
    import fcntl

    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _coacd(piece: MeshPiece, concavity: float) -> list[np.ndarray]:
    import coacd

    coacd.set_log_level("error")
    parts = coacd.run_coacd(coacd.Mesh(piece.vertices, piece.faces), threshold=concavity, seed=0)
    return [np.asarray(v, dtype=float) for v, _ in parts if len(v) >= 4]


def _volume(piece: MeshPiece) -> float | None:
    import trimesh

    mesh = trimesh.Trimesh(piece.vertices, piece.faces, process=False)
    return float(abs(mesh.volume)) if mesh.is_watertight else None


def decompose(piece: MeshPiece, concavity: float, where: str) -> list[np.ndarray]:
    """Convex pieces of a non-convex ``piece`` (file units), from the cache or CoACD."""
    key = _key(piece, concavity)
    folder = cache_dir()
    path = folder / f"{key[:32]}.json"
    hulls = _read_cached(path, key)
    if hulls is not None:
        logger.debug("%s: piece %r: %d convex pieces from the cache %s", where, piece.name, len(hulls), path)
        return hulls
    with _locked(folder / f"{key[:32]}.lock"):
        hulls = _read_cached(path, key)  # another process may have finished it while we waited
        if hulls is not None:
            return hulls
        start = time.process_time()
        hulls = [h[ConvexHull(h).vertices] for h in _coacd(piece, concavity) if _hull(h) is not None]
        if not hulls:
            raise ConfigError(f"{where}, piece {piece.name!r}: convex decomposition (CoACD) found no piece with a "
                              f"volume; check that the mesh is a closed surface")
        seconds = time.process_time() - start
        volume = _volume(piece)
        total = sum(ConvexHull(h).volume for h in hulls)
        change = f"{100 * (total / volume - 1):+.1f} %" if volume else "n/a (the mesh is not closed)"
        logger.info("%s, piece %r: not convex; CoACD (concavity %g) made %d convex pieces in %.1f s CPU, "
                    "volume %s of the mesh's; cached in %s", where, piece.name, concavity, len(hulls), seconds,
                    change, path)
        lists = [h.tolist() for h in hulls]
        payload = {"key": key, "concavity": concavity, "piece": piece.name, "pieces": len(lists),
                   "seconds_cpu": round(seconds, 3), "volume_change": change, "sha256": _checksum(lists),
                   "hulls": lists}
        atomic_write_bytes(path, json.dumps(payload).encode())
    return [np.asarray(h, dtype=float) for h in lists]


def convex_pieces(piece: MeshPiece, concavity: float, where: str) -> list[np.ndarray]:
    """``piece`` as convex vertex sets (file units): its hull when it is convex, else its
    decomposition; a piece without a volume (flat, a line) is refused naming it."""
    hull = _hull(piece.vertices)
    if hull is None:
        raise ConfigError(f"{where}, piece {piece.name!r}: has no volume (its {len(piece.vertices)} vertices lie "
                          f"in a plane or on a line); the hand cannot touch it: close it or remove the piece")
    import trimesh

    mesh = trimesh.Trimesh(piece.vertices, piece.faces, process=False)
    if not mesh.is_watertight:  # an open surface has no inside to decompose: its hull, as before
        if not is_convex(piece.vertices, piece.faces[:0], hull):
            logger.warning("%s, piece %r: not a closed surface (not watertight) and not convex; its convex hull "
                           "is used (close it in your CAD tool to have it decomposed)", where, piece.name)
        return [piece.vertices[hull.vertices]]
    if is_convex(piece.vertices, piece.faces, hull):
        return [piece.vertices[hull.vertices]]
    bodies = mesh.split(only_watertight=False)
    if len(bodies) > 1:  # separate bodies in one piece (a CAD export of touching solids): each on its own
        out = []
        for i, body in enumerate(bodies):
            part = MeshPiece(f"{piece.name}#{i}", np.asarray(body.vertices, dtype=float), np.asarray(body.faces))
            out.extend(convex_pieces(part, concavity, where))
        return out
    return decompose(piece, concavity, where)
