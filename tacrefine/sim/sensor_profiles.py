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

import yaml

from tacrefine.config import ConfigError, from_dict, merge, require, to_dict
from tacrefine.limits import MAX_PROFILE_BYTES, require_at_most
from tacrefine.sim.sensor_config import NoiseConfig, SensorConfig

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


def profile_names() -> list[str]:
    return sorted(BUILTIN_PROFILES)


def _read_yaml(path: Path, field: str) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        require_at_most(f"{field} ({path})", size, MAX_PROFILE_BYTES, "bytes")
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{field}: cannot read sensor profile {str(path)!r}: {exc}") from exc
    require(isinstance(data, dict), field, f"a YAML mapping of sensor fields in {str(path)!r}",
            type(data).__name__)
    return data


def _base_mapping(spec: str, field: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The full field mapping of a profile name or YAML path (profiles may build on one another)."""
    if spec in BUILTIN_PROFILES:
        return {**BUILTIN_PROFILES[spec], "name": spec}
    path = Path(spec)
    looks_like_path = path.suffix in (".yaml", ".yml") or "/" in spec or "\\" in spec
    if not looks_like_path or not path.is_file():
        raise ConfigError(f"{field}: got {spec!r}; allowed: a built-in profile {profile_names()}, "
                          "a path to a YAML profile file, or a mapping of sensor fields")
    require(str(path.resolve()) not in seen, field, "profiles that do not build on themselves", spec)
    data = _read_yaml(path, field)
    data.setdefault("name", path.stem)
    return _expand(data, field, (*seen, str(path.resolve())))


def _expand(data: Mapping[str, Any], field: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    data = dict(data)
    base = data.pop("profile", "default")
    require(isinstance(base, str), f"{field}.profile", f"a profile name {profile_names()} or a YAML path", base)
    return merge(_base_mapping(base, f"{field}.profile", seen), data)


def resolve_sensor(spec: Any, field: str = "sensor") -> SensorConfig:
    """A :class:`SensorConfig` from a profile name, a YAML path, a mapping or a config."""
    if spec is None:
        spec = "default"
    if isinstance(spec, SensorConfig):
        return spec
    if isinstance(spec, Path):
        spec = str(spec)
    if isinstance(spec, str):
        data = _base_mapping(spec, field)
    elif isinstance(spec, Mapping):
        data = _expand(spec, field)
    else:
        raise ConfigError(f"{field}: got {spec!r}; allowed: a built-in profile {profile_names()}, "
                          "a path to a YAML profile file, a mapping of sensor fields, or a SensorConfig")
    return from_dict(SensorConfig, data, prefix=f"{field}.")


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
