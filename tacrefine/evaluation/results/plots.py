"""Plots of an evaluation: error vs step, final-error distributions, success bars, and
tactile before/after panels and GIFs.

All figures are drawn on private Agg canvases (see :mod:`tacrefine.viz`), never through
``pyplot``, so plotting works headless and does not change global matplotlib state.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine import viz
from tacrefine.config import atomic_write_bytes
from tacrefine.evaluation.episodes.protocol import SUCCESS_THRESHOLDS, threshold_keys

FLOOR = 1e-3  # log axes: errors below this (exact oracle corrections) are drawn at the floor


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return path


def _labels(report: Mapping[str, Any]) -> dict[str, str]:
    return {p["spec"]: p["label"] for p in report["policies"]}


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def plot_error_vs_step(report: Mapping[str, Any], path: str | Path) -> Path:
    """Median refined error per step with a p10-p90 band, one line per policy."""
    fig = viz.new_figure(11, 4.2)
    axes = fig.subplots(1, 2)
    labels = _labels(report)
    env = report["env"]
    thresholds = (env.get("success_position_mm", 1.0), env.get("success_rotation_deg", 1.0))
    for color, (spec, res) in zip(_colors(len(report["results"])), report["results"].items()):
        per_step = res["overall"]["per_step"]
        steps = [row["step"] for row in per_step]
        for ax, key in zip(axes, ("position_error_mm", "rotation_error_deg")):
            med = np.maximum([row[key]["median"] for row in per_step], FLOOR)
            lo = np.maximum([row[key]["p10"] for row in per_step], FLOOR)
            hi = np.maximum([row[key]["p90"] for row in per_step], FLOOR)
            ax.plot(steps, med, "o-", color=color, label=labels.get(spec, spec), lw=1.6, ms=4)
            ax.fill_between(steps, lo, hi, color=color, alpha=0.15, lw=0)
    for ax, key, unit, thr in zip(axes, ("position", "rotation"), ("mm", "deg"), thresholds):
        ax.axhline(thr, color="k", ls=":", lw=1, label=f"convergence {thr:g} {unit}")
        ax.set_yscale("log")
        ax.set_xlabel("refinement step (0 = start grasp)")
        ax.set_ylabel(f"refined {key} error [{unit}]")
        ax.set_title(f"{key} error: median, p10-p90 band", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.set_xticks(range(int(report["config"]["max_steps"]) + 1))
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_final_error_distribution(report: Mapping[str, Any], path: str | Path) -> Path:
    """ECDF of the final refined errors per policy (lost objects included, noted in the legend)."""
    fig = viz.new_figure(11, 4.2)
    axes = fig.subplots(1, 2)
    labels = _labels(report)
    by_policy: dict[str, list[Mapping[str, Any]]] = {}
    for ep in report["episodes"]:
        by_policy.setdefault(ep["policy"], []).append(ep)
    for color, spec in zip(_colors(len(report["results"])), report["results"]):
        eps = by_policy.get(spec, [])
        if not eps:
            continue
        lost = sum(bool(e["lost"]) for e in eps)
        name = labels.get(spec, spec) + (f" ({lost} lost)" if lost else "")
        for ax, key in zip(axes, ("final_position_error_mm", "final_rotation_error_deg")):
            # a part that could not be grasped at reset has no error: drawn off the scale (1 m / 1000 deg)
            values = np.sort(np.maximum([1e3 if e[key] is None else e[key] for e in eps], FLOOR))
            frac = np.arange(0, len(values) + 1) / len(values)
            ax.step(np.r_[values[0], values], frac, where="post", color=color, label=name, lw=1.6)
    for ax, key, unit in zip(axes, ("position", "rotation"), ("mm", "deg")):
        for mm, deg in SUCCESS_THRESHOLDS[:4]:
            ax.axvline(mm if unit == "mm" else deg, color="grey", ls=":", lw=0.8)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"final refined {key} error [{unit}]")
        ax.set_ylabel("fraction of episodes (ECDF)")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_success_bars(report: Mapping[str, Any], path: str | Path) -> Path:
    """Success rate at every threshold pair, policies side by side."""
    keys = threshold_keys()
    specs = list(report["results"])
    labels = _labels(report)
    fig = viz.new_figure(max(6.0, 1.3 * len(keys) + 2), 3.8)
    ax = fig.subplots()
    width = 0.8 / max(1, len(specs))
    x = np.arange(len(keys))
    for i, (color, spec) in enumerate(zip(_colors(len(specs)), specs)):
        rates = [100.0 * report["results"][spec]["overall"]["success"][k] for k in keys]
        shift = (i - (len(specs) - 1) / 2) * width
        ax.bar(x + shift, rates, width, color=color, label=labels.get(spec, spec))
    ax.set_xticks(x, [f"{mm:g} mm / {deg:g} deg" for mm, deg in SUCCESS_THRESHOLDS], fontsize=8)
    ax.set_ylabel("success [%]")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(path))


def tactile_panel(captures: Sequence[Any], path: str | Path, title: str) -> Path:
    """Tactile images before and after refinement: per episode, start / target / final."""
    rows = [[c.tactile[0], c.target, c.tactile[-1]] for c in captures]
    row_titles = []
    for c in captures:
        (p0, r0), (p1, r1) = c.errors[0], c.errors[-1]
        row_titles.append(f"{c.object} ({c.target_mode})\n{p0:.1f}mm {r0:.1f}° ->\n{p1:.2f}mm {r1:.2f}°")
    return viz.save_tactile_grid(rows, ["start", "target", "final"], path, row_titles=row_titles, title=title)


def episode_gif(capture: Any, path: str | Path) -> Path:
    """Animated GIF of one episode: current vs target pads (and the scene) at every step."""
    captions = [f"{capture.policy} | {capture.object} ({capture.target_mode}) | step {step}: {pos:.2f} mm, "
                f"{rot:.2f} deg" for step, (pos, rot) in enumerate(capture.errors[:len(capture.tactile)])]
    scenes = capture.scenes if len(capture.scenes) == len(capture.tactile) else None
    return viz.save_gif(viz.episode_frames(capture.tactile, capture.target, captions, scenes), path)


def write_plots(report: Mapping[str, Any], captures: Sequence[Any], out: str | Path) -> dict[str, str]:
    """Every plot of an evaluation into ``out``; returns ``{name: path relative to out}``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {
        "error_vs_step": plot_error_vs_step(report, out / "error_vs_step.png"),
        "final_error_ecdf": plot_final_error_distribution(report, out / "final_error_ecdf.png"),
        "success": plot_success_bars(report, out / "success.png"),
    }
    slugs = {p["spec"]: p.get("slug", p["label"]) for p in report["policies"]}
    by_policy: dict[str, list[Any]] = {}
    for cap in captures:
        by_policy.setdefault(cap.policy, []).append(cap)
    for spec, caps in by_policy.items():
        slug = slugs.get(spec, "policy")
        written[f"tactile_{slug}"] = tactile_panel(caps, out / f"tactile_{slug}.png",
                                                   f"{spec}: tactile images before / after refinement")
        with_scenes = [c for c in caps if c.scenes] or caps[:1]
        written[f"episode_{slug}"] = episode_gif(with_scenes[0], out / f"episode_{slug}.gif")
    return {name: str(Path(p).relative_to(out)) for name, p in written.items()}


__all__ = ["episode_gif", "plot_error_vs_step", "plot_final_error_distribution", "plot_success_bars",
           "tactile_panel", "write_plots"]
