"""Validation: single-step errors in mm / deg on held-out pairs, and what the curve of
those errors says (the wall time to a precision, whether it has flattened).

Split from :mod:`tacrefine.training.loop`; every name is still importable from there.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from tacrefine.geometry import ROTATION_DOFS, TRANSLATION_DOFS
from tacrefine.policy.model import Normalizer, TacRefineNet
from tacrefine.training.steps import to_tensors


def error_stats(pred_phys: np.ndarray, label_phys: np.ndarray, dofs: tuple[str, ...],
                mask: np.ndarray | None = None) -> dict[str, float]:
    """Median / p90 single-step residual: position (mm) and rotation (deg) norms of pred - label.

    The residual in label space approximates the grasp error left after applying the
    predicted increment (exact for a single rotational DoF, first order otherwise).
    ``mask`` (B, n_dofs): only the DoF each pair's object refines count.
    """
    diff = np.asarray(pred_phys, np.float64) - np.asarray(label_phys, np.float64)
    if mask is not None:
        diff = diff * np.asarray(mask, np.float64)
    out: dict[str, float] = {}
    for key, group in (("pos", TRANSLATION_DOFS), ("rot", ROTATION_DOFS)):
        idx = [i for i, d in enumerate(dofs) if d in group]
        unit = "mm" if key == "pos" else "deg"
        if idx:
            norms = np.linalg.norm(diff[:, idx], axis=1)
            out[f"{key}_median_{unit}"] = float(np.median(norms))
            out[f"{key}_p90_{unit}"] = float(np.percentile(norms, 90))
        else:
            out[f"{key}_median_{unit}"] = out[f"{key}_p90_{unit}"] = float("nan")
    return out


@torch.no_grad()
def evaluate(model: TacRefineNet, normalizer: Normalizer, pairs: dict[str, np.ndarray],
             dofs: tuple[str, ...], batch_size: int = 1024, sigma_out: list | None = None) -> dict[str, float]:
    """Validation loss (normalised MSE) and error statistics on a fixed pair set; with
    ``sigma_out`` (a list) and an error head, the head's score per pair is appended to it in
    the same pass (:func:`sigma_scores`)."""
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    with_error = sigma_out is not None and getattr(model, "error_head", None) is not None
    n = len(pairs["label"])
    preds, sigmas, sq_sum, active = [], [], 0.0, 0.0
    for start in range(0, n, batch_size):
        part = {k: v[start:start + batch_size] for k, v in pairs.items()}
        b = to_tensors(part, normalizer, device)
        if with_error:
            pred, log_var = model(b.cur, b.tgt, b.proprio, b.mask, with_error=True)
            sigmas.append((torch.exp(0.5 * log_var) * b.mask).cpu().numpy().astype(np.float64))
        else:
            pred = model(b.cur, b.tgt, b.proprio, b.mask)
        sq_sum += float(((pred - b.label).square() * b.mask).sum())
        active += float(b.mask.sum())
        preds.append(pred.cpu().numpy())
    model.train(was_training)
    if sigmas and sigma_out is not None:
        sigma_out.extend(_score(np.concatenate(sigmas), normalizer, dofs))
    pred_phys = normalizer.denormalize_label(np.concatenate(preds))
    mask = pairs.get("dof_mask")
    stats = error_stats(pred_phys, pairs["label"], dofs, mask)
    return {"val_loss": sq_sum / max(active, 1.0), **{f"val_{k}": v for k, v in stats.items()}}


#: Per-pair quantile of the error head's 1-sigma score on the validation pairs that sets a new
#: checkpoint's ``self_assessment.unfamiliar_sigma``: a closed-loop episode reads about three
#: observations, so ~2 % per observation is a few percent of episodes on familiar parts.
#: ``tacrefine calibrate`` replaces it with a threshold measured on closed-loop episodes.
SIGMA_QUANTILE = 0.98


def sigma_scores(model: TacRefineNet, normalizer: Normalizer, pairs: dict[str, np.ndarray],
                 dofs: tuple[str, ...], batch_size: int = 1024) -> np.ndarray | None:
    """The error head's 1-sigma score per pair (mm over the translation DoF plus deg over the
    rotation DoF each pair's object refines: the unit of :class:`~tacrefine.policy.assessment.AssessConfig`);
    ``None`` for a model without an error head. The scores of :func:`evaluate`'s own pass."""
    scores: list[float] = []
    evaluate(model, normalizer, pairs, dofs, batch_size, sigma_out=scores)
    return np.asarray(scores, np.float64) if scores else None


def _score(sigma_normalised: np.ndarray, normalizer: Normalizer, dofs: tuple[str, ...]) -> np.ndarray:
    sigma = sigma_normalised * np.asarray(normalizer.label_std, np.float64)
    trans = [i for i, d in enumerate(dofs) if d in TRANSLATION_DOFS]
    rot = [i for i, d in enumerate(dofs) if d in ROTATION_DOFS]
    return np.linalg.norm(sigma[:, trans], axis=1) + np.linalg.norm(sigma[:, rot], axis=1)


def validation_calibration(model: TacRefineNet, normalizer: Normalizer, pairs: dict[str, np.ndarray],
                           dofs: tuple[str, ...], batch_size: int = 1024,
                           scores: np.ndarray | list | None = None) -> dict[str, Any] | None:
    """``{"self_assessment": ..., "calibration": ...}`` for a checkpoint with an error head: the
    unfamiliar flag's threshold at :data:`SIGMA_QUANTILE` of the head's scores on held-out grasps
    of the training parts, so that no checkpoint carries the placeholder; ``None`` without a head.
    ``scores``: the head's scores on ``pairs`` when :func:`evaluate` already computed them."""
    from dataclasses import asdict

    from tacrefine.policy.assessment import AssessConfig

    if scores is None or not len(scores):
        scores = sigma_scores(model, normalizer, pairs, dofs, batch_size)
    if scores is None or not len(scores):
        return None
    scores = np.asarray(scores, np.float64)
    threshold = float(np.quantile(scores, SIGMA_QUANTILE))
    return {"self_assessment": {**asdict(AssessConfig()), "unfamiliar_sigma": threshold},
            "calibration": {"method": "validation pairs", "quantile": SIGMA_QUANTILE, "pairs": int(len(scores)),
                            "unfamiliar_sigma": threshold,
                            "score_quantiles": {f"q{int(q * 100)}": float(np.quantile(scores, q))
                                                for q in (0.5, 0.9, 0.98, 0.99)}}}


def time_to_precision(history: list[dict[str, float]], pos_mm: float = 0.5, rot_deg: float = 0.5,
                      ) -> float | None:
    """Wall seconds (``wall_s``) of the first epoch whose validation medians are both within
    ``pos_mm`` and ``rot_deg`` (a DoF group the run does not refine counts as met); ``None``
    if no epoch got there or the rows carry no ``wall_s`` (runs older than the column)."""
    for row in history:
        pos, rot = row.get("val_pos_median_mm", math.nan), row.get("val_rot_median_deg", math.nan)
        if (math.isnan(pos) or pos <= pos_mm) and (math.isnan(rot) or rot <= rot_deg):
            wall = row.get("wall_s")
            return None if wall is None else float(wall)
    return None


def flattened(history: list[dict[str, float]], patience: int, min_delta: float) -> bool:
    """True when ``val_loss`` has not beaten its best by more than ``min_delta`` (relative)
    in the last ``patience`` epochs (never with ``patience`` 0)."""
    if patience <= 0 or len(history) <= patience:
        return False
    before = min(r["val_loss"] for r in history[:-patience])
    recent = min(r["val_loss"] for r in history[-patience:])
    return recent > before * (1.0 - min_delta)
