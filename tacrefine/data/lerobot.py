"""LeRobot-format datasets, both ways, with pyarrow alone (no ``lerobot`` package).

Why: real robot data is recorded and shared in LeRobot's format (parquet episodes plus
``meta/info.json`` describing every feature). Exporting our shards there lets people load
them with LeRobot's tools; importing turns a real recording into our shards, which
training reads. The ``lerobot`` package pins an older torch than ours, so the layout is
written and read here directly (LeRobot codebase v3.0, its current format):

    meta/info.json                               codebase_version, fps, features, paths, counts
    meta/stats.json                              per feature: min, max, mean, std, count
    meta/tasks.parquet                           task (index) -> task_index
    meta/episodes/chunk-000/file-000.parquet     one row per episode: length, frame range, files, stats
    meta/tacrefine.json                          our dataset metadata (sensor, gripper, refined DoF)
    data/chunk-000/file-000.parquet              one row per frame, one column per feature

One frame is one grasp; one episode is one shard of ours (grasps of one object); the task
string of a frame is the object's name. The schema a rig must record is docs/real_data.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import atomic_write_bytes
from tacrefine.data.samples import GraspSamples
from tacrefine.data.storage import (
    DatasetError,
    check_dataset,
    init_manifest,
    read_manifest,
    read_shard,
    record_shard,
    write_shard,
)

CODEBASE_VERSION = "v3.0"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
TACTILE_PREFIX = "observation.tactile.finger"
STATE = "observation.state"
OFFSET = "wrist.offset"
GRASP = "label.grasp"
DOF_MASK = "label.dof_mask"
SIDECAR = "meta/tacrefine.json"
DEFAULT_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
DOF_NAMES = ["x", "y", "z", "roll", "pitch", "yaw"]


def _pa():
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


def features_for(tactile_shape: Sequence[int], dof_mask: bool = False) -> dict[str, dict[str, Any]]:
    """LeRobot feature descriptions of our samples (``tactile_shape`` = F, C, H, W)."""
    n_fingers, channels, rows, cols = (int(s) for s in tactile_shape)
    feats: dict[str, dict[str, Any]] = {}
    for f in range(n_fingers):
        feats[f"{TACTILE_PREFIX}{f}"] = {"dtype": "uint8", "shape": [channels, rows, cols],
                                         "names": ["channels", "rows", "cols"]}
    feats[STATE] = {"dtype": "float32", "shape": [n_fingers], "names": [f"finger{f}_m" for f in range(n_fingers)]}
    feats[OFFSET] = {"dtype": "float64", "shape": [6], "names": DOF_NAMES}
    feats[GRASP] = {"dtype": "float64", "shape": [4, 4], "names": ["row", "col"]}
    if dof_mask:
        feats[DOF_MASK] = {"dtype": "bool", "shape": [6], "names": DOF_NAMES}
    return {**feats, **DEFAULT_FEATURES}


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
    closed-loop episodes (:mod:`tacrefine.evaluation.lerobot_record`) both go through it."""
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


def export_lerobot(src: str | Path, out: str | Path, fps: int = 10, robot_type: str = "tacrefine-gripper",
                   frames_per_file: int = 50_000) -> dict[str, Any]:
    """Write the dataset at ``src`` (ours, validated first) as a LeRobot v3.0 dataset at ``out``."""
    src, out = Path(src), Path(out)
    report = check_dataset(src)
    if not report.ok:
        raise DatasetError(f"{src}: not exported, the dataset is invalid: " + "; ".join(report.problems()[:5]))
    if (out / "meta" / "info.json").exists():
        raise DatasetError(f"{out}: already holds a LeRobot dataset; choose another --out")
    manifest = read_manifest(src)
    entries = sorted(manifest["shards"], key=lambda e: e["index"])
    shards = [read_shard(src / e["file"]) for e in entries]
    shape = shards[0].tactile.shape[1:]
    with_mask = all(s.dof_mask is not None for s in shards)
    features = {k: f for k, f in features_for(shape, dof_mask=with_mask).items() if k not in DEFAULT_FEATURES}
    classes = {n: c for s in shards for n, c in zip(s.object_names, s.object_classes)}
    tasks = sorted({n for s in shards for n in s.object_names})
    task_of = {n: i for i, n in enumerate(tasks)}

    def episodes():
        for samples in shards:
            cols = {f"{TACTILE_PREFIX}{f}": samples.tactile[:, f] for f in range(shape[0])}
            cols[STATE] = samples.joints.astype(np.float32)
            cols[OFFSET] = samples.offset.astype(np.float64)
            cols[GRASP] = samples.grasp.astype(np.float64)
            if with_mask:
                cols[DOF_MASK] = samples.dof_mask.astype(bool)
            cols["task_index"] = np.array([task_of[samples.object_names[i]] for i in samples.object_id], np.int64)
            yield cols, sorted({samples.object_names[i] for i in samples.object_id})

    return write_lerobot(out, list(episodes()), features, tasks, fps, robot_type,
                         {"format": "tacrefine-grasps", "metadata": manifest.get("metadata", {}),
                          "object_classes": classes}, frames_per_file)


# -- import -------------------------------------------------------------------------------
def _read_tasks(root: Path) -> list[str]:
    _, pq = _pa()
    if (root / "meta" / "tasks.parquet").is_file():
        table = pq.read_table(root / "meta" / "tasks.parquet").to_pydict()
        return [t for _, t in sorted(zip(table["task_index"], table["task"]))]
    if (root / "meta" / "tasks.jsonl").is_file():  # codebase v2.x
        rows = [json.loads(line) for line in (root / "meta" / "tasks.jsonl").read_text().splitlines() if line]
        return [r["task"] for r in sorted(rows, key=lambda r: r["task_index"])]
    raise DatasetError(f"{root}: no meta/tasks.parquet (v3) or meta/tasks.jsonl (v2.x)")


def _array(column, feature: dict[str, Any], name: str) -> np.ndarray:
    """A column of nested lists -> ``(n, *shape)`` array in the feature's dtype, shape checked."""
    shape = [int(s) for s in feature["shape"]]
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if feature.get("dtype") == "image":
        return _decode_images(arr, shape, name)
    n = len(arr)
    depth = 0 if shape == [1] else len(shape)
    for _ in range(depth):
        if not hasattr(arr, "flatten"):
            raise DatasetError(f"feature {name!r}: rows are not nested lists of shape {shape}")
        arr = arr.flatten()
    values = np.asarray(arr.to_numpy(zero_copy_only=False))
    if values.size != n * int(np.prod(shape)):
        raise DatasetError(f"feature {name!r}: {values.size} values in {n} rows, info.json says shape {shape}")
    try:
        out = values.astype(np.dtype(feature["dtype"]), copy=False)
    except TypeError as exc:
        raise DatasetError(f"feature {name!r}: dtype {feature['dtype']!r} is not a numeric dtype") from exc
    return out if depth == 0 else out.reshape(n, *shape)


def _decode_images(column, shape: list[int], name: str) -> np.ndarray:
    """An ``image`` column (PNG bytes, ``[rows, cols, channels]``) -> uint8 ``(n, channels, rows, cols)``."""
    import io

    from PIL import Image, UnidentifiedImageError

    frames = []
    for i, cell in enumerate(column.to_pylist()):
        try:
            data = cell["bytes"] if isinstance(cell, dict) else None
            img = np.asarray(Image.open(io.BytesIO(data))) if data else None
        except (UnidentifiedImageError, OSError, TypeError) as exc:
            raise DatasetError(f"feature {name!r}, row {i}: not a readable PNG ({exc})") from exc
        if img is None:
            raise DatasetError(f"feature {name!r}, row {i}: no image bytes (images stored as paths are not read)")
        img = img[..., None] if img.ndim == 2 else img
        if list(img.shape) != shape or img.dtype != np.uint8:
            raise DatasetError(f"feature {name!r}, row {i}: image {img.dtype} {list(img.shape)}, info.json says "
                               f"uint8 {shape}")
        frames.append(img.transpose(2, 0, 1))
    return np.stack(frames) if frames else np.zeros((0, shape[2], shape[0], shape[1]), np.uint8)


def import_lerobot(src: str | Path, out: str | Path, refined_dofs: Sequence[str] | None = None) -> dict[str, Any]:
    """Turn a LeRobot dataset at ``src`` into our shards at ``out`` (one shard per episode)."""
    _, pq = _pa()
    src, out = Path(src), Path(out)
    info_path = src / "meta" / "info.json"
    if not info_path.is_file():
        raise DatasetError(f"{src}: no meta/info.json (not a LeRobot dataset)")
    info = json.loads(info_path.read_text())
    version = str(info.get("codebase_version", ""))
    if not version.startswith(("v2.", "v3.")):
        raise DatasetError(f"{info_path}: codebase_version {version!r}; allowed: v2.x or v3.x")
    features = info.get("features", {})
    fingers = sorted((k for k in features if k.startswith(TACTILE_PREFIX)), key=lambda k: int(k[len(TACTILE_PREFIX):]))
    missing = [k for k in (STATE, GRASP) if k not in features] + ([] if fingers else [f"{TACTILE_PREFIX}0"])
    if missing:
        raise DatasetError(f"{info_path}: features {missing} are missing; see docs/real_data.md for the schema")
    for k in fingers:
        ok = (features[k]["dtype"] == "uint8" and len(features[k]["shape"]) in (2, 3)) or (
            features[k]["dtype"] == "image" and len(features[k]["shape"]) == 3)
        if not ok:
            raise DatasetError(f"feature {k!r}: got dtype {features[k]['dtype']!r}, shape {features[k]['shape']}; "
                               "allowed: uint8 counts 0-255 of shape [rows, cols] or [channels, rows, cols], "
                               "or an 'image' (PNG) of shape [rows, cols, channels]")
    tasks = _read_tasks(src)
    files = sorted((src / "data").glob("*/*.parquet"))
    if not files:
        raise DatasetError(f"{src}: no parquet files under data/")
    table = pq.read_table(files[0]) if len(files) == 1 else _concat([pq.read_table(f) for f in files])
    cols = {k: _array(table.column(k), features[k], k) for k in (*fingers, STATE, GRASP, "episode_index",
                                                                  "task_index")}
    n = len(cols["episode_index"])
    offset = _array(table.column(OFFSET), features[OFFSET], OFFSET) if OFFSET in features else np.zeros((n, 6))
    tactile = np.stack([c if c.ndim == 4 else c[:, None] for c in (cols[k] for k in fingers)], axis=1)
    if cols[STATE].ndim != 2 or cols[STATE].shape[1] < len(fingers):
        raise DatasetError(f"feature {STATE!r}: shape {features[STATE]['shape']}; allowed: the {len(fingers)} finger "
                           "joints (metres) first, optionally followed by more values (e.g. target joints)")
    cols[STATE] = cols[STATE][:, :len(fingers)]  # a recorded episode's state continues with targets and mask
    order = np.lexsort((table.column("frame_index").to_numpy() if "frame_index" in table.column_names
                        else np.arange(n), cols["episode_index"]))
    extra = json.loads((src / SIDECAR).read_text()) if (src / SIDECAR).is_file() else {}
    sidecar, classes = extra.get("metadata", {}), extra.get("object_classes", {})
    mask = _array(table.column(DOF_MASK), features[DOF_MASK], DOF_MASK).astype(bool) if DOF_MASK in features \
        else None
    metadata = dict(sidecar)
    metadata.update(source=sidecar.get("source", "lerobot"), imported_from=str(src), lerobot_version=version,
                    tactile_shape=list(tactile.shape[1:]), fps=info.get("fps"), robot_type=info.get("robot_type"))
    if refined_dofs is not None:
        metadata["refined_dofs"] = list(refined_dofs)
    init_manifest(out, metadata, n_shards_planned=None)
    episodes = np.unique(cols["episode_index"])
    for shard, ep in enumerate(episodes):
        rows = order[cols["episode_index"][order] == ep]
        task_ids = cols["task_index"][rows]
        names = [tasks[int(t)] for t in np.unique(task_ids)]
        local = {int(t): i for i, t in enumerate(np.unique(task_ids))}
        samples = GraspSamples(tactile=tactile[rows], joints=cols[STATE][rows].astype(np.float32),
                               grasp=cols[GRASP][rows], offset=offset[rows].astype(np.float64),
                               object_id=np.array([local[int(t)] for t in task_ids], dtype=np.int32),
                               object_names=names, dof_mask=None if mask is None else mask[rows],
                               object_classes=[classes[n] for n in names] if all(n in classes for n in names)
                               else [])
        record_shard(out, write_shard(out, shard, samples, extra={"episode_index": int(ep)}))
    return read_manifest(out)


def _concat(tables: list) -> Any:
    pa, _ = _pa()
    return pa.concat_tables(tables)
