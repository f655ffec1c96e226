"""Pairs, labels and augmentation: the label moves the wrist onto the target; splits never leak."""

from __future__ import annotations

import numpy as np
import pytest

from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.data.augment import AugmentConfig, augment
from tacrefine.data.pairs import PairSampler, correction_labels, label_to_increment, split_by_sample
from tacrefine.data.samples import GraspSamples

DOFS = ("y", "z", "roll")


def nominal(k: int) -> np.ndarray:
    """A different, non-trivial nominal grasp per object (approach axis down, some height)."""
    return geometry.vector_to_pose([0.0, 0.001 * k, 0.034, np.pi, 0.0, 0.1 * k])


def samples_with_offsets(counts: list[int], rng: np.random.Generator, dofs=DOFS) -> GraspSamples:
    """Grasps made the way the cell makes them: wrist moved by an offset O from the nominal
    grasp, so ``G = O^-1 @ G0`` (object at rest). Offsets only in ``dofs``."""
    tactile, joints, grasp, offset, ids = [], [], [], [], []
    half = np.array([0.005, 0.005, 0.005, 0.17, 0.17, 0.17])
    for k, n in enumerate(counts):
        for _ in range(n):
            vec = geometry.embed(rng.uniform(-1, 1, len(dofs)) * half[geometry.dof_indices(dofs)], dofs)
            grasp.append(geometry.invert(geometry.vector_to_pose(vec)) @ nominal(k))
            offset.append(vec)
            ids.append(k)
            tactile.append(rng.integers(0, 256, (2, 1, 4, 3), dtype=np.uint8))
            joints.append(rng.uniform(0.002, 0.004, 2))
    return GraspSamples(np.stack(tactile), np.array(joints, np.float32), np.stack(grasp), np.stack(offset),
                        np.array(ids, np.int32), [f"obj{k}" for k in range(len(counts))])


# -- labels ---------------------------------------------------------------------------------
def test_label_applied_as_wrist_increment_reaches_the_target():
    rng = np.random.default_rng(0)
    samples = samples_with_offsets([30, 20], rng)
    sampler = PairSampler(samples, np.arange(len(samples)), DOFS)
    batch = sampler.sample(64, rng)
    for label, cur, tgt in zip(batch["label"], batch["cur_index"], batch["tgt_index"], strict=True):
        g_cur, g_tgt = samples.grasp[cur], samples.grasp[tgt]
        wrist = geometry.vector_to_pose(rng.uniform(-1, 1, 6))  # anywhere in the world
        obj = wrist @ g_cur  # the object stays put while the hand re-grasps
        new_wrist = wrist @ geometry.vector_to_pose(label_to_increment(label, DOFS))
        reached = geometry.grasp_of(new_wrist, obj)
        # float32 labels in mm / deg: about 1e-6 mm and 1e-6 deg of rounding
        np.testing.assert_allclose(reached[:3, 3], g_tgt[:3, 3], atol=1e-8)
        np.testing.assert_allclose(reached[:3, :3], g_tgt[:3, :3], atol=1e-7)


def test_the_reverse_pair_label_is_the_exact_inverse_increment():
    """What the two-way reading relies on: the label of (target, current) undone by
    geometry.inverse_increment is the label of (current, target); with a turn in the move this
    is not the negation (the translation turns with it)."""
    rng = np.random.default_rng(3)
    samples = samples_with_offsets([40], rng)
    grasps = samples.grasp
    forward = correction_labels(grasps[:20], grasps[20:], DOFS)
    backward = correction_labels(grasps[20:], grasps[:20], DOFS)
    undone = np.stack([geometry.inverse_increment(b, DOFS) for b in backward])
    np.testing.assert_allclose(undone, forward, atol=1e-3)  # float32 labels, mm / deg
    assert np.abs(-backward - forward).max() > 0.05  # the negation is off by more than rounding


def test_label_units_and_sign_for_single_dof_offsets():
    g0 = nominal(0)
    current = []
    for vec in ([0, 0.003, 0, 0, 0, 0], [0, 0, -0.002, 0, 0, 0], [0, 0, 0, np.radians(5.0), 0, 0]):
        current.append(geometry.invert(geometry.vector_to_pose(vec)) @ g0)
    labels = correction_labels(np.stack(current), np.repeat(g0[None], 3, axis=0), DOFS)
    # the wrist sits +3 mm / -2 mm / +5 deg off the target: it must move back by as much
    np.testing.assert_allclose(labels, [[-3, 0, 0], [0, 2, 0], [0, 0, -5]], atol=1e-5)
    assert labels.dtype == np.float32


def test_identical_pair_has_zero_label_and_batch_has_the_contract_shapes():
    rng = np.random.default_rng(1)
    samples = samples_with_offsets([5, 1], rng)
    sampler = PairSampler(samples, [5], DOFS)  # one sample of obj1: every pair is (5, 5)
    batch = sampler.sample(4, rng)
    np.testing.assert_allclose(batch["label"], np.zeros((4, 3)), atol=1e-9)
    full = PairSampler(samples, np.arange(6), DOFS).sample(8, rng)
    assert full["cur_tactile"].shape == (8, 2, 1, 4, 3) and full["cur_tactile"].dtype == np.uint8
    assert full["tgt_tactile"].shape == (8, 2, 1, 4, 3) and full["tgt_tactile"].dtype == np.uint8
    assert full["cur_joints"].shape == (8, 2) and full["tgt_joints"].dtype == np.float32
    assert full["label"].shape == (8, 3) and full["label"].dtype == np.float32
    np.testing.assert_array_equal(full["cur_tactile"], samples.tactile[full["cur_index"]])
    np.testing.assert_array_equal(full["tgt_joints"], samples.joints[full["tgt_index"]])


def test_pairs_are_cross_combinations_within_one_object():
    rng = np.random.default_rng(2)
    samples = samples_with_offsets([4, 6, 3], rng)
    sampler = PairSampler(samples, np.arange(len(samples)), DOFS)
    batch = sampler.sample(4000, rng)
    cur, tgt = batch["cur_index"], batch["tgt_index"]
    np.testing.assert_array_equal(samples.object_id[cur], samples.object_id[tgt])
    np.testing.assert_array_equal(batch["object_id"], samples.object_id[cur])
    # every same-object (current, target) combination occurs, including identical pairs
    expected = {(i, j) for i in range(13) for j in range(13) if samples.object_id[i] == samples.object_id[j]}
    assert set(zip(cur.tolist(), tgt.tolist(), strict=True)) == expected
    # current and target are drawn independently: the target is uniform given the current
    first = tgt[cur == 0]
    counts = np.bincount(first, minlength=4)[:4]
    assert counts.min() > 0.6 * counts.mean()


def test_fixed_pairs_repeat_for_the_same_seed():
    samples = samples_with_offsets([10, 10], np.random.default_rng(3))
    sampler = PairSampler(samples, np.arange(20), DOFS)
    a, b = sampler.fixed_pairs(50, 11), sampler.fixed_pairs(50, np.random.default_rng(11))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["cur_index"], sampler.fixed_pairs(50, 12)["cur_index"])


def test_label_covers_only_the_refined_dofs_in_their_order():
    rng = np.random.default_rng(4)
    samples = samples_with_offsets([8], rng, dofs=geometry.DOF_NAMES)
    full = PairSampler(samples, np.arange(8), geometry.DOF_NAMES).sample(16, np.random.default_rng(0))
    part = PairSampler(samples, np.arange(8), ("roll", "z")).sample(16, np.random.default_rng(0))
    assert part["label"].shape == (16, 2)
    np.testing.assert_array_equal(part["label"], full["label"][:, [2, 3]])  # canonical order: z, roll


# -- splits ---------------------------------------------------------------------------------
def test_split_is_by_sample_disjoint_stratified_and_seeded():
    samples = samples_with_offsets([40, 10, 3], np.random.default_rng(5))
    train, val = split_by_sample(samples, 0.2, seed=0)
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(len(samples)))
    assert [int((samples.object_id[val] == k).sum()) for k in range(3)] == [8, 2, 1]
    again = split_by_sample(samples, 0.2, seed=0)
    np.testing.assert_array_equal(train, again[0])
    assert not np.array_equal(val, split_by_sample(samples, 0.2, seed=1)[1])
    # pairs drawn from one side never touch the other side
    for side, other in ((train, val), (val, train)):
        batch = PairSampler(samples, side, DOFS).sample(2000, np.random.default_rng(6))
        used = np.union1d(batch["cur_index"], batch["tgt_index"])
        assert np.intersect1d(used, other).size == 0


def test_split_and_sampler_refuse_bad_arguments():
    samples = samples_with_offsets([3], np.random.default_rng(7))
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_sample(samples, 1.0, 0)
    with pytest.raises(ValueError, match="indices"):
        PairSampler(samples, [], DOFS)
    with pytest.raises(ValueError, match="indices"):
        PairSampler(samples, [0, 3], DOFS)
    with pytest.raises(ValueError, match="refined_dofs"):
        PairSampler(samples, [0], ("y", "twist"))
    with pytest.raises(ValueError, match="same object"):
        two = samples_with_offsets([1, 1], np.random.default_rng(8))
        PairSampler(two, [0, 1], DOFS).batch(np.array([0]), np.array([1]))


# -- augmentation -----------------------------------------------------------------------------
def tactile_batch(rng: np.random.Generator, channels: int = 1) -> dict[str, np.ndarray]:
    imgs = rng.integers(40, 200, (16, 2, channels, 8, 6)).astype(np.uint8)
    imgs[:, :, 0, :2] = 0  # rows without contact
    return {"cur_tactile": imgs, "tgt_tactile": imgs[::-1].copy(),
            "cur_joints": rng.uniform(0.002, 0.004, (16, 2)).astype(np.float32),
            "tgt_joints": rng.uniform(0.002, 0.004, (16, 2)).astype(np.float32),
            "label": rng.normal(size=(16, 3)).astype(np.float32)}


OFF = {"amplitude_scale": (1.0, 1.0), "noise_std": 0.0, "dead_taxel_prob": 0.0, "joint_noise_std": 0.0}


def test_augment_is_deterministic_and_does_not_touch_input_or_labels():
    batch = tactile_batch(np.random.default_rng(0))
    copy = {k: v.copy() for k, v in batch.items()}
    cfg = AugmentConfig()
    a, b = augment(batch, cfg, np.random.default_rng(42)), augment(batch, cfg, np.random.default_rng(42))
    for key in batch:
        np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_array_equal(batch[key], copy[key])
    c = augment(batch, cfg, np.random.default_rng(43))
    assert not np.array_equal(a["cur_tactile"], c["cur_tactile"])
    np.testing.assert_array_equal(a["label"], batch["label"])
    assert a["cur_tactile"].dtype == np.uint8 and a["cur_joints"].dtype == np.float32
    off = augment(batch, AugmentConfig(**OFF), np.random.default_rng(0))
    for key in batch:
        np.testing.assert_array_equal(off[key], batch[key])


def test_amplitude_scaling_scales_signal_and_keeps_zero():
    batch = tactile_batch(np.random.default_rng(1), channels=3)
    out = augment(batch, AugmentConfig(**{**OFF, "amplitude_scale": (0.5, 0.5)}), np.random.default_rng(0))
    cur, src = out["cur_tactile"].astype(float), batch["cur_tactile"].astype(float)
    np.testing.assert_allclose(cur[:, :, 0], np.rint(src[:, :, 0] * 0.5), atol=0.5)
    assert (cur[:, :, 0, :2] == 0).all()  # no contact stays no contact
    np.testing.assert_allclose(cur[:, :, 1:], np.rint(128 + (src[:, :, 1:] - 128) * 0.5), atol=0.5)
    np.testing.assert_array_equal(out["cur_joints"], batch["cur_joints"])
    # a range gives one factor per image and finger: the ratio is constant inside an image
    out = augment(batch, AugmentConfig(**{**OFF, "amplitude_scale": (0.7, 1.3)}), np.random.default_rng(0))
    ratio = out["cur_tactile"][:, :, 0, 2:].astype(float) / batch["cur_tactile"][:, :, 0, 2:]
    spread = ratio.reshape(16, 2, -1)
    assert np.all(spread.max(-1) - spread.min(-1) < 0.03)
    assert spread.mean(-1).std() > 0.05 and spread.min() >= 0.69 and spread.max() <= 1.31


def test_noise_has_the_configured_std_and_clips_to_uint8():
    batch = tactile_batch(np.random.default_rng(2))
    out = augment(batch, AugmentConfig(**{**OFF, "noise_std": 5.0}), np.random.default_rng(0))
    diff = out["cur_tactile"].astype(float) - batch["cur_tactile"]
    inside = diff[:, :, :, 2:]  # pixels 40..200: far from the clipping bounds
    assert abs(inside.std() - 5.0) < 0.5 and abs(inside.mean()) < 0.5
    assert (out["cur_tactile"][:, :, 0, :2] >= 0).all() and diff[:, :, :, :2].min() >= 0  # clipped at 0
    np.testing.assert_array_equal(out["tgt_joints"], batch["tgt_joints"])


def test_dead_taxels_read_zero_signal_at_the_configured_rate():
    batch = tactile_batch(np.random.default_rng(3), channels=3)
    out = augment(batch, AugmentConfig(**{**OFF, "dead_taxel_prob": 0.2}), np.random.default_rng(0))
    changed = (out["cur_tactile"] != batch["cur_tactile"]).any(axis=2)
    assert 0.14 < changed[:, :, 2:].mean() < 0.26
    dead = out["cur_tactile"][:, :, :, 2:].transpose(0, 1, 3, 4, 2)[changed[:, :, 2:]]
    assert (dead[:, 0] == 0).all() and (dead[:, 1:] == 128).all()


def test_joint_noise_moves_joints_only():
    batch = tactile_batch(np.random.default_rng(4))
    out = augment(batch, AugmentConfig(**{**OFF, "joint_noise_std": 0.001}), np.random.default_rng(0))
    np.testing.assert_array_equal(out["cur_tactile"], batch["cur_tactile"])
    d = np.concatenate([out["cur_joints"] - batch["cur_joints"], out["tgt_joints"] - batch["tgt_joints"]])
    assert 0.0006 < d.std() < 0.0014 and not np.allclose(out["cur_joints"], out["tgt_joints"])


def test_augment_config_is_validated():
    with pytest.raises(ConfigError, match="amplitude_scale"):
        AugmentConfig(amplitude_scale=(1.2, 0.8))
    with pytest.raises(ConfigError, match="dead_taxel_prob"):
        AugmentConfig(dead_taxel_prob=1.0)
    with pytest.raises(ConfigError, match="noise_std"):
        AugmentConfig(noise_std=-1.0)
