"""One lock per output folder (issue 19, finding 6): a second job on a folder is refused at once,
naming the holder; the lock of a killed job is free again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tacrefine.cli.evaluate import main as evaluate_main
from tacrefine.cli.generate_data import main as generate_main
from tacrefine.lock import OutputLockedError, lock_path, output_lock


def hold_lock(out: Path) -> subprocess.Popen:
    """A process that holds ``out``'s lock until killed; returns once it holds it."""
    code = textwrap.dedent(f"""
        import sys, time
        from tacrefine.lock import output_lock
        with output_lock({str(out)!r}, "test job"):
            print("held", flush=True)
            time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code, "--marker"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def wait_gone(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=30)


def test_second_holder_is_refused_naming_pid_command_and_start(tmp_path):
    out = tmp_path / "run"
    proc = hold_lock(out)
    try:
        with pytest.raises(OutputLockedError) as info, output_lock(out, "evaluation"):
            pass
        text = str(info.value)
        assert f"pid {proc.pid}" in text and "--marker" in text and "started 20" in text
        assert "refusing to run this evaluation" in text
    finally:
        wait_gone(proc)
    # the holder was SIGKILLed: the kernel freed its lock, taken over with our own record
    with output_lock(out, "evaluation") as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert path == lock_path(out) and not out.exists(), "the lock lives beside the folder, not in it"


def test_lock_is_reentrant_in_one_process_and_released_after(tmp_path):
    out = tmp_path / "x"
    with output_lock(out, "outer"), output_lock(str(out) + "/", "inner"):  # same folder, spelled otherwise
        pass
    with output_lock(out, "again"):
        pass


def test_two_concurrent_jobs_on_one_folder(tmp_path, capsys):
    """A generation runs into OUT; a second identical generation and an evaluation into OUT are
    refused at once (exit 2, the holder named), and the first job keeps running unharmed."""
    out = tmp_path / "out"
    args = ["generate", "--out", str(out), "--workers", "1", "--no-progress", "--set", "objects=[rod_r4]",
            "samples_per_object=400", "shard_size=2", "seed=5"]
    proc = subprocess.Popen([sys.executable, "-m", "tacrefine.cli.generate_data", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if json.loads(lock_path(out).read_text()).get("pid") == proc.pid:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "generation ended early"
        assert generate_main(args) == 2
        err = capsys.readouterr().err
        assert f"in use by pid {proc.pid}" in err and "generate --out" in err
        assert evaluate_main(["--policy", "baseline:noop", "--out", str(out), "--objects", "rod_r4",
                              "--episodes-per-object", "1", "--no-plots", "--no-progress"]) == 2
        assert f"in use by pid {proc.pid}" in capsys.readouterr().err
        assert not (out / "report.json").exists()
        assert proc.poll() is None, "the running job is untouched"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_later_evaluation_into_the_same_folder_leaves_no_plots_of_the_earlier(tmp_path, capsys):
    out = tmp_path / "ev"
    common = ["--out", str(out), "--objects", "rod_r4", "--episodes-per-object", "1", "--target-mode", "fixed",
              "--no-render", "--no-progress", "--max-steps", "2"]
    assert evaluate_main(["--policy", "baseline:noop", *common]) == 0
    assert (out / "tactile_baseline_noop.png").is_file()
    assert evaluate_main(["--policy", "baseline:oracle", *common]) == 0
    report = json.loads((out / "report.json").read_text())
    files = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert files == {"report.json", "report.md", *report["plots"].values()}
    assert not any("noop" in name for name in files), files
    capsys.readouterr()
