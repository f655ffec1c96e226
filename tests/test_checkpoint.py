"""Checkpoints (safe loading, corruption, round trip) and the learned policy built on them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from gymnasium import spaces

from tacrefine.config import to_dict
from tacrefine.policy.learned import LearnedPolicy
from tacrefine.policy.model import ModelConfig, Normalizer, TacRefineNet
from tacrefine.training.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint

DOFS = ("y", "z", "roll")
SHAPE = (2, 1, 14, 12)


def _write(path: Path, dofs=DOFS, shape=SHAPE, seed: int = 0) -> tuple[TacRefineNet, Normalizer]:
    torch.manual_seed(seed)
    cfg = ModelConfig(dofs=dofs, num_fingers=shape[0], in_channels=shape[1], width=32, num_heads=2)
    model = TacRefineNet(cfg).eval()
    norm = Normalizer(label_mean=np.full(len(dofs), 0.1), label_std=np.full(len(dofs), 3.0),
                      joint_mean=np.full(shape[0], 0.003), joint_std=np.full(shape[0], 0.001))
    save_checkpoint(path, {"model_state": model.state_dict(), "model_config": to_dict(cfg),
                           "refined_dofs": list(dofs), "tactile_shape": list(shape),
                           "normalizer": norm.to_dict(),
                           "sensor": {"rows": shape[2], "cols": shape[3]}, "gripper": None,
                           "dataset_hash": "abc", "epoch": 3})
    return model, norm


def _obs(shape=SHAPE, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"tactile": rng.integers(0, 256, shape, dtype=np.uint8),
            "target_tactile": rng.integers(0, 256, shape, dtype=np.uint8),
            "proprio": rng.normal(0.003, 0.001, 2 * shape[0]).astype(np.float32)}


def test_round_trip_reproduces_predictions(tmp_path: Path) -> None:
    model, norm = _write(tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)  # nothing but tensors and plain data
    assert raw["epoch"] == 3 and raw["sensor"] == {"rows": 14, "cols": 12}
    loaded, loaded_norm, ckpt = load_model(tmp_path / "m.pt")
    assert not loaded.training and ckpt["refined_dofs"] == list(DOFS)
    assert np.array_equal(loaded_norm.label_std, norm.label_std)
    gen = torch.Generator().manual_seed(1)
    cur, tgt = torch.rand(4, *SHAPE, generator=gen), torch.rand(4, *SHAPE, generator=gen)
    prop = torch.randn(4, 4, generator=gen)
    with torch.no_grad():
        assert torch.equal(model(cur, tgt, prop), loaded(cur, tgt, prop))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_checkpoint_raises_checkpoint_error_naming_the_file(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "bad.pt"
    _write(path)
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint" * 50, "empty": b""}
    path.write_bytes(damaged[damage])
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="bad.pt"):
        LearnedPolicy(path)


def test_foreign_or_missing_checkpoint_is_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a TacRefineNet checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    path = tmp_path / "wrong_weights.pt"
    _write(path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["model_state"].pop(next(iter(ckpt["model_state"])))
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="valid model"):
        load_model(path)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    _write(tmp_path / "m.pt")
    _write(tmp_path / "m.pt", seed=1)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def _fake_env(dofs=DOFS, shape=SHAPE, scale=(5.0, 5.0, 10.0)):
    obs_space = spaces.Dict({"tactile": spaces.Box(0, 255, shape, np.uint8),
                             "target_tactile": spaces.Box(0, 255, shape, np.uint8),
                             "proprio": spaces.Box(-1, 1, (2 * shape[0],), np.float32)})
    inner = SimpleNamespace(refined_dofs=tuple(dofs), action_scale=np.asarray(scale, float))
    return SimpleNamespace(unwrapped=inner, observation_space=obs_space)


def test_learned_policy_acts_on_an_observation(tmp_path: Path) -> None:
    _write(tmp_path / "m.pt")
    policy = LearnedPolicy(tmp_path / "m.pt").bind_env(_fake_env())
    policy.reset()
    obs = _obs()
    action = policy.act(obs)
    assert action.shape == (3,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)
    increment = policy.predict_increment(obs)
    assert increment.shape == (3,) and increment.dtype == np.float32
    expected = np.clip(increment / np.array([5.0, 5.0, 10.0]), -1, 1)
    assert np.allclose(action, expected, atol=1e-6)
    assert np.array_equal(policy.act(obs), action)  # deterministic
    explicit = LearnedPolicy(tmp_path / "m.pt", action_scale={"x": 1.0, "y": 5.0, "z": 5.0, "roll": 10.0})
    assert np.array_equal(explicit.act(obs), action)


def test_learned_policy_refuses_mismatches(tmp_path: Path) -> None:
    _write(tmp_path / "m.pt")
    policy = LearnedPolicy(tmp_path / "m.pt")
    with pytest.raises(RuntimeError, match="bind_env"):
        policy.act(_obs())
    with pytest.raises(ValueError, match=r"refined DoF: .*cannot act on \['pitch'\]"):
        policy.bind_env(_fake_env(dofs=("y", "z", "pitch")))
    with pytest.raises(ValueError, match=r"fingers: checkpoint 2, env 3; pad size .*14x12, env 9x11"):
        policy.bind_env(_fake_env(shape=(3, 1, 9, 11)))
    with pytest.raises(ValueError, match="action_scale lacks"):
        LearnedPolicy(tmp_path / "m.pt", action_scale={"y": 5.0})
    with pytest.raises(ValueError, match="two_way: got 'yes'; allowed: true or false"):
        LearnedPolicy(tmp_path / "m.pt", two_way="yes")  # type: ignore[arg-type]
    policy.bind_env(_fake_env())
    with pytest.raises(ValueError, match="obs\\['tactile'\\]"):
        policy.act(_obs(shape=(2, 1, 16, 12)))


def test_policy_acts_on_a_subset_of_its_dofs_and_obeys_the_dof_mask(tmp_path: Path) -> None:
    _write(tmp_path / "m.pt")
    full = LearnedPolicy(tmp_path / "m.pt").bind_env(_fake_env())
    obs = _obs()
    # an env acting on y and roll only: the network hears that z is off and the action skips it
    increment = full.predict_increment({**obs, "dof_mask": np.array([1.0, 0.0, 1.0], np.float32)})
    assert increment[1] == 0.0
    sub = LearnedPolicy(tmp_path / "m.pt").bind_env(_fake_env(dofs=("y", "roll"), scale=(5.0, 10.0)))
    assert np.allclose(sub.act(obs), np.clip(increment[[0, 2]] / [5.0, 10.0], -1, 1), atol=1e-6)
    masked = full.act({**obs, "dof_mask": np.array([0.0, 1.0, 1.0], np.float32)})
    assert masked[0] == 0.0 and masked[1] != 0.0
    with pytest.raises(ValueError, match="dof_mask"):
        full.act({**obs, "dof_mask": np.ones(4, np.float32)})
