"""Finished evaluation jobs kept on disk, so that an interrupted evaluation resumes.

Each job (one policy, one target mode, a run of episodes) that finishes is written to
``OUT/.jobs/job-NNNN.json`` (its records, env and policy info) and ``job-NNNN.npz`` (the
images it captured for the panels), atomically, the JSON last. Both carry a key hashing
everything the job's records depend on: the evaluation config (minus the switches that
only change what is written), the policy spec (and the sha256 of a checkpoint file), the
target mode and the episodes. A rerun loads every job whose key matches and whose files
are intact, and plays the rest, so its report equals an uninterrupted run's (episodes
are functions of their seeds). Nothing here is unpickled: JSON and ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine import __version__
from tacrefine.config import atomic_write_bytes, to_dict

#: EvalConfig fields that change what is written, never a record.
_OUTPUT_ONLY = ("progress", "plots", "render")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in the evaluation journal")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class Journal:
    """The finished jobs of one evaluation (``root`` = ``OUT/.jobs``)."""

    def __init__(self, root: str | Path, cfg: Any) -> None:
        self.root = Path(root)
        config = {k: v for k, v in to_dict(cfg).items() if k not in _OUTPUT_ONLY}
        self._base = json.dumps({"config": config, "version": __version__}, sort_keys=True, default=_plain)
        self._spec_digests: dict[str, str] = {}

    def key(self, job: Any) -> str:
        """Hash of everything the records of ``job`` (an ``EpisodeJob``) depend on."""
        spec = str(job.spec)
        if spec not in self._spec_digests:
            path = Path(spec)
            self._spec_digests[spec] = _file_digest(path) if path.is_file() else ""
        payload = json.dumps({"base": self._base, "spec": spec, "spec_file": self._spec_digests[spec],
                              "mode": job.mode, "items": [list(i) for i in job.items],
                              "capture": sorted(list(k) for k in job.capture),
                              "render": list(job.render_key) if job.render_key else None},
                             sort_keys=True, default=_plain)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _paths(self, index: int) -> tuple[Path, Path]:
        stem = self.root / f"job-{index:04d}"
        return stem.with_suffix(".json"), stem.with_suffix(".npz")

    def save(self, index: int, job: Any, result: dict[str, Any]) -> None:
        """Record finished job ``index`` (images first, then the JSON that makes it count)."""
        meta_path, images_path = self._paths(index)
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
        meta = {"key": self.key(job), "images_sha256": hashlib.sha256(payload).hexdigest(),
                "records": result["records"], "captures": captures, "env_info": result["env_info"],
                "policy_info": result["policy_info"], "seconds": result["seconds"]}
        atomic_write_bytes(meta_path, (json.dumps(meta, default=_plain) + "\n").encode("utf-8"))

    def load(self, index: int, job: Any) -> dict[str, Any] | None:
        """Finished job ``index`` as :func:`run_episodes` returned it, or None (absent, from
        another config or policy, or damaged: it is then played again)."""
        from tacrefine.evaluation.runner import Capture

        meta_path, images_path = self._paths(index)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("key") != self.key(job):
                return None
            payload = images_path.read_bytes()
            if hashlib.sha256(payload).hexdigest() != meta["images_sha256"]:
                return None
            with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
                captures = [Capture(policy=c["policy"], object=c["object"], target_mode=c["target_mode"],
                                    seed=c["seed"], target=arrays[f"c{i}_target"],
                                    tactile=[arrays[f"c{i}_tactile_{f}"] for f in range(c["tactile"])],
                                    scenes=[arrays[f"c{i}_scenes_{f}"] for f in range(c["scenes"])],
                                    errors=[tuple(e) for e in c["errors"]])
                            for i, c in enumerate(meta["captures"])]
            return {"records": meta["records"], "captures": captures, "env_info": meta["env_info"],
                    "policy_info": meta["policy_info"], "seconds": meta["seconds"]}
        except (OSError, ValueError, KeyError, TypeError):
            return None
