"""The benchmark's overview plot: fixed-target success at every threshold pair, per suite
and policy, with the paper's simulation figures marked."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import atomic_write_bytes
from tacrefine.evaluation.episodes.protocol import PAPER_V2_SIM_SUCCESS, SUCCESS_THRESHOLDS, threshold_key

#: Thresholds from loosest to tightest, the order a reader scans.
ORDER = sorted(SUCCESS_THRESHOLDS, key=lambda t: (-t[0], -t[1]))


def plot_precision(summary: Mapping[str, Any], path: str | Path) -> Path:
    """One panel per suite: grouped bars (policies) over the threshold pairs; the paper's
    figures as black diamonds. PNG, written atomically; returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    suites = summary["suites"]
    fig = Figure(figsize=(6.5 * max(1, len(suites)), 5.0), dpi=100)
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, max(1, len(suites))))
    keys = [threshold_key(mm, deg) for mm, deg in ORDER]
    x = np.arange(len(keys))
    for ax, (name, suite) in zip(axes, suites.items()):
        policies = list(suite["policies"].values())
        width = 0.8 / max(1, len(policies))
        for i, res in enumerate(policies):
            fixed = res.get("success_fixed") or {}
            ax.bar(x - 0.4 + (i + 0.5) * width, [100.0 * (fixed.get(k) or 0.0) for k in keys], width,
                   label=res["label"])
        paper = [(j, PAPER_V2_SIM_SUCCESS[k]) for j, k in enumerate(keys) if k in PAPER_V2_SIM_SUCCESS]
        if paper:
            ax.plot([p[0] for p in paper], [p[1] for p in paper], "kD", label="TacRefineNet v2 (paper, sim)")
        ax.set_xticks(x, [k.replace("mm_", "mm\n").replace("deg", "°") for k in keys], fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("success, fixed target [%]")
        ax.set_title(f"{name}: {suite['env_id']}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
