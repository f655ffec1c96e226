"""Hands as components, and physical truths of the three-finger hand on the paper's objects."""

from __future__ import annotations

import numpy as np
import pytest

from tacrefine.config import ConfigError
from tacrefine.dofs import to_si
from tacrefine.policy.baselines import image_moments
from tacrefine.sim.cell import CellConfig, GraspCell
from tacrefine.sim.hands import HANDS, hand_config
from tacrefine.sim.objects import OBJECTS, PAPER_OBJECT_SET

PITCH = 1.1  # mm, the default pad's taxel pitch


@pytest.fixture(scope="module")
def cell():
    c = GraspCell(CellConfig(gripper=hand_config("three_finger")))
    yield c
    c.close()


def _grasp(cell, name, **offset):
    cell.load_object(name)
    cell.place_object(None)
    before = cell.object_pose()
    result = cell.grasp_offset(to_si(offset))
    return result, before


def _moments(result):
    return [image_moments(img) for img in result.tactile[:, 0]]


def test_hand_registry_and_overrides():
    assert {"parallel_jaw", "three_finger"} <= set(HANDS.names())
    three = hand_config("three_finger")
    assert three.n_fingers == 3 and three.kind == "three_finger"
    assert hand_config("three_finger", {"grip_force_n": 4.0}).grip_force_n == 4.0
    with pytest.raises(ConfigError, match="hand.*'claw'.*known"):
        hand_config("claw")
    with pytest.raises(ConfigError, match="gripper.spin.*unknown field"):
        hand_config("three_finger", {"spin": 1})
    # the thumb opposes two fingers with twice their force: the squeeze balances
    assert three.finger_forces().tolist() == [6.0, 3.0, 3.0]


def test_paper_classes_have_five_real_sized_objects_each():
    classes = [OBJECTS[n].category for n in PAPER_OBJECT_SET]
    assert all(classes.count(c) >= 5 for c in ("rod", "plate", "disc"))
    for name in PAPER_OBJECT_SET:
        assert 2.0 <= OBJECTS[name].thickness_mm <= 20.0  # fits the hand's 30 mm opening


@pytest.mark.parametrize("name", PAPER_OBJECT_SET)
def test_every_pad_touches_and_the_squeeze_balances_at_the_nominal_grasp(cell, name):
    result, before = _grasp(cell, name)
    assert result.ok, result.failure
    assert (result.pad_forces > 0).all()
    assert (result.tactile[:, 0].reshape(3, -1).max(axis=1) > 0).all(), "every pad must feel the object"
    after = cell.object_pose()
    # three fingers balance: closing at the nominal grasp does not move the object
    assert np.linalg.norm(after[:3, 3] - before[:3, 3]) * 1000 < 0.2
    assert np.degrees(np.arccos(np.clip((np.trace(after[:3, :3].T @ before[:3, :3]) - 1) / 2, -1, 1))) < 0.2
    # and the object still stands where it was when the hand lets go
    cell.release()
    cell.world.step(60)
    assert np.linalg.norm(cell.object_pose()[:3, 3] - before[:3, 3]) * 1000 < 0.5


def test_rolling_a_rod_turns_its_line_and_parts_the_side_pads(cell):
    flat, _ = _grasp(cell, "rod_d10_l110")
    rolled, _ = _grasp(cell, "rod_d10_l110", roll=10.0)
    back, _ = _grasp(cell, "rod_d10_l110", roll=-10.0)
    m0, m1, m2 = _moments(flat), _moments(rolled), _moments(back)
    for a, b, c in zip(m0, m1, m2):
        # the contact line turns by the roll angle in every pad, both ways alike
        assert abs(abs(np.degrees(b[2] - a[2])) - 10.0) < 2.5
        assert np.sign(b[2] - a[2]) == -np.sign(c[2] - a[2])
    # the side pads sit 10 mm either side of the axis: the line parts by 2 * 10 * tan(10 deg)
    parted = (m1[2][0] - m1[1][0]) * PITCH
    assert abs(abs(parted) - 2 * 10 * np.tan(np.radians(10))) < 0.6
    assert np.sign(m2[2][0] - m2[1][0]) == -np.sign(parted)


def test_sliding_a_rod_along_z_shifts_every_image_by_as_much(cell):
    a, _ = _grasp(cell, "rod_d10_l110")
    b, _ = _grasp(cell, "rod_d10_l110", z=3.0)
    shifts = [(mb[0] - ma[0]) * PITCH for ma, mb in zip(_moments(a), _moments(b))]
    assert np.allclose(np.abs(shifts), 3.0, atol=0.35) and len(set(np.sign(shifts))) == 1


@pytest.mark.parametrize("name", ["plate_t3_w50", "disc_d40_t4"])
def test_pitching_moves_the_thumbs_contact_against_the_fingers(cell, name):
    # Pitch tilts the pads against the face: the thumb bears toward one end of its pad and
    # the opposing fingers toward the other; pitching the other way swaps the ends.
    flat, _ = _grasp(cell, name)
    m0 = _moments(flat)
    signs = []
    for pitch in (10.0, -10.0):
        tilted, _ = _grasp(cell, name, pitch=pitch)
        assert tilted.ok, tilted.failure
        m = _moments(tilted)
        thumb, fingers = m[0][0] - m0[0][0], [m[i][0] - m0[i][0] for i in (1, 2)]
        assert abs(thumb) > 1.0 and all(abs(f) > 1.0 for f in fingers)
        assert all(np.sign(f) == -np.sign(thumb) for f in fingers)
        signs.append(np.sign(thumb))
    assert signs[0] == -signs[1]


def test_sliding_a_disc_sideways_shifts_its_arc_between_the_side_pads(cell):
    a, _ = _grasp(cell, "disc_d40_t4")
    b, _ = _grasp(cell, "disc_d40_t4", y=4.0)
    c, _ = _grasp(cell, "disc_d40_t4", y=-4.0)
    ma, mb, mc = _moments(a), _moments(b), _moments(c)
    # centred, the arc reads the same on both side pads (mirror images)
    assert abs(ma[1][0] - ma[2][0]) < 0.2
    # moved sideways, one side pad reads the arc higher than the other, and the other way back
    assert abs(mb[1][0] - mb[2][0]) > 0.5
    assert np.sign(mb[1][0] - mb[2][0]) == -np.sign(mc[1][0] - mc[2][0])
