"""The pad load is the force along the pad normal, not the actuator's force whatever the geometry."""

from __future__ import annotations

import numpy as np
import pytest

from tacrefine.sim.cell import CellConfig, GraspCell
from tacrefine.sim.gripper import GripperConfig
from tacrefine.sim.pad_load import pad_loads
from tacrefine.sim.tactile import PadSpec


def test_parallel_jaw_pads_are_loaded_by_the_actuator_force():
    cell = GraspCell()
    try:
        assert np.allclose(cell.pad_alignment, 1.0)
        cell.load_object("rod_r4")
        result = cell.grasp_offset(np.zeros(6))
        assert result.ok
        assert np.allclose(cell.pad_loads(result.pad_forces), cell.gripper.actuator_forces())
    finally:
        cell.close()


def test_a_pad_tilted_from_the_push_reads_the_contact_normal_component():
    tilt = np.radians(30.0)
    pads = (PadSpec(link="left_pad", normal=(float(np.cos(tilt)), 0.0, float(np.sin(tilt))),
                    row_axis=(float(-np.sin(tilt)), 0.0, float(np.cos(tilt)))),
            PadSpec(link="right_pad", normal=(-1.0, 0.0, 0.0)))
    cell = GraspCell(CellConfig(gripper=GripperConfig(pads=pads)))
    try:
        assert cell.pad_alignment[0] == pytest.approx(np.cos(tilt), abs=1e-6)
        assert cell.pad_alignment[1] == pytest.approx(1.0)
        cell.load_object("rod_r4")
        result = cell.grasp_offset(np.zeros(6))
        loads = cell.pad_loads(result.pad_forces)
        actuator = cell.gripper.actuator_forces()
        # the face pushes along x; only cos(30 deg) of that contact force lies along the declared normal
        assert loads[0] == pytest.approx(result.pad_forces[0] * np.cos(tilt), rel=0.02)
        assert abs(loads[0] - actuator[0]) > 0.1 * actuator[0], "the actuator force is not this pad's load"
        assert loads[1] == pytest.approx(actuator[1])
    finally:
        cell.close()


def test_pads_out_of_contact_carry_no_load_and_misaligned_pads_need_contact_forces():
    assert np.array_equal(pad_loads(np.array([0.0, 2.0]), np.array([5.0, 5.0]), np.ones(2), None), [0.0, 5.0])
    with pytest.raises(ValueError, match="contact normal"):
        pad_loads(np.ones(2), np.ones(2), np.array([1.0, 0.5]), None)
