"""Size bounds (issue 19, finding 4): huge sensors, images and parts are refused before any allocation."""

from __future__ import annotations

import contextlib
import tracemalloc

import gymnasium as gym
import pytest

import tacrefine  # noqa: F401  (registers the envs)
from tacrefine import limits
from tacrefine.config import ConfigError
from tacrefine.sim.objects import ObjectSpec, ShapePart
from tacrefine.sim.sensor_profiles import resolve_sensor

HUGE = {"rows": 5000, "cols": 5000, "pitch_mm": 0.001}


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    with contextlib.suppress(ConfigError):
        fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_huge_sensor_profile_is_refused_naming_field_and_bound():
    with pytest.raises(ConfigError, match=r"sensor\.rows: got 5000; allowed: at most 512") as info:
        resolve_sensor(HUGE)
    assert "limits.py" in str(info.value)
    # 25 M taxels would need gigabytes; the refusal needs well under a megabyte (numpy reports
    # its allocations to tracemalloc, so an array of the pad would show here).
    assert _peak_bytes(lambda: resolve_sensor(HUGE)) < 1 << 20


def test_taxel_count_bound_applies_to_the_product():
    side = int(limits.MAX_TAXELS_PER_PAD ** 0.5) + 1
    assert side <= limits.MAX_TAXELS_PER_SIDE
    with pytest.raises(ConfigError, match=r"sensor\.rows x sensor\.cols: got \d+; allowed: at most 65536"):
        resolve_sensor({"rows": side, "cols": side})
    assert resolve_sensor({"rows": 64, "cols": 64}).rows == 64  # a large but sane pad is fine


def test_env_refuses_huge_sensor_before_building_the_cell(monkeypatch):
    import tacrefine.envs.grip_refine as grip_refine

    def no_cell(*args, **kwargs):
        raise AssertionError("the cell (pads, arrays) must not be built for a refused sensor")

    monkeypatch.setattr(grip_refine, "GraspCell", no_cell)
    with pytest.raises(ConfigError, match=r"sensor\.rows"):
        gym.make("tacrefine/GripRefine-v0", sensor=HUGE, objects=["rod_r4"])
    with pytest.raises(ConfigError, match=r"render_size"):
        gym.make("tacrefine/GripRefine-v0", render_mode="rgb_array", render_size=(100_000, 100_000),
                 objects=["rod_r4"])
    with pytest.raises(ConfigError, match=r"render_size: got \(0, 5\)"):
        gym.make("tacrefine/GripRefine-v0", render_mode="rgb_array", render_size=(0, 5), objects=["rod_r4"])


def test_binary_or_huge_sensor_file_is_a_config_error_naming_the_file(tmp_path):
    binary = tmp_path / "sensor.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match=r"sensor: cannot read sensor profile .*sensor\.yaml"):
        resolve_sensor(str(binary))
    big = tmp_path / "big.yaml"
    big.write_bytes(b"rows: 11\n" + b"#" * (limits.MAX_PROFILE_BYTES + 1))
    with pytest.raises(ConfigError, match=r"big\.yaml.*at most 1.04858e\+06 bytes"):
        resolve_sensor(str(big))


def test_part_sizes_and_piece_counts_are_bounded():
    box = ShapePart("box", (1.0, 1.0, 1.0))
    with pytest.raises(ConfigError, match=r"objects\.many\.parts \(count\): got 257"):
        ObjectSpec("many", "custom", parts=(box,) * (limits.MAX_OBJECT_PIECES + 1))
    with pytest.raises(ConfigError, match=r"objects\.huge\.parts\[0\]\.size: got 1000000.0; allowed: at most 1000 mm"):
        ObjectSpec("huge", "custom", parts=(ShapePart("box", (1e6, 1.0, 1.0)),))
    with pytest.raises(ConfigError, match=r"objects\.thick\.thickness_mm"):
        ObjectSpec("thick", "custom", parts=(box,), thickness_mm=5000.0)
    assert ObjectSpec("ok", "custom", parts=(box,) * 20).parts  # many sane pieces are fine
