"""Pictures of touch: tactile heatmap panels (PNG), before/after grids and animated GIFs.

Everything draws on a private Agg canvas (``matplotlib.figure.Figure`` +
``FigureCanvasAgg``), never through ``pyplot``: no display is needed, no global backend is
switched, and figures are freed with their last reference - so this module is safe in
tests, worker processes and headless CI.

Tactile arrays follow the project convention ``uint8 (fingers, channels, rows, cols)``;
rows run along the wrist z axis, columns along wrist y, the same for every finger.
Heatmaps show the normal channel (0) on the full 0-255 scale unless told otherwise, so
that two panels are comparable by eye.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import atomic_write_bytes

#: PNG text key that records how many heatmap panels an image holds (read by tests/tools).
PANELS_KEY = "tacrefine:panels"
CMAP = "inferno"


def new_figure(width_in: float, height_in: float, dpi: int = 100) -> Any:
    """A matplotlib Figure on its own Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _as_tactile(tactile: np.ndarray) -> np.ndarray:
    """Accept (F, C, H, W), (F, H, W) or a single (H, W) image; return (F, C, H, W)."""
    arr = np.asarray(tactile)
    if arr.ndim == 2:
        arr = arr[None, None]
    elif arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise ValueError(f"tactile images must be (fingers, channels, rows, cols); got shape {arr.shape}")
    return arr


def _draw_heatmap(ax: Any, image: np.ndarray, title: str | None, vmax: float) -> Any:
    im = ax.imshow(image, cmap=CMAP, vmin=0, vmax=vmax, interpolation="nearest", origin="upper")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return im


def tactile_figure(tactile: np.ndarray, title: str | None = None, channel: int = 0,
                   finger_names: Sequence[str] | None = None, colorbar: bool = True) -> Any:
    """A figure with one heatmap per finger of ``tactile`` (one channel, 0-255 scale)."""
    arr = _as_tactile(tactile)
    n_fingers = arr.shape[0]
    if not 0 <= channel < arr.shape[1]:
        raise ValueError(f"channel {channel} out of range: the images have {arr.shape[1]} channel(s)")
    names = list(finger_names) if finger_names is not None else [f"finger {i}" for i in range(n_fingers)]
    if len(names) != n_fingers:
        raise ValueError(f"finger_names has {len(names)} names for {n_fingers} fingers")
    rows, cols = arr.shape[2:]
    panel_w = 1.9 * max(1.0, cols / rows)
    fig = new_figure(panel_w * n_fingers + (0.6 if colorbar else 0.2), 2.4 + (0.3 if title else 0.0))
    axes = fig.subplots(1, n_fingers, squeeze=False)[0]
    im = None
    for i, ax in enumerate(axes):
        im = _draw_heatmap(ax, arr[i, channel], names[i], 255.0)
    if colorbar and im is not None:
        fig.colorbar(im, ax=list(axes), fraction=0.04, pad=0.02, label="counts")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def figure_png_bytes(fig: Any, panels: int | None = None) -> bytes:
    """PNG bytes of ``fig``; ``panels`` is recorded as PNG text under :data:`PANELS_KEY`."""
    buf = io.BytesIO()
    metadata = {PANELS_KEY: str(panels)} if panels is not None else None
    fig.savefig(buf, format="png", metadata=metadata)
    return buf.getvalue()


def save_tactile_panel(tactile: np.ndarray, path: str | Path, title: str | None = None, channel: int = 0,
                       finger_names: Sequence[str] | None = None) -> Path:
    """Write a PNG with one heatmap per finger; returns the path.

    The number of panels is stored in the PNG (text key :data:`PANELS_KEY`) so a reader can
    check the layout without image analysis.
    """
    arr = _as_tactile(tactile)
    fig = tactile_figure(arr, title=title, channel=channel, finger_names=finger_names)
    path = Path(path)
    atomic_write_bytes(path, figure_png_bytes(fig, panels=arr.shape[0]))
    return path


def tactile_grid_figure(rows: Sequence[Sequence[np.ndarray]], column_titles: Sequence[str],
                        row_titles: Sequence[str] | None = None, channel: int = 0,
                        title: str | None = None) -> Any:
    """A grid of tactile images: one row per episode, one column group per snapshot.

    ``rows[r][c]`` is a ``(fingers, channels, H, W)`` array; each snapshot spreads over one
    column per finger (``"start f0"``, ``"start f1"``, ...), so the fingers of one moment sit
    side by side and a row reads left to right as start -> target -> final. The images are laid
    out in one mosaic on one set of axes (a figure of dozens of axes took 0.5 s to lay out).
    """
    if not rows:
        raise ValueError("tactile_grid_figure needs at least one row")
    grid = [[_as_tactile(cell) for cell in row] for row in rows]
    n_snap = len(column_titles)
    if any(len(row) != n_snap for row in grid):
        raise ValueError(f"every row needs {n_snap} snapshots ({list(column_titles)})")
    n_fingers = grid[0][0].shape[0]
    h, w = grid[0][0].shape[2:]
    n_cols = n_snap * n_fingers
    gap, group_gap = 1, 3  # taxels between fingers, between snapshots and between rows
    col_x = [s * (n_fingers * (w + gap) - gap + group_gap) + f * (w + gap)
             for s in range(n_snap) for f in range(n_fingers)]
    row_y = [r * (h + group_gap) for r in range(len(grid))]
    mosaic = np.full((row_y[-1] + h, col_x[-1] + w), np.nan)
    for r, row in enumerate(grid):
        for s, cell in enumerate(row):
            for f in range(n_fingers):
                x = col_x[s * n_fingers + f]
                mosaic[row_y[r]:row_y[r] + h, x:x + w] = cell[f, channel]
    cell_w = 1.1 * max(1.0, w / h)
    fig = new_figure(cell_w * n_cols + 1.2, 1.35 * len(grid) + 0.8)
    ax = fig.add_axes((0.14, 0.04, 0.76, 0.84 if title else 0.9))
    import matplotlib

    cmap = matplotlib.colormaps[CMAP].with_extremes(bad="white")
    im = ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=255.0, interpolation="nearest", origin="upper")
    ax.set_axis_off()
    for s, name in enumerate(column_titles):
        for f in range(n_fingers):
            ax.text(col_x[s * n_fingers + f] + (w - 1) / 2, -1.0, f"{name} f{f}", ha="center", va="bottom",
                    fontsize=7)
    for r, text in enumerate(row_titles or ()):
        ax.text(-1.5, row_y[r] + (h - 1) / 2, text, ha="right", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01, label="counts")
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def save_tactile_grid(rows: Sequence[Sequence[np.ndarray]], column_titles: Sequence[str], path: str | Path,
                      row_titles: Sequence[str] | None = None, title: str | None = None) -> Path:
    """Write :func:`tactile_grid_figure` as a PNG; returns the path."""
    fig = tactile_grid_figure(rows, column_titles, row_titles=row_titles, title=title)
    n_panels = len(rows) * len(column_titles) * _as_tactile(rows[0][0]).shape[0]
    path = Path(path)
    atomic_write_bytes(path, figure_png_bytes(fig, panels=n_panels))
    return path


def figure_to_rgb(fig: Any) -> np.ndarray:
    """Render ``fig`` to an ``(H, W, 3) uint8`` array (for GIF frames)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def episode_frame(tactile: np.ndarray, target: np.ndarray, caption: str,
                  scene: np.ndarray | None = None) -> np.ndarray:
    """One GIF frame: current pads, target pads and (optionally) the rendered scene."""
    return episode_frames([tactile], target, [caption], None if scene is None else [scene])[0]


def episode_frames(tactiles: Sequence[np.ndarray], target: np.ndarray, captions: Sequence[str],
                   scenes: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    """The frames of one episode (:func:`episode_frame` each), drawn on one figure whose images
    and caption are updated frame by frame: laying out a figure costs far more than drawing it."""
    if len(captions) != len(tactiles) or (scenes is not None and len(scenes) != len(tactiles)):
        raise ValueError(f"episode_frames: {len(tactiles)} tactile frames, {len(captions)} captions, "
                         f"{'no' if scenes is None else len(scenes)} scenes")
    cur, tgt = _as_tactile(tactiles[0]), _as_tactile(target)
    n_fingers = cur.shape[0]
    extra = 1 if scenes is not None else 0
    n_cols = 2 * n_fingers + extra
    fig = new_figure(1.6 * n_cols + (1.2 if extra else 0.0), 2.3)
    ratios = [1.0] * (2 * n_fingers) + ([2.0] if extra else [])
    axes = fig.subplots(1, n_cols, squeeze=False, gridspec_kw={"width_ratios": ratios})[0]
    current = [_draw_heatmap(axes[f], cur[f, 0], f"current f{f}", 255.0) for f in range(n_fingers)]
    for f in range(n_fingers):
        _draw_heatmap(axes[n_fingers + f], tgt[f, 0], f"target f{f}", 255.0)
    scene_image = None
    if scenes is not None:
        scene_image = axes[-1].imshow(scenes[0])
        axes[-1].set_xticks([])
        axes[-1].set_yticks([])
        axes[-1].set_title("scene (not observed)", fontsize=8)
    title = fig.suptitle(captions[0], fontsize=8)
    fig.tight_layout()
    frames = []
    for i, tactile in enumerate(tactiles):
        arr = _as_tactile(tactile)
        for f, image in enumerate(current):
            image.set_data(arr[f, 0])
        if scene_image is not None and scenes is not None:
            scene_image.set_data(scenes[i])
        title.set_text(captions[i])
        frames.append(figure_to_rgb(fig))
    return frames


def save_gif(frames: Sequence[np.ndarray], path: str | Path, duration_ms: int = 700) -> Path:
    """Write RGB frames as a looping animated GIF (Pillow); returns the path."""
    from PIL import Image

    if not frames:
        raise ValueError("save_gif needs at least one frame")
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    size = images[0].size
    images = [im if im.size == size else im.resize(size) for im in images]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


__all__ = [
    "PANELS_KEY", "episode_frame", "episode_frames", "new_figure", "figure_png_bytes", "figure_to_rgb", "save_gif",
    "save_tactile_grid", "save_tactile_panel", "tactile_figure", "tactile_grid_figure",
]
