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

from tacrefine.data.lerobot_checks import check_feature, check_index, column_values, read_json, read_parquet
from tacrefine.data.lerobot_writer import (  # noqa: F401  (re-exported: the format's names)
    CODEBASE_VERSION,
    DATA_PATH,
    DEFAULT_FEATURES,
    EPISODES_PATH,
    QUANTILES,
    SIDECAR,
    write_lerobot,
)
from tacrefine.data.samples import GraspSamples
from tacrefine.data.staging import refuse_existing, staged_directory
from tacrefine.data.storage import (
    DatasetError,
    check_dataset,
    init_manifest,
    read_manifest,
    read_shard,
    record_shard,
    write_shard,
)
from tacrefine.lock import output_lock

TACTILE_PREFIX = "observation.tactile.finger"
STATE = "observation.state"
OFFSET = "wrist.offset"
GRASP = "label.grasp"
DOF_MASK = "label.dof_mask"
DOF_NAMES = ["x", "y", "z", "roll", "pitch", "yaw"]


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


def export_lerobot(src: str | Path, out: str | Path, fps: int = 10, robot_type: str = "tacrefine-gripper",
                   frames_per_file: int = 50_000) -> dict[str, Any]:
    """Write the dataset at ``src`` (ours, validated first) as a LeRobot v3.0 dataset at ``out``
    (holding ``out``'s output lock, :mod:`tacrefine.lock`)."""
    with output_lock(out, "dataset export"):
        return _export_into(src, out, fps, robot_type, frames_per_file)


def _export_into(src: str | Path, out: str | Path, fps: int, robot_type: str,
                 frames_per_file: int) -> dict[str, Any]:
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
    if (root / "meta" / "tasks.parquet").is_file():
        path = root / "meta" / "tasks.parquet"
        table = read_parquet(path)
        if not {"task_index", "task"} <= set(table.column_names):
            raise DatasetError(f"{path}: needs columns 'task_index' and 'task', has {table.column_names}")
        rows = table.to_pydict()
        pairs = list(zip(rows["task_index"], rows["task"]))
    elif (root / "meta" / "tasks.jsonl").is_file():  # codebase v2.x
        path = root / "meta" / "tasks.jsonl"
        try:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
            pairs = [(r["task_index"], r["task"]) for r in rows]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, KeyError) as exc:
            raise DatasetError(f"{path}: unreadable task list ({type(exc).__name__}: {exc})") from exc
    else:
        raise DatasetError(f"{root}: no meta/tasks.parquet (v3) or meta/tasks.jsonl (v2.x)")
    indices = [i for i, _ in pairs]
    ok = all(isinstance(t, str) for _, t in pairs) and sorted(indices) == list(range(len(pairs)))
    if not ok:
        raise DatasetError(f"{path}: tasks must be strings with task_index 0..{len(pairs) - 1}, each once")
    return [t for _, t in sorted(pairs)]


def _decode_images(table: Any, name: str, shape: list[int], where: str) -> np.ndarray:
    """An ``image`` column (PNG bytes, ``[rows, cols, channels]``) -> uint8 ``(n, channels, rows, cols)``."""
    import io

    from PIL import Image, UnidentifiedImageError

    if name not in table.column_names:
        raise DatasetError(f"{where}: column {name!r} is missing")
    frames = []
    for i, cell in enumerate(table.column(name).to_pylist()):
        data = cell.get("bytes") if isinstance(cell, dict) else None
        if not data:
            raise DatasetError(f"{where}: feature {name!r}, row {i}: no image bytes (images stored as paths are "
                               "not read)")
        try:
            img = np.asarray(Image.open(io.BytesIO(data)))
        except (UnidentifiedImageError, OSError) as exc:
            raise DatasetError(f"{where}: feature {name!r}, row {i}: not a readable PNG ({exc})") from exc
        img = img[..., None] if img.ndim == 2 else img
        if list(img.shape) != list(shape) or img.dtype != np.uint8:
            raise DatasetError(f"{where}: feature {name!r}, row {i}: image {img.dtype} {list(img.shape)}, "
                               f"info.json says uint8 {list(shape)}")
        frames.append(img.transpose(2, 0, 1))
    return np.stack(frames) if frames else np.zeros((0, shape[2], shape[0], shape[1]), np.uint8)


def import_lerobot(src: str | Path, out: str | Path, refined_dofs: Sequence[str] | None = None) -> dict[str, Any]:
    """Turn a LeRobot dataset at ``src`` into our shards at ``out`` (one shard per episode).

    Every column is checked against its declared feature (:mod:`tacrefine.data.lerobot_checks`)
    and the dataset is written into a staging folder renamed to ``out`` only once it is
    complete and valid: a failed import leaves nothing at ``out``, and the retry works.
    """
    src, out = Path(src), Path(out)
    refuse_existing(out, "import")
    with output_lock(out, "dataset import"), staged_directory(out, "import") as stage:
        _import_into(src, stage, refined_dofs)
        report = check_dataset(stage)
        if not report.ok:
            raise DatasetError(f"{src}: not imported, the result would be invalid: "
                               + "; ".join(report.problems()[:5]))
    return read_manifest(out)


def _import_into(src: Path, out: Path, refined_dofs: Sequence[str] | None) -> None:
    info_path = src / "meta" / "info.json"
    if not info_path.is_file():
        raise DatasetError(f"{src}: no meta/info.json (not a LeRobot dataset)")
    info = read_json(info_path, "info.json")
    version = str(info.get("codebase_version", ""))
    if not version.startswith(("v2.", "v3.")):
        raise DatasetError(f"{info_path}: codebase_version {version!r}; allowed: v2.x or v3.x")
    features = info.get("features", {})
    if not isinstance(features, dict):
        raise DatasetError(f"{info_path}: 'features' must be a mapping of feature name to description")
    fingers = sorted((k for k in features if k.startswith(TACTILE_PREFIX) and k[len(TACTILE_PREFIX):].isdigit()),
                     key=lambda k: int(k[len(TACTILE_PREFIX):]))
    missing = [k for k in (STATE, GRASP) if k not in features] + ([] if fingers else [f"{TACTILE_PREFIX}0"])
    missing += [k for k in ("episode_index", "task_index") if k not in features]
    if missing:
        raise DatasetError(f"{info_path}: features {missing} are missing; see docs/real_data.md for the schema")
    used = [*fingers, STATE, GRASP, "episode_index", "task_index",
            *(k for k in (OFFSET, DOF_MASK, "frame_index") if k in features)]
    images = {k for k in fingers if features[k].get("dtype") == "image"}  # recorded episodes: PNG frames
    for k in used:
        check_feature(k, {**features[k], "dtype": "uint8"} if k in images else features[k], info_path)
    for k in fingers:
        ok = (features[k]["dtype"] == "uint8" and len(features[k]["shape"]) in (2, 3)) or (
            k in images and len(features[k]["shape"]) == 3)
        if not ok:
            raise DatasetError(f"feature {k!r}: got dtype {features[k]['dtype']!r}, shape {features[k]['shape']}; "
                               "allowed: uint8 counts 0-255 of shape [rows, cols] or [channels, rows, cols], "
                               "or an 'image' (PNG) of shape [rows, cols, channels]")
    tasks = _read_tasks(src)
    files = sorted((src / "data").glob("*/*.parquet"))
    if not files:
        raise DatasetError(f"{src}: no parquet files under data/")
    parts = []
    for f in files:
        table = read_parquet(f)
        parts.append({k: _decode_images(table, k, features[k]["shape"], str(f)) if k in images
                      else column_values(table, k, features[k], str(f)) for k in used})
    cols = {k: np.concatenate([p[k] for p in parts]) for k in used}
    where = f"{src}/data"
    check_index(cols["task_index"], "task_index", where, upper=len(tasks))
    check_index(cols["episode_index"], "episode_index", where)
    n = len(cols["episode_index"])
    offset = cols[OFFSET] if OFFSET in cols else np.zeros((n, 6))
    tactile = np.stack([c if c.ndim == 4 else c[:, None] for c in (cols[k] for k in fingers)], axis=1)
    state = cols[STATE].reshape(n, -1)
    if state.shape[1] < len(fingers):
        raise DatasetError(f"feature {STATE!r}: shape {features[STATE]['shape']}; allowed: the {len(fingers)} finger "
                           "joints (metres) first, optionally followed by more values (e.g. target joints)")
    state = state[:, :len(fingers)]  # a recorded episode's state continues with target joints and mask
    if "frame_index" in cols:
        check_index(cols["frame_index"], "frame_index", where)
    order = np.lexsort((cols["frame_index"] if "frame_index" in cols else np.arange(n), cols["episode_index"]))
    extra = read_json(src / SIDECAR, SIDECAR) if (src / SIDECAR).is_file() else {}
    sidecar, classes = extra.get("metadata", {}), extra.get("object_classes", {})
    if not isinstance(sidecar, dict) or not isinstance(classes, dict):
        raise DatasetError(f"{src / SIDECAR}: 'metadata' and 'object_classes' must be mappings")
    mask = cols[DOF_MASK].astype(bool) if DOF_MASK in cols else None
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
        try:
            samples = GraspSamples(tactile=tactile[rows], joints=state[rows].astype(np.float32),
                                   grasp=cols[GRASP][rows].astype(np.float64),
                                   offset=offset[rows].astype(np.float64),
                                   object_id=np.array([local[int(t)] for t in task_ids], dtype=np.int32),
                                   object_names=names, dof_mask=None if mask is None else mask[rows],
                                   object_classes=[classes[n] for n in names] if all(n in classes for n in names)
                                   else [])
        except ValueError as exc:
            raise DatasetError(f"{src}: episode {int(ep)}: {exc}") from exc
        record_shard(out, write_shard(out, shard, samples, extra={"episode_index": int(ep)}))
