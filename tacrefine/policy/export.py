"""Export a trained policy's network, with its input normalisation and DoF-mask handling, to
ONNX or TorchScript, so a robot computer runs one graph (onnxruntime, libtorch) on raw
observations.

The exported graph is :class:`PolicyGraph`: inputs ``tactile``, ``target_tactile`` (uint8
``(B, F, C, H, W)``), ``proprio`` (float32 ``(B, 2F)``, current then target joints in
metres) and ``dof_mask`` (float32 ``(B, n_dofs)`` over the checkpoint's DoF); outputs
``increment`` (the wrist increment in mm / deg, masked: what a deployment applies) and
every output of the network as ``net.<name>`` (:func:`model_outputs`: ``out``, ``log_var``; an
ensemble checkpoint's further networks as ``net1.<name>``, ...), which
:class:`tacrefine.policy.onnx_policy.OnnxPolicy` hands to the same code as the native policy.
The checkpoint's metadata (DoF, tactile shape, sensor, hand, normaliser) travels inside the
file (ONNX metadata ``tacrefine``, TorchScript extra file ``tacrefine.json``), so an
exported policy checks its env like a checkpoint does.

Native and exported policies share :func:`preprocess`, so their inputs are the same by
construction; ``tests/test_export.py`` checks their actions agree within 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tacrefine.config import atomic_write_bytes
from tacrefine.policy.checkpoint import ensemble_members, load_model, plain
from tacrefine.policy.normalizer import Normalizer

#: Version of the metadata written beside the graph (bumped when its keys change): 2 for an
#: ensemble's graph (its ``ensemble`` key and ``net{k}.*`` outputs), which readers of version 1
#: would silently run as the primary network alone; 1 for one network, readable by every version.
EXPORT_VERSION = 1
ENSEMBLE_EXPORT_VERSION = 2
METADATA_KEY = "tacrefine"
FORMATS = ("onnx", "torchscript")
INPUT_NAMES = ("tactile", "target_tactile", "proprio", "dof_mask")
#: Checkpoint entries carried into the exported file (everything but the weights and the optimiser).
CHECKPOINT_KEYS = ("refined_dofs", "tactile_shape", "sensor", "gripper", "hand", "model_config", "normalizer",
                   "epoch", "format", "version", "self_assessment", "reading")


def preprocess(joint_mean: np.ndarray | torch.Tensor, joint_std: np.ndarray | torch.Tensor, tactile: torch.Tensor,
               target_tactile: torch.Tensor, proprio: torch.Tensor, dof_mask: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Raw observation tensors -> the network's inputs: images to [0, 1], joints standardised
    (current and target share the statistics), mask as float. Used by the native policy and
    inside the exported graph alike."""
    mean = torch.as_tensor(joint_mean, dtype=torch.float32)
    std = torch.as_tensor(joint_std, dtype=torch.float32)
    nf = mean.shape[0]
    joints = torch.cat([(proprio[:, :nf] - mean) / std, (proprio[:, nf:] - mean) / std], dim=1)
    scale = 1.0 / 255.0
    return (tactile.to(torch.float32) * scale, target_tactile.to(torch.float32) * scale,
            joints.to(torch.float32), dof_mask.to(torch.float32))


def model_outputs(model: nn.Module, cur: torch.Tensor, tgt: torch.Tensor, joints: torch.Tensor,
                  mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The network's outputs by name: ``out`` (the normalised increment) and, for a model with
    an error head, ``log_var`` (its predicted log-variance per DoF)."""
    out, log_var = model(cur, tgt, joints, mask, with_error=True)
    return {"out": out} if log_var is None else {"out": out, "log_var": log_var}


class PolicyGraph(nn.Module):
    """Network(s) + normalisation + DoF mask: raw observation in, physical increment (and every
    model output) out. What is exported; see the module docstring for inputs and outputs.

    ``model`` / ``normalizer`` may be lists (an ensemble checkpoint's networks, the primary
    first): ``increment`` is then the members' mean and the outputs are every member's, the
    primary's as ``net.*`` and member ``k``'s as ``net{k}.*``."""

    def __init__(self, model: nn.Module | list[nn.Module], normalizer: Normalizer | list[Normalizer],
                 uses_mask: bool) -> None:
        super().__init__()
        models = model if isinstance(model, list) else [model]
        normalizers = normalizer if isinstance(normalizer, list) else [normalizer]
        if len(models) != len(normalizers):
            raise ValueError(f"PolicyGraph: {len(models)} networks but {len(normalizers)} normalisers")
        self.members = nn.ModuleList(m.eval() for m in models)
        self.uses_mask = bool(uses_mask)
        for name in ("joint_mean", "joint_std", "label_mean", "label_std"):
            stacked = np.stack([np.asarray(getattr(n, name), np.float32) for n in normalizers])
            self.register_buffer(name, torch.from_numpy(stacked))

    def forward(self, tactile: torch.Tensor, target_tactile: torch.Tensor, proprio: torch.Tensor,
                dof_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        increments, outputs = [], []
        for k, model in enumerate(self.members):
            cur, tgt, joints, mask = preprocess(self.joint_mean[k], self.joint_std[k], tactile, target_tactile,
                                                proprio, dof_mask)
            member = list(model_outputs(model, cur, tgt, joints, mask if self.uses_mask else None).values())
            increments.append((member[0] * self.label_std[k] + self.label_mean[k]) * mask)
            outputs += member
        return (torch.stack(increments).mean(dim=0), *outputs)


def member_prefix(k: int) -> str:
    """Output-name prefix of ensemble member ``k`` in an exported graph (``net.`` for the primary;
    :func:`tacrefine.policy.onnx_policy.member_prefix` reads the same names without torch)."""
    return "net." if k == 0 else f"net{k}."


def _example_inputs(ckpt: dict[str, Any], batch: int = 1) -> tuple[torch.Tensor, ...]:
    """A deterministic batch of plausible raw observations for tracing."""
    shape = tuple(int(s) for s in ckpt["tactile_shape"])
    gen = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (batch, *shape), generator=gen, dtype=torch.uint8) for _ in range(2)]
    proprio = torch.full((batch, 2 * shape[0]), 0.01) + 0.001 * torch.randn(batch, 2 * shape[0], generator=gen)
    return (*images, proprio, torch.ones(batch, len(ckpt["refined_dofs"])))


def export_metadata(ckpt: dict[str, Any], output_names: list[str], uses_mask: bool, fmt: str) -> dict[str, Any]:
    """What an exported policy needs besides its graph (JSON-plain)."""
    return {"export_version": EXPORT_VERSION, "export_format": fmt, "inputs": list(INPUT_NAMES),
            "outputs": output_names, "uses_mask": bool(uses_mask), "source": str(ckpt.get("path", "")),
            "checkpoint": plain({k: ckpt[k] for k in CHECKPOINT_KEYS if k in ckpt})}


def export_policy(checkpoint: str | Path, out: str | Path, fmt: str = "onnx", opset: int = 18) -> dict[str, Any]:
    """Write the checkpoint's :class:`PolicyGraph` to ``out`` as ``fmt`` (``"onnx"`` or
    ``"torchscript"``), atomically; returns the metadata written with it.

    The graph takes a batch of one observation (what a controller feeds). ONNX uses torch's
    ``torch.export``-based exporter (``dynamo=True``), which needs ``onnx`` and ``onnxscript``
    (the ``export`` extra): the TorchScript-based one cannot export the encoder's adaptive
    pooling.
    """
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt!r}: allowed {list(FORMATS)}")
    model, normalizer, ckpt = load_model(checkpoint)
    members = [(model, normalizer), *ensemble_members(ckpt)]
    uses_mask = bool(model.cfg.use_dof_mask)
    graph = PolicyGraph([m for m, _ in members], [n for _, n in members], uses_mask).eval()
    example = _example_inputs(ckpt)
    names = ["increment"]
    with torch.inference_mode():
        for k, (net, norm) in enumerate(members):
            cur, tgt, joints, mask = preprocess(norm.joint_mean, norm.joint_std, *example)
            names += [member_prefix(k) + n for n in model_outputs(net, cur, tgt, joints, mask if uses_mask else None)]
    meta = export_metadata(ckpt, names, uses_mask, fmt)
    if len(members) > 1:  # what each member's outputs need to become increments
        meta["checkpoint"]["ensemble"] = [{"normalizer": plain(n.to_dict())} for _, n in members[1:]]
        meta["export_version"] = ENSEMBLE_EXPORT_VERSION
    if fmt == "onnx":
        data = _onnx_bytes(graph, example, names, meta, opset)
    else:
        data = _torchscript_bytes(graph, example, meta)
    atomic_write_bytes(out, data)
    return meta


def _onnx_bytes(graph: PolicyGraph, example: tuple[torch.Tensor, ...], names: list[str], meta: dict[str, Any],
                opset: int) -> bytes:
    import io
    import warnings

    import onnx

    buf = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's progress and deprecation notes are not the user's business
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, example, buf, input_names=list(INPUT_NAMES), output_names=names,
                          opset_version=opset, dynamo=True, verbose=False)
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _torchscript_bytes(graph: PolicyGraph, example: tuple[torch.Tensor, ...], meta: dict[str, Any]) -> bytes:
    import io
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, example, check_trace=False)
    buf = io.BytesIO()
    torch.jit.save(traced, buf, _extra_files={f"{METADATA_KEY}.json": json.dumps(meta)})
    return buf.getvalue()
