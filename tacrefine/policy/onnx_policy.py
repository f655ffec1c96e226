"""An exported policy run by onnxruntime, without torch: ``load_policy("policy.onnx", env=env)``.

:class:`OnnxPolicy` is a :class:`~tacrefine.policy.learned.LearnedPolicy` whose network call
(:meth:`_forward`) is an onnxruntime session on the graph written by
``tacrefine export --format onnx`` (:mod:`tacrefine.policy.export`); everything on top of it
(fit and sensor checks, DoF masking, denormalisation, action scaling) is the native code, so
the two agree by construction. Its metadata (DoF, tactile shape, sensor, normaliser) comes
from the file. Needs the optional extra ``pip install "tacrefine[onnx]"``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.policy.learned import LearnedPolicy
from tacrefine.policy.normalizer import Normalizer

METADATA_KEY = "tacrefine"  # the same key as tacrefine.policy.export.METADATA_KEY (which needs torch)
READABLE_EXPORT_VERSIONS = (1, 2)  # 2: an ensemble's graph (tacrefine.policy.export.ENSEMBLE_EXPORT_VERSION)


def member_prefix(k: int) -> str:
    """Output-name prefix of ensemble member ``k`` in an exported graph (``net.`` for the primary);
    the same names as :func:`tacrefine.policy.export.member_prefix` writes, kept here so that
    reading a graph needs no torch (as :data:`METADATA_KEY`)."""
    return "net." if k == 0 else f"net{k}."


class ExportError(ValueError):
    """An exported policy file is missing, corrupt or not written by ``tacrefine export``."""


class OnnxPolicy(LearnedPolicy):
    """Acts from touch with an exported ONNX graph; the arguments are :class:`LearnedPolicy`'s
    (``num_threads``: onnxruntime's intra-op threads, default 1)."""

    name = "tacrefinenet-onnx"

    def __init__(self, path: str | Path, action_scale: Mapping[str, float] | Sequence[float] | None = None,
                 num_threads: int | None = None, sensor_mismatch: str = "refuse", two_way: bool = True,
                 mirror: bool | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError("running an .onnx policy needs onnxruntime: pip install 'tacrefine[onnx]'") from exc
        self.checkpoint_path = Path(path)
        if not self.checkpoint_path.is_file():
            raise ExportError(f"exported policy {str(path)!r} does not exist")
        options = ort.SessionOptions()
        # One decision is a batch of one: extra threads only add synchronisation (and spin-wait,
        # which stalls badly on a busy machine), so one thread unless asked otherwise.
        options.intra_op_num_threads = int(num_threads) if num_threads is not None else 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: no informational lines on stderr
        try:
            self.session = ort.InferenceSession(str(self.checkpoint_path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf / ... types
            raise ExportError(f"exported policy {str(path)!r} cannot be read (truncated, corrupted or not ONNX): "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
        self.export_meta = self._read_metadata(self.session.get_modelmeta().custom_metadata_map)
        self.checkpoint: dict[str, Any] = {**self.export_meta["checkpoint"], "path": str(self.checkpoint_path)}
        self.normalizer = Normalizer.from_dict(self.checkpoint["normalizer"])
        #: one graph; an ensemble's networks each have their normaliser (member k's outputs: ``net{k}.*``)
        self.members = [(None, self.normalizer)] + [(None, Normalizer.from_dict(m["normalizer"]))
                                                    for m in self.checkpoint.get("ensemble", [])]
        self._net_outputs = [n for n in self.export_meta["outputs"] if n.startswith("net")]
        self._setup(action_scale, sensor_mismatch, uses_mask=bool(self.export_meta["uses_mask"]), two_way=two_way,
                    mirror=mirror)

    def _read_metadata(self, props: Mapping[str, str]) -> dict[str, Any]:
        where = repr(str(self.checkpoint_path))
        if METADATA_KEY not in props:
            raise ExportError(f"exported policy {where} has no {METADATA_KEY!r} metadata: it was not written by "
                              "`tacrefine export` (which stores the DoF, tactile shape, sensor and normaliser)")
        try:
            meta = json.loads(props[METADATA_KEY])
            version = meta["export_version"]
            ckpt = meta["checkpoint"]
            missing = [k for k in ("refined_dofs", "tactile_shape", "normalizer") if k not in ckpt]
        except (ValueError, KeyError, TypeError) as exc:
            raise ExportError(f"exported policy {where}: malformed {METADATA_KEY!r} metadata ({exc})") from exc
        if version not in READABLE_EXPORT_VERSIONS:
            raise ExportError(f"exported policy {where} has export_version {version!r}; this code reads "
                              f"{list(READABLE_EXPORT_VERSIONS)}")
        if missing:
            raise ExportError(f"exported policy {where}: metadata lacks {missing}")
        outputs = meta.get("outputs") or []
        absent = [member_prefix(k) + "out" for k in range(1 + len(ckpt.get("ensemble") or []))
                  if member_prefix(k) + "out" not in outputs]
        if absent:
            raise ExportError(f"exported policy {where}: the graph lacks the outputs {absent} its metadata announces")
        return meta

    @property
    def has_error_head(self) -> bool:
        return "net.log_var" in self._net_outputs

    def _forward(self, tactile: np.ndarray, target_tactile: np.ndarray, proprio: np.ndarray,
                 dof_mask: np.ndarray) -> list[dict[str, np.ndarray]]:
        """The network call through onnxruntime: per member, the graph's ``net*.`` outputs by the
        model's names. The graph takes a batch of one: a larger batch (the two-way reading)
        runs row by row."""
        if len(tactile) > 1:
            rows = [self._forward(*(a[i:i + 1] for a in (tactile, target_tactile, proprio, dof_mask)))
                    for i in range(len(tactile))]
            return [{name: np.concatenate([r[k][name] for r in rows]) for name in rows[0][k]}
                    for k in range(len(rows[0]))]
        feeds = {"tactile": np.ascontiguousarray(tactile, dtype=np.uint8),
                 "target_tactile": np.ascontiguousarray(target_tactile, dtype=np.uint8),
                 "proprio": np.ascontiguousarray(proprio, dtype=np.float32),
                 "dof_mask": np.ascontiguousarray(dof_mask, dtype=np.float32)}
        values = dict(zip(self._net_outputs, self.session.run(self._net_outputs, feeds)))
        results: list[dict[str, np.ndarray]] = []
        for k in range(len(self.members)):
            prefix = member_prefix(k)
            results.append({name[len(prefix):]: v for name, v in values.items() if name.startswith(prefix)})
        return results

    def __repr__(self) -> str:
        return f"OnnxPolicy({str(self.checkpoint_path)!r}, dofs={list(self.refined_dofs)})"
