"""Fine-tuning: --init starts from trained weights, refuses misfits by name; data mix; frozen encoder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from tacrefine.cli.train import main as train_main
from tacrefine.config import ConfigError
from tacrefine.data import storage
from tacrefine.data.pairs import PairSampler
from tacrefine.training import loop
from tacrefine.training.checkpoint import CheckpointError, load_checkpoint
from tacrefine.training.finetune import MixedPairSampler

_spec = importlib.util.spec_from_file_location("training_helpers", Path(__file__).with_name("test_training.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> tuple[Path, tuple]:
    samples = helpers.make_samples()
    data = (samples, helpers.manifest_for(samples))
    out = tmp_path_factory.mktemp("pre") / "run"
    loop.train(helpers.smoke_cfg(out, "train.epochs=1", "train.steps_per_epoch=30"), data=data)
    return out / "last.pt", data


def write(root: Path, samples) -> Path:
    storage.init_manifest(root, helpers.manifest_for(samples)["metadata"])
    storage.record_shard(root, storage.write_shard(root, 0, samples))
    return root


def test_init_starts_from_the_checkpoint_and_keeps_its_normaliser(pretrained, tmp_path):
    ckpt_path, data = pretrained
    pre = load_checkpoint(ckpt_path)
    other = helpers.make_samples(n_per_object=30, seed=5)
    other_data = (other, helpers.manifest_for(other, tag="b"))
    cfg = helpers.smoke_cfg(tmp_path / "ft", "train.epochs=1", "train.steps_per_epoch=1", "optim.lr=1.0e-9",
                            "optim.warmup_steps=0", f"finetune.init={ckpt_path}")
    result = loop.train(cfg, data=other_data)
    tuned = load_checkpoint(result.run_dir / "last.pt")
    assert tuned["normalizer"] == pre["normalizer"]
    for key, value in pre["model_state"].items():  # lr ~ 0: the weights are the checkpoint's
        assert torch.allclose(value.float(), tuned["model_state"][key].float(), atol=1e-5), key
    scratch = loop.train(helpers.smoke_cfg(tmp_path / "scratch", "train.epochs=1", "train.steps_per_epoch=1",
                                           "optim.lr=1.0e-9", "optim.warmup_steps=0"), data=other_data)
    assert scratch.history[0]["val_loss"] > 2 * result.history[0]["val_loss"], "pre-training must help"


def test_init_refuses_a_checkpoint_of_another_model_naming_what_differs(pretrained, tmp_path):
    ckpt_path, data = pretrained
    cfg = helpers.smoke_cfg(tmp_path / "ft", "model.width=16", "model.num_heads=2", f"finetune.init={ckpt_path}")
    with pytest.raises(CheckpointError, match=r"model.width: checkpoint 32 != run 16"):
        loop.train(cfg, data=data)
    cfg = helpers.smoke_cfg(tmp_path / "ft2", "data.refined_dofs=[roll]", f"finetune.init={ckpt_path}")
    with pytest.raises(CheckpointError, match="model.dofs"):
        loop.train(cfg, data=data)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(ckpt_path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="broken.pt"):
        loop.train(helpers.smoke_cfg(tmp_path / "ft3", f"finetune.init={broken}"), data=data)


def test_frozen_encoder_keeps_its_weights_and_the_rest_learns(pretrained, tmp_path):
    ckpt_path, data = pretrained
    pre = load_checkpoint(ckpt_path)["model_state"]
    cfg = helpers.smoke_cfg(tmp_path / "frozen", "train.epochs=1", "train.steps_per_epoch=5",
                            f"finetune.init={ckpt_path}", "finetune.freeze_encoder=true")
    tuned = load_checkpoint(loop.train(cfg, data=data).run_dir / "last.pt")["model_state"]
    enc = [k for k in pre if k.startswith("encoder.")]
    rest = [k for k in pre if not k.startswith("encoder.") and pre[k].is_floating_point()]
    assert enc and all(torch.equal(pre[k], tuned[k]) for k in enc)
    assert any(not torch.equal(pre[k], tuned[k]) for k in rest)


def test_mix_draws_each_dataset_in_its_ratio_with_pairs_inside_one_dataset():
    a, b = helpers.make_samples(n_per_object=20, seed=1), helpers.make_samples(n_per_object=20, seed=2)
    b.tactile[:] = 255  # tell the datasets apart by their images
    mixed = MixedPairSampler([PairSampler(a, np.arange(len(a)), helpers.DOFS),
                              PairSampler(b, np.arange(len(b)), helpers.DOFS)], [3.0, 1.0])
    assert mixed.counts(64).tolist() == [48, 16] and mixed.counts(7).sum() == 7
    batch = mixed.sample(64, np.random.default_rng(0))
    from_b = (batch["cur_tactile"] == 255).all(axis=(1, 2, 3, 4))
    assert from_b.sum() == 16
    assert np.array_equal(from_b, (batch["tgt_tactile"] == 255).all(axis=(1, 2, 3, 4))), "no cross-dataset pairs"


def test_cli_init_and_mix_from_disk(pretrained, tmp_path, capsys):
    ckpt_path, _ = pretrained
    main = write(tmp_path / "real", helpers.make_samples(n_per_object=30, seed=3))
    sim = write(tmp_path / "sim", helpers.make_samples(n_per_object=30, seed=4))
    args = ["--config", str(helpers.SMOKE), "--init", str(ckpt_path), "--no-progress", "--set",
            f"data.path={main}", f"train.out_dir={tmp_path / 'run'}", "train.epochs=1", "train.steps_per_epoch=3",
            "data.val_pairs=64", f"finetune.mix=[{{path: {sim}, ratio: 0.5}}]"]
    assert train_main(args) == 0
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert str(ckpt_path) in saved and str(sim) in saved
    assert train_main(["--resume", str(tmp_path / "run"), "--init", str(ckpt_path)]) == 2
    bad = [a if not a.startswith("finetune.mix") else "finetune.mix=[{path: /nope, ratio: 1}]" for a in args]
    assert train_main([*bad, "--overwrite"]) == 2
    assert "finetune.mix[0].path" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="finetune.mix\\[\\].ratio"):
        helpers.smoke_cfg(tmp_path / "x", "finetune.mix=[{path: a, ratio: -1}]")


def test_transfer_benchmark_keeps_real_like_data_within_1000_samples():
    from tacrefine.evaluation.transfer import TransferConfig

    assert len(TransferConfig().objects) * TransferConfig().real_per_object <= 1000
    with pytest.raises(ConfigError, match="transfer.real_per_object"):
        TransferConfig(real_per_object=300)
