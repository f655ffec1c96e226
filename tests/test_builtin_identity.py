"""Built-in and family parts are felt exactly as before user meshes were decomposed: the shipped
checkpoints were trained on these images. ``data/reference_tactile.npz`` was written by
``data/make_reference_tactile.py`` with the code before this change (mesh input through
trimesh, CoACD decomposition); the same grasps now must give the same bytes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
_spec = importlib.util.spec_from_file_location("make_reference_tactile", DATA / "make_reference_tactile.py")
_maker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_maker)
PARTS, measure = _maker.PARTS, _maker.measure
REFERENCE = np.load(DATA / "reference_tactile.npz")


@pytest.mark.parametrize("name", PARTS)
def test_builtin_and_family_parts_read_the_images_they_read_before(name):
    tactile, joints = measure(name)
    assert tactile.dtype == REFERENCE[f"{name}/tactile"].dtype
    assert (tactile > 0).any()  # the grasps touch the part
    np.testing.assert_array_equal(tactile, REFERENCE[f"{name}/tactile"])
    np.testing.assert_array_equal(joints, REFERENCE[f"{name}/joints"])
