"""Every script (issue 19, finding 8): bad input and environment are one line and exit code 2,
no traceback; ``--debug`` shows the traceback; a bug still shows its traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tacrefine.cli.adapt import main as adapt_main
from tacrefine.cli.benchmark import main as benchmark_main
from tacrefine.cli.dataset import main as dataset_main
from tacrefine.cli.errors import cli_entry
from tacrefine.cli.evaluate import main as evaluate_main
from tacrefine.cli.generate_data import main as generate_main
from tacrefine.cli.main_job import main as main_job
from tacrefine.cli.train import main as train_main

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"


def read_only_dir(tmp_path: Path) -> Path:
    """A folder nobody may create files in (root ignores permissions: /sys refuses everyone)."""
    if os.geteuid() == 0:
        return Path("/sys/tacrefine_test_out")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro / "out"


def commands(out: str, tmp_path: Path) -> dict[str, tuple]:
    return {
        "generate": (generate_main, ["generate", "--out", out, "--no-progress", "--set", "objects=[rod_r4]",
                                     "samples_per_object=2"]),
        "evaluate": (evaluate_main, ["--policy", "baseline:noop", "--out", out, "--objects", "rod_r4",
                                     "--episodes-per-object", "1", "--no-progress"]),
        "benchmark": (benchmark_main, ["speed", "--out", out]),
        "adapt": (adapt_main, ["--object", "rod_r4", "--out", out, "--no-progress"]),
        "main": (main_job, ["--smoke", "--out", out, "--no-progress"]),
        "export": (dataset_main, ["export", str(tmp_path), "--format", "lerobot", "--out", out]),
    }


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in err if line.startswith("error:")]
    assert lines, err
    assert not any("Traceback" in line for line in err), err
    return lines[-1]


@pytest.mark.parametrize("name", ["generate", "evaluate", "benchmark", "adapt", "main", "export"])
def test_out_naming_a_file_or_a_read_only_place_is_one_line(name, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    for out, expect in ((str(afile), "afile: exists and is a file"),
                        (str(afile / "sub"), "is a file, not a directory"),
                        (str(read_only_dir(tmp_path)), "ermi")):  # Permission denied / Operation not permitted
        fn, argv = commands(out, tmp_path)[name]
        assert fn(argv) == 2, (name, out)
        line = one_line_error(capsys)
        assert expect in line, (name, line)
    assert afile.read_text() == "not a folder"


def test_train_out_dir_naming_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    data = tmp_path / "nodata"
    assert train_main(["--config", str(SMOKE), "--set", f"train.out_dir={afile}", f"data.path={data}"]) == 2
    assert "afile: exists and is a file" in one_line_error(capsys)
    assert afile.read_text() == "x"


def test_resume_of_a_non_run_folder_and_a_bad_policy_file(tmp_path, capsys):
    assert train_main(["--resume", str(tmp_path)]) == 2
    assert "not a run directory" in one_line_error(capsys)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(os.urandom(512))
    assert adapt_main(["--object", "rod_r4", "--out", str(tmp_path / "adapt"), "--policy", str(bad)]) == 2
    line = one_line_error(capsys)
    assert "bad.pt" in line and "cannot be read" in line and "TaskError" not in line


def test_debug_shows_the_traceback(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert generate_main(["generate", "--out", str(afile), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().splitlines()[-1].startswith("error:")
    assert evaluate_main(["--policy", "baseline:noop", "--out", str(afile), "--debug"]) == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_a_bug_is_not_disguised_as_bad_input():
    @cli_entry
    def buggy(argv):
        raise ZeroDivisionError("a bug")

    @cli_entry
    def interrupted(argv):
        raise KeyboardInterrupt

    with pytest.raises(ZeroDivisionError):
        buggy([])
    assert interrupted([]) == 130
