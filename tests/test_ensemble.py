"""Ensemble checkpoints: several networks behind one policy, their mean acted on, their spread read as doubt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tacrefine.cli import ensemble as ensemble_cli
from tacrefine.config import to_dict
from tacrefine.policy.checkpoint import CheckpointError, combine_checkpoints, load_checkpoint
from tacrefine.policy.learned import LearnedPolicy
from tacrefine.policy.model import ModelConfig, Normalizer, TacRefineNet
from tacrefine.training.checkpoint import save_checkpoint

DOFS = ("y", "z", "roll")
SHAPE = (2, 1, 14, 12)
SCALE = {"y": 5.0, "z": 5.0, "roll": 10.0}


def _write(path: Path, seed: int, dofs=DOFS, shape=SHAPE, label_mean: float = 0.1) -> Path:
    torch.manual_seed(seed)
    cfg = ModelConfig(dofs=dofs, num_fingers=shape[0], in_channels=shape[1], width=32, num_heads=2,
                      error_head=True)
    model = TacRefineNet(cfg).eval()
    norm = Normalizer(label_mean=np.full(len(dofs), label_mean), label_std=np.full(len(dofs), 3.0),
                      joint_mean=np.full(shape[0], 0.003), joint_std=np.full(shape[0], 0.001))
    save_checkpoint(path, {"model_state": model.state_dict(), "model_config": to_dict(cfg),
                           "refined_dofs": list(dofs), "tactile_shape": list(shape), "normalizer": norm.to_dict(),
                           "sensor": {"rows": shape[2], "cols": shape[3]}, "gripper": None,
                           "dataset_hash": f"data{seed}", "epoch": 3,
                           "self_assessment": {"unfamiliar_sigma": 4.0, "shrink": 0.25}})
    return path


def _obs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"tactile": rng.integers(0, 256, SHAPE, dtype=np.uint8),
            "target_tactile": rng.integers(0, 256, SHAPE, dtype=np.uint8),
            "proprio": rng.normal(0.003, 0.001, 2 * SHAPE[0]).astype(np.float32)}


def test_the_ensemble_acts_on_the_members_mean_and_doubts_their_spread(tmp_path: Path) -> None:
    paths = [_write(tmp_path / f"m{i}.pt", seed=i, label_mean=0.1 * (i + 1)) for i in range(3)]
    combine_checkpoints(paths, tmp_path / "ens.pt")
    ens = LearnedPolicy(tmp_path / "ens.pt", action_scale=SCALE, two_way=False)
    singles = [LearnedPolicy(p, action_scale=SCALE, two_way=False) for p in paths]
    assert len(ens.members) == 3
    for seed in range(3):
        obs = _obs(seed)
        increment, sigma = ens.estimate(obs)
        readings = [s.estimate(obs) for s in singles]
        means = np.stack([r[0] for r in readings])
        np.testing.assert_allclose(increment, means.mean(axis=0), rtol=1e-5, atol=1e-5)
        heads = np.mean([r[1] ** 2 for r in readings], axis=0)
        np.testing.assert_allclose(sigma, np.sqrt(heads + means.var(axis=0)), rtol=1e-4)
        assert np.all(sigma >= np.sqrt(heads) - 1e-6)  # disagreement only adds doubt


def test_an_ensemble_of_one_network_twice_acts_like_that_network(tmp_path: Path) -> None:
    import shutil

    path = _write(tmp_path / "m.pt", seed=0)
    shutil.copy(path, tmp_path / "copy.pt")
    combine_checkpoints([path, tmp_path / "copy.pt"], tmp_path / "twice.pt")
    single, twice = (LearnedPolicy(p, action_scale=SCALE) for p in (path, tmp_path / "twice.pt"))
    for seed in range(3):
        obs = _obs(seed)
        np.testing.assert_allclose(twice.act(obs), single.act(obs), atol=1e-6)
        np.testing.assert_allclose(twice.estimate(obs)[1], single.estimate(obs)[1], rtol=1e-5)


def test_combining_keeps_the_primary_thresholds_but_not_its_flag_threshold(tmp_path: Path, capsys) -> None:
    paths = [_write(tmp_path / f"m{i}.pt", seed=i) for i in range(2)]
    assert ensemble_cli.main([*map(str, paths), "--out", str(tmp_path / "ens.pt")]) == 0
    assert "tacrefine calibrate" in capsys.readouterr().out
    ckpt = load_checkpoint(tmp_path / "ens.pt")
    assert ckpt["self_assessment"] == {"shrink": 0.25}  # unfamiliar_sigma belonged to one network's doubt
    assert [m["dataset_hash"] for m in ckpt["ensemble"]] == ["data1"]
    assert ckpt["ensemble_sources"] == [str(p) for p in paths]
    assert LearnedPolicy(tmp_path / "ens.pt", action_scale=SCALE).assess_config.unfamiliar_sigma == 3.0


def test_members_that_read_or_act_differently_are_refused(tmp_path: Path, capsys) -> None:
    base = _write(tmp_path / "a.pt", seed=0)
    other_dofs = _write(tmp_path / "b.pt", seed=1, dofs=("y", "z"))
    with pytest.raises(CheckpointError, match=r"differs .* in \['refined_dofs'"):
        combine_checkpoints([base, other_dofs], tmp_path / "ens.pt")
    other_shape = _write(tmp_path / "c.pt", seed=1, shape=(3, 1, 14, 12))
    assert ensemble_cli.main([str(base), str(other_shape), "--out", str(tmp_path / "ens.pt")]) != 0
    assert "tactile_shape" in capsys.readouterr().err
    no_mask = torch.load(_write(tmp_path / "d.pt", seed=2), map_location="cpu", weights_only=True)
    no_mask["model_config"] = {**no_mask["model_config"], "use_dof_mask": False}
    save_checkpoint(tmp_path / "d.pt", {k: v for k, v in no_mask.items() if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match="model_config.use_dof_mask"):
        combine_checkpoints([base, tmp_path / "d.pt"], tmp_path / "ens.pt")
    with pytest.raises(ValueError, match="at least two"):
        combine_checkpoints([base], tmp_path / "ens.pt")
    with pytest.raises(ValueError, match="must differ"):
        combine_checkpoints([base, base], tmp_path / "ens.pt")
    with pytest.raises(ValueError, match="one of the checkpoints being combined"):
        combine_checkpoints([base, _write(tmp_path / "e.pt", seed=3)], base)
    headless = torch.load(_write(tmp_path / "f.pt", seed=4), map_location="cpu", weights_only=True)
    headless["model_config"] = {**headless["model_config"], "error_head": False}
    headless["model_state"] = {k: v for k, v in headless["model_state"].items() if not k.startswith("error_head.")}
    save_checkpoint(tmp_path / "f.pt", {k: v for k, v in headless.items() if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match="model_config.error_head"):
        combine_checkpoints([base, tmp_path / "f.pt"], tmp_path / "ens.pt")
    assert not (tmp_path / "ens.pt").exists()


def test_a_damaged_member_is_reported_not_used(tmp_path: Path) -> None:
    paths = [_write(tmp_path / f"m{i}.pt", seed=i) for i in range(2)]
    combine_checkpoints(paths, tmp_path / "ens.pt")
    ckpt = torch.load(tmp_path / "ens.pt", map_location="cpu", weights_only=True)
    state = ckpt["ensemble"][0]["model_state"]
    state.pop(next(iter(state)))  # a member missing a weight
    save_checkpoint(tmp_path / "bad.pt", {k: v for k, v in ckpt.items() if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match="ensemble member 0"):
        LearnedPolicy(tmp_path / "bad.pt", action_scale=SCALE)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_an_exported_ensemble_acts_like_the_native_one(tmp_path: Path, fmt: str) -> None:
    from tacrefine.policy.export import export_policy

    paths = [_write(tmp_path / f"m{i}.pt", seed=i, label_mean=0.2 * i) for i in range(2)]
    combine_checkpoints(paths, tmp_path / "ens.pt")
    meta = export_policy(tmp_path / "ens.pt", tmp_path / f"ens.{fmt}", fmt=fmt)
    assert meta["outputs"] == ["increment", "net.out", "net.log_var", "net1.out", "net1.log_var"]
    assert meta["export_version"] == 2  # a reader that knows only one network refuses it, not runs half of it
    native = LearnedPolicy(tmp_path / "ens.pt", action_scale=SCALE, two_way=False)
    singles = [LearnedPolicy(p, action_scale=SCALE, two_way=False) for p in paths]
    for seed in range(3):
        obs = _obs(seed)
        obs["dof_mask"] = np.ones(3, np.float32)
        expected = np.mean([s.predict_increment(obs) for s in singles], axis=0)
        feeds = (obs["tactile"][None], obs["target_tactile"][None], obs["proprio"][None], obs["dof_mask"][None])
        if fmt == "onnx":
            from tacrefine.policy.onnx_policy import OnnxPolicy

            exported = OnnxPolicy(tmp_path / "ens.onnx", action_scale=SCALE, two_way=False)
            assert len(exported.members) == 2
            np.testing.assert_allclose(exported.estimate(obs)[1], native.estimate(obs)[1], rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(exported.act(obs), native.act(obs), atol=1e-5)
            (graph_increment,) = exported.session.run(["increment"], dict(zip(
                ("tactile", "target_tactile", "proprio", "dof_mask"), feeds)))
        else:
            loaded = torch.jit.load(str(tmp_path / "ens.torchscript"))
            with torch.inference_mode():
                graph_increment = loaded(*(torch.from_numpy(np.asarray(f)) for f in feeds))[0].numpy()
        np.testing.assert_allclose(graph_increment[0], expected, rtol=1e-4, atol=1e-5)


def test_fine_tuning_from_an_ensemble_is_refused_naming_its_sources(tmp_path: Path) -> None:
    from tacrefine.training.finetune import init_from_checkpoint

    paths = [_write(tmp_path / f"m{i}.pt", seed=i) for i in range(2)]
    combine_checkpoints(paths, tmp_path / "ens.pt")
    ckpt = load_checkpoint(paths[0])
    model = TacRefineNet(ModelConfig(**{**ckpt["model_config"], "dofs": tuple(ckpt["model_config"]["dofs"])}))
    init_from_checkpoint(model, ckpt["model_config"], paths[0])  # one network: accepted
    with pytest.raises(CheckpointError, match=r"ensemble of 2 networks; fine-tune one of its sources .*m1\.pt"):
        init_from_checkpoint(model, ckpt["model_config"], tmp_path / "ens.pt")
