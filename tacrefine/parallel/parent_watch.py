"""Workers die with their driver: a watch thread in every spawned worker process.

Why: when the driver of ``generate`` or ``evaluate --workers 2`` is killed (SIGKILL, OOM
killer, a closed terminal), its pool never shuts down: the spawned workers sit blocked on
their job pipe for ever, and so does multiprocessing's resource tracker (it exits when the
last process holding its pipe exits, which includes the workers).

How: the worker remembers its parent's pid when it starts; a daemon thread checks every
:data:`POLL_S` seconds whether ``os.getppid()`` still returns it (a process whose parent
died is re-parented to init or a sub-reaper, so the value changes) and, if not, ends the
worker with ``os._exit``. Unfinished work is lost, which is what resuming is for (a shard is
recorded only when complete). ``prctl(PR_SET_PDEATHSIG)`` is not used: it fires when the
*thread* that spawned the worker ends, and the pool spawns workers from helper threads.
"""

from __future__ import annotations

import os
import threading
import time

#: Seconds between checks: a worker outlives its driver by at most about this long.
POLL_S = 0.5
#: Exit status of a worker that ended because its driver was gone.
ORPHAN_EXIT = 70


def _watch(parent: int, poll_s: float) -> None:
    while True:
        time.sleep(poll_s)
        if os.getppid() != parent:
            os._exit(ORPHAN_EXIT)
            return  # only reached when os._exit is replaced (tests)


def start_parent_watch(parent: int | None = None, poll_s: float = POLL_S) -> threading.Thread:
    """Start the watch in this (worker) process. ``parent``: the driver's pid, passed by the
    driver (a worker that starts after its driver died would otherwise watch its new parent);
    default: the current parent."""
    parent = os.getppid() if parent is None else int(parent)
    if os.getppid() != parent:  # orphaned before the watch could start
        os._exit(ORPHAN_EXIT)
    thread = threading.Thread(target=_watch, args=(parent, poll_s), name="parent-watch", daemon=True)
    thread.start()
    return thread


__all__ = ["ORPHAN_EXIT", "POLL_S", "start_parent_watch"]
