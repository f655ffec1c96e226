"""The finger ablation: config checks and a tiny end-to-end run (same data budget per hand,
same training budget, the same scored episodes)."""

from __future__ import annotations

import json

import pytest

from tacrefine.config import ConfigError
from tacrefine.evaluation.ablation import load_ablation_config, run_ablation

TINY = ["data.objects=[rod_d8_l100,disc_d36_t3]", "data.samples_per_object=24", "data.shard_size=24",
        "data.workers=1", "training.data.val_pairs=32", "training.data.norm_pairs=128",
        "training.model.width=16", "training.model.conv_channels=[8]", "training.model.conv_strides=[1]",
        "training.model.token_grid=[2,2]", "training.model.num_heads=2", "training.model.proprio_hidden=8",
        "training.model.head_hidden=16", "training.train.epochs=1", "training.train.steps_per_epoch=4",
        "training.train.batch_size=16", "training.optim.warmup_steps=1", "objects=[rod_d8_l100,disc_d36_t3]",
        "episodes_per_object=1", "plots=false", "progress=false"]


def test_defaults_compare_three_fingers_with_two_on_the_same_data_budget():
    cfg = load_ablation_config()
    assert cfg.suite == "hand"
    assert {v["hand"] for v in cfg.variants.values()} == {"three_finger", "parallel_jaw"}
    assert cfg.data.hand == "three_finger" and cfg.data.union_dofs() == ("y", "z", "roll", "pitch")
    with pytest.raises(ConfigError, match=r"variants.x.hand"):
        load_ablation_config(overrides=["variants={x: {hand: four_finger}, y: {hand: three_finger}}"])
    with pytest.raises(ConfigError, match=r"variants"):
        load_ablation_config(overrides=["variants={only: {hand: three_finger}}"])


def test_tiny_ablation_runs_every_variant_on_the_same_episodes(tmp_path):
    summary = run_ablation(load_ablation_config(overrides=TINY), tmp_path)
    assert set(summary["variants"]) == {"three_finger", "two_finger"}
    three, two = summary["variants"]["three_finger"], summary["variants"]["two_finger"]
    assert three["hand"] == "three_finger" and two["hand"] == "parallel_jaw"
    assert three["dataset"] != two["dataset"]  # each hand records its own grasps, same config and seed
    assert three["episodes"] == two["episodes"] == 2
    seeds = []
    for v in (three, two):
        report = json.loads((tmp_path / v["report"]).read_text())
        assert report["env"]["id"] == "tacrefine/GripRefineHand-v0"
        seeds.append(sorted((e["object"], e["seed"]) for e in report["episodes"]))
    assert seeds[0] == seeds[1]
    assert json.loads((tmp_path / "ablation.json").read_text())["schema"] == "tacrefine.benchmark.ablation"
