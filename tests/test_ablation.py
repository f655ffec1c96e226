"""The finger ablation: config checks and a tiny end-to-end run (same data budget per hand,
same training budget, the same scored episodes)."""

from __future__ import annotations

import json
from pathlib import Path

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
    from tacrefine.evaluation.figures import figures_markdown

    out = tmp_path / "ablation"  # where `benchmark.py ablation --out tmp_path` writes
    summary = run_ablation(load_ablation_config(overrides=TINY), out)
    assert set(summary["variants"]) == {"three_finger", "two_finger"}
    three, two = summary["variants"]["three_finger"], summary["variants"]["two_finger"]
    assert three["hand"] == "three_finger" and two["hand"] == "parallel_jaw"
    assert three["dataset"] != two["dataset"]  # each hand records its own grasps, same config and seed
    assert three["episodes"] == two["episodes"] == 2
    seeds = []
    for v in (three, two):
        report = json.loads((out / v["report"]).read_text())
        assert report["env"]["id"] == "tacrefine/GripRefineHand-v0"
        seeds.append(sorted((e["object"], e["seed"]) for e in report["episodes"]))
    assert seeds[0] == seeds[1]
    assert json.loads((out / "ablation.json").read_text())["schema"] == "tacrefine.benchmark.ablation"
    # the README's ablation table renders from that JSON alone (no precision.json beside it)
    figures = figures_markdown(tmp_path)
    for name, v in summary["variants"].items():
        assert f"| {name} ({v['hand']}) | {v['episodes']} | {100 * v['success']['5mm_5deg']:.1f} % |" in figures


def test_family_ablation_config_trains_on_families_and_scores_held_out_parts():
    from tacrefine.sim.families import HELD_OUT_START, expand_object_list

    cfg = load_ablation_config(Path(__file__).resolve().parents[1] / "configs" / "ablation_families.yaml")
    trained = [n for n in cfg.data.objects if "-" in n]
    scored = expand_object_list(cfg.objects)
    assert len(trained) >= 100 and all(int(n.rsplit("-", 1)[1]) < HELD_OUT_START for n in trained)
    held_out = [n for n in scored if "-" in n and int(n.rsplit("-", 1)[1]) >= HELD_OUT_START]
    assert len(held_out) >= 10 and not set(held_out) & set(cfg.data.objects)
    assert {v["hand"] for v in cfg.variants.values()} == {"three_finger", "parallel_jaw"}
    assert set(cfg.target_modes) == {"fixed", "random"}
