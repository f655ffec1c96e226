"""A digest of the code itself, for caches of results that code computes.

Stored results (part measurements, finished evaluation jobs) are functions of their inputs
*and* of the code that computed them; a version number is bumped too rarely to tell. The
SHA-256 over the source files of the modules involved changes with any edit, so an edited
checkout never reads an answer the old code gave.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


@functools.lru_cache(maxsize=8)
def source_digest(*folders: str) -> str:
    """SHA-256 over every ``*.py`` file under ``folders`` (names and bytes, in a fixed order)."""
    digest = hashlib.sha256()
    for folder in sorted(folders):
        root = Path(folder)
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def package_digest() -> str:
    """:func:`source_digest` of the whole package (its envs included): what an episode runs through."""
    import importlib.util

    envs = importlib.util.find_spec("tacrefine.envs")  # found, not imported (it sits layers above)
    folders = {str(Path(__file__).parent)}
    if envs is not None and envs.origin:
        folders.add(str(Path(envs.origin).parent))
    return source_digest(*folders)


__all__ = ["package_digest", "source_digest"]
