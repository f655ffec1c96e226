"""The cheaper encoder of the main job and of ``configs/default.yaml`` is a setting of existing
options, not a new network.

Why: both train an encoder of half the channels (issue 20, time to precision);
``ModelConfig``'s defaults and the shipped checkpoints must keep building today's network, and
the cheaper network must differ from it only there.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tacrefine.config import to_dict
from tacrefine.pipelines.main_job import load_main_config
from tacrefine.policy.model import TacRefineNet
from tacrefine.policy.model_config import ModelConfig
from tacrefine.training.config import load_run_config

ROOT = Path(__file__).resolve().parents[1]


def _encoder_macs(cfg: ModelConfig, rows: int = 14, cols: int = 12) -> int:
    """Multiply-adds of the encoder's 3x3 convolutions for one pad image."""
    macs, prev, h, w = 0, 1 + (2 if cfg.coord_channels else 0), rows, cols
    for ch, stride in zip(cfg.conv_channels, cfg.conv_strides):
        h, w = (h + stride - 1) // stride, (w + stride - 1) // stride
        macs += h * w * prev * ch * 9
        prev = ch
    return macs


def test_default_network_is_unchanged():
    assert ModelConfig().conv_channels == (16, 32, 64)
    shipped = load_run_config(ROOT / "tacrefine" / "policy" / "pretrained" / "config.yaml")
    assert shipped.model.conv_channels == (16, 32, 64)


def test_cheaper_models_differ_from_the_default_only_in_encoder_width():
    main = load_main_config().training.model
    default_yaml = load_run_config(ROOT / "configs" / "default.yaml").model
    for cheaper in (main, default_yaml):
        diff = {k for k, v in to_dict(cheaper).items() if to_dict(ModelConfig())[k] != v}
        assert diff == {"conv_channels"}
        assert _encoder_macs(cheaper) * 3 < _encoder_macs(ModelConfig())  # ~4x fewer multiply-adds
    assert main.conv_channels == default_yaml.conv_channels


def test_main_job_encoder_builds_and_trains_a_step():
    cfg = load_main_config().training.model.resolved(("y", "z", "roll", "pitch"), 3, 1)
    torch.manual_seed(0)
    net = TacRefineNet(cfg)
    cur, tgt = torch.rand(4, 3, 1, 14, 12), torch.rand(4, 3, 1, 14, 12)
    pred = net(cur, tgt, torch.randn(4, 6))
    assert pred.shape == (4, 4) and torch.isfinite(pred).all()
    pred.square().mean().backward()
    first_conv = net.encoder.net[0]
    assert first_conv.out_channels == 8 and first_conv.weight.grad is not None
    assert float(first_conv.weight.grad.abs().sum()) > 0.0


def test_training_cost_measures_every_candidate_and_restores_threads():
    from tacrefine.training.throughput import training_cost

    threads = torch.get_num_threads()
    small = ModelConfig(width=16, conv_channels=(4, 8), conv_strides=(1, 2), token_grid=(2, 2), num_heads=2,
                        proprio_hidden=8, head_hidden=16)
    rates = training_cost({"a": (small, (2, 1, 6, 5), 4), "b": (small, (3, 1, 6, 5), 4)}, rounds=1, steps=1)
    assert set(rates) == {"a", "b"}
    assert all(r > 0 and r == r for r in rates.values())
    assert torch.get_num_threads() == threads
