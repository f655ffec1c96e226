"""The mirrored reading: a policy that also reads the mirrored pair answers a mirrored grasp
with the mirrored correction, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tacrefine.policy.learned import LearnedPolicy
from tacrefine.policy.registry import pretrained_checkpoints
from tacrefine.sim.hands import hand_config
from tacrefine.sim.hands.mirror import hand_mirror, mirror_increment


def _observation(policy: LearnedPolicy, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = policy.tactile_shape
    return {"tactile": rng.integers(0, 90, shape, dtype=np.uint8),
            "target_tactile": rng.integers(0, 90, shape, dtype=np.uint8),
            "proprio": rng.uniform(0.001, 0.004, 2 * shape[0]).astype(np.float32)}


def _mirrored(policy: LearnedPolicy, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    plan, nf = policy.mirror_map, policy.num_fingers
    joints = obs["proprio"]  # current then target joints, each permuted as the pads are
    return {"tactile": plan.mirror_images(obs["tactile"]), "target_tactile": plan.mirror_images(obs["target_tactile"]),
            "proprio": np.concatenate([joints[:nf][list(plan.source)], joints[nf:][list(plan.source)]])}


@pytest.mark.parametrize("hand", ["parallel_jaw", "three_finger"])
def test_a_mirrored_grasp_gets_the_mirrored_correction(hand):
    path = pretrained_checkpoints()[hand]
    policy = LearnedPolicy(path, mirror=True)
    plain = LearnedPolicy(path, mirror=False)
    assert policy.mirror_map == hand_mirror(hand_config(hand))  # the map the hand's URDF gives
    assert policy.mirror_map.source == {"parallel_jaw": (0, 1), "three_finger": (0, 2, 1)}[hand]
    for seed in range(3):
        obs = _observation(policy, seed)
        flipped = _mirrored(policy, obs)
        increment, sigma = policy.estimate(obs)
        got, got_sigma = policy.estimate(flipped)
        np.testing.assert_allclose(got, mirror_increment(increment, policy.refined_dofs), atol=1e-3)
        np.testing.assert_allclose(got_sigma, sigma, rtol=1e-3, atol=1e-4)
        # a single network is only roughly equivariant: without the mirrored reading the two differ
        lone, lone_flipped = plain.estimate(obs)[0], plain.estimate(flipped)[0]
        assert np.abs(lone_flipped - mirror_increment(lone, plain.refined_dofs)).max() > 0.01


def test_the_mirrored_reading_needs_a_symmetric_hand_on_record(tmp_path):
    import torch

    ckpt = torch.load(pretrained_checkpoints()["parallel_jaw"], weights_only=True)
    pads = list(ckpt["gripper"]["pads"])
    pads[0] = {**pads[0], "normal": [0.8, 0.6, 0.0]}  # a pad turned toward +y: no mirror image
    skewed = {**ckpt, "gripper": {**ckpt["gripper"], "pads": pads}}
    # no stored map: the mirror is measured on the recorded hand, which has none
    torch.save({**skewed, "reading": {"mirror": False}}, tmp_path / "skewed.pt")
    with pytest.raises(ValueError, match="mirror.*left_pad"):
        LearnedPolicy(tmp_path / "skewed.pt", mirror=True)
    LearnedPolicy(tmp_path / "skewed.pt")  # the plain reading does not need the mirror
    torch.save({**skewed, "reading": {"mirror": True}}, tmp_path / "skewed_said.pt")
    with pytest.raises(ValueError, match="reading.mirror.*left_pad.*mirror=False"):
        LearnedPolicy(tmp_path / "skewed_said.pt")  # the checkpoint asks for a mirror its hand lacks
    with pytest.raises(ValueError, match="mirror"):
        LearnedPolicy(pretrained_checkpoints()["parallel_jaw"], mirror="yes")
    torch.save({**ckpt, "reading": {"mirror": "yes"}}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="reading is"):
        LearnedPolicy(tmp_path / "odd.pt")


def test_training_on_mirrored_pairs_makes_a_checkpoint_read_mirrored(tmp_path):
    """``reading.mirror`` follows ``augment.mirror_y``; the policy reads a checkpoint as it says,
    and an explicit argument wins."""
    import importlib.util
    from dataclasses import asdict
    from pathlib import Path

    from tacrefine.sim.hands import hand_config
    from tacrefine.training import loop

    spec = importlib.util.spec_from_file_location("training_helpers", Path(__file__).with_name("test_training.py"))
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    samples = helpers.make_samples()
    manifest = helpers.manifest_for(samples)
    manifest["metadata"]["gripper"] = asdict(hand_config("parallel_jaw"))
    runs = {}
    for share in (0.0, 0.5):
        cfg = helpers.smoke_cfg(tmp_path / f"run{share}", "train.epochs=1", "train.steps_per_epoch=3",
                                f"augment.mirror_y={share}")
        runs[share] = loop.train(cfg, data=(samples, manifest)).run_dir / "best.pt"
    assert LearnedPolicy(runs[0.0]).mirror_map is None
    assert LearnedPolicy(runs[0.5]).mirror_map is not None
    assert LearnedPolicy(runs[0.5], mirror=False).mirror_map is None
    assert LearnedPolicy(runs[0.0], mirror=True).mirror_map is not None


@pytest.mark.slow  # one ONNX export of the hand (~10-30 s of CPU)
def test_an_exported_policy_is_read_as_its_checkpoint_says(tmp_path):
    """The export carries ``reading``: the ONNX policy of the shipped hand reads mirrored too,
    and agrees with the native one."""
    from tacrefine.cli.export import main as export_main
    from tacrefine.policy.onnx_policy import OnnxPolicy

    path = pretrained_checkpoints()["three_finger"]
    out = tmp_path / "hand.onnx"
    assert export_main(["--policy", str(path), "--format", "onnx", "--out", str(out)]) == 0
    native, exported = LearnedPolicy(path), OnnxPolicy(out)
    assert native.mirror_map is not None and exported.mirror_map == native.mirror_map
    assert OnnxPolicy(out, mirror=False).mirror_map is None
    for seed in range(3):
        obs = _observation(native, seed)
        (a, sigma_a), (b, sigma_b) = native.estimate(obs), exported.estimate(obs)
        np.testing.assert_allclose(b, a, atol=2e-3)
        np.testing.assert_allclose(sigma_b, sigma_a, rtol=1e-3, atol=1e-3)


def test_a_stored_map_is_used_and_a_missing_hand_is_named(tmp_path):
    """Training stores the measured map (``reading.map``), so a checkpoint is read mirrored
    without its hand's URDF; without the map the hand is measured, and a hand that cannot be is
    named with the way out. Ensembles refuse members read differently."""
    import torch

    from tacrefine.policy.checkpoint import CheckpointError, combine_checkpoints

    hand = torch.load(pretrained_checkpoints()["three_finger"], weights_only=True)
    assert hand["reading"]["map"] == hand_mirror(hand_config("three_finger")).to_dict()
    elsewhere = {**hand, "gripper": {**hand["gripper"], "urdf": str(tmp_path / "gone.urdf")}}
    torch.save(elsewhere, tmp_path / "stored.pt")
    assert LearnedPolicy(tmp_path / "stored.pt").mirror_map.source == (0, 2, 1)  # no URDF needed
    torch.save({**elsewhere, "reading": {"mirror": True}}, tmp_path / "measure.pt")
    with pytest.raises(ValueError, match=r"reading.mirror.*gone.urdf.*mirror=False"):
        LearnedPolicy(tmp_path / "measure.pt")
    assert LearnedPolicy(tmp_path / "measure.pt", mirror=False).mirror_map is None
    broken = {**hand, "reading": {"mirror": True, "map": {**hand["reading"]["map"], "source": [0, 1, 1]}}}
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(ValueError, match="reading.map"):
        LearnedPolicy(tmp_path / "broken.pt")
    torch.save({k: v for k, v in hand.items() if k != "reading"}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="reading.mirror"):
        combine_checkpoints([tmp_path / "stored.pt", tmp_path / "plain.pt"], tmp_path / "ens.pt")
