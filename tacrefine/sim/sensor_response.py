"""From physical indentation to the sensor's 8-bit image: the read-out chain of one sensor.

Order of the chain (each step is what a piezoresistive array does to the signal before
the next one sees it)::

    indentation (mm) -> elastomer spread (keeps the total) -> counts (full scale = 255)
      -> hysteresis / lag (memory of the previous reading) -> fixed gain and offset maps
      -> per-reading noise -> saturation -> dead taxels -> uint8

Shear channels are centred on 128 (no shear): gains scale their deviation from 128,
offsets and the saturation of the normal channel do not touch them, and a dead taxel
reads 128 there (no shear), not 0 (full negative shear).

A sensor with an ideal read-out (the default profile) skips every fixed step, so its
images are exactly those of earlier versions.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import numpy as np

from tacrefine.sim.sensor_config import SensorConfig

SHEAR_ZERO = 128.0


# -- a bounded memo for what the sensor rebuilds every episode from the same configuration ---
#
# A cell rebuilds its sensor (and the env may swap the sensor's config) every episode, so what
# depends only on configuration (the fixed maps here, the taxel rays in ``tactile``) was
# recomputed thousands of times a run. A :class:`ReprCache` keeps it keyed by the ``repr`` of
# every input, which tells apart what ``==`` merges (``0.0`` and ``-0.0``, ``1`` and ``1.0``)
# and round-trips floats exactly: equal keys mean equal inputs, so a cached result is bit for
# bit the one a fresh computation gives. Cached arrays are read-only: no caller can change one.

T = TypeVar("T")


class ReprCache:
    """At most ``size`` results of one pure function, by the ``repr`` of its inputs."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._store: dict[Hashable, object] = {}

    def get(self, inputs: tuple, build: Callable[[], T]) -> T:
        """The result for ``inputs`` (everything ``build`` depends on), built on first use."""
        key = repr(inputs)
        try:
            return self._store[key]  # type: ignore[return-value]
        except KeyError:
            pass
        value = build()
        if len(self._store) >= self._size:
            self._store.clear()  # bounded: a run uses a handful of sensors
        self._store[key] = value
        return value


def read_only(*arrays: np.ndarray | None) -> None:
    """Freeze ``arrays`` (None is skipped) so a shared cached result cannot be changed."""
    for array in arrays:
        if array is not None:
            array.flags.writeable = False


def spread_matrix(n: int, pitch_mm: float, sigma_mm: float) -> np.ndarray:
    """``(n, n)`` matrix ``M`` with ``M[i, j]`` = share of taxel ``j``'s load that lands on taxel ``i``.

    A Gaussian of std ``sigma_mm`` along one axis; each column sums to 1, so the spread
    moves load between taxels but never creates or loses any (the elastomer transmits
    the whole force to the array).
    """
    pos = np.arange(n) * pitch_mm
    weights = np.exp(-0.5 * ((pos[:, None] - pos[None, :]) / sigma_mm) ** 2)
    return weights / weights.sum(axis=0, keepdims=True)


#: The fixed maps already drawn (see :func:`fixed_maps`).
_MAPS = ReprCache()


def fixed_maps(config: SensorConfig, pads: int) -> tuple:
    """The sensor unit's fixed maps ``(gain, offset, dead, spread)`` for ``pads`` pads (read-only).

    They depend only on the grid, the map seed and the map parameters (all in the key), yet
    a cell builds a sensor per episode and domain randomisation swaps its config per
    episode. Exact: they are drawn from their own generator seeded by the key's values.
    """
    inputs = (pads, config.rows, config.cols, config.pitch_mm, config.map_seed, config.gain_map_std,
              config.offset_map_counts, config.spread_mm, config.dead_taxels)
    return _MAPS.get(inputs, lambda: _draw_maps(config, pads))


def _draw_maps(config: SensorConfig, pads: int) -> tuple:
    shape = (pads, config.rows, config.cols)
    maps_rng = np.random.default_rng([config.map_seed, config.rows, config.cols])
    gain_map = 1.0 + config.gain_map_std * maps_rng.standard_normal(shape)
    gain_map = np.clip(gain_map, 0.0, None)
    offset_map = config.offset_map_counts * maps_rng.standard_normal(shape)
    dead = np.zeros(shape, dtype=bool)
    for pad, row, col in config.dead_taxels:
        if pad < pads:
            dead[pad, row, col] = True
    spread = None
    if config.spread_mm > 0:
        spread = (spread_matrix(config.rows, config.pitch_mm, config.spread_mm),
                  spread_matrix(config.cols, config.pitch_mm, config.spread_mm))
    read_only(gain_map, offset_map, dead, *(spread or ()))
    return gain_map, offset_map, dead, spread


class SensorResponse:
    """The read-out chain of one sensor with ``pads`` pads; holds the fixed maps and the memory.

    Args:
        config: the sensor.
        pads: number of pads (each pad gets its own gain / offset maps).
    """

    def __init__(self, config: SensorConfig, pads: int) -> None:
        self.config = config
        self.pads = pads
        self.gain_map, self.offset_map, self.dead, self._spread = fixed_maps(config, pads)
        self._memory: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous reading (a relaxed sensor: the hand let go long enough ago)."""
        self._memory = None

    def spread(self, depth_mm: np.ndarray) -> np.ndarray:
        """Elastomer point-spread of each pad's indentation map; the total is kept."""
        if self._spread is None:
            return depth_mm
        rows_m, cols_m = self._spread
        return np.einsum("ij,pjk,lk->pil", rows_m, depth_mm, cols_m)

    def _remember(self, counts: np.ndarray) -> np.ndarray:
        """Hysteresis and lag against the previous reading (normal channel, counts)."""
        cfg = self.config
        if cfg.hysteresis == 0 and cfg.lag == 0:
            return counts
        previous = self._memory if self._memory is not None else np.zeros_like(counts)
        out = previous + (1.0 - cfg.lag) * (counts - previous)
        unloading = counts < previous
        held = counts + cfg.hysteresis * (previous - counts)
        out = np.where(unloading, np.maximum(out, held), out)
        self._memory = out
        return out

    def image(self, depth_mm: np.ndarray, shear_n: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Indentation ``(P, rows, cols)`` and pad shear forces ``(P, 2)`` -> ``uint8 (P, C, rows, cols)``."""
        cfg = self.config
        depth_mm = self.spread(depth_mm)
        normal = self._remember(depth_mm / cfg.full_scale_depth_mm * 255.0)
        if cfg.gain_map_std > 0 or cfg.offset_map_counts > 0:
            normal = normal * self.gain_map + self.offset_map
        channels = [normal]
        if cfg.shear:
            total = depth_mm.sum(axis=(1, 2), keepdims=True)
            share = np.divide(depth_mm, total, out=np.zeros_like(depth_mm), where=total > 0)
            area_m2 = cfg.pitch_mm**2 * 1e-6
            for axis in range(2):
                kpa = shear_n[:, axis, None, None] * share / area_m2 / 1000.0
                channels.append(SHEAR_ZERO + kpa / cfg.shear_full_scale_kpa * 127.0)
        image = np.stack(channels, axis=1)
        zero = np.zeros(image.shape[1])
        zero[1:] = SHEAR_ZERO  # what each channel reads without a signal
        zero = zero[None, :, None, None]
        noise = cfg.noise
        dead = self.dead[:, None]
        if noise.enabled:
            if rng is None:
                raise ValueError("sensor noise is enabled: pass a seeded numpy Generator as rng")
            gain = 1.0 + noise.gain_std * rng.standard_normal((image.shape[0], 1, 1, 1))
            offset = np.zeros_like(zero)
            offset[:, 0] = noise.offset
            image = zero + (image - zero) * gain + offset + noise.gaussian_std * rng.standard_normal(image.shape)
            dead = dead | (rng.random((image.shape[0], 1, *image.shape[2:])) < noise.dead_taxel_prob)
        if cfg.saturation_counts < 255:
            image[:, 0] = np.minimum(image[:, 0], cfg.saturation_counts)
        image = np.where(dead, zero, image)
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)
