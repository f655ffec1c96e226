"""TacRefineNet: shapes for any hand / sensor, ablations, learning capacity, config checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tacrefine.config import ConfigError, load_config
from tacrefine.policy.model import (
    ModelConfig,
    Normalizer,
    TacRefineNet,
    count_parameters,
    measure_inference_latency,
    tactile_to_tensor,
)

torch.set_num_threads(1)  # small batches: one thread is as fast and immune to a busy machine
DOFS = ("y", "z", "roll", "pitch")


def _inputs(b: int, f: int, c: int, h: int, w: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(b, f, c, h, w, generator=gen), torch.rand(b, f, c, h, w, generator=gen),
            torch.randn(b, 2 * f, generator=gen))


@pytest.mark.parametrize("fingers", [2, 3])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("rows,cols", [(14, 12), (32, 32)])
def test_output_shape_any_hand_and_sensor(fingers: int, channels: int, rows: int, cols: int) -> None:
    model = TacRefineNet(ModelConfig(dofs=DOFS, num_fingers=fingers, in_channels=channels))
    out = model(*_inputs(5, fingers, channels, rows, cols))
    assert out.shape == (5, len(DOFS))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("dofs", [("roll",), ("z", "roll"), ("x", "y", "z"), ("y", "z", "pitch"),
                                  ("x", "y", "z", "roll", "pitch", "yaw")])
def test_translation_and_rotation_heads_fill_their_dofs(dofs: tuple[str, ...]) -> None:
    model = TacRefineNet(ModelConfig(dofs=dofs, num_fingers=2, in_channels=1))
    assert (model.trans_head is None) == (not any(d in ("x", "y", "z") for d in dofs))
    assert (model.rot_head is None) == (not any(d in ("roll", "pitch", "yaw") for d in dofs))
    assert model(*_inputs(3, 2, 1, 14, 12)).shape == (3, len(dofs))


@pytest.mark.parametrize("ablation", [
    {"use_touch": False},
    {"fingers_used": (0,)},
    {"fingers_used": (2, 0)},
    {"use_target_image": False},
    {"use_proprio": False},
    {"coord_channels": False, "finger_layers": 2},
])
def test_ablations_run(ablation: dict) -> None:
    cfg = ModelConfig(dofs=DOFS, num_fingers=3, in_channels=1, **ablation)
    model = TacRefineNet(cfg)
    out, log_var = model(*_inputs(4, 3, 1, 14, 12), with_error=True)
    assert out.shape == log_var.shape == (4, len(DOFS))
    (out.sum() + log_var.sum()).backward()  # every branch in use receives gradients
    assert all(p.grad is not None for p in model.parameters())


def test_ablations_really_drop_inputs() -> None:
    cur, tgt, proprio = _inputs(4, 2, 1, 14, 12)
    other = torch.rand_like(cur)
    blind = TacRefineNet(ModelConfig(dofs=DOFS, num_fingers=2, in_channels=1, use_touch=False)).eval()
    assert torch.equal(blind(cur, tgt, proprio), blind(other, other, proprio))
    assert torch.equal(blind(cur, tgt, proprio), blind(None, None, proprio))
    one = TacRefineNet(ModelConfig(dofs=DOFS, num_fingers=2, in_channels=1, fingers_used=(0,))).eval()
    changed = cur.clone()
    changed[:, 1] = other[:, 1]
    assert torch.equal(one(cur, tgt, proprio), one(changed, tgt, proprio))
    no_tgt = TacRefineNet(ModelConfig(dofs=DOFS, num_fingers=2, in_channels=1, use_target_image=False)).eval()
    assert torch.equal(no_tgt(cur, tgt, proprio), no_tgt(cur, other, proprio))
    full = TacRefineNet(ModelConfig(dofs=DOFS, num_fingers=2, in_channels=1)).eval()
    assert not torch.equal(full(cur, tgt, proprio), full(cur, other, proprio))


def test_wrong_input_shapes_are_refused() -> None:
    model = TacRefineNet(ModelConfig(dofs=DOFS, num_fingers=2, in_channels=1))
    cur, tgt, proprio = _inputs(2, 3, 1, 14, 12)
    with pytest.raises(ValueError, match="cur_tactile must be"):
        model(cur, tgt, proprio)
    cur, tgt, proprio = _inputs(2, 2, 1, 14, 12)
    with pytest.raises(ValueError, match="proprio must be"):
        model(cur, tgt, proprio[:, :3])


def test_small_and_fast() -> None:
    model = TacRefineNet(ModelConfig(dofs=DOFS, num_fingers=2, in_channels=1))
    assert count_parameters(model) < 1_000_000
    latency = measure_inference_latency(model, 14, 12, repeats=20, warmup=3)
    assert 0 < latency["median_ms"] < 100


def test_overfits_a_tiny_batch() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(dofs=("y", "z", "roll"), num_fingers=2, in_channels=1, width=32, num_heads=2,
                      conv_channels=(8, 16, 32))
    model = TacRefineNet(cfg)
    cur, tgt, proprio = _inputs(12, 2, 1, 14, 12, seed=1)
    label = torch.randn(12, 3, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(120):
        loss = torch.nn.functional.mse_loss(model(cur, tgt, proprio), label)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 100, (losses[0], losses[-1])


@pytest.mark.parametrize("field,value,message", [
    ("width", 0, "model.width"),
    ("num_heads", 3, "model.num_heads"),
    ("dofs", ("y", "y"), "model.dofs"),
    ("dofs", ("q",), "model.dofs"),
    ("num_fingers", 0, "model.num_fingers"),
    ("conv_strides", (1, 3, 1), "model.conv_strides"),
    ("conv_channels", (), "model.conv_channels"),
    ("token_grid", (4,), "model.token_grid"),
    ("dropout", 1.0, "model.dropout"),
    ("fingers_used", (0, 5), "model.fingers_used"),
])
def test_bad_model_config_names_the_field(field: str, value, message: str) -> None:
    kwargs = {"dofs": DOFS, "num_fingers": 2, "in_channels": 1, field: value}
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


def test_config_without_touch_and_proprio_is_refused() -> None:
    with pytest.raises(ConfigError, match="model.use_proprio"):
        ModelConfig(use_touch=False, use_proprio=False)


def test_unresolved_config_cannot_build_and_resolve_checks_the_data() -> None:
    with pytest.raises(ConfigError, match="model.dofs"):
        TacRefineNet(ModelConfig())
    cfg = ModelConfig().resolved(["roll", "z"], 2, 1)
    assert cfg.dofs == ("z", "roll") and cfg.is_resolved
    with pytest.raises(ConfigError, match="model.num_fingers"):
        ModelConfig(num_fingers=3).resolved(DOFS, 2, 1)


def test_model_config_from_yaml_data(tmp_path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("width: 48\nconv_channels: [8, 16]\nconv_strides: [1, 2]\nfingers_used: [1]\n")
    cfg = load_config(ModelConfig, path, ["num_heads=3"])
    assert cfg.width == 48 and cfg.conv_channels == (8, 16)
    assert cfg.fingers_used == (1,) and cfg.num_heads == 3
    with pytest.raises(ConfigError, match="bogus"):
        load_config(ModelConfig, path, ["bogus=1"])


def test_normalizer_round_trip() -> None:
    rng = np.random.default_rng(0)
    labels = rng.normal([1.0, -2.0, 5.0], [2.0, 3.0, 7.0], (500, 3))
    joints = rng.normal(0.02, 0.001, (400, 2))
    norm = Normalizer.fit(labels, joints)
    z = norm.normalize_label(labels)
    assert np.allclose(z.mean(0), 0, atol=1e-4) and np.allclose(z.std(0), 1, atol=1e-3)
    assert np.allclose(norm.denormalize_label(z), labels, atol=1e-4)
    again = Normalizer.from_dict(norm.to_dict())
    assert np.array_equal(again.label_std, norm.label_std)
    assert np.array_equal(again.joint_mean, norm.joint_mean)
    prop = norm.proprio(joints[:5], joints[5:10])
    assert prop.shape == (5, 4) and prop.dtype == np.float32
    constant = Normalizer.fit(np.zeros((10, 1)), np.zeros((10, 2)))
    assert np.all(constant.label_std > 0) and np.all(constant.joint_std > 0)


def test_tactile_scaling_to_unit_range_leaves_the_input_alone() -> None:
    images = np.array([[0, 51, 255]], dtype=np.uint8)
    assert torch.allclose(tactile_to_tensor(images), torch.tensor([[0.0, 0.2, 1.0]]))
    as_float = torch.tensor([[0.0, 255.0]])
    assert torch.equal(tactile_to_tensor(as_float), torch.tensor([[0.0, 1.0]]))
    assert torch.equal(as_float, torch.tensor([[0.0, 255.0]]))


def test_tactile_scaling_of_arrays_equals_torch_conversion_bit_for_bit() -> None:
    # NumPy arrays take a NumPy path (no torch thread team in the batch thread); it must give the
    # very float32 values torch's own conversion gives, for every byte value and for float input.
    every_byte = np.arange(256, dtype=np.uint8).reshape(16, 16)
    batch = np.random.default_rng(3).integers(0, 256, size=(4, 2, 12, 14), dtype=np.uint8)
    floats = np.random.default_rng(4).uniform(0, 255, size=(3, 5)).astype(np.float32)
    for array in (every_byte, batch, floats):
        before = array.copy()
        through_torch = torch.as_tensor(array).to(torch.float32) * (1.0 / 255.0)
        result = tactile_to_tensor(array)
        assert result.dtype == torch.float32 and result.shape == through_torch.shape
        assert torch.equal(result, through_torch)
        assert np.array_equal(array, before)
