"""Finished evaluation jobs kept on disk, so that an interrupted evaluation resumes.

Each job (one policy, one target mode, a run of episodes) that finishes is written to
``OUT/.jobs/job-KEY.json`` (its records, env and policy info) and ``job-KEY.npz`` (the
images it captured for the panels), atomically, the JSON last. They are named by a key
hashing everything the job's records depend on: the package's own source
(:func:`tacrefine.source_digest.package_digest`: an edited checkout plays everything again),
the evaluation config (minus the switches
that only change what is written), the sha256 of every user part file (and of the meshes
its URDF names), the policy spec and the sha256 of the checkpoint it loads (``pretrained``
resolved to the shipped file that fits the env), the target mode and the episodes, so a
job is found whatever else the run holds (an evaluation of more policies takes the
finished jobs of an evaluation of fewer). The JSON carries the sha256 of its own content
and of the ``.npz``. A rerun loads every job whose key matches and whose files are intact,
and plays the rest (a damaged one is named in the log), so its report equals an
uninterrupted run's (episodes are functions of their seeds). Nothing here is unpickled: JSON and ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine import __version__
from tacrefine.config import atomic_write_bytes, to_dict
from tacrefine.source_digest import package_digest

logger = logging.getLogger(__name__)

#: EvalConfig fields that change what is written, never a record (``render`` is not one:
#: it decides whether a job records scene frames).
_OUTPUT_ONLY = ("progress", "plots")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in the evaluation journal")


def _content_digest(meta: dict[str, Any]) -> str:
    """sha256 of a job record's canonical JSON, its own checksum left out."""
    body = {k: v for k, v in meta.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _file_id(path: Path) -> str:
    """sha256 of a file, or why there is none (a missing file still changes the key)."""
    try:
        return _file_digest(path)
    except OSError as exc:
        return f"unreadable: {type(exc).__name__}"


def part_files(user_objects: Any) -> dict[str, str]:
    """``{resolved path: sha256}`` of the files the user parts are built from: each part's
    URDF or mesh and the meshes a URDF names (an edited file must not reuse old records)."""
    from tacrefine.sim.file_shapes import referenced_meshes

    files: dict[str, str] = {}
    for mapping in user_objects or ():
        for field in ("urdf", "mesh"):
            value = mapping.get(field)
            if not isinstance(value, str):
                continue
            path = Path(value).expanduser().resolve()
            paths = [path, *(referenced_meshes(str(path)) if field == "urdf" else [])]
            files.update({str(p.resolve()): _file_id(p) for p in paths})
    return files


def checkpoint_file(spec: str, cfg: Any, mode: str) -> Path | None:
    """The checkpoint that policy ``spec`` loads in ``cfg``'s env (``mode`` target), or None
    for a baseline. ``pretrained`` is the shipped file that fits the env, never a file of
    that name in the working directory."""
    from tacrefine.evaluation.episodes import runner
    from tacrefine.policy import registry

    if spec.startswith("baseline:"):
        return None
    if spec != registry.PRETRAINED_NAME:
        return Path(spec)
    env = runner.make_env(cfg, mode)
    try:
        return registry.select_pretrained(env)
    finally:
        env.close()


class Journal:
    """The finished jobs of one evaluation (``root`` = ``OUT/.jobs``)."""

    def __init__(self, root: str | Path, cfg: Any) -> None:
        self.root = Path(root)
        self._cfg = cfg
        config = {k: v for k, v in to_dict(cfg).items() if k not in _OUTPUT_ONLY}
        self._base = json.dumps({"config": config, "version": __version__, "code": package_digest(),
                                 "part_files": part_files(getattr(cfg, "user_objects", ()))},
                                sort_keys=True, default=_plain)
        self._spec_digests: dict[tuple[str, str], str] = {}
        self.damaged: list[str] = []  # job files found unreadable or altered (played again)

    def _spec_digest(self, spec: str, mode: str) -> str:
        if (spec, mode) not in self._spec_digests:
            try:
                path = checkpoint_file(spec, self._cfg, mode)
            except (OSError, ValueError) as exc:  # the job will fail with the full story when played
                digest = f"unresolved: {type(exc).__name__}"
            else:
                digest = "" if path is None else _file_id(path)
            self._spec_digests[spec, mode] = digest
        return self._spec_digests[spec, mode]

    def key(self, job: Any) -> str:
        """Hash of everything the records of ``job`` (an ``EpisodeJob``) depend on."""
        spec = str(job.spec)
        payload = json.dumps({"base": self._base, "spec": spec, "spec_file": self._spec_digest(spec, job.mode),
                              "mode": job.mode, "items": [list(i) for i in job.items],
                              "capture": sorted(list(k) for k in job.capture),
                              "render": list(job.render_key) if job.render_key else None},
                             sort_keys=True, default=_plain)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        stem = self.root / f"job-{key[:24]}"
        return stem.with_suffix(".json"), stem.with_suffix(".npz")

    def save(self, job: Any, result: dict[str, Any]) -> None:
        """Record finished ``job`` (images first, then the JSON that makes it count)."""
        key = self.key(job)
        meta_path, images_path = self._paths(key)
        arrays: dict[str, np.ndarray] = {}
        captures = []
        for c, cap in enumerate(result["captures"]):
            arrays[f"c{c}_target"] = np.asarray(cap.target)
            for name in ("tactile", "scenes"):
                frames = getattr(cap, name)
                for f, frame in enumerate(frames):
                    arrays[f"c{c}_{name}_{f}"] = np.asarray(frame)
            captures.append({"policy": cap.policy, "object": cap.object, "target_mode": cap.target_mode,
                             "seed": cap.seed, "tactile": len(cap.tactile), "scenes": len(cap.scenes),
                             "errors": [list(e) for e in cap.errors]})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        payload = buffer.getvalue()
        atomic_write_bytes(images_path, payload)
        meta = {"key": key, "images_sha256": hashlib.sha256(payload).hexdigest(),
                "records": result["records"], "captures": captures, "env_info": result["env_info"],
                "policy_info": result["policy_info"], "seconds": result["seconds"]}
        meta = json.loads(json.dumps(meta, default=_plain))  # as it will read back
        meta["sha256"] = _content_digest(meta)
        atomic_write_bytes(meta_path, (json.dumps(meta) + "\n").encode("utf-8"))

    def load(self, job: Any) -> dict[str, Any] | None:
        """Finished ``job`` as :func:`run_episodes` returned it, or None (absent, or damaged:
        it is then played again)."""
        from tacrefine.evaluation.episodes.runner import Capture

        key = self.key(job)
        meta_path, images_path = self._paths(key)
        try:
            text = meta_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._damaged(meta_path, exc)
        try:
            meta = json.loads(text)
            if not isinstance(meta, dict) or meta.get("sha256") != _content_digest(meta):
                raise ValueError("its checksum does not match its content")
            if meta.get("key") != key:
                return None  # a 24-digit prefix shared by another job: not damaged, just not this one
            payload = images_path.read_bytes()
            if hashlib.sha256(payload).hexdigest() != meta["images_sha256"]:
                raise ValueError(f"{images_path.name} does not match its checksum")
            with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
                captures = [Capture(policy=c["policy"], object=c["object"], target_mode=c["target_mode"],
                                    seed=c["seed"], target=arrays[f"c{i}_target"],
                                    tactile=[arrays[f"c{i}_tactile_{f}"] for f in range(c["tactile"])],
                                    scenes=[arrays[f"c{i}_scenes_{f}"] for f in range(c["scenes"])],
                                    errors=[tuple(e) for e in c["errors"]])
                            for i, c in enumerate(meta["captures"])]
            return {"records": meta["records"], "captures": captures, "env_info": meta["env_info"],
                    "policy_info": meta["policy_info"], "seconds": meta["seconds"]}
        except Exception as exc:  # noqa: BLE001 - any malformed job file is played again, never fatal
            return self._damaged(meta_path, exc)

    def _damaged(self, path: Path, exc: BaseException) -> None:
        self.damaged.append(f"{path.name} ({type(exc).__name__}: {exc})")
        return None

    def report_damaged(self) -> None:
        """Say once which recorded jobs were damaged (they are played again)."""
        if self.damaged:
            logger.warning("%d recorded evaluation job(s) in %s were damaged and are played again: %s",
                           len(self.damaged), self.root, "; ".join(self.damaged))
