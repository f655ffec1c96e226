"""Bounded memo for pure computations the simulation repeats every episode with the same inputs.

A cell rebuilds its sensor (and the env may swap the sensor's config) every episode, so
things that depend only on configuration were recomputed thousands of times per run. A
:class:`ReprCache` keeps them keyed by the ``repr`` of every input, which tells apart what
``==`` would merge (``0.0`` and ``-0.0``, ``1`` and ``1.0``) and round-trips floats exactly:
equal keys mean equal inputs, so a cached result is bit for bit the one a fresh computation
would give. Cached arrays are made read-only, so no caller can change a shared result.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import numpy as np

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
