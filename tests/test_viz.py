"""Tactile pictures: the PNG panel has one heatmap per finger and is a valid image; GIFs animate."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tacrefine import viz


def contact_images(fingers: int, rows: int = 14, cols: int = 12) -> np.ndarray:
    """A blob at a different place on every finger (uint8, fingers x 1 x rows x cols)."""
    r, c = np.indices((rows, cols))
    out = np.zeros((fingers, 1, rows, cols), np.uint8)
    for f in range(fingers):
        blob = 220 * np.exp(-((r - 3 - 2 * f) ** 2 + (c - 4 - f) ** 2) / 6.0)
        out[f, 0] = blob.astype(np.uint8)
    return out


@pytest.mark.parametrize("fingers", [2, 3])
def test_panel_png_has_one_heatmap_per_finger(tmp_path, fingers):
    path = viz.save_tactile_panel(contact_images(fingers), tmp_path / "panel.png", title="test")
    assert path.is_file()
    with Image.open(path) as im:
        im.verify()  # a complete, uncorrupted PNG
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.info[viz.PANELS_KEY] == str(fingers)
        width, height = im.size
        assert width > height  # fingers side by side
    fig = viz.tactile_figure(contact_images(fingers))
    heatmaps = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    assert len(heatmaps) == fingers


def test_panel_width_grows_with_fingers(tmp_path):
    sizes = []
    for fingers in (1, 2, 4):
        with Image.open(viz.save_tactile_panel(contact_images(fingers), tmp_path / f"p{fingers}.png")) as im:
            sizes.append(im.size[0])
    assert sizes[0] < sizes[1] < sizes[2]


def test_panel_shows_the_images(tmp_path):
    """An all-zero pad and a pressed pad do not render alike (the data reaches the picture)."""
    empty = np.zeros((2, 1, 14, 12), np.uint8)
    pressed = np.full((2, 1, 14, 12), 255, np.uint8)
    a = np.asarray(Image.open(viz.save_tactile_panel(empty, tmp_path / "a.png")).convert("L"), float)
    b = np.asarray(Image.open(viz.save_tactile_panel(pressed, tmp_path / "b.png")).convert("L"), float)
    assert a.shape == b.shape and np.abs(a - b).mean() > 5.0


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fingers, channels, rows, cols"):
        viz.save_tactile_panel(np.zeros((1, 2, 1, 3, 4), np.uint8), tmp_path / "x.png")
    with pytest.raises(ValueError, match="channel"):
        viz.save_tactile_panel(contact_images(2), tmp_path / "x.png", channel=1)


def test_grid_and_gif(tmp_path):
    imgs = contact_images(2)
    grid = viz.save_tactile_grid([[imgs, imgs, imgs]] * 2, ["start", "target", "final"], tmp_path / "g.png",
                                 row_titles=["a", "b"])
    with Image.open(grid) as im:
        assert im.info[viz.PANELS_KEY] == str(2 * 3 * 2)
    frames = [viz.episode_frame(imgs, imgs, f"step {i}") for i in range(3)]
    gif = viz.save_gif(frames, tmp_path / "e.gif")
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 3


def test_episode_frames_drawn_on_one_figure_equal_frames_drawn_alone():
    rng = np.random.default_rng(1)
    tactile = [rng.integers(0, 256, (2, 1, 14, 12), dtype=np.uint8) for _ in range(3)]
    scenes = [rng.integers(0, 256, (60, 80, 3), dtype=np.uint8) for _ in range(3)]
    captions = [f"step {i}" for i in range(3)]
    together = viz.episode_frames(tactile, tactile[0], captions, scenes)
    alone = [viz.episode_frame(t, tactile[0], c, s) for t, c, s in zip(tactile, captions, scenes)]
    assert len(together) == 3
    for a, b in zip(together, alone):
        assert a.shape == b.shape and np.array_equal(a, b)
    assert not np.array_equal(together[0], together[1])  # the frames do change
    with pytest.raises(ValueError, match="captions"):
        viz.episode_frames(tactile, tactile[0], captions[:2])
