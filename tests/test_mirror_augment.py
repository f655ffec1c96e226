"""The mirror augmentation: a pair mirrored in y is the pair the mirrored grasps give, label included."""

from __future__ import annotations

import numpy as np
import pytest

from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.data.augment import AugmentConfig, augment, mirror_plan
from tacrefine.data.pairs import correction_labels
from tacrefine.sim.cell import GraspCell
from tacrefine.sim.hands import hand_config
from tacrefine.sim.objects import ObjectSpec, ShapePart

DOFS = ("y", "z", "roll")


def _diamond_post() -> ObjectSpec:
    """A square post turned 45 degrees: the same part after the mirror y -> -y."""
    base = ShapePart("box", (15.0, 15.0, 2.5), (0.0, 0.0, 2.5))
    post = ShapePart("box", (4.0, 4.0, 15.0), (0.0, 0.0, 20.0), (0.0, 0.0, 45.0))
    return ObjectSpec("diamond_post", "custom", (base, post), grasp_height_mm=30.0, thickness_mm=11.3)


def _jaw_gripper() -> dict:
    from dataclasses import asdict

    return {"pads": [asdict(p) for p in hand_config("parallel_jaw").pads]}


def test_a_mirrored_pair_is_what_the_mirrored_grasps_feel():
    cell = GraspCell()
    cell.load_object(_diamond_post())
    reads = {}
    for sign in (1.0, -1.0):  # a grasp 2 mm along y and turned 6 deg in roll, and its mirror image
        for name, offset in (("cur", [0, 0.002, 0.001, np.radians(6.0), 0, 0]), ("tgt", [0, -0.001, 0, 0, 0, 0])):
            cell.place_object(None)
            vec = np.array(offset) * np.array([1, sign, 1, sign, 1, 1])
            result = cell.grasp_offset(vec)
            assert result.ok, result.failure
            reads[sign, name] = result
    cell.close()

    def batch(sign: float) -> dict[str, np.ndarray]:
        cur, tgt = reads[sign, "cur"], reads[sign, "tgt"]
        return {"cur_tactile": cur.tactile[None], "tgt_tactile": tgt.tactile[None],
                "label": correction_labels(cur.grasp[None], tgt.grasp[None], DOFS)}

    original, mirrored = batch(1.0), batch(-1.0)
    axis = mirror_plan(_jaw_gripper())
    out = augment(original, AugmentConfig(amplitude_scale=(1.0, 1.0), noise_std=0.0, dead_taxel_prob=0.0,
                                          mirror_y=1.0), np.random.default_rng(0), (axis, DOFS))
    for key in ("cur_tactile", "tgt_tactile"):
        got, want = out[key].astype(float), mirrored[key].astype(float)
        assert np.abs(got - want).sum() < 0.05 * want.sum(), key  # the flipped image is the mirrored grasp's
        assert np.abs(original[key].astype(float) - want).sum() > 0.3 * want.sum()  # and the flip mattered
    np.testing.assert_allclose(out["label"], mirrored["label"], atol=0.05)
    assert abs(original["label"][0, 0]) > 2.0 and abs(original["label"][0, 2]) > 5.0


def test_a_share_of_the_pairs_is_mirrored_and_only_for_a_jaw():
    rng = np.random.default_rng(1)
    batch = {"cur_tactile": rng.integers(0, 255, (400, 2, 1, 14, 12), dtype=np.uint8),
             "tgt_tactile": rng.integers(0, 255, (400, 2, 1, 14, 12), dtype=np.uint8),
             "label": rng.normal(0, 3, (400, 3)).astype(np.float32)}
    cfg = AugmentConfig(amplitude_scale=(1.0, 1.0), noise_std=0.0, dead_taxel_prob=0.0, mirror_y=0.5)
    out = augment(batch, cfg, np.random.default_rng(2), (-1, DOFS))
    flipped = np.all(out["cur_tactile"] == batch["cur_tactile"][..., ::-1], axis=(1, 2, 3, 4))
    assert 150 < flipped.sum() < 250
    np.testing.assert_array_equal(out["label"][flipped], batch["label"][flipped] * [-1, 1, -1])
    np.testing.assert_array_equal(out["label"][~flipped], batch["label"][~flipped])
    from dataclasses import asdict

    with pytest.raises(ConfigError, match="augment.mirror_y"):
        mirror_plan({"pads": [asdict(p) for p in hand_config("three_finger").pads]})
    with pytest.raises(ConfigError, match="augment.mirror_y"):
        AugmentConfig(mirror_y=1.5)
    with pytest.raises(ConfigError, match="augment.mirror_y"):
        AugmentConfig(mirror_y=True)
    with pytest.raises(ConfigError, match="shear"):  # a y shear channel would have to change sign
        mirror_plan(_jaw_gripper(), channels=3)
    same_way = _jaw_gripper()
    same_way["pads"][1] = {**same_way["pads"][1], "normal": same_way["pads"][0]["normal"]}
    with pytest.raises(ConfigError, match="augment.mirror_y"):
        mirror_plan(same_way)
    with pytest.raises(ValueError, match="mirror"):
        augment(batch, cfg, np.random.default_rng(2))


def test_geometry_of_the_mirror_signs():
    """The label signs are what conjugating a pose by the mirror does to its 6-vector."""
    from tacrefine.data.augment import MIRROR_Y_SIGNS

    mirror = np.diag([1.0, -1.0, 1.0, 1.0])
    vec = np.array([0.001, 0.002, -0.003, 0.05, -0.04, 0.03])
    mirrored = geometry.pose_to_vector(mirror @ geometry.vector_to_pose(vec) @ mirror)
    signs = np.array([MIRROR_Y_SIGNS[d] for d in geometry.DOF_NAMES])
    np.testing.assert_allclose(mirrored, vec * signs, atol=1e-12)
