"""Sensor profiles: physical truths of the read-out chain, named and user profiles, field checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

import tacrefine
from tacrefine.config import ConfigError
from tacrefine.sim.sensor_config import NoiseConfig, SensorConfig
from tacrefine.sim.sensor_profiles import BUILTIN_PROFILES, resolve_sensor, save_profile, sensor_differences
from tacrefine.sim.sensor_response import SensorResponse

FAST = {"objects": ["rod_r4", "t_shape"]}


def point_contact(cfg: SensorConfig, pads: int = 1, depth: float = 0.6) -> np.ndarray:
    d = np.zeros((pads, cfg.rows, cfg.cols))
    d[:, cfg.rows // 2, cfg.cols // 2] = depth
    return d


def spread_of(image: np.ndarray) -> float:
    w = image.astype(float)
    rows, cols = np.indices(w.shape)
    r0, c0 = (w * rows).sum() / w.sum(), (w * cols).sum() / w.sum()
    return float((w * ((rows - r0) ** 2 + (cols - c0) ** 2)).sum() / w.sum())


def test_spread_widens_a_point_contact_and_keeps_its_total():
    sharp = SensorResponse(SensorConfig(), 1)
    soft = SensorResponse(SensorConfig(spread_mm=1.0), 1)
    depth = point_contact(sharp.config)
    spread = soft.spread(depth)
    assert spread.sum() == pytest.approx(depth.sum(), rel=1e-12), "the elastomer moves load, never loses it"
    assert (spread > 1e-3).sum() >= 9 and (depth > 0).sum() == 1
    assert spread_of(spread[0]) > spread_of(depth[0]) + 1.0
    # near an edge as well: the load stays on the array
    edge = np.zeros_like(depth)
    edge[0, 0, 0] = 1.0
    assert soft.spread(edge).sum() == pytest.approx(1.0, rel=1e-12)
    # wider elastomer, wider blob
    wider = SensorResponse(SensorConfig(spread_mm=2.0), 1).spread(depth)
    assert spread_of(wider[0]) > spread_of(spread[0])


def test_saturation_clips_the_normal_channel_only_at_its_limit():
    depth = point_contact(SensorConfig(), depth=3.0)  # twice full scale
    free = SensorResponse(SensorConfig(), 1).image(depth, np.zeros((1, 2)), None)
    capped = SensorResponse(SensorConfig(saturation_counts=180.0), 1).image(depth, np.zeros((1, 2)), None)
    assert free.max() == 255 and capped.max() == 180
    light = point_contact(SensorConfig(), depth=0.3)  # 51 counts: below the limit, untouched
    assert np.array_equal(SensorResponse(SensorConfig(saturation_counts=180.0), 1).image(light, np.zeros((1, 2)), None),
                          SensorResponse(SensorConfig(), 1).image(light, np.zeros((1, 2)), None))


def test_hysteresis_makes_loading_and_unloading_differ():
    cfg = SensorConfig(hysteresis=0.3)
    response = SensorResponse(cfg, 1)
    levels = [0.2, 0.5, 0.8, 0.5, 0.2]
    readings = [int(response.image(point_contact(cfg, depth=d), np.zeros((1, 2)), None).max()) for d in levels]
    assert readings[0] < readings[1] < readings[2], "loading still reads more under more load"
    assert readings[3] > readings[1] and readings[4] > readings[0], "unloading reads above loading"
    ideal = SensorResponse(SensorConfig(), 1)
    ideal_readings = [int(ideal.image(point_contact(cfg, depth=d), np.zeros((1, 2)), None).max()) for d in levels]
    assert ideal_readings[3] == ideal_readings[1] and ideal_readings[4] == ideal_readings[0]
    response.reset()
    assert int(response.image(point_contact(cfg, depth=0.2), np.zeros((1, 2)), None).max()) == readings[0]


def test_gain_and_offset_maps_are_fixed_per_unit_and_differ_between_units():
    cfg = SensorConfig(gain_map_std=0.2, offset_map_counts=3.0, map_seed=1)
    flat = np.full((2, cfg.rows, cfg.cols), 0.5)
    a = SensorResponse(cfg, 2).image(flat, np.zeros((2, 2)), None)
    again = SensorResponse(cfg, 2).image(flat, np.zeros((2, 2)), None)
    other = SensorResponse(SensorConfig(gain_map_std=0.2, offset_map_counts=3.0, map_seed=2), 2).image(
        flat, np.zeros((2, 2)), None)
    assert np.array_equal(a, again)
    assert not np.array_equal(a, other)
    assert a[0].std() > 5, "a uniform press reads unevenly through a gain map"
    assert not np.array_equal(a[0], a[1]), "each pad has its own maps"


def test_default_read_out_is_the_plain_counts_and_its_noise_model():
    cfg = SensorConfig(noise=NoiseConfig(enabled=True, offset=3.0))
    rng_depth = np.random.default_rng(0)
    depth = rng_depth.uniform(0, 1.0, (2, cfg.rows, cfg.cols))
    image = SensorResponse(cfg, 2).image(depth, np.zeros((2, 2)), np.random.default_rng(5))
    rng = np.random.default_rng(5)
    counts = (depth / cfg.full_scale_depth_mm * 255.0)[:, None]
    gain = 1.0 + cfg.noise.gain_std * rng.standard_normal((2, 1, 1, 1))
    expected = counts * gain + 3.0 + cfg.noise.gaussian_std * rng.standard_normal(counts.shape)
    expected = np.where(rng.random(counts.shape) < cfg.noise.dead_taxel_prob, 0.0, expected)
    assert np.array_equal(image, np.clip(np.rint(expected), 0, 255).astype(np.uint8))


def test_dead_taxels_read_no_shear_and_offsets_leave_shear_alone():
    cfg = SensorConfig(shear=True, dead_taxels=((0, 3, 4),),
                       noise=NoiseConfig(enabled=True, offset=20.0, gain_std=0.0, gaussian_std=0.0,
                                         dead_taxel_prob=0.0))
    depth = np.zeros((2, cfg.rows, cfg.cols))
    depth[:, 2:6, 2:6] = 0.5
    image = SensorResponse(cfg, 2).image(depth, np.array([[1.0, -1.0], [0.0, 0.0]]), np.random.default_rng(0))
    assert image[0, 0, 3, 4] == 0 and image[0, 1, 3, 4] == 128 and image[0, 2, 3, 4] == 128
    assert image[0, 1, 2, 2] > 128 and image[0, 2, 2, 2] < 128
    assert np.all(image[1, 1:] == 128), "no shear force: 128 everywhere, offset or not"
    assert image[1, 0, 0, 0] == 20, "the offset biases the normal channel"
    # random dead taxels too
    cfg = SensorConfig(shear=True, noise=NoiseConfig(enabled=True, gaussian_std=0.0, dead_taxel_prob=0.5))
    image = SensorResponse(cfg, 2).image(depth, np.array([[2.0, 2.0], [2.0, 2.0]]), np.random.default_rng(1))
    dead = image[:, 0] == 0
    assert dead[:, 2:6, 2:6].any()
    assert np.all(image[:, 1:][np.broadcast_to(dead[:, None], image[:, 1:].shape)] == 128)


def test_profiles_by_name_file_and_mapping_resolve_the_same(tmp_path):
    piezo = resolve_sensor("piezo_11x9")
    assert (piezo.rows, piezo.cols, piezo.pitch_mm) == (11, 9, 1.1)
    path = tmp_path / "my_sensor.yaml"
    path.write_text(yaml.safe_dump({"profile": "piezo_11x9", "spread_mm": 0.5}))
    from_file = resolve_sensor(str(path))
    from_mapping = resolve_sensor({"profile": "piezo_11x9", "spread_mm": 0.5})
    assert sensor_differences(from_file, from_mapping) == []
    assert sensor_differences(piezo, from_file) == ["spread_mm: 0.0 != 0.5"]
    saved = tmp_path / "saved.yaml"
    save_profile(resolve_sensor("real_like"), saved)
    assert resolve_sensor(str(saved)) == resolve_sensor("real_like")
    assert resolve_sensor(None) == SensorConfig() == resolve_sensor("default")
    assert set(BUILTIN_PROFILES) >= {"default", "piezo_11x9", "real_like"}


@pytest.mark.parametrize(("spec", "field"), [
    ("piezo_12x9", "sensor"), ({"spread_mm": -1}, "sensor.spread_mm"), ({"hysteresis": 1.5}, "sensor.hysteresis"),
    ({"saturation_counts": 300}, "sensor.saturation_counts"), ({"dead_taxels": [[0, 20, 0]]}, "sensor.dead_taxels[0]"),
    ({"colour": "red"}, "sensor.colour"), ({"profile": "nope"}, "sensor.profile"),
    ({"noise": {"gain_std": "x"}}, "sensor.noise.gain_std"), (3, "sensor"),
])
def test_bad_sensor_values_name_the_field(spec, field):
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        resolve_sensor(spec)


def test_bad_yaml_file_is_named(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        resolve_sensor(str(path))


def test_env_with_piezo_profile_gives_11x9_images_and_passes_the_checker(tmp_path):
    env = gym.make("tacrefine/GripRefine-v0", sensor="piezo_11x9", **FAST)
    assert env.observation_space["tactile"].shape == (2, 1, 11, 9)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert obs["tactile"].shape == (2, 1, 11, 9) and obs["tactile"].max() > 0
    path = tmp_path / "piezo.yaml"
    path.write_text(yaml.safe_dump({"rows": 11, "cols": 9, "pitch_mm": 1.1}))
    user = gym.make("tacrefine/GripRefine-v0", sensor=str(path), **FAST)
    check_env(user.unwrapped, skip_render_check=True)
    obs_user, _ = user.reset(seed=3)
    obs, _ = env.reset(seed=3)
    assert np.array_equal(obs["tactile"], obs_user["tactile"]), "same sensor, same images"
    env.close()
    user.close()


def test_real_like_env_is_reproducible_and_differs_from_the_ideal_array():
    def first_obs(sensor: str) -> np.ndarray:
        env = gym.make("tacrefine/GripRefine-v0", sensor=sensor, **FAST)
        obs, _ = env.reset(seed=4)
        env.close()
        return obs["tactile"]

    real = first_obs("real_like")
    assert np.array_equal(real, first_obs("real_like"))
    assert not np.array_equal(real, first_obs("piezo_11x9"))
    assert real.max() <= 210, "real_like saturates at 210 counts"


@pytest.mark.parametrize("env_id", tacrefine.ENV_IDS)
def test_every_env_takes_a_sensor_profile_by_name(env_id):
    env = gym.make(env_id, sensor="real_like")
    fingers = env.observation_space["tactile"].shape[0]
    assert env.observation_space["tactile"].shape == (fingers, 1, 11, 9)
    obs, _ = env.reset(seed=2)
    assert obs["tactile"].shape == (fingers, 1, 11, 9) and env.observation_space.contains(obs)
    env.close()
    with pytest.raises(ConfigError, match="sensor.spread_mm"):
        gym.make(env_id, sensor={"spread_mm": "wide"})
