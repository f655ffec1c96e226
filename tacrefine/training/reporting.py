"""What a training run writes for people: ``metrics.csv`` and ``curves.png`` (rank 0 only)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from tacrefine.config import atomic_write_bytes

METRIC_COLUMNS = ("epoch", "step", "lr", "train_loss", "val_loss", "val_pos_median_mm", "val_pos_p90_mm",
                  "val_rot_median_deg", "val_rot_p90_deg", "samples_per_s", "epoch_time_s", "wall_s")


def write_metrics(run_dir: Path, history: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(METRIC_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_bytes(run_dir / "metrics.csv", buf.getvalue().encode("utf-8"))


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """Loss and error curves as a PNG (Agg canvas: no display, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in history]
    timed = all("wall_s" in r for r in history)  # runs older than the column have no time axis
    fig = Figure(figsize=(15 if timed else 10, 4), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3 if timed else 2)
    ax_loss, ax_err = axes[0], axes[1]
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "s-", label="validation")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("MSE (normalised)")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    for key, style, label in (("val_pos_median_mm", "o-", "position median [mm]"),
                              ("val_pos_p90_mm", "o--", "position p90 [mm]"),
                              ("val_rot_median_deg", "s-", "rotation median [deg]"),
                              ("val_rot_p90_deg", "s--", "rotation p90 [deg]")):
        values = [r[key] for r in history]
        if not all(math.isnan(v) for v in values):
            ax_err.plot(epochs, values, style, label=label)
    ax_err.set_yscale("log")
    ax_err.set_xlabel("epoch")
    ax_err.set_ylabel("single-step validation error")
    ax_err.legend()
    ax_err.grid(alpha=0.3)
    if timed:
        plot_time_curve(history, axes[2])
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.95, wspace=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())


def time_curve(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """Validation medians against wall seconds, one point per epoch (for summaries)."""
    keys = ("epoch", "wall_s", "val_pos_median_mm", "val_rot_median_deg")
    return [{k: round(float(r[k]), 4) for k in keys if k in r} for r in history if "wall_s" in r]


def plot_time_curve(history: list[dict[str, float]], ax: Any, target: float = 0.5) -> None:
    """Validation medians against wall seconds, with the 0.5 mm / 0.5 deg target line."""
    seconds = [r["wall_s"] for r in history]
    for key, style, label in (("val_pos_median_mm", "o-", "position median [mm]"),
                              ("val_rot_median_deg", "s-", "rotation median [deg]")):
        values = [r[key] for r in history]
        if not all(math.isnan(v) for v in values):
            ax.plot(seconds, values, style, label=label)
    ax.axhline(target, color="0.4", lw=0.8, ls=":", label=f"target {target}")
    ax.set_yscale("log")
    ax.set_xlabel("wall time since training began [s]")
    ax.set_ylabel("validation median")
    ax.legend()
    ax.grid(alpha=0.3)
