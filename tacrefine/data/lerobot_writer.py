"""The one LeRobot v3.0 writer: parquet frames, episode and task tables, stats with
LeRobot's quantiles, ``info.json`` - for grasp shards (:func:`tacrefine.data.lerobot.export_lerobot`)
and recorded closed-loop episodes (:mod:`tacrefine.evaluation.results.lerobot_record`) alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import atomic_write_bytes
from tacrefine.data.storage import DatasetError

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
SIDECAR = "meta/tacrefine.json"
DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


def _pa():
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


#: Quantiles LeRobot (0.4+) writes into stats.json; its QUANTILES / QUANTILE10 normalisations read them.
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)


def _stats(values: np.ndarray, image: bool = False) -> dict[str, Any]:
    """LeRobot's per-feature statistics: min, max, mean, std, count and quantiles q01 ... q99.

    An image feature (``(n, H, W, C)`` uint8) is summarised per channel on values in [0, 1],
    with shape ``(C, 1, 1)``, as LeRobot does for camera frames."""
    v = np.asarray(values, dtype=np.float64)
    if image:
        v = (v / 255.0).transpose(0, 3, 1, 2).reshape(len(v), v.shape[3], -1)  # (n, C, H*W)
        v = v.transpose(0, 2, 1).reshape(-1, v.shape[1])  # one row per pixel

        def shaped(x: np.ndarray) -> list:
            return np.asarray(x).reshape(-1, 1, 1).tolist()
    else:
        def shaped(x: np.ndarray) -> list:
            return np.asarray(x).tolist()
    out = {"min": shaped(v.min(axis=0)), "max": shaped(v.max(axis=0)), "mean": shaped(v.mean(axis=0)),
           "std": shaped(v.std(axis=0)), "count": [int(len(values))]}
    for q, value in zip(QUANTILES, np.quantile(v, QUANTILES, axis=0)):
        out[f"q{round(q * 100):02d}"] = shaped(value)
    return out


def _png(image: np.ndarray) -> bytes:
    """One ``(H, W, C)`` uint8 frame as PNG bytes (grey for C = 1)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    frame = image[..., 0] if image.shape[-1] == 1 else image
    Image.fromarray(np.ascontiguousarray(frame)).save(buf, format="PNG")
    return buf.getvalue()


def _column(pa, array: np.ndarray, dtype: str):
    """A parquet column of fixed-shape arrays as nested lists (how LeRobot stores ArrayND / sequences);
    an ``image`` feature as LeRobot (Hugging Face ``datasets.Image``) stores it: PNG bytes + path."""
    if dtype == "image":
        return pa.array([{"bytes": _png(a), "path": None} for a in array],
                        type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    arrow_type = {"bool": pa.bool_(), "uint8": pa.uint8(), "float32": pa.float32(), "float64": pa.float64(),
                  "int64": pa.int64()}[dtype]
    flat = pa.array(np.ascontiguousarray(array).reshape(-1), type=arrow_type)
    for size in reversed(array.shape[1:]):
        fixed = pa.FixedSizeListArray.from_arrays(flat, int(size))
        flat = fixed.cast(pa.list_(fixed.type.value_type))
    return flat


def _write_parquet(path: Path, table) -> None:
    _, pq = _pa()
    import io

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    atomic_write_bytes(path, buf.getvalue())


def _tasks_table(pa, tasks: list[str]):
    """``meta/tasks.parquet`` as pandas writes it: the task string is the (named) index."""
    meta = {"index_columns": ["task"], "column_indexes": [],
            "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                         "numpy_type": "int64", "metadata": None},
                        {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
                         "metadata": None}],
            "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.0"}
    schema = pa.schema([("task_index", pa.int64()), ("task", pa.string())],
                       metadata={b"pandas": json.dumps(meta).encode()})
    return pa.table({"task_index": list(range(len(tasks))), "task": tasks}, schema=schema)


def write_lerobot(out: str | Path, episodes: Sequence[tuple[dict[str, np.ndarray], list[str]]],
                  features: dict[str, dict[str, Any]], tasks: list[str], fps: int, robot_type: str,
                  sidecar: dict[str, Any], frames_per_file: int = 50_000) -> dict[str, Any]:
    """Write a LeRobot v3.0 dataset: ``episodes`` is a sequence of (columns, task names) with one
    array per feature of ``features`` (``task_index`` included; the frame, episode and global
    indices and timestamps are filled here). Returns ``info.json``'s content.

    The one writer of this package: grasp shards (:func:`export_lerobot`) and recorded
    closed-loop episodes (:mod:`tacrefine.evaluation.results.lerobot_record`) both go through it."""
    pa, _ = _pa()
    out = Path(out)
    if (out / "meta" / "info.json").exists():
        raise DatasetError(f"{out}: already holds a LeRobot dataset; choose another output directory")
    features = {**features, **DEFAULT_FEATURES}
    image = {k for k, f in features.items() if f["dtype"] == "image"}
    rows, pending, frame0, file_index = [], [], 0, 0
    all_cols: dict[str, list[np.ndarray]] = {k: [] for k in features}

    def flush() -> None:
        nonlocal pending, file_index
        if pending:
            cols = {k: np.concatenate([p[k] for p in pending]) for k in features}
            table = pa.table({k: _column(pa, cols[k], features[k]["dtype"])
                              if features[k]["shape"] != [1] or k in image else pa.array(cols[k]) for k in features})
            _write_parquet(out / DATA_PATH.format(chunk_index=file_index // 1000, file_index=file_index % 1000),
                           table)
            pending, file_index = [], file_index + 1

    for ep, (given, ep_tasks) in enumerate(episodes):
        cols = dict(given)
        n = len(cols["task_index"])
        cols["frame_index"] = np.arange(n, dtype=np.int64)
        cols["timestamp"] = (cols["frame_index"] / fps).astype(np.float32)
        cols["episode_index"] = np.full(n, ep, dtype=np.int64)
        cols["index"] = np.arange(frame0, frame0 + n, dtype=np.int64)
        missing = [k for k in features if k not in cols]
        if missing:
            raise ValueError(f"write_lerobot: episode {ep} lacks features {missing}")
        if pending and sum(len(p["index"]) for p in pending) + n > frames_per_file:
            flush()
        row = {"episode_index": ep, "tasks": list(ep_tasks),
               "length": n, "data/chunk_index": file_index // 1000, "data/file_index": file_index % 1000,
               "dataset_from_index": frame0, "dataset_to_index": frame0 + n,
               "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
        for k in features:
            for stat, value in _stats(cols[k], k in image).items():
                row[f"stats/{k}/{stat}"] = value
        rows.append(row)
        pending.append(cols)
        for k in features:
            all_cols[k].append(cols[k])
        frame0 += n
    flush()

    _write_parquet(out / EPISODES_PATH.format(chunk_index=0, file_index=0), pa.Table.from_pylist(rows))
    _write_parquet(out / "meta" / "tasks.parquet", _tasks_table(pa, tasks))
    stats = {k: _stats(np.concatenate(v), k in image) for k, v in all_cols.items()}
    info = {
        "codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "total_episodes": len(rows),
        "total_frames": frame0, "total_tasks": len(tasks), "chunks_size": 1000, "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200, "fps": int(fps), "splits": {"train": f"0:{len(rows)}"},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet", "video_path": None,
        "features": features,
    }
    # info.json last: its presence marks a complete dataset
    for name, payload in (("meta/stats.json", stats), (SIDECAR, sidecar), ("meta/info.json", info)):
        atomic_write_bytes(out / name, (json.dumps(payload, indent=2) + "\n").encode())
    return info
