"""The mirror augmentation: a pair mirrored in y is the pair the mirrored grasps give, label included."""

from __future__ import annotations

import numpy as np
import pytest

from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.data.augment import AugmentConfig, augment, mirror_plan
from tacrefine.data.pairs import correction_labels
from tacrefine.sim.cell import CellConfig, GraspCell
from tacrefine.sim.hands import hand_config
from tacrefine.sim.objects import ObjectSpec, ShapePart
from tacrefine.sim.paper_objects import disc

DOFS = ("y", "z", "roll")


def _diamond_post() -> ObjectSpec:
    """A square post turned 45 degrees: the same part after the mirror y -> -y."""
    base = ShapePart("box", (15.0, 15.0, 2.5), (0.0, 0.0, 2.5))
    post = ShapePart("box", (4.0, 4.0, 15.0), (0.0, 0.0, 20.0), (0.0, 0.0, 45.0))
    return ObjectSpec("diamond_post", "custom", (base, post), grasp_height_mm=30.0, thickness_mm=11.3)


def _gripper(hand: str) -> dict:
    from dataclasses import asdict

    return asdict(hand_config(hand))


def _mirrored_reads(hand: str, part: ObjectSpec, cur: list[float], tgt: list[float]) -> dict:
    """Grasps at ``cur`` and ``tgt`` (wrist increments) and at their mirror images, of a part
    that is its own mirror image."""
    cell = GraspCell(CellConfig(gripper=hand_config(hand)))
    cell.load_object(part)
    reads = {}
    for sign in (1.0, -1.0):
        for name, offset in (("cur", cur), ("tgt", tgt)):
            cell.place_object(None)
            result = cell.grasp_offset(np.array(offset) * np.array([1, sign, 1, sign, 1, sign]))
            assert result.ok, result.failure
            reads[sign, name] = result
    cell.close()
    return reads


def _pair(reads: dict, sign: float, dofs: tuple[str, ...]) -> dict[str, np.ndarray]:
    cur, tgt = reads[sign, "cur"], reads[sign, "tgt"]
    return {"cur_tactile": cur.tactile[None], "tgt_tactile": tgt.tactile[None],
            "cur_joints": cur.joints[None].astype(np.float32), "tgt_joints": tgt.joints[None].astype(np.float32),
            "label": correction_labels(cur.grasp[None], tgt.grasp[None], dofs)}


def _mirror_all(batch: dict, hand: str, dofs: tuple[str, ...]) -> dict:
    cfg = AugmentConfig(amplitude_scale=(1.0, 1.0), noise_std=0.0, dead_taxel_prob=0.0, joint_noise_std=0.0,
                        mirror_y=1.0)
    return augment(batch, cfg, np.random.default_rng(0), ({"y": mirror_plan(_gripper(hand))}, dofs))


def _assert_mirrors(original: dict, mirrored: dict, out: dict) -> None:
    for key in ("cur_tactile", "tgt_tactile"):
        got, want = out[key].astype(float), mirrored[key].astype(float)
        assert np.abs(got - want).sum() < 0.05 * want.sum(), key  # the moved images are the mirrored grasp's
    want = mirrored["cur_tactile"].astype(float)  # and the move mattered (the far-off current grasp)
    assert np.abs(original["cur_tactile"].astype(float) - want).sum() > 0.3 * want.sum()
    for key in ("cur_joints", "tgt_joints"):
        np.testing.assert_allclose(out[key], mirrored[key], atol=2e-4)  # 0.2 mm


def test_a_mirrored_pair_is_what_the_mirrored_grasps_feel():
    reads = _mirrored_reads("parallel_jaw", _diamond_post(), [0, 0.002, 0.001, np.radians(6.0), 0, 0],
                            [0, -0.001, 0, 0, 0, 0])
    original, mirrored = _pair(reads, 1.0, DOFS), _pair(reads, -1.0, DOFS)
    out = _mirror_all(original, "parallel_jaw", DOFS)
    _assert_mirrors(original, mirrored, out)
    np.testing.assert_allclose(out["label"], mirrored["label"], atol=0.05)
    assert abs(original["label"][0, 0]) > 2.0 and abs(original["label"][0, 2]) > 5.0


def test_the_three_finger_hand_mirrors_with_its_two_fingers_swapped():
    """A disc felt 2.5 mm off centre along y shows its rim at different places on the index and
    middle pads; the mirrored grasp shows them the other way round, and that is what the plan gives."""
    dofs = ("y", "z", "roll", "pitch")
    plan = mirror_plan(_gripper("three_finger"))
    assert plan.source == (0, 2, 1) and plan.flip_axes == ((-1,),) * 3  # thumb on y = 0; index <-> middle
    reads = _mirrored_reads("three_finger", disc(30, 3), [0, 0.0025, 0.001, 0, np.radians(4.0), 0],
                            [0, -0.001, 0, 0, 0, 0])
    original, mirrored = _pair(reads, 1.0, dofs), _pair(reads, -1.0, dofs)
    out = _mirror_all(original, "three_finger", dofs)
    _assert_mirrors(original, mirrored, out)
    in_place = original["cur_tactile"][..., ::-1].astype(float)  # flipped without the swap: wrong
    assert np.abs(in_place - mirrored["cur_tactile"]).sum() > 0.3 * mirrored["cur_tactile"].sum()
    np.testing.assert_allclose(out["label"], mirrored["label"], atol=0.05)
    assert abs(original["label"][0, 0]) > 2.5 and abs(original["label"][0, 3]) > 3.0


def _ridged_post(side: float) -> ObjectSpec:
    """A square post with a ridge on its ``side`` (+1: +x) face, off centre in y: ``-side`` is
    its mirror image in x = 0."""
    base = ShapePart("box", (15.0, 15.0, 2.5), (0.0, 0.0, 2.5))
    post = ShapePart("box", (3.0, 4.0, 15.0), (0.0, 0.0, 20.0))
    ridge = ShapePart("box", (1.0, 1.5, 6.0), (side * 4.0, 1.5, 28.0))
    return ObjectSpec(f"ridged_post_{side:+.0f}", "custom", (base, post, ridge), grasp_height_mm=30.0,
                      thickness_mm=8.0)


def test_the_jaw_mirrored_in_x_swaps_its_pads_and_keeps_the_label():
    """In x = 0 the jaw's pads swap (no image flips); a y, z, roll grasp is its own mirror image,
    so the label stays and the swapped images are those of the part mirrored in x."""
    plan = mirror_plan(_gripper("parallel_jaw"), axis="x")
    assert plan.source == (1, 0) and plan.flip_axes == ((), ()) and plan.axis == "x"
    cur, tgt = [0, 0.002, 0.001, np.radians(6.0), 0, 0], [0, -0.001, 0, 0, 0, 0]
    pairs = {}
    for side in (1.0, -1.0):
        cell = GraspCell()
        cell.load_object(_ridged_post(side))
        reads = {}
        for name, offset in (("cur", cur), ("tgt", tgt)):
            cell.place_object(None)
            reads[1.0, name] = cell.grasp_offset(np.array(offset))
            assert reads[1.0, name].ok, reads[1.0, name].failure
        cell.close()
        pairs[side] = _pair(reads, 1.0, DOFS)
    original, mirrored = pairs[1.0], pairs[-1.0]
    cfg = AugmentConfig(amplitude_scale=(1.0, 1.0), noise_std=0.0, dead_taxel_prob=0.0, joint_noise_std=0.0,
                        mirror_x=1.0)
    out = augment(original, cfg, np.random.default_rng(0), ({"x": plan}, DOFS))
    _assert_mirrors(original, mirrored, out)
    np.testing.assert_array_equal(out["label"], original["label"])  # y, z, roll keep their signs
    np.testing.assert_allclose(mirrored["label"], original["label"], atol=0.2)  # settling differs a little
    with pytest.raises(ConfigError, match="augment.mirror_x.*thumb_pad"):  # a thumb facing two fingers
        mirror_plan(_gripper("three_finger"), axis="x")


def test_a_share_of_the_pairs_is_mirrored_and_asymmetric_hands_are_refused():
    rng = np.random.default_rng(1)
    batch = {"cur_tactile": rng.integers(0, 255, (400, 3, 1, 14, 12), dtype=np.uint8),
             "tgt_tactile": rng.integers(0, 255, (400, 3, 1, 14, 12), dtype=np.uint8),
             "cur_joints": rng.uniform(0, 0.01, (400, 3)).astype(np.float32),
             "tgt_joints": rng.uniform(0, 0.01, (400, 3)).astype(np.float32),
             "label": rng.normal(0, 3, (400, 3)).astype(np.float32)}
    cfg = AugmentConfig(amplitude_scale=(1.0, 1.0), noise_std=0.0, dead_taxel_prob=0.0, joint_noise_std=0.0,
                        mirror_y=0.5)
    out = augment(batch, cfg, np.random.default_rng(2), ({"y": mirror_plan(_gripper("three_finger"))}, DOFS))
    swapped = batch["cur_tactile"][:, [0, 2, 1], :, :, ::-1]  # index <-> middle, every image flipped in y
    flipped = np.all(out["cur_tactile"] == swapped, axis=(1, 2, 3, 4))
    kept = np.all(out["cur_tactile"] == batch["cur_tactile"], axis=(1, 2, 3, 4))
    assert 150 < flipped.sum() < 250 and np.all(flipped ^ kept)
    np.testing.assert_array_equal(out["tgt_tactile"][flipped], batch["tgt_tactile"][flipped][:, [0, 2, 1], :, :, ::-1])
    for key in ("cur_joints", "tgt_joints"):
        np.testing.assert_array_equal(out[key][flipped], batch[key][flipped][:, [0, 2, 1]])
        np.testing.assert_array_equal(out[key][kept], batch[key][kept])
    np.testing.assert_array_equal(out["label"][flipped], batch["label"][flipped] * [-1, 1, -1])
    np.testing.assert_array_equal(out["label"][kept], batch["label"][kept])

    with pytest.raises(ConfigError, match="augment.mirror_y"):
        AugmentConfig(mirror_y=1.5)
    with pytest.raises(ConfigError, match="augment.mirror_y"):
        AugmentConfig(mirror_y=True)
    with pytest.raises(ConfigError, match="shear"):  # a y shear channel would have to change sign
        mirror_plan(_gripper("parallel_jaw"), channels=3)
    with pytest.raises(ConfigError, match="augment.mirror_y"):  # no hand in the metadata
        mirror_plan(None)
    skewed = _gripper("parallel_jaw")  # one pad turned toward +y: its mirror image is no pad
    skewed["pads"] = [{**skewed["pads"][0], "normal": (0.8, 0.6, 0.0)}, skewed["pads"][1]]
    with pytest.raises(ConfigError, match="augment.mirror_y.*left_pad"):
        mirror_plan(skewed)
    narrow = _gripper("three_finger")  # the middle pad narrower than the index pad
    narrow["pads"] = [*narrow["pads"][:2], {**narrow["pads"][2], "size_mm": (18.0, 12.0)}]
    with pytest.raises(ConfigError, match="augment.mirror_y.*index_pad"):
        mirror_plan(narrow)
    lopsided = {**_gripper("three_finger"), "finger_force_share": [1.0, 0.5, 0.6]}  # index pushes harder
    with pytest.raises(ConfigError, match="augment.mirror_y.*index_pad"):
        mirror_plan(lopsided)
    with pytest.raises(ValueError, match="mirror"):
        augment(batch, cfg, np.random.default_rng(2))
    with pytest.raises(ValueError, match="augment.mirror_x"):  # asked for x, given only the y plan
        augment(batch, AugmentConfig(mirror_x=0.5), np.random.default_rng(2),
                ({"y": mirror_plan(_gripper("three_finger"))}, DOFS))
    with pytest.raises(ConfigError, match="augment.mirror_x"):
        AugmentConfig(mirror_x=-0.1)


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_geometry_of_the_mirror_signs(axis):
    """The label signs are what conjugating a pose by the mirror does to its 6-vector."""
    from tacrefine.sim.hands.mirror import mirror_matrix, mirror_signs

    mirror = np.eye(4)
    mirror[:3, :3] = mirror_matrix(axis)
    vec = np.array([0.001, 0.002, -0.003, 0.05, -0.04, 0.03])
    mirrored = geometry.pose_to_vector(mirror @ geometry.vector_to_pose(vec) @ mirror)
    signs = np.array([mirror_signs(axis)[d] for d in geometry.DOF_NAMES])
    np.testing.assert_allclose(mirrored, vec * signs, atol=1e-12)
