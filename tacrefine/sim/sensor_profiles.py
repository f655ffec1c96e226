"""Named sensor profiles, user profiles in YAML, and how two sensors differ.

Every env takes ``sensor=`` as

* a built-in profile name (:data:`BUILTIN_PROFILES`): ``"default"`` (today's ideal
  14 x 12 pad), ``"piezo_11x9"`` (the paper's 11 x 9 piezoresistive array at 1.1 mm),
  ``"real_like"`` (the same array as a real unit reads it: spread, gain and offset maps,
  saturation, hysteresis, noise);
* a path to a YAML file holding a profile mapping;
* a mapping of :class:`SensorConfig` fields, optionally with ``profile: NAME|PATH`` as the
  base it changes (default ``"default"``);
* a :class:`SensorConfig`.

Every field is checked on its own; an error names it and says what is allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tacrefine.config import from_dict, require, to_dict
from tacrefine.sim.sensor_config import (  # noqa: F401  (resolution lives beside SensorConfig; re-exported)
    SENSOR_PROFILES,
    NoiseConfig,
    SensorConfig,
    _base_mapping,
    _expand,
    _read_yaml,
    profile_names,
    resolve_sensor,
)

#: Built-in profiles as plain mappings of :class:`SensorConfig` fields (missing = default).
BUILTIN_PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "piezo_11x9": {"rows": 11, "cols": 9, "pitch_mm": 1.1},
    # The paper's array as a real unit reads it, calibrated more sensitively than the simulator
    # (full scale at 1.0 mm instead of 1.5 mm): the calibration gap a sim-trained policy meets.
    "real_like": {
        "rows": 11, "cols": 9, "pitch_mm": 1.1, "full_scale_depth_mm": 1.0,
        "spread_mm": 1.1, "gain_map_std": 0.3, "offset_map_counts": 4.0, "map_seed": 7,
        "saturation_counts": 210.0, "hysteresis": 0.25, "lag": 0.05,
        "noise": {"enabled": True, "gain_std": 0.08, "gaussian_std": 4.0, "dead_taxel_prob": 0.01},
    },
}

#: Fields that describe how the simulator computes, not what the sensor is (never compared).
_NOT_COMPARED = ("name", "closed_form_rays", "reach_mm", "noise")


for _name, _fields in BUILTIN_PROFILES.items():
    SENSOR_PROFILES.register(_name, _fields)


def sensor_from_record(record: Mapping[str, Any] | None) -> SensorConfig | None:
    """The sensor stored in a manifest or checkpoint (older records lack the newer fields)."""
    if not record:
        return None
    known = {f.name for f in dataclasses.fields(SensorConfig)}
    data = {k: v for k, v in dict(record).items() if k in known}
    if isinstance(data.get("noise"), Mapping):
        noise_known = {f.name for f in dataclasses.fields(NoiseConfig)}
        data["noise"] = {k: v for k, v in data["noise"].items() if k in noise_known}
    return from_dict(SensorConfig, data, prefix="recorded sensor.")


def sensor_differences(trained: SensorConfig, used: SensorConfig) -> list[str]:
    """Fields in which two sensors differ, as ``"field: A != B"`` lines (per-reading noise,
    the name and simulation switches are not part of what a sensor *is*)."""
    a, b = to_dict(trained), to_dict(used)
    return [f"{k}: {a[k]!r} != {b[k]!r}" for k in a if k not in _NOT_COMPARED and a[k] != b[k]]


#: What loading a policy into an env with another sensor does.
MISMATCH_MODES = ("refuse", "warn")


def check_sensor_match(recorded: Mapping[str, Any] | None, used: SensorConfig, mode: str = "refuse",
                       where: str = "the policy") -> list[str]:
    """Compare the sensor ``where`` was trained with (as recorded) to the one in use.

    ``mode="refuse"`` raises :class:`ValueError` listing the fields that differ, ``"warn"``
    issues a warning instead. Returns the differences (empty when the sensors match or when
    nothing was recorded, as in datasets imported without a sensor profile).
    """
    require(mode in MISMATCH_MODES, "sensor_mismatch", f"one of {list(MISMATCH_MODES)}", mode)
    trained = sensor_from_record(recorded)
    if trained is None:
        return []
    diffs = sensor_differences(trained, used)
    if diffs:
        text = (f"{where} was trained with sensor {trained.name!r}, the env uses {used.name!r}; they differ in "
                + "; ".join(diffs))
        if mode == "refuse":
            raise ValueError(text + " (pass sensor_mismatch='warn' to use it anyway)")
        import warnings

        warnings.warn(text, stacklevel=3)
    return diffs


def save_profile(config: SensorConfig, path: str | Path) -> None:
    """Write a sensor as a YAML profile that :func:`resolve_sensor` reads back unchanged."""
    from tacrefine.config import save_config

    save_config(config, path)
