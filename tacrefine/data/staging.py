"""Write a whole output folder beside its destination and rename it into place when complete.

Why: a job that fails half-way through writing a folder (a conversion that meets a bad row)
must leave nothing a reader could take for a result, and nothing that blocks the retry.
Files written atomically one by one do not give that (a manifest with 0 shards is a valid
empty dataset); one ``os.rename`` of the finished folder does: before it the destination
does not exist, after it the destination is complete.

The staging folder is ``.<name>.staging-<random>`` in the destination's parent (same file
system, so the rename is atomic). Staging folders of a killed job are removed by the next
:func:`staged_directory` for the same destination (callers hold its output lock,
:mod:`tacrefine.lock`, so no live job owns them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def refuse_existing(out: Path, what: str) -> None:
    """Refuse a destination that is a file, or a folder that is not empty (names it)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise FileExistsError(f"{out}: exists and is not a directory; choose another --out for the {what}")
    if out.is_dir() and any(out.iterdir()):
        raise FileExistsError(f"{out}: exists and is not empty; choose another --out for the {what} "
                              "(or remove it)")


@contextlib.contextmanager
def staged_directory(out: str | Path, what: str = "output") -> Iterator[Path]:
    """Yield an empty staging folder; on normal exit rename it to ``out``, on any error delete it."""
    out = Path(out)
    refuse_existing(out, what)
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{out.name}.staging-"
    for stale in parent.glob(prefix + "*"):  # left by a killed job for this destination
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes owner-only folders; outputs are shared
        refuse_existing(out, what)
        if out.is_dir():
            out.rmdir()  # empty: rename cannot replace a directory on every platform
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
