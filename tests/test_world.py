"""Worlds are isolated, deterministic and do not leak across resets."""

from __future__ import annotations

import resource

import numpy as np
import pytest

from tacrefine import geometry
from tacrefine.sim.cell import GraspCell
from tacrefine.sim.world import World, WorldConfig


def test_two_worlds_in_one_process_do_not_see_each_other():
    a, b = GraspCell(), GraspCell()
    assert a.client._client != b.client._client
    a.load_object("rod_r4")
    bodies_b = b.world.num_bodies()
    assert b.object is None and bodies_b == a.world.num_bodies() - 1
    # moving the object in world a leaves world b untouched
    b.load_object("rod_r4")
    a.client.resetBasePositionAndOrientation(a.object, [0.1, 0.0, 0.2], [0, 0, 0, 1])
    assert np.allclose(b.object_pose()[:3, 3], [0, 0, b.object_pose()[2, 3]], atol=1e-6)
    a.close()
    # b still works after a is gone
    assert b.grasp_offset(np.zeros(6)).ok
    b.close()


def test_same_seed_same_images():
    def run(seed: int) -> list[np.ndarray]:
        cell = GraspCell()
        rng = np.random.default_rng(seed)
        out = []
        for name in ("plate_w6", "t_shape"):
            cell.load_object(name)
            cell.place_object(rng)
            offset = geometry.embed(rng.uniform(-1, 1, 3) * [0.004, 0.004, 0.1], ("y", "z", "roll"))
            out.append(cell.grasp_offset(offset).tactile)
        cell.close()
        return out

    first, second, other = run(3), run(3), run(4)
    assert all(np.array_equal(x, y) for x, y in zip(first, second))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other))


def test_world_config_is_validated_and_gui_only_when_asked():
    with pytest.raises(ValueError, match="world.time_step"):
        WorldConfig(time_step=0.0)
    world = World()
    assert world.client.getConnectionInfo()["connectionMethod"] == 2  # DIRECT
    world.close()
    world.close()  # closing twice is safe


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@pytest.mark.slow
def test_thousand_resets_keep_bodies_and_memory_flat():
    cell = GraspCell()
    names = ("rod_r4", "wedge", "plate_w6", "hexagon")
    rng = np.random.default_rng(0)

    def cycle(i: int) -> None:
        cell.load_object(names[i % len(names)])  # alternating objects: bodies are removed and rebuilt
        cell.place_object(rng)
        if i % 10 == 0:
            cell.grasp_offset(np.zeros(6))

    for i in range(100):  # warm-up: caches and allocator reach their working size
        cycle(i)
    bodies, constraints, rss = cell.world.num_bodies(), cell.client.getNumConstraints(), _rss_mb()
    for i in range(1000):
        cycle(i)
    assert cell.world.num_bodies() == bodies
    assert cell.client.getNumConstraints() == constraints
    assert _rss_mb() - rss < 15.0, f"resident memory grew from {rss:.1f} MB to {_rss_mb():.1f} MB"
    cell.close()
