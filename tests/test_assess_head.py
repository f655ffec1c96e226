"""The additive error head: old checkpoints load and act as before; --init from one adds the head fresh."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from tacrefine.policy.learned import LearnedPolicy
from tacrefine.policy.model import tactile_to_tensor
from tacrefine.policy.registry import pretrained_checkpoints
from tacrefine.training import loop
from tacrefine.training.assess_loss import error_head_loss
from tacrefine.training.checkpoint import load_checkpoint, save_checkpoint

_spec = importlib.util.spec_from_file_location("training_helpers", Path(__file__).with_name("test_training.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def _random_obs(shape: tuple[int, ...], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"tactile": rng.integers(0, 255, shape, dtype=np.uint8),
            "target_tactile": rng.integers(0, 255, shape, dtype=np.uint8),
            "proprio": rng.uniform(0.005, 0.02, 2 * shape[0]).astype(np.float32),
            "dof_mask": np.ones(3, np.float32)}


def _old_way_action(policy: LearnedPolicy, obs: dict[str, np.ndarray]) -> np.ndarray:
    """The action as LearnedPolicy computed it before the error head existed."""
    nf = policy.num_fingers
    mask = policy.dof_mask(obs)
    with torch.inference_mode():
        pred = policy.model(tactile_to_tensor(obs["tactile"][None]), tactile_to_tensor(obs["target_tactile"][None]),
                            torch.from_numpy(policy.normalizer.proprio(obs["proprio"][None, :nf],
                                                                       obs["proprio"][None, nf:])),
                            torch.from_numpy(mask[None]) if policy.uses_mask else None)
    inc = (policy.normalizer.denormalize_label(pred.numpy()[0]) * mask)[policy._action_index]
    return np.clip(inc / policy.action_scale, -1, 1).astype(np.float32)


def _without_head(path, folder):
    """A shipped checkpoint as written before the error head existed (the jaw one has it now)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("self_assessment", "calibration", "reading"):
        ckpt.pop(key, None)
    ckpt["model_config"] = {k: v for k, v in ckpt["model_config"].items() if k != "error_head"}
    ckpt["model_state"] = {k: v for k, v in ckpt["model_state"].items() if not k.startswith("error_head.")}
    out = folder / "old.pt"
    save_checkpoint(out, ckpt)
    return out


@pytest.mark.parametrize("hand", sorted(pretrained_checkpoints()))
def test_checkpoints_without_the_head_load_and_act_as_before(hand, tmp_path):
    path = _without_head(pretrained_checkpoints()[hand], tmp_path)
    assert "error_head" not in torch.load(path, map_location="cpu", weights_only=True)["model_config"]
    ckpt = load_checkpoint(path)
    dofs = ckpt["refined_dofs"]
    policy = LearnedPolicy(path, action_scale={d: 5.0 if d in ("x", "y", "z") else 10.0 for d in dofs},
                           two_way=False)  # the single reading is what older code computed
    assert not policy.has_error_head and policy.model.error_head is None
    for seed in range(3):
        obs = _random_obs(policy.tactile_shape, seed)
        obs["dof_mask"] = np.ones(len(dofs), np.float32)
        np.testing.assert_array_equal(policy.act(obs), _old_way_action(policy, obs))
        a = policy.assess(obs)
        assert a.source == "correction" and a.sigma_mm is None and not a.unfamiliar
        inc = policy.predict_increment(obs)
        assert a.error_mm == pytest.approx(float(np.linalg.norm([inc[i] for i, d in enumerate(dofs)
                                                                 if d in ("x", "y", "z")])), rel=1e-5)


@pytest.mark.parametrize("hand", sorted(pretrained_checkpoints()))
def test_the_shipped_checkpoints_carry_a_calibrated_error_head(hand):
    path = pretrained_checkpoints()[hand]
    ckpt = load_checkpoint(path)
    assert ckpt["calibration"]["episodes"] >= 500  # tacrefine calibrate, on closed-loop episodes
    policy = LearnedPolicy(path, action_scale={d: 5.0 if d in ("x", "y", "z") else 10.0 for d in ckpt["refined_dofs"]})
    assert policy.has_error_head and policy.model.error_head is not None
    assert policy.assess_config.unfamiliar_sigma == ckpt["self_assessment"]["unfamiliar_sigma"] != 3.0
    obs = _random_obs(policy.tactile_shape, 0)
    obs["dof_mask"] = np.ones(len(ckpt["refined_dofs"]), np.float32)
    a = policy.assess(obs)
    assert a.source == "error_head" and a.sigma_mm is not None and a.sigma_mm > 0


def test_error_head_loss_teaches_only_the_head():
    pred = torch.randn(8, 3, requires_grad=True)
    log_var = torch.zeros(8, 3, requires_grad=True)
    label = torch.randn(8, 3)
    mask = torch.ones(8, 3)
    mask[:, 0] = 0
    loss = error_head_loss(log_var, pred, label, mask)
    loss.backward()
    assert pred.grad is None  # the residual is detached: the increment is not bent by this loss
    assert log_var.grad is not None and torch.all(log_var.grad[:, 0] == 0) and torch.any(log_var.grad[:, 1:] != 0)
    # the NLL is smallest where exp(log_var) equals the squared residual
    r2 = (pred.detach() - label).square()
    assert error_head_loss(r2.log(), pred, label, mask) < error_head_loss(r2.log() + 1.0, pred, label, mask)


def test_init_from_a_checkpoint_without_the_head_adds_it_fresh(tmp_path):
    samples = helpers.make_samples()
    data = (samples, helpers.manifest_for(samples))
    loop.train(helpers.smoke_cfg(tmp_path / "old", "train.epochs=1", "train.steps_per_epoch=20",
                                 "model.error_head=false"), data=data)
    # an old checkpoint: written before the key existed
    old = torch.load(tmp_path / "old" / "last.pt", map_location="cpu", weights_only=True)
    old["model_config"] = {k: v for k, v in old["model_config"].items() if k != "error_head"}
    old_path = tmp_path / "old.pt"
    save_checkpoint(old_path, old)
    assert not LearnedPolicy(old_path, action_scale=[5, 5, 10]).has_error_head

    cfg = helpers.smoke_cfg(tmp_path / "ft", "train.epochs=1", "train.steps_per_epoch=1", "optim.lr=1.0e-9",
                            "optim.warmup_steps=0", f"finetune.init={old_path}")
    result = loop.train(cfg, data=data)
    tuned = load_checkpoint(result.run_dir / "last.pt")
    assert tuned["model_config"]["error_head"] is True
    head = [k for k in tuned["model_state"] if k.startswith("error_head.")]
    assert head and not any(k in old["model_state"] for k in head)
    for key, value in old["model_state"].items():  # lr ~ 0: the shared weights are the checkpoint's
        assert torch.allclose(value.float(), tuned["model_state"][key].float(), atol=1e-5), key
    policy = LearnedPolicy(result.run_dir / "last.pt", action_scale=[5, 5, 10])
    assert policy.has_error_head
    a = policy.assess(_random_obs(policy.tactile_shape, 0))
    assert a.source == "error_head" and a.sigma_mm is not None and a.sigma_mm > 0

    # and the other way round: a checkpoint with the head starts a run without one
    back = loop.train(helpers.smoke_cfg(tmp_path / "back", "train.epochs=1", "train.steps_per_epoch=1",
                                        "model.error_head=false", f"finetune.init={result.run_dir / 'last.pt'}"),
                      data=data)
    assert not any(k.startswith("error_head.") for k in load_checkpoint(back.run_dir / "last.pt")["model_state"])


def test_error_head_learns_the_size_of_its_own_error(tmp_path):
    """Trained jointly on the same pairs, the head's sigma tracks the actual residual."""
    samples = helpers.make_samples()
    data = (samples, helpers.manifest_for(samples))
    result = loop.train(helpers.smoke_cfg(tmp_path / "run", "train.epochs=1", "train.steps_per_epoch=60"),
                        data=data)
    policy = LearnedPolicy(result.run_dir / "last.pt", action_scale=[5, 5, 10])
    assert policy.has_error_head
    pairs = loop.PairSampler(samples, np.arange(len(samples)), policy.refined_dofs).fixed_pairs(
        256, np.random.default_rng(3))
    b = loop.to_tensors(pairs, policy.normalizer)
    with torch.inference_mode():
        pred, log_var = policy.model(b.cur, b.tgt, b.proprio, b.mask, with_error=True)
    mse = float((pred - b.label).square().mean())
    predicted = float(torch.exp(log_var).mean())
    assert predicted == pytest.approx(mse, rel=0.75), (predicted, mse)  # the scale of its own error


def test_training_sets_the_flag_threshold_from_held_out_grasps(tmp_path):
    """No new checkpoint carries the placeholder: its threshold is the head's 98th percentile on
    the validation pairs, so the head alone flags about 2 % of held-out grasps of its own parts."""
    from dataclasses import asdict

    from tacrefine.policy.assessment import AssessConfig
    from tacrefine.training.validation import SIGMA_QUANTILE, sigma_scores, validation_calibration

    samples = helpers.make_samples()
    data = (samples, helpers.manifest_for(samples))
    result = loop.train(helpers.smoke_cfg(tmp_path / "run", "train.epochs=1", "train.steps_per_epoch=20"),
                        data=data)
    ckpt = load_checkpoint(result.run_dir / "best.pt")
    # validation scores single readings: compare with the policy's single reading
    policy = LearnedPolicy(result.run_dir / "best.pt", action_scale=[5, 5, 10], two_way=False)
    threshold = ckpt["self_assessment"]["unfamiliar_sigma"]
    assert policy.assess_config.unfamiliar_sigma == threshold != AssessConfig().unfamiliar_sigma
    assert {k: v for k, v in ckpt["self_assessment"].items() if k != "unfamiliar_sigma"} == \
        {k: v for k, v in asdict(AssessConfig()).items() if k != "unfamiliar_sigma"}
    assert ckpt["calibration"]["method"] == "validation pairs" and ckpt["calibration"]["quantile"] == SIGMA_QUANTILE
    # on a pair set of its own parts, the threshold the same function sets flags ~2 % of the pairs
    pairs = loop.PairSampler(samples, np.arange(len(samples)), policy.refined_dofs).fixed_pairs(
        2048, np.random.default_rng(5))
    scores = sigma_scores(policy.model, policy.normalizer, pairs, policy.refined_dofs)
    assert scores is not None and np.all(scores > 0)
    in_pass: list[float] = []  # what training records: the scores of its own validation pass
    loop.evaluate(policy.model, policy.normalizer, pairs, policy.refined_dofs, sigma_out=in_pass)
    np.testing.assert_allclose(in_pass, scores, rtol=1e-6)
    own = validation_calibration(policy.model, policy.normalizer, pairs, policy.refined_dofs)
    assert own["self_assessment"]["unfamiliar_sigma"] == pytest.approx(float(np.quantile(scores, SIGMA_QUANTILE)))
    assert float(np.mean(scores > own["self_assessment"]["unfamiliar_sigma"])) == pytest.approx(0.02, abs=0.002)
    # and through the policy itself: assess() flags with the same score
    obs = {"tactile": pairs["cur_tactile"][0], "target_tactile": pairs["tgt_tactile"][0],
           "proprio": np.concatenate([pairs["cur_joints"][0], pairs["tgt_joints"][0]]).astype(np.float32),
           "dof_mask": pairs["dof_mask"][0]}
    a = policy.assess(obs)
    assert a.sigma_score == pytest.approx(scores[0], rel=1e-4)
    assert a.unfamiliar == bool(scores[0] > threshold)
