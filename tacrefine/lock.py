"""One lock per output folder: a second job writing the same folder is refused at once.

Why: two jobs with the same ``--out`` interleave their files (one policy's report beside the
other's plots) or both do all the work. Every job that writes a folder holds
:func:`output_lock` on it for its whole run; a second job on that folder gets
:class:`OutputLockedError` naming the holder (pid, command, start time) instead of waiting.

How: an exclusive, non-blocking ``fcntl.flock`` on ``.<name>.lock`` beside the folder (in its
parent, so the lock exists before the folder does and never becomes part of the output: a
dataset's listing, an export or a copy of the folder do not see it). The kernel releases a
flock when its holder dies, however it dies, so a lock left by a killed job is simply free:
taking it over needs no pid guessing (pids are reused) and no timeout. The holder's record
(JSON) is written into the lock file after the lock is taken, and read by a refused job.

Why not the ``filelock`` package (installed with torch): it opens the lock file with
``O_TRUNC`` before trying the lock, so every refused attempt would erase the holder's record
that the refusal is supposed to name. ``fcntl`` is in the standard library; this module needs
a POSIX system (Linux, macOS), like the rest of the project's process handling.

Locks are re-entrant within one process (a job that calls another job on the same folder
keeps its lock), and taken only by the main process of a distributed run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import inspect
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_held: dict[str, int] = {}  # lock file -> nesting depth, in this process
_guard = threading.Lock()


class OutputLockedError(RuntimeError):
    """Another live job holds the output folder's lock; the message names it."""


def lock_path(out: str | Path) -> Path:
    """The lock file of output folder ``out`` (``parent/.name.lock``, symlinks resolved)."""
    out = Path(os.path.realpath(os.path.expanduser(str(out))))  # one folder, one lock, however spelled
    return out.parent / f".{out.name}.lock"


def _holder(fd: int) -> dict[str, Any]:
    """The record the holder wrote (retried briefly: it writes right after taking the lock)."""
    for _ in range(20):
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            data = json.loads(os.read(fd, 1 << 16).decode("utf-8"))
            if isinstance(data, dict):
                return data
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    return {}


def describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (its record is unreadable)"
    return (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}: "
            f"{holder.get('command', '?')}")


@contextlib.contextmanager
def output_lock(out: str | Path, job: str, enabled: bool = True) -> Iterator[Path]:
    """Hold the lock of output folder ``out`` for the duration of the block (``job`` names the
    kind of job in the refusal). Raises :class:`OutputLockedError` at once if another process holds it."""
    path = lock_path(out)
    if not enabled:
        yield path
        return
    key = str(path)
    with _guard:
        if key in _held:
            _held[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield path
        finally:
            with _guard:
                _held[key] -= 1
        return
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target}: exists and is a file, not a directory; choose another output folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise NotADirectoryError(f"{Path(out)}: cannot be an output folder, {exc.filename or path.parent} "
                                 "is a file, not a directory") from exc
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise OutputLockedError(f"{Path(out)}: in use by {describe(_holder(fd))}; refusing to run this {job} "
                               f"into the same folder (wait for it, or choose another output; "
                               f"lock file {path})") from None
        record = {"pid": os.getpid(), "host": os.uname().nodename, "job": job,
                  "command": " ".join([os.path.basename(sys.argv[0] or "python"), *sys.argv[1:]]),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        with _guard:
            _held[key] = 1
        try:
            yield path
        finally:
            with _guard:
                _held.pop(key, None)
            os.ftruncate(fd, 0)  # released: a later reader sees no stale holder
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _is_main_process() -> bool:
    """False in the non-zero ranks of a ``torchrun`` job (rank 0 holds the lock for all of them)."""
    return os.environ.get("RANK", "0") in ("", "0")


def locked_output(where: str | Callable[[dict[str, Any]], Any], job: str) -> Callable[[F], F]:
    """Decorate a job function so that it runs holding its output folder's lock.

    ``where``: the name of the argument holding the folder, or a function of the bound
    arguments (by name) returning it (e.g. ``lambda a: a["cfg"].out``).
    """

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            out = bound.arguments[where] if isinstance(where, str) else where(bound.arguments)
            with output_lock(out, job, enabled=_is_main_process()):
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap


__all__ = ["OutputLockedError", "describe", "lock_path", "locked_output", "output_lock"]
