"""Per-class DoF sets: the mask travels from generation through storage and pairs into a
network whose loss ignores the DoF an object's class does not refine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.data import storage
from tacrefine.data.generate import DataConfig, ShardSpec, generate_shard
from tacrefine.data.pairs import PairSampler
from tacrefine.data.samples import GraspSamples
from tacrefine.policy.model import ModelConfig, Normalizer, TacRefineNet
from tacrefine.training.loop import Batch, masked_loss

UNION = ("y", "z", "roll", "pitch")


def small_model(**kw) -> TacRefineNet:
    cfg = ModelConfig(dofs=UNION, num_fingers=3, in_channels=1, width=16, conv_channels=(8,), conv_strides=(1,),
                      token_grid=(2, 2), num_heads=2, proprio_hidden=8, head_hidden=16, **kw)
    torch.manual_seed(0)
    return TacRefineNet(cfg)


def test_network_reads_the_mask_and_any_number_of_fingers():
    model = small_model().eval()
    cur, tgt = torch.rand(2, 3, 1, 9, 11), torch.rand(2, 3, 1, 9, 11)
    proprio = torch.randn(2, 6)
    rod = torch.tensor([[0.0, 1, 1, 0]] * 2)
    disc = torch.tensor([[1.0, 1, 0, 1]] * 2)
    with torch.no_grad():
        a, b = model(cur, tgt, proprio, rod), model(cur, tgt, proprio, disc)
        assert torch.equal(model(cur, tgt, proprio), model(cur, tgt, proprio, torch.ones(2, 4)))
    assert a.shape == (2, 4) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match=r"dof_mask must be \(B, 4\)"):
        model(cur, tgt, proprio, torch.ones(2, 3))
    blind = small_model(use_dof_mask=False).eval()
    with torch.no_grad():
        assert torch.equal(blind(cur, tgt, proprio, rod), blind(cur, tgt, proprio, disc))


def test_loss_ignores_labels_of_dofs_the_class_does_not_refine():
    pred = torch.zeros(3, 4, requires_grad=True)
    label = torch.tensor([[1.0, 2.0, 3.0, 4.0]] * 3)
    mask = torch.tensor([[0.0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 1]])
    b = Batch(cur=None, tgt=None, proprio=None, label=label, label_phys=label.numpy(), mask=mask)
    w = torch.ones(4)
    loss = masked_loss(pred, b, w)
    garbage = Batch(cur=None, tgt=None, proprio=None, label=torch.where(mask > 0, label, 1e6),
                    label_phys=label.numpy(), mask=mask)
    assert loss.item() == pytest.approx(masked_loss(pred, garbage, w).item())
    expected = float((label.square() * mask).sum() / mask.sum())
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    assert torch.all(pred.grad[mask == 0] == 0) and torch.all(pred.grad[mask == 1] != 0)


def test_label_statistics_come_from_the_objects_that_refine_each_dof():
    labels = np.array([[5.0, 0.0], [-5.0, 0.0], [0.3, 8.0], [0.1, -8.0]])
    mask = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    norm = Normalizer.fit(labels, np.zeros((4, 3)), mask)
    np.testing.assert_allclose(norm.label_mean, [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(norm.label_std, [5.0, 8.0], rtol=1e-6)
    plain = Normalizer.fit(labels, np.zeros((4, 3)))
    assert plain.label_std[1] < 6.0  # without the mask the zeros of the other class shrink the spread


def _samples(n: int = 6) -> GraspSamples:
    rng = np.random.default_rng(0)
    mask = np.zeros((n, 6), bool)
    mask[: n // 2, [2, 3]] = True  # rod: z, roll
    mask[n // 2:, [1, 2, 4]] = True  # disc: y, z, pitch
    return GraspSamples(
        tactile=rng.integers(0, 255, (n, 3, 1, 4, 5), dtype=np.uint8), joints=np.zeros((n, 3), np.float32),
        grasp=np.repeat(np.eye(4)[None], n, 0), offset=np.zeros((n, 6)),
        object_id=np.repeat([0, 1], n // 2).astype(np.int32), object_names=["rod_a", "disc_b"],
        dof_mask=mask, object_classes=["rod", "disc"])


def test_mask_and_classes_survive_storage_and_reach_the_pairs(tmp_path):
    samples = _samples()
    storage.write_shard(tmp_path, 0, samples)
    back = storage.read_shard(tmp_path / storage.shard_name(0))
    np.testing.assert_array_equal(back.dof_mask, samples.dof_mask)
    assert back.object_classes == ["rod", "disc"]
    both = GraspSamples.concatenate([back, _samples()])
    assert both.object_classes == ["rod", "disc"] and both.dof_mask.shape == (12, 6)
    sampler = PairSampler(both, np.arange(12), UNION)
    batch = sampler.sample(64, np.random.default_rng(1))
    ids = both.object_id[batch["cur_index"]]
    assert np.array_equal(ids, both.object_id[batch["tgt_index"]])  # pairs never mix objects
    np.testing.assert_array_equal(batch["dof_mask"][ids == 0], np.tile([0, 1, 1, 0], ((ids == 0).sum(), 1)))
    np.testing.assert_array_equal(batch["dof_mask"][ids == 1], np.tile([1, 1, 0, 1], ((ids == 1).sum(), 1)))
    old = GraspSamples(tactile=samples.tactile, joints=samples.joints, grasp=samples.grasp, offset=samples.offset,
                       object_id=samples.object_id, object_names=samples.object_names)
    assert old.dof_mask is None and np.all(old.mask_over(UNION) == 1)


def test_generation_offsets_only_the_dofs_of_the_objects_class():
    cfg = DataConfig(objects=("rod_r4",), samples_per_object=3, shard_size=3, workers=1, seed=5,
                     offset_range={"y": 5.0, "z": 4.0, "roll": 8.0}, class_dofs={"rod": ["z", "roll"]})
    assert cfg.object_dofs("rod_r4") == ("z", "roll") and cfg.union_dofs() == ("z", "roll")
    samples, _ = generate_shard(cfg, ShardSpec(0, "rod_r4", 3))
    assert np.all(samples.offset[:, [0, 1, 4, 5]] == 0.0)
    assert np.all(np.abs(samples.offset[:, 2]) <= 4e-3) and np.any(samples.offset[:, 2] != 0)
    assert np.all(np.abs(samples.offset[:, 3]) <= np.radians(8.0)) and np.any(samples.offset[:, 3] != 0)
    np.testing.assert_array_equal(samples.dof_mask, np.tile(np.isin(geometry.DOF_NAMES, ("z", "roll")), (3, 1)))
    assert samples.object_classes == ["rod"]
    with pytest.raises(ConfigError, match=r"data.class_dofs.rod"):
        DataConfig(objects=("rod_r4",), class_dofs={"rod": ["spin"]})
