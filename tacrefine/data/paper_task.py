"""The data of the paper's task (the three-finger hand on its rods, plates and discs), shared by
the main job and the ablation benchmark."""

from __future__ import annotations

from typing import Any


def hand_data_defaults() -> Any:
    """Data of the paper's task: the three-finger hand on the 15 rods, plates and discs, each
    with its class's DoF, offsets within the hand env's ranges (+-8 mm, +-15 deg)."""
    from tacrefine.data.generate import DataConfig
    from tacrefine.envs.grip_refine_hand import HAND_OFFSET_RANGE
    from tacrefine.sim.objects import PAPER_OBJECT_SET

    union = ("y", "z", "roll", "pitch")
    return DataConfig(objects=PAPER_OBJECT_SET, hand="three_finger", samples_per_object=800, shard_size=200,
                      workers=2, seed=0, offset_range={d: HAND_OFFSET_RANGE[d] for d in union})
