"""Checks of a LeRobot recording's columns against the features its ``info.json`` declares.

Why: a parquet column is typed by whoever wrote it, ``info.json`` by whoever described it,
and the two can disagree. Casting blindly to the declared dtype corrupts silently: an int16
tactile column with counts up to 1020 wraps modulo 256 into uint8, a float [0, 1] image
truncates to zeros. Here every column is read as stored, compared with its feature (dtype
kind, shape, nulls, value range, finite floats) and converted only when the conversion is
exact; anything else is a :class:`DatasetError` naming the column, the file and the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.data.storage import DatasetError
from tacrefine.limits import MAX_TAXELS_PER_PAD

#: Feature dtypes an import understands (LeRobot's numeric dtypes).
NUMERIC_DTYPES = ("bool", "uint8", "int16", "int32", "int64", "float32", "float64")


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; a truncated, binary or non-object file is a DatasetError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable {what} ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: {what} must be a JSON object, got {type(data).__name__}")
    return data


def check_feature(name: str, feature: Any, where: Path) -> None:
    """A feature description is ``{dtype: one of NUMERIC_DTYPES, shape: [positive ints]}``."""
    if not isinstance(feature, dict) or "dtype" not in feature or "shape" not in feature:
        raise DatasetError(f"{where}: feature {name!r} must be a mapping with 'dtype' and 'shape', got {feature!r}")
    shape = feature["shape"]
    ok = isinstance(shape, list) and len(shape) >= 1 and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape)
    if not ok:
        raise DatasetError(f"{where}: feature {name!r} has shape {shape!r}; allowed: a list of integers >= 1")
    if int(np.prod(shape)) > MAX_TAXELS_PER_PAD * 3:
        raise DatasetError(f"{where}: feature {name!r} has shape {shape} ({int(np.prod(shape))} values a row); "
                           f"allowed: at most {MAX_TAXELS_PER_PAD * 3} (limit in tacrefine/limits.py)")
    if feature["dtype"] not in NUMERIC_DTYPES:
        raise DatasetError(f"{where}: feature {name!r} has dtype {feature['dtype']!r}; "
                           f"allowed: {list(NUMERIC_DTYPES)}")


def read_parquet(path: Path) -> Any:
    """One parquet file as a table; a truncated or damaged file is a DatasetError naming it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DatasetError(f"{path}: unreadable parquet file ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc


def column_values(table: Any, name: str, feature: dict[str, Any], where: str) -> np.ndarray:
    """Column ``name`` as an ``(n, *shape)`` array of the feature's dtype (``(n,)`` for shape [1]),
    refused unless the stored values are exactly what the feature declares."""
    import pyarrow as pa

    if name not in table.column_names:
        raise DatasetError(f"{where}: column {name!r} is missing (info.json declares it)")
    shape = [int(s) for s in feature["shape"]]
    arr = table.column(name).combine_chunks()
    n = len(arr)
    depth = 0 if shape == [1] else len(shape)
    if depth == 0 and (pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type)):
        depth = 1  # a [1]-shaped feature stored as one-element lists (allowed by LeRobot)
    for _ in range(depth):
        if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)
                or pa.types.is_fixed_size_list(arr.type)):
            raise DatasetError(f"{where}: column {name!r} holds {arr.type}, not nested lists of shape {shape}")
        if arr.null_count:
            raise DatasetError(f"{where}: column {name!r} has {arr.null_count} missing (null) rows")
        arr = arr.flatten()
    if arr.null_count:
        raise DatasetError(f"{where}: column {name!r} has {arr.null_count} missing (null) values")
    stored = arr.type
    values = np.asarray(arr.to_numpy(zero_copy_only=False))
    if values.size != n * int(np.prod(shape)):
        raise DatasetError(f"{where}: column {name!r} has {values.size} values in {n} rows; "
                           f"info.json says shape {shape}")
    declared = np.dtype(feature["dtype"])
    _check_values(values, stored, declared, name, where)
    out = values.astype(declared, copy=False)
    return out if shape == [1] else out.reshape(n, *shape)


def _check_values(values: np.ndarray, stored: Any, declared: np.dtype, name: str, where: str) -> None:
    import pyarrow as pa

    said = f"{where}: column {name!r} is stored as {stored}, info.json says {declared}"
    if declared == np.bool_:
        if pa.types.is_boolean(stored):
            return
        if pa.types.is_integer(stored) and np.isin(values, (0, 1)).all():
            return
        raise DatasetError(f"{said}; allowed: booleans (or integers 0/1)")
    if np.issubdtype(declared, np.integer):
        if not pa.types.is_integer(stored):
            raise DatasetError(f"{said}; allowed: integers (a {stored} column would be truncated)")
        info = np.iinfo(declared)
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise DatasetError(f"{said}; its values span {values.min()}..{values.max()}, "
                               f"{declared} holds {info.min}..{info.max} (they would wrap around)")
        return
    if not (pa.types.is_floating(stored) or pa.types.is_integer(stored)):
        raise DatasetError(f"{said}; allowed: numbers")
    if pa.types.is_floating(stored):
        bad = ~np.isfinite(values)
        if bad.any():
            raise DatasetError(f"{where}: column {name!r} has {int(bad.sum())} NaN or infinite values")
    if declared == np.float32 and values.size and np.abs(values).max() > np.finfo(np.float32).max:
        raise DatasetError(f"{said}; its values exceed float32's range")


def check_index(values: np.ndarray, name: str, where: str, upper: int | None = None) -> None:
    """An index column: integers >= 0 (and < ``upper`` when given)."""
    if values.size and values.min() < 0:
        raise DatasetError(f"{where}: column {name!r} has negative values (min {values.min()})")
    if upper is not None and values.size and values.max() >= upper:
        raise DatasetError(f"{where}: column {name!r} reaches {values.max()}, but there are only {upper} "
                           f"entries (allowed: 0..{upper - 1})")
