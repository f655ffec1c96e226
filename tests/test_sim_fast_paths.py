"""The simulation's cheaper paths compute what the plain ones did: bound PyBullet functions,
cached sensor maps and ray end points, the settle loop's speed checks, the hand's opening."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pybullet as pb
import pytest

from tacrefine.sim import sensor_response
from tacrefine.sim.cell import GraspCell, _norm
from tacrefine.sim.hands.base import Hand
from tacrefine.sim.sensor_config import SensorConfig
from tacrefine.sim.sensor_response import ReprCache
from tacrefine.sim.tactile import TactileSensor
from tacrefine.sim.world import World


def test_bound_client_keeps_the_partial_bulletclient_would_build():
    a, b = World(), World()
    try:
        bound = a.client.getNumBodies
        assert isinstance(bound, functools.partial) and bound.func is pb.getNumBodies
        assert bound.keywords == {"physicsClientId": a.client._client}
        assert a.client.getNumBodies is bound  # kept: later lookups are attribute reads
        assert b.client.getNumBodies.keywords == {"physicsClientId": b.client._client} != bound.keywords
        assert "disconnect" not in vars(a.client)  # its lookup marks the client closed: never kept
        before = b.num_bodies()
        a.client.createMultiBody(0, a.client.createCollisionShape(pb.GEOM_SPHERE, radius=0.01))
        assert b.num_bodies() == before and a.num_bodies() == before + 1  # each world its own client
    finally:
        a.close()
        b.close()


def test_repr_cache_tells_apart_what_equality_merges():
    cache = ReprCache()
    built = []
    for key in ((0.0,), (-0.0,), (1,), (1.0,), (True,), (1.0,)):
        cache.get(key, lambda k=key: built.append(k) or k)
    assert built == [(0.0,), (-0.0,), (1,), (1.0,), (True,)]  # (1.0,) the second time: cached


@pytest.mark.parametrize("fields", [{}, {"gain_map_std": 0.1, "offset_map_counts": 3.0, "spread_mm": 0.8,
                                         "dead_taxels": ((0, 1, 2), (2, 0, 0)), "map_seed": 4}])
def test_cached_sensor_maps_equal_freshly_drawn_ones_and_are_read_only(fields, monkeypatch):
    cfg = SensorConfig(**fields)
    monkeypatch.setattr(sensor_response, "_MAPS", ReprCache())  # nothing cached yet: the first call draws them
    fresh = sensor_response.fixed_maps(cfg, 3)
    again = sensor_response.SensorResponse(SensorConfig(**fields, layer_stiffness=0.2), 3)  # another config, same maps
    assert again.gain_map is fresh[0] and again.offset_map is fresh[1] and again.dead is fresh[2]
    drawn = sensor_response._draw_maps(cfg, 3)
    for got, want in zip(fresh[:3], drawn[:3]):
        assert got.tobytes() == want.tobytes() and not got.flags.writeable
    with pytest.raises(ValueError):
        fresh[0][0, 0, 0] = 2.0
    # a different unit (seed) or pad count is a different key
    other = sensor_response.fixed_maps(SensorConfig(**{**fields, "map_seed": 9}), 3)
    assert other[0] is not fresh[0]
    assert sensor_response.fixed_maps(cfg, 2)[0].shape[0] == 2


def test_shared_ray_end_points_equal_each_sensors_own():
    cell = GraspCell()
    try:
        sensor = cell.sensor
        own_from, own_to = TactileSensor._ray_endpoints_local(sensor)
        assert sensor._local_from.tobytes() == own_from.tobytes() and sensor._local_to.tobytes() == own_to.tobytes()
        cell.reset()  # the next episode's sensor shares them
        assert cell.sensor._local_from is sensor._local_from and not sensor._local_from.flags.writeable
    finally:
        cell.close()


class _States:
    """A stand-in client whose joint states carry given speeds."""

    def __init__(self, speeds):
        self.speeds = speeds

    def getJointStates(self, body, joints):  # noqa: N802 (PyBullet's name)
        return [(0.0, v, (0.0,) * 6, 0.0) for v in self.speeds]


def test_fastest_joint_speed_is_numpys_abs_max_even_with_nan_and_inf():
    values = [0.0, -0.0, 1.5e-3, -2.0, math.inf, -math.inf, math.nan]
    hand = Hand.__new__(Hand)
    hand.body, hand.finger_joints = 0, [0, 1, 2]
    for speeds in itertools.product(values, repeat=3):
        hand.client = _States(speeds)
        got, want = hand.fastest_joint_speed(), np.abs(hand.joint_speeds()).max()
        assert (math.isnan(got) and math.isnan(want)) or np.array([got]).tobytes() == np.array([want]).tobytes()


def test_settle_norm_is_numpys_norm_bit_for_bit():
    rng = np.random.default_rng(0)
    for v in list(rng.normal(size=(2000, 3)) * rng.uniform(1e-9, 10, (2000, 1))) + [(0.0, -0.0, 0.0), (1e-3, 0, 0)]:
        assert np.array([_norm(tuple(float(x) for x in v))]).tobytes() == np.array([np.linalg.norm(v)]).tobytes()


class _Recorder:
    """A stand-in client that keeps the joint commands."""

    POSITION_CONTROL = pb.POSITION_CONTROL

    def __init__(self):
        self.calls = []

    def resetJointState(self, *args):  # noqa: N802
        self.calls.append(("reset", args))

    def setJointMotorControlArray(self, *args, **kwargs):  # noqa: N802
        self.calls.append(("motors", args, kwargs))


@pytest.mark.parametrize("opening", [12.3, np.float64(40.0), np.array(7.5), np.array([3.0, 4.5, 60.0])])
def test_open_commands_the_same_values_as_broadcasting(opening):
    hand = Hand.__new__(Hand)
    hand.body, hand.finger_joints = 0, [3, 5, 7]
    hand.config = type("C", (), {"max_opening_mm": 30.0})()
    hand.client = _Recorder()
    hand.open(opening)
    target = np.broadcast_to(np.minimum(np.asarray(opening, float), 30.0) / 1000.0, (3,))
    resets = [c[1] for c in hand.client.calls if c[0] == "reset"]
    assert resets == [(0, j, float(q), 0.0) for j, q in zip([3, 5, 7], target)]
    assert all(type(r[2]) is float for r in resets)
    motors = hand.client.calls[-1]
    assert motors[2]["targetPositions"] == target.tolist() and motors[2]["forces"] == [100.0] * 3
