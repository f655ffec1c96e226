"""The `tacrefine` console command: every verb reachable, each verb's own --help, scripts unchanged."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tacrefine.cli import command

ROOT = Path(__file__).resolve().parents[1]
VERBS = ("generate", "validate", "train", "evaluate", "benchmark", "adapt", "dataset", "main", "export", "check",
         "calibrate", "ensemble", "probe")


def test_top_help_lists_every_verb(capsys) -> None:
    assert command.main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert f"\n  {verb} " in out, verb
    assert set(command.VERBS) == set(VERBS)


@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_has_its_own_help(verb: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        command.main([verb, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: tacrefine {verb}"), out[:80]


def test_unknown_verb_and_no_verb_are_refused(capsys) -> None:
    assert command.main(["frobnicate"]) == 2
    assert "unknown verb 'frobnicate'" in capsys.readouterr().err
    assert command.main([]) == 2


def test_console_script_and_module_entry_points() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "tacrefine"]
    assert script.load() is command.main
    run = subprocess.run([sys.executable, "-m", "tacrefine", "export", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "--format {onnx,torchscript}" in run.stdout
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "export.py"), "--help"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("usage: export.py")
