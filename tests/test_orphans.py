"""Workers die with their driver (issue 19, finding 7): SIGKILL the driver of ``generate --workers 2``
and its spawned worker and multiprocessing's resource tracker are gone within a few seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tacrefine.parallel import parent_watch


def children_of(pid: int) -> dict[int, str]:
    """Live (non-zombie) processes whose parent is ``pid``: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmd
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"  # a zombie has ended; only its entry waits for reaping


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc to find the workers")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_driver_ends_its_workers_and_resource_tracker(tmp_path, sig):
    args = [sys.executable, "-m", "tacrefine.cli.generate_data", "generate", "--out", str(tmp_path / "out"),
            "--workers", "2", "--no-progress", "--set", "objects=[rod_r4]", "samples_per_object=400",
            "shard_size=2", "seed=9"]
    driver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            kids = children_of(driver.pid)
            if any("spawn_main" in c for c in kids.values()) and any("resource_tracker" in c for c in kids.values()):
                break
            time.sleep(0.1)
        assert driver.poll() is None, "the driver must still be running when it is killed"
        assert any("spawn_main" in c for c in kids.values()), kids
        driver.send_signal(sig)
        code = driver.wait(timeout=60)
        if sig == signal.SIGTERM:  # an orderly interrupt: the pool is shut down, what finished is kept
            assert code == 130
        deadline = time.monotonic() + 30  # generous: the watch polls every 0.5 s
        while time.monotonic() < deadline and any(alive(p) for p in kids):
            time.sleep(0.1)
        left = {p: c for p, c in kids.items() if alive(p)}
        assert not left, f"orphans left running after their driver was killed: {left}"
    finally:
        for pid in [driver.pid, *kids]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_watch_ends_a_process_whose_parent_changed(monkeypatch):
    """The mechanism itself, in-process: the watch calls os._exit once getppid() changes."""
    exits: list[int] = []
    ppid = [os.getppid()]
    monkeypatch.setattr(parent_watch.os, "getppid", lambda: ppid[0])
    done = threading.Event()

    def fake_exit(code: int) -> None:
        exits.append(code)
        done.set()

    monkeypatch.setattr(parent_watch.os, "_exit", fake_exit)
    parent_watch.start_parent_watch(poll_s=0.01)  # parent: the current one
    time.sleep(0.05)
    assert exits == [], "no exit while the parent lives"
    ppid[0] = 1  # re-parented: the driver is gone
    assert done.wait(10)
    assert exits == [parent_watch.ORPHAN_EXIT]
