"""adapt.py: one command from a part file to a fine-tuned policy, a report and a plot; resumable."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
import torch

import tacrefine
from tacrefine.cli import adapt as adapt_cli

PART = """<?xml version="1.0"?>
<robot name="tab">
  <link name="base">
    <inertial><origin xyz="0 0.002 0.012"/><mass value="0.06"/>
      <inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 0.0025"/><geometry><box size="0.03 0.03 0.005"/></geometry></collision>
    <collision><origin xyz="0 0 0.018"/><geometry><box size="0.005 0.011 0.026"/></geometry></collision>
  </link>
</robot>
"""


@pytest.mark.slow
def test_adapt_writes_a_loadable_policy_and_a_report_and_resumes(tmp_path):
    part = tmp_path / "tab.urdf"
    part.write_text(PART)
    out = tmp_path / "adapt"
    argv = ["--object", str(part), "--out", str(out), "--samples", "24", "--steps", "4", "--episodes", "2",
            "--workers", "1", "--threads", "1", "--no-progress"]
    assert adapt_cli.main(argv) == 0
    summary = json.loads((out / "adapt.json").read_text())
    assert summary["object"] == "tab" and summary["samples"] == 24
    assert set(summary["success_before"]) == set(summary["success_after"]) >= {"5mm_5deg", "1mm_1deg"}
    assert "| 5mm / 5deg |" in (out / "report.md").read_text()
    assert (out / "before_after.png").stat().st_size > 1000
    # trained on mirrored pairs as the shipped jaw was, hence read mirrored
    adapted = torch.load(out / "policy.pt", weights_only=True)
    assert adapted["train_config"]["augment"]["mirror_y"] == 0.5 and adapted["reading"]["mirror"] is True
    env = gym.make("tacrefine/GripRefine-v0", objects=[{"name": "tab", "urdf": str(part)}])
    policy = tacrefine.load_policy(str(out / "policy.pt"), env=env)
    assert policy.mirror_map is not None
    obs, _ = env.reset(seed=0)
    assert env.action_space.contains(policy.act(obs))
    env.close()
    # rerun: every stage is found done, nothing is trained again
    stamp = (out / "train" / "best.pt").stat().st_mtime_ns
    assert adapt_cli.main(argv) == 0
    assert (out / "train" / "best.pt").stat().st_mtime_ns == stamp
    # the rerun says it reloaded every stage, and keeps the times of the run that did them
    again = json.loads((out / "adapt.json").read_text())
    assert summary["stages_resumed"] == []
    assert again["stages_resumed"] == ["evaluate before", "generate data", "fine-tune", "evaluate after"]
    assert again["seconds"] == summary["seconds"] and summary["seconds"]["fine-tune"] > 0
    assert "reloaded: evaluate before, generate data" in (out / "report.md").read_text()


def test_adapt_refuses_a_missing_part_naming_it(tmp_path, capsys):
    assert adapt_cli.main(["--object", str(tmp_path / "nope.stl"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.stl" in capsys.readouterr().err
