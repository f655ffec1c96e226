"""Which parts given by path the hand can grasp at all: the benchmark's unseen split keeps those.

A part that fits the open hand may still offer no grasp (every placement ends with a pad off
the part): the env refuses it at reset with :class:`UngraspableObjectError`, for every policy
alike, the oracle too. Scored as 0 % it would be the "worst part" of every policy and say
nothing about refinement, so the split leaves it out and names it. The probe is one reset at
seed 0 (the env tries several placements before it refuses); its answers are kept per process.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

#: reset seed of the probe
PROBE_SEED = 0


@functools.lru_cache(maxsize=1024)
def _graspable(env_id: str, kwargs_json: str, entry_json: str) -> str:
    """Empty when the part can be grasped, else why not."""
    import gymnasium as gym

    import tacrefine  # noqa: F401  (registers the env ids)
    from tacrefine.envs.grip_refine import UngraspableObjectError

    env = gym.make(env_id, objects=[json.loads(entry_json)], **json.loads(kwargs_json))
    try:
        env.reset(seed=PROBE_SEED)
    except UngraspableObjectError as exc:
        return str(exc)
    finally:
        env.close()
    return ""


def graspable_only(entries: Sequence[Any], env_id: str, env_kwargs: Mapping[str, Any] | None = None,
                   ) -> tuple[list[Any], dict[str, str]]:
    """``(kept, left_out)``: the part mappings the env can grasp (names pass as they are), and
    why each other one cannot be."""
    kwargs_json = json.dumps(dict(env_kwargs or {}), sort_keys=True)
    kept: list[Any] = []
    left_out: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, Mapping):
            why = _graspable(env_id, kwargs_json, json.dumps(dict(entry), sort_keys=True))
            if why:
                left_out[str(entry.get("name"))] = why
                continue
        kept.append(entry)
    if left_out:
        log.warning("left out of the unseen split, the hand cannot grasp them (a probe reset failed): %s",
                    ", ".join(sorted(left_out)))
    return kept, left_out


__all__ = ["PROBE_SEED", "graspable_only"]
