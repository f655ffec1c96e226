"""Fine-tuning: start from a trained policy, mix several datasets, optionally freeze touch.

TacRefineNet's central result is that pre-training on simulation and fine-tuning on a
little real data beats simulation alone. The training loop stays one loop; this module
adds what fine-tuning needs, through three small hooks:

* :func:`init_from_checkpoint` loads the weights (``weights_only``) of ``finetune.init``
  and refuses a checkpoint that does not fit the model, listing what differs; the run
  keeps the checkpoint's normaliser, so the weights see inputs scaled as they learnt them;
* :class:`MixedPairSampler` draws each batch from several datasets in fixed ratios
  (pairs are always formed within one dataset: a label is the relative pose between two
  grasps of one object seen by one sensor);
* :func:`freeze_encoder` stops the tactile encoder's gradients (keep the learnt touch
  features, adapt the rest).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tacrefine.config import require, require_positive


@dataclass(frozen=True)
class MixSource:
    """One further dataset of the mix and its share of every batch (relative weight)."""

    path: str
    ratio: float = 1.0

    def __post_init__(self) -> None:
        require(isinstance(self.path, str) and bool(self.path), "finetune.mix[].path", "a dataset directory",
                self.path)
        require_positive("finetune.mix[].ratio", self.ratio)


@dataclass(frozen=True)
class FinetuneConfig:
    """Where training starts and what it learns from.

    Attributes:
        init: checkpoint whose weights (and normaliser) the run starts from; ``null`` trains
            from scratch. ``scripts/train.py --init PATH`` sets it.
        freeze_encoder: keep the tactile encoder's weights fixed.
        data_ratio: weight of ``data.path`` in every batch, relative to the ``mix`` ratios.
        mix: further datasets, each ``{path, ratio}``; validation stays on ``data.path``.
    """

    init: str | None = None
    freeze_encoder: bool = False
    data_ratio: float = 1.0
    mix: tuple[MixSource, ...] = ()

    def __post_init__(self) -> None:
        require(self.init is None or (isinstance(self.init, str) and bool(self.init)), "finetune.init",
                "null or a checkpoint path", self.init)
        require(isinstance(self.freeze_encoder, bool), "finetune.freeze_encoder", "true or false",
                self.freeze_encoder)
        require_positive("finetune.data_ratio", self.data_ratio)
        mix = tuple(MixSource(**m) if isinstance(m, dict) else m for m in self.mix)
        for i, m in enumerate(mix):
            require(isinstance(m, MixSource), f"finetune.mix[{i}]", "a mapping {path, ratio}", m)
        object.__setattr__(self, "mix", mix)


#: Additive parts of the model: a run may add them to a checkpoint that lacks them (they
#: start fresh) or leave out those a checkpoint has; neither changes the shared weights.
ADDITIVE_CONFIG = ("error_head",)
ADDITIVE_WEIGHTS = ("error_head.",)


def _additive(key: str) -> bool:
    return key.startswith(ADDITIVE_WEIGHTS)


def _config_differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    keys = sorted((set(saved) | set(wanted)) - set(ADDITIVE_CONFIG))
    plain = {k: (list(v) if isinstance(v, tuple) else v) for k, v in wanted.items()}
    return [f"model.{k}: checkpoint {saved.get(k)!r} != run {plain.get(k)!r}" for k in keys
            if saved.get(k) != plain.get(k)]


def init_from_checkpoint(model: torch.nn.Module, model_config: dict[str, Any], path: str | Path):
    """Load the weights of ``path`` into ``model``; returns the checkpoint's normaliser and the checkpoint.

    Additive heads (:data:`ADDITIVE_WEIGHTS`, e.g. the error head) the checkpoint lacks keep
    their fresh initial values; those it has and the run does not are left out.

    Raises :class:`~tacrefine.policy.checkpoint.CheckpointError` naming every model
    setting and tensor that differs (a checkpoint of another architecture, other DoF,
    another number of fingers or channels).
    """
    from tacrefine.policy.checkpoint import CheckpointError, load_checkpoint
    from tacrefine.policy.model import Normalizer

    ckpt = load_checkpoint(path)
    if ckpt.get("ensemble"):  # fine-tuning one network would silently drop the others
        sources = ", ".join(ckpt.get("ensemble_sources") or []) or "the checkpoints it was combined from"
        raise CheckpointError(f"cannot start from checkpoint {str(path)!r}: it is an ensemble of "
                              f"{len(ckpt['ensemble']) + 1} networks; fine-tune one of its sources ({sources}) "
                              "and combine again with `tacrefine ensemble`")
    diffs = _config_differences(dict(ckpt["model_config"]), model_config)
    own = model.state_dict()
    theirs = ckpt["model_state"]
    diffs += [f"weights {k}: missing in the checkpoint" for k in own if k not in theirs and not _additive(k)]
    diffs += [f"weights {k}: not in this model" for k in theirs if k not in own and not _additive(k)]
    diffs += [f"weights {k}: shape {tuple(theirs[k].shape)} != {tuple(own[k].shape)}" for k in own
              if k in theirs and tuple(theirs[k].shape) != tuple(own[k].shape)]
    if diffs:
        more = f"; ... ({len(diffs)} differences)" if len(diffs) > 12 else ""
        raise CheckpointError(f"cannot start from checkpoint {str(path)!r}: it does not fit this run's model: "
                              + "; ".join(diffs[:12]) + more)
    model.load_state_dict({**own, **{k: v for k, v in theirs.items() if k in own}})
    return Normalizer.from_dict(ckpt["normalizer"]), ckpt


def freeze_encoder(model: torch.nn.Module) -> int:
    """Stop gradients of the tactile encoder; returns the number of frozen parameters."""
    frozen = 0
    for name, param in model.named_parameters():
        if name.startswith("encoder."):
            param.requires_grad_(False)
            frozen += param.numel()
    require(frozen > 0, "finetune.freeze_encoder", "a model with a tactile encoder (model.use_touch=true)", True)
    return frozen


class MixedPairSampler:
    """Batches drawn from several pair samplers in fixed ratios (each pair within one dataset).

    A batch of ``n`` takes ``round(n * ratio_i / sum)`` pairs from sampler ``i`` (largest
    remainders get the rounding), so the mix is exact and needs no randomness of its own.
    """

    def __init__(self, samplers: Sequence[Any], ratios: Sequence[float]) -> None:
        require(len(samplers) == len(ratios) and len(samplers) > 0, "finetune.mix", "one ratio per dataset",
                list(ratios))
        self.samplers = list(samplers)
        self.weights = np.asarray(ratios, dtype=float) / float(np.sum(ratios))

    def counts(self, n: int) -> np.ndarray:
        raw = n * self.weights
        out = np.floor(raw).astype(int)
        for i in np.argsort(-(raw - out), kind="stable")[: n - int(out.sum())]:
            out[i] += 1
        return out

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        parts = [s.sample(int(k), rng) for s, k in zip(self.samplers, self.counts(n)) if k > 0]
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def mixed_sampler(cfg: Any, train_sampler: Any, dofs: tuple[str, ...], tactile_shape: tuple[int, ...]) -> Any:
    """``train_sampler`` alone, or mixed with the datasets of ``cfg.finetune.mix`` (whole datasets)."""
    fcfg: FinetuneConfig = cfg.finetune
    if not fcfg.mix:
        return train_sampler
    from tacrefine.data.pairs import PairSampler
    from tacrefine.data.stream import load_for_training

    samplers, ratios = [train_sampler], [fcfg.data_ratio]
    for i, source in enumerate(fcfg.mix):
        require(Path(source.path).is_dir(), f"finetune.mix[{i}].path", "an existing dataset directory", source.path)
        samples, _ = load_for_training(source.path, cfg.data.stream)
        shape = tuple(int(s) for s in samples.tactile.shape[1:])
        require(shape == tuple(tactile_shape), f"finetune.mix[{i}].path",
                f"a dataset of tactile shape {tuple(tactile_shape)} like data.path", shape)
        samplers.append(PairSampler(samples, np.arange(len(samples)), dofs))
        ratios.append(source.ratio)
    return MixedPairSampler(samplers, ratios)
