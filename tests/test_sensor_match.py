"""The sensor a policy was trained with travels with it: another sensor is refused or warned about."""

from __future__ import annotations

import gymnasium as gym
import pytest

import tacrefine
from tacrefine.config import ConfigError, to_dict
from tacrefine.sim.sensor_config import SensorConfig
from tacrefine.sim.sensor_profiles import check_sensor_match

FAST = {"objects": ["rod_r4"]}


def test_pretrained_policy_refuses_an_env_with_another_sensor_and_names_the_fields():
    same = gym.make("tacrefine/GripRefine-v0", **FAST)
    assert tacrefine.load_policy("pretrained", env=same) is not None
    other = gym.make("tacrefine/GripRefine-v0", sensor={"spread_mm": 0.7, "saturation_counts": 200}, **FAST)
    with pytest.raises(ValueError, match=r"spread_mm: 0.0 != 0.7.*saturation_counts: 255.0 != 200"):
        tacrefine.load_policy("pretrained", env=other)
    with pytest.warns(UserWarning, match="spread_mm"):
        policy = tacrefine.load_policy("pretrained", env=other, sensor_mismatch="warn")
    obs, _ = other.reset(seed=0)
    assert policy.act(obs).shape == other.action_space.shape
    same.close()
    other.close()


def test_noise_and_names_are_not_part_of_a_sensors_identity_and_old_records_read():
    trained = to_dict(SensorConfig())
    old_record = {k: v for k, v in trained.items() if k not in ("spread_mm", "hysteresis", "name")}
    assert check_sensor_match(old_record, SensorConfig(name="x").with_noise(True)) == []
    assert check_sensor_match(None, SensorConfig(rows=3)) == [], "nothing recorded: nothing to compare"
    with pytest.warns(UserWarning, match="hysteresis"):
        assert check_sensor_match(trained, SensorConfig(hysteresis=0.1), mode="warn") == ["hysteresis: 0.0 != 0.1"]
    with pytest.raises(ConfigError, match="sensor_mismatch"):
        check_sensor_match(trained, SensorConfig(), mode="ignore")
