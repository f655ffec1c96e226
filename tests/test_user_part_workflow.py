"""A user part goes everywhere a built-in one does: YAML configs, --object PATH, 2 workers,
validation, evaluation (which records a part that cannot be reset as its failure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tacrefine.cli import evaluate as evaluate_cli
from tacrefine.cli import generate_data as generate_cli
from tacrefine.config import ConfigError, load_config
from tacrefine.data.generate import DataConfig

PLATE_URDF = """<?xml version="1.0"?>
<robot name="bracket">
  <link name="base">
    <inertial><origin xyz="0.004 0 0.01"/><mass value="0.07"/>
      <inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 0.0025"/><geometry><box size="0.03 0.03 0.005"/></geometry></collision>
    <collision><origin xyz="0 0 0.02"/><geometry><box size="0.004 0.009 0.03"/></geometry></collision>
  </link>
</robot>
"""


def write_part(folder: Path) -> Path:
    path = folder / "bracket.urdf"
    path.write_text(PLATE_URDF)
    return path


def test_yaml_mapping_round_trips_through_the_saved_config(tmp_path):
    part = write_part(tmp_path)
    config = tmp_path / "data.yaml"
    config.write_text(yaml.safe_dump({"objects": ["rod_r4", {"name": "bracket", "urdf": str(part)}],
                                      "samples_per_object": 4, "shard_size": 4}))
    cfg = load_config(DataConfig, config)
    assert cfg.objects == ("rod_r4", "bracket")
    assert cfg.object_spec("bracket").urdf == str(part)
    assert cfg.object_spec("bracket").thickness_mm == pytest.approx(4.0, abs=0.6)
    with pytest.raises(ConfigError, match=r"data\.objects\.rod_r4: a user part may not take the name"):
        DataConfig(objects=({"name": "rod_r4", "urdf": str(part)},))
    with pytest.raises(ConfigError, match="more than once"):
        DataConfig(objects=({"name": "b", "urdf": str(part)}, {"name": "b", "urdf": str(part)}))
    with pytest.raises(ConfigError, match=r"nope\.urdf.*does not exist"):
        DataConfig(objects=({"name": "b", "urdf": str(tmp_path / "nope.urdf")},))
    wide = tmp_path / "wide.urdf"
    wide.write_text(PLATE_URDF.replace('size="0.004 0.009 0.03"', 'size="0.06 0.07 0.03"'))
    with pytest.raises(ConfigError, match=r"wide\.urdf.*thick along the closing axis.*up to 48\.0 mm"):
        DataConfig(objects=({"name": "wide", "urdf": str(wide)},))


@pytest.mark.slow
def test_user_part_through_generate_with_two_workers_validate_and_evaluate(tmp_path, capsys):
    part = write_part(tmp_path)
    config = tmp_path / "data.yaml"
    config.write_text(yaml.safe_dump({"objects": [{"name": "bracket", "urdf": str(part)}, "rod_r4"],
                                      "samples_per_object": 6, "shard_size": 3}))
    out = tmp_path / "data"
    assert generate_cli.main(["generate", "--out", str(out), "--config", str(config), "--workers", "2",
                              "--no-progress"]) == 0
    assert generate_cli.main(["validate", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {o for e in manifest["shards"] for o in e["objects"]} == {"bracket", "rod_r4"}
    # the saved config alone regenerates (resumes) the same dataset
    assert generate_cli.main(["generate", "--out", str(out), "--config", str(out / "config.yaml"),
                              "--no-progress"]) == 0
    # an ungraspable part (grasped 60 mm up, in the air) is recorded as its failure; the report is written
    ghost = tmp_path / "ghost.urdf"
    ghost.write_text(PLATE_URDF.replace("bracket", "ghost"))
    eval_cfg = tmp_path / "eval.yaml"
    eval_cfg.write_text(yaml.safe_dump({"objects": [
        {"name": "ghost", "urdf": str(ghost), "grasp_height_mm": 60.0, "thickness_mm": 4.0,
         "frame_in_file": [0, 0, 0, 0, 0, 0]}]}))
    report_dir = tmp_path / "eval"
    assert evaluate_cli.main(["--policy", "baseline:oracle", "--out", str(report_dir), "--config", str(eval_cfg),
                              "--object", str(part), "--episodes-per-object", "2", "--target-mode", "fixed",
                              "--no-plots", "--no-progress"]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    by_object = report["results"]["baseline:oracle"]["by_object"]
    assert set(by_object) == {"ghost", "bracket"}
    assert by_object["ghost"]["failures"] == {"reset_failed": 2}
    assert by_object["ghost"]["success"]["1mm_1deg"] == 0.0
    assert by_object["bracket"]["success"]["5mm_5deg"] == 1.0
    assert "bracket" in (report_dir / "report.md").read_text()
    assert any("ghost" in e.get("reset_error", "") for e in report["episodes"])


def test_main_job_takes_object_paths(tmp_path, monkeypatch):
    from tacrefine.cli import main_job

    part = write_part(tmp_path)
    seen = {}
    monkeypatch.setattr(main_job, "run_main", lambda cfg: seen.setdefault("cfg", cfg))
    assert main_job.main(["--smoke", "--object", str(part), "--out", str(tmp_path / "run")]) == 0
    cfg = seen["cfg"]
    assert cfg.data.objects[-1] == "bracket" and cfg.data.user_objects[0]["urdf"] == str(part.resolve())
    assert cfg.data.object_spec("bracket").thickness_mm > 0
