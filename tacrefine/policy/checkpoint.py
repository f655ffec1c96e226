"""Checkpoints of TacRefineNet: everything needed to use a model, or to resume training.

A checkpoint is a plain dict saved by ``torch.save`` and read with
``torch.load(weights_only=True)``: only tensors and plain Python data (dicts, lists,
strings, numbers), never pickled objects, so loading a file cannot run code. It holds

* ``model_state`` (tensors) and ``model_config`` (plain dict of :class:`ModelConfig`);
* ``refined_dofs``, ``tactile_shape`` (F, C, H, W) and ``normalizer`` (statistics of the
  training split) - what a policy needs to turn an observation into an increment;
* ``sensor`` / ``gripper`` metadata copied from the dataset manifest and
  ``dataset_hash`` (which data the weights came from);
* for an ensemble (:func:`combine_checkpoints`): ``ensemble``, the further networks
  (weights, config, normaliser each), and ``ensemble_sources``;
* for resuming: ``optimizer_state``, ``torch_rng_state``, ``epoch`` (epochs completed),
  ``best_val_loss``, ``history`` (per-epoch metrics) and ``train_config``.

Files are written atomically (temporary file + ``os.replace``): a crash mid-write leaves
the previous checkpoint intact. A truncated or foreign file raises
:class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from tacrefine.config import ConfigError, atomic_write_bytes, from_dict
from tacrefine.policy.model import ModelConfig, Normalizer, TacRefineNet

CHECKPOINT_FORMAT = "tacrefine.tacrefinenet"
CHECKPOINT_VERSION = 2
#: Versions this code reads. Version 1 predates the DoF mask input: its model config is
#: read with ``use_dof_mask=False`` (same weights, same predictions). A model config
#: without ``error_head`` predates that additive head and is read with ``error_head=False``.
READABLE_VERSIONS = (1, 2)

#: Keys every checkpoint has (resume-only keys are checked by the training loop).
REQUIRED_KEYS = ("format", "version", "model_state", "model_config", "refined_dofs", "tactile_shape",
                 "normalizer", "epoch")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupted or not a TacRefineNet checkpoint."""


def plain(data: Any) -> Any:
    """Manifest metadata as JSON-plain data (what ``weights_only`` loading accepts)."""
    return json.loads(json.dumps(data, default=str))


def save_checkpoint(path: str | Path, ckpt: dict[str, Any]) -> None:
    """Serialise ``ckpt`` in memory, then write it atomically to ``path``."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **ckpt}
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ValueError(f"save_checkpoint: missing keys {missing}")
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint; any failure is a :class:`CheckpointError` naming ``path``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... by cause
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be read (truncated, corrupted or not a torch file): "
            f"{type(exc).__name__}: {str(exc).split('. ')[0].splitlines()[0] if str(exc) else ''}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a TacRefineNet checkpoint "
                              f"(format {ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt)!r})")
    if ckpt.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(f"checkpoint {str(path)!r} has version {ckpt.get('version')!r}; "
                              f"this code reads versions {list(READABLE_VERSIONS)}")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks {missing}")
    if ckpt["version"] == 1 and isinstance(ckpt["model_config"], dict):
        ckpt["model_config"] = {**ckpt["model_config"], "use_dof_mask": False}
    ckpt["model_config"] = _without_head_if_unsaid(ckpt["model_config"])
    ckpt["path"] = str(path)
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> tuple[TacRefineNet, Normalizer]:
    """Rebuild the network (in eval mode) and its normalisation from a loaded checkpoint."""
    where = ckpt.get("path", "<checkpoint>")
    try:
        cfg = from_dict(ModelConfig, ckpt["model_config"])
        model = TacRefineNet(cfg)
        model.load_state_dict(ckpt["model_state"])
        normalizer = Normalizer.from_dict(ckpt["normalizer"])
    except (ConfigError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {where!r} does not describe a valid model: {exc}") from exc
    model.eval()
    return model, normalizer


def _without_head_if_unsaid(config: Any) -> Any:
    """A model config written before the additive error head existed describes the same
    network without it."""
    if isinstance(config, dict) and "error_head" not in config:
        return {**config, "error_head": False}
    return config


def ensemble_members(ckpt: dict[str, Any]) -> list[tuple[TacRefineNet, Normalizer]]:
    """The further networks of an ensemble checkpoint (``ckpt["ensemble"]``: a list of dicts
    with ``model_state``, ``model_config``, ``normalizer``, ``refined_dofs``, ``tactile_shape``);
    ``[]`` for a single network. Members must read and predict what the primary does."""
    where = ckpt.get("path", "<checkpoint>")
    entries = ckpt.get("ensemble") or []
    if not isinstance(entries, list):
        raise CheckpointError(f"checkpoint {where!r}: 'ensemble' must be a list of networks")
    members = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise CheckpointError(f"checkpoint {where!r}: ensemble member {i} is not a dict")
        for key in ("refined_dofs", "tactile_shape"):
            if list(entry.get(key, [])) != list(ckpt[key]):
                raise CheckpointError(f"checkpoint {where!r}: ensemble member {i} has {key} "
                                      f"{entry.get(key)!r}; the primary network {ckpt[key]!r}")
        entry = {**entry, "model_config": _without_head_if_unsaid(entry.get("model_config"))}
        for key in ("use_dof_mask", "error_head"):
            mine = bool((entry.get("model_config") or {}).get(key))
            if mine != bool(ckpt["model_config"].get(key)):
                raise CheckpointError(f"checkpoint {where!r}: ensemble member {i} has model_config.{key} {mine}; "
                                      f"the primary network {not mine}")
        members.append(model_from_checkpoint({**entry, "path": f"{where} (ensemble member {i})"}))
    return members


#: what an ensemble member keeps of its checkpoint: its network and what it needs to read one
MEMBER_KEYS = ("model_state", "model_config", "normalizer", "refined_dofs", "tactile_shape", "dataset_hash", "epoch")
#: what every member must share with the primary (the same observation, the same action)
SHARED_KEYS = ("refined_dofs", "tactile_shape", "sensor", "gripper", "hand")


def combine_checkpoints(paths: list[str | Path], out: str | Path) -> dict[str, Any]:
    """Write one ensemble checkpoint from several trained ones; returns what was written.

    The first checkpoint is the primary (its metadata and thresholds are kept); the others'
    networks go under ``ensemble``. Members must share DoF, tactile shape, sensor and hand
    (:data:`SHARED_KEYS`). The flag's threshold belongs to one network's doubt, not to the
    ensemble's, so ``self_assessment.unfamiliar_sigma`` and ``calibration`` are dropped:
    run ``tacrefine calibrate OUT`` on the result. An ensemble is for acting, not for
    resuming training (no optimiser state is kept).
    """
    if len(paths) < 2:
        raise ValueError(f"an ensemble needs at least two checkpoints; got {len(paths)}")
    resolved = [Path(p).resolve() for p in paths]
    if len(set(resolved)) != len(resolved):
        raise ValueError("an ensemble's checkpoints must differ: the same file twice adds no second opinion")
    if Path(out).resolve() in resolved:
        raise ValueError(f"--out {str(out)!r} is one of the checkpoints being combined; write elsewhere")
    loaded = [load_checkpoint(p) for p in paths]
    primary = loaded[0]
    for path, ckpt in zip(paths[1:], loaded[1:]):
        if ckpt.get("ensemble"):
            raise CheckpointError(f"checkpoint {str(path)!r} is an ensemble already; combine its sources instead")
        differing = [k for k in SHARED_KEYS if plain(ckpt.get(k)) != plain(primary.get(k))]
        for key in ("use_dof_mask", "error_head"):  # one mask input serves all; doubt needs every head
            if bool(ckpt["model_config"].get(key)) != bool(primary["model_config"].get(key)):
                differing.append(f"model_config.{key}")
        if reads_mirrored(ckpt) != reads_mirrored(primary):  # one way of reading serves all members
            differing.append("reading.mirror")
        if differing:
            raise CheckpointError(f"checkpoint {str(path)!r} differs from {str(paths[0])!r} in {differing}: "
                                  "ensemble members must read the same touch and act on the same DoF")
        model_from_checkpoint(ckpt)  # refuse a broken member now, not at the first action
    if primary.get("ensemble"):
        raise CheckpointError(f"checkpoint {str(paths[0])!r} is an ensemble already; combine its sources instead")
    kept = {k: v for k, v in primary.items()
            if k not in ("format", "version", "path", "optimizer_state", "torch_rng_state", "calibration")}
    thresholds = dict(kept.get("self_assessment") or {})
    thresholds.pop("unfamiliar_sigma", None)
    kept["self_assessment"] = thresholds
    kept["ensemble"] = [{k: c[k] for k in MEMBER_KEYS if k in c} for c in loaded[1:]]
    kept["ensemble_sources"] = [str(p) for p in paths]
    save_checkpoint(out, kept)
    return kept


def reads_mirrored(ckpt: dict[str, Any]) -> bool:
    """Whether a checkpoint is read mirrored by default (``reading.mirror``; off when unsaid)."""
    reading = ckpt.get("reading")
    return bool(reading.get("mirror", False)) if isinstance(reading, dict) else False


def load_model(path: str | Path) -> tuple[TacRefineNet, Normalizer, dict[str, Any]]:
    """Network, normaliser and the checkpoint dict (metadata) from a file."""
    ckpt = load_checkpoint(path)
    model, normalizer = model_from_checkpoint(ckpt)
    return model, normalizer, ckpt
