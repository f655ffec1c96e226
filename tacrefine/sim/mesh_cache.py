"""Hull files for PyBullet: compound shapes take hull pieces only as OBJ files, so each distinct
hull is written once to a private per-user folder, named by its content."""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull

from tacrefine.config import atomic_write_bytes


def private_folder(folder: Path, what: str, fix: str, error: type[Exception] = RuntimeError) -> Path:
    """``folder``, created owner-only (0700); refused when another user owns it (its files could
    be swapped for other shapes), tightened when it is ours but open. Shared by the on-disk
    caches of parts (hull meshes here, decompositions in :mod:`tacrefine.sim.decompose`)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    user = os.getuid() if hasattr(os, "getuid") else None
    if user is None:
        return folder
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != user:
        raise error(f"{what} {folder}: not a folder owned by this user (uid {user}; owner uid {st.st_uid}); {fix}")
    if st.st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder


def user_cache_folder(name: str, what: str, error: type[Exception] = RuntimeError) -> Path:
    """``$TACREFINE_CACHE_DIR/<name>`` (default ``~/.cache/tacrefine/<name>``), owner-only: the
    per-user caches that outlive a process (decompositions, part measurements)."""
    root = os.environ.get("TACREFINE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "tacrefine")
    return private_folder(Path(root) / name, what, "remove it or set TACREFINE_CACHE_DIR to a private folder",
                          error)


def _mesh_cache_dir() -> Path:
    """The per-user folder of hull files (:func:`private_folder` under the temp dir)."""
    user = os.getuid() if hasattr(os, "getuid") else 0
    return private_folder(Path(tempfile.gettempdir()) / f"tacrefine-meshes-{user}", "hull mesh cache",
                          "remove it or set TMPDIR to a private folder")


@functools.lru_cache(maxsize=4096)
def _hull_obj(vertices_mm: tuple[tuple[float, float, float], ...]) -> tuple[bytes, str]:
    """The OBJ text of the hull of ``vertices_mm`` (in metres) and its content hash: a pure
    function of the vertices, computed once per process (every reset rebuilds the shapes)."""
    verts = np.asarray(vertices_mm, dtype=float)
    faces = ConvexHull(verts).simplices  # PyBullet only keeps vertices that faces use
    text = "".join(f"v {x / 1000:.9f} {y / 1000:.9f} {z / 1000:.9f}\n" for x, y, z in verts)
    text += "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces)
    payload = text.encode()
    return payload, hashlib.sha256(payload).hexdigest()[:16]


def _hull_mesh_file(vertices_mm: tuple[tuple[float, float, float], ...]) -> str:
    """An OBJ file holding ``vertices_mm`` (in metres), which PyBullet turns into a convex hull.

    Compound shapes accept hull pieces only as files, so each distinct hull is written once
    to a per-user cache named by its content hash (atomically, so concurrent workers agree);
    a file found there is used only if its content still has that hash (else it is rewritten).
    """
    payload, digest = _hull_obj(vertices_mm)
    path = _mesh_cache_dir() / f"{digest}.obj"
    try:
        intact = hashlib.sha256(path.read_bytes()).hexdigest()[:16] == digest
    except OSError:
        intact = False
    if not intact:  # missing, or truncated / changed (e.g. by an older, non-atomic writer)
        atomic_write_bytes(path, payload)
    return str(path)
