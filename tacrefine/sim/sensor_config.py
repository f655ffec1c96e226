"""What a tactile sensor is: taxel grid, elastic layer, and the imperfections of its read-out.

One frozen dataclass describes a sensor completely, so that it can be named (built-in
profiles in :mod:`tacrefine.sim.sensor_profiles`), written to YAML, stored in a dataset
manifest and a checkpoint, and compared. The defaults are today's simulated pad: an ideal
14 x 12 array with no spread, no gain or offset maps, no saturation below full scale, no
hysteresis and no dead taxels, whose images are bit-for-bit those of earlier versions.

Two kinds of imperfection, on purpose kept apart:

* *fixed* properties of one physical sensor (its spread, gain and offset maps, dead
  taxels, saturation, hysteresis): the same at every reading, the maps drawn once from
  ``map_seed`` (which unit of the product this is);
* *per-reading* noise (:class:`NoiseConfig`), drawn from the episode's generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tacrefine.config import ConfigError, from_dict, merge, require, require_int, require_positive
from tacrefine.limits import MAX_PROFILE_BYTES, MAX_TAXELS_PER_PAD, MAX_TAXELS_PER_SIDE, require_at_most
from tacrefine.registry import Registry


def _require_fraction(name: str, value: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    require(ok and 0.0 <= value < 1.0, name, "a number in [0, 1)", value)


@dataclass(frozen=True)
class NoiseConfig:
    """Per-reading imperfections, applied in image counts (0-255) before 8-bit quantisation.

    Attributes:
        enabled: master switch; off gives noiseless images (zero without contact).
        gain_std: relative std of a per-pad multiplicative gain drawn per reading (on the
            normal signal and on the shear deviation from 128).
        offset: constant additive offset in counts on the normal channel (a biased baseline).
        gaussian_std: std of independent per-taxel noise in counts.
        dead_taxel_prob: probability that a taxel reads nothing (drawn per reading): 0 on the
            normal channel, 128 (no shear) on the shear channels.
    """

    enabled: bool = False
    gain_std: float = 0.05
    offset: float = 0.0
    gaussian_std: float = 2.0
    dead_taxel_prob: float = 0.005

    def __post_init__(self) -> None:
        require(isinstance(self.enabled, bool), "noise.enabled", "true or false", self.enabled)
        require_positive("noise.gain_std", self.gain_std, allow_zero=True)
        require(isinstance(self.offset, (int, float)) and math.isfinite(self.offset), "noise.offset",
                "a finite number of counts", self.offset)
        require_positive("noise.gaussian_std", self.gaussian_std, allow_zero=True)
        _require_fraction("noise.dead_taxel_prob", self.dead_taxel_prob)


@dataclass(frozen=True)
class SensorConfig:
    """Taxel grid, elastic-layer model and read-out of one pad (every pad of a hand shares it).

    Attributes:
        rows: taxels along the pad length (wrist z); default 14.
        cols: taxels along the pad width (wrist y); default 12.
        pitch_mm: taxel spacing; default 1.1 mm, the paper's sensor pitch.
        layer_stiffness: elastic layer stiffness in N/mm^3 (pressure per indentation).
        full_scale_depth_mm: indentation that reads 255 on the normal channel.
        shear: add two tangential channels (along columns, along rows).
        shear_full_scale_kpa: shear stress that reads 0 or 255 (128 is zero).
        reach_mm: how far outside the pad surface a ray looks for the object.
        closed_form_rays: cast taxel rays in NumPy against objects built from convex
            primitives (fast, and a taxel that an edge crosses reads the share it covers);
            off uses the engine's ray test (taxel centres only) for every object.
        noise: the per-reading noise model.
        name: the profile's name (informational; never compared).
        spread_mm: std of the elastomer's Gaussian point-spread, mm (0 = none). The spread
            keeps the total pressure: a point contact widens, its sum stays.
        gain_map_std: relative std of each taxel's fixed gain (crosstalk-free calibration error).
        offset_map_counts: std of each taxel's fixed baseline offset on the normal channel, counts.
        map_seed: seed of the fixed maps (which physical unit this is).
        saturation_counts: the normal channel cannot read above this (<= 255).
        hysteresis: share of a decrease that the reading keeps (unloading reads above loading).
        lag: share of any change not yet followed at a reading (first-order lag).
        dead_taxels: fixed dead taxels as ``[pad, row, col]`` triples.
    """

    rows: int = 14
    cols: int = 12
    pitch_mm: float = 1.1
    layer_stiffness: float = 0.1
    full_scale_depth_mm: float = 1.5
    shear: bool = False
    shear_full_scale_kpa: float = 50.0
    reach_mm: float = 3.0
    closed_form_rays: bool = True
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    name: str = "default"
    spread_mm: float = 0.0
    gain_map_std: float = 0.0
    offset_map_counts: float = 0.0
    map_seed: int = 0
    saturation_counts: float = 255.0
    hysteresis: float = 0.0
    lag: float = 0.0
    dead_taxels: tuple[tuple[int, int, int], ...] = ()

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            require_int(f"sensor.{name}", getattr(self, name), 1)
            require_at_most(f"sensor.{name}", getattr(self, name), MAX_TAXELS_PER_SIDE, "taxels")
        require_at_most("sensor.rows x sensor.cols", self.rows * self.cols, MAX_TAXELS_PER_PAD, "taxels per pad")
        for name in ("pitch_mm", "layer_stiffness", "full_scale_depth_mm", "shear_full_scale_kpa", "reach_mm"):
            require_positive(f"sensor.{name}", getattr(self, name))
        require(isinstance(self.shear, bool), "sensor.shear", "true or false", self.shear)
        require(isinstance(self.closed_form_rays, bool), "sensor.closed_form_rays", "true or false",
                self.closed_form_rays)
        require(isinstance(self.noise, NoiseConfig), "sensor.noise", "a noise mapping", self.noise)
        require(isinstance(self.name, str) and bool(self.name), "sensor.name", "a non-empty string", self.name)
        for name in ("spread_mm", "gain_map_std", "offset_map_counts"):
            require_positive(f"sensor.{name}", getattr(self, name), allow_zero=True)
        require_int("sensor.map_seed", self.map_seed, 0)
        require_positive("sensor.saturation_counts", self.saturation_counts)
        require(self.saturation_counts <= 255, "sensor.saturation_counts", "a number in (0, 255]",
                self.saturation_counts)
        _require_fraction("sensor.hysteresis", self.hysteresis)
        _require_fraction("sensor.lag", self.lag)
        dead = []
        for i, item in enumerate(self.dead_taxels):
            ok = isinstance(item, (list, tuple)) and len(item) == 3 and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in item)
            ok = ok and item[1] in range(self.rows) and item[2] in range(self.cols) and item[0] >= 0
            require(ok, f"sensor.dead_taxels[{i}]",
                    f"[pad >= 0, row in 0..{self.rows - 1}, col in 0..{self.cols - 1}]", item)
            dead.append(tuple(int(v) for v in item))
        object.__setattr__(self, "dead_taxels", tuple(dead))

    @property
    def channels(self) -> int:
        return 3 if self.shear else 1

    @property
    def size_mm(self) -> tuple[float, float]:
        """Sensing area (length along rows, width along columns)."""
        return self.rows * self.pitch_mm, self.cols * self.pitch_mm

    @property
    def ideal_readout(self) -> bool:
        """True when no fixed imperfection is set (the read-out is today's ideal one)."""
        return (self.spread_mm == 0 and self.gain_map_std == 0 and self.offset_map_counts == 0
                and self.saturation_counts >= 255 and self.hysteresis == 0 and self.lag == 0
                and not self.dead_taxels)

    def with_noise(self, enabled: bool) -> SensorConfig:
        return replace(self, noise=replace(self.noise, enabled=enabled))

    @classmethod
    def from_value(cls, value: Any, field: str = "sensor") -> SensorConfig:
        """A config from a profile name, a YAML path, a mapping or a config (see sensor_profiles)."""
        return resolve_sensor(value, field=field)


#: Sensor profiles by name: plain mappings of :class:`SensorConfig` fields (missing = default).
#: The built-in ones are registered by :mod:`tacrefine.sim.sensor_profiles`.
SENSOR_PROFILES: Registry[dict[str, Any]] = Registry("sensor profile", providers=("tacrefine.sim.sensor_profiles",))


def profile_names() -> list[str]:
    return sorted(SENSOR_PROFILES.names())


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
    if spec in SENSOR_PROFILES:
        return {**SENSOR_PROFILES.get(spec), "name": spec}
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
