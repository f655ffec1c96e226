"""Validation: single-step errors in mm / deg on held-out pairs, and what the curve of
those errors says (the wall time to a precision, whether it has flattened).

Split from :mod:`tacrefine.training.loop`; every name is still importable from there.
"""

from __future__ import annotations

import math

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
             dofs: tuple[str, ...], batch_size: int = 1024) -> dict[str, float]:
    """Validation loss (normalised MSE) and error statistics on a fixed pair set."""
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    n = len(pairs["label"])
    preds, sq_sum, active = [], 0.0, 0.0
    for start in range(0, n, batch_size):
        part = {k: v[start:start + batch_size] for k, v in pairs.items()}
        b = to_tensors(part, normalizer, device)
        pred = model(b.cur, b.tgt, b.proprio, b.mask)
        sq_sum += float(((pred - b.label).square() * b.mask).sum())
        active += float(b.mask.sum())
        preds.append(pred.cpu().numpy())
    model.train(was_training)
    pred_phys = normalizer.denormalize_label(np.concatenate(preds))
    mask = pairs.get("dof_mask")
    stats = error_stats(pred_phys, pairs["label"], dofs, mask)
    return {"val_loss": sq_sum / max(active, 1.0), **{f"val_{k}": v for k, v in stats.items()}}


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
