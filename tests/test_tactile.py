"""Physical truths of the tactile pads: shape, position, force and orientation of contacts."""

from __future__ import annotations

import numpy as np
import pybullet as pb
import pytest

from tacrefine import geometry
from tacrefine.config import ConfigError
from tacrefine.policy.baselines import image_moments
from tacrefine.sim.cell import CellConfig, GraspCell
from tacrefine.sim.gripper import Gripper, GripperConfig
from tacrefine.sim.objects import ObjectSpec, ShapePart
from tacrefine.sim.tactile import NoiseConfig, SensorConfig, TactileSensor
from tacrefine.sim.world import SENSED_GROUP, World


@pytest.fixture()
def bench():
    """A hand held open in free space with a sensor, and a helper to place a felt sphere."""
    world = World()
    hand = Gripper(world.client, GripperConfig())
    hand.set_wrist_pose(geometry.make_pose((0, 0, 0.3)))
    hand.open(10.0)
    sensor = TactileSensor(world.client, hand.body, hand.pad_links, hand.config.pads, SensorConfig())
    shape = world.client.createCollisionShape(pb.GEOM_SPHERE, radius=0.008)
    sphere = world.client.createMultiBody(0, shape)
    world.client.setCollisionFilterGroupMask(sphere, -1, 1 | SENSED_GROUP, -1)

    def press(y_mm: float, z_mm: float, depth_mm: float = 0.5) -> None:
        # left pad face is at wrist x = -10 mm; its normal points to +x
        centre_x = -10.0 + 8.0 - depth_mm
        world.client.resetBasePositionAndOrientation(sphere, [centre_x / 1000, y_mm / 1000, 0.3 + z_mm / 1000],
                                                     [0, 0, 0, 1])

    yield world, sensor, sphere, press
    world.close()


def centroid_mm(image: np.ndarray, cfg: SensorConfig) -> np.ndarray:
    row, col, _, _ = image_moments(image)
    return np.array([(row - (cfg.rows - 1) / 2) * cfg.pitch_mm, (col - (cfg.cols - 1) / 2) * cfg.pitch_mm])


def test_sphere_gives_round_blob_centred_on_pad(bench):
    world, sensor, sphere, press = bench
    press(0.0, 0.0)
    image = sensor.read(sphere, forces=[3.0, 0.0])[0, 0]
    assert (image > 0).sum() >= 9, "a sphere must light a blob of taxels, not a single point"
    assert np.allclose(centroid_mm(image, sensor.config), 0.0, atol=0.3)
    w = image.astype(float)
    rows, cols = np.indices(w.shape)
    r0, c0 = (w * rows).sum() / w.sum(), (w * cols).sum() / w.sum()
    var_r = (w * (rows - r0) ** 2).sum() / w.sum()
    var_c = (w * (cols - c0) ** 2).sum() / w.sum()
    assert var_r == pytest.approx(var_c, rel=0.15), "blob should be close to radially symmetric"
    assert image.max() == image[image.shape[0] // 2 - 1: image.shape[0] // 2 + 1,
                                image.shape[1] // 2 - 1: image.shape[1] // 2 + 1].max()
    assert sensor.read(sphere, forces=[3.0, 0.0])[1].sum() == 0, "the other pad is not touched"


@pytest.mark.parametrize(("dy", "dz"), [(2.0, 0.0), (0.0, 2.0), (-2.0, 0.0), (0.0, -2.0)])
def test_moving_contact_2mm_moves_centroid_2mm(bench, dy, dz):
    world, sensor, sphere, press = bench
    press(0.0, 0.0)
    before = centroid_mm(sensor.read(sphere, forces=[3.0, 0.0])[0, 0], sensor.config)
    press(dy, dz)
    after = centroid_mm(sensor.read(sphere, forces=[3.0, 0.0])[0, 0], sensor.config)
    # rows follow wrist z, columns wrist y
    assert np.allclose(after - before, [dz, dy], atol=0.3)


def test_reading_grows_with_probe_force_and_is_zero_without_contact(bench):
    world, sensor, sphere, press = bench
    press(0.0, 0.0)
    totals = [int(sensor.read(sphere, forces=[f, 0.0]).sum()) for f in (0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(totals, totals[1:]))
    press(0.0, 0.0, depth_mm=-5.0)  # 5 mm away from the pad
    assert sensor.read(sphere, forces=[0.0, 0.0]).sum() == 0


def test_total_pressure_grows_monotonically_with_grip_force():
    totals = []
    for force in (1.0, 2.0, 4.0, 8.0):
        cell = GraspCell(CellConfig(gripper=GripperConfig(grip_force_n=force),
                                    sensor=SensorConfig(full_scale_depth_mm=6.0)))
        cell.load_object("rod_r4")
        result = cell.grasp_offset(np.zeros(6))
        assert result.ok
        totals.append(int(result.tactile[:, 0].astype(int).sum()))
        cell.close()
    assert all(a < b for a, b in zip(totals, totals[1:])), totals


def _edge_object() -> ObjectSpec:
    """A square post turned 45 degrees, so each pad presses one vertical edge."""
    base = ShapePart("box", (15.0, 15.0, 2.5), (0.0, 0.0, 2.5))
    post = ShapePart("box", (4.0, 4.0, 15.0), (0.0, 0.0, 20.0), (0.0, 0.0, 45.0))
    return ObjectSpec("edge_post", "custom", (base, post), grasp_height_mm=30.0, thickness_mm=11.3)


def test_rolling_onto_a_box_edge_rotates_the_principal_axis_by_the_roll():
    cell = GraspCell()
    cell.load_object(_edge_object())
    angles = {}
    for roll in (-10.0, 0.0, 10.0, 20.0):
        cell.place_object(None)
        wrist = cell.nominal_wrist_pose() @ geometry.vector_to_pose([0, 0, 0, np.radians(roll), 0, 0])
        result = cell.grasp_at(wrist)
        assert result.ok, result.failure
        moments = image_moments(result.tactile[0, 0])
        assert moments[3] > 0.8, "an edge must read as a line"
        angles[roll] = np.degrees(moments[2])
    for roll, angle in angles.items():
        turned = (angle - angles[0.0] + 90) % 180 - 90
        # the wrist turns by +roll, so the edge turns by -roll in the pad frame
        assert turned == pytest.approx(-roll, abs=2.0), angles
    cell.close()


def test_same_seed_same_noisy_image_and_noise_off_is_exact(bench):
    world, sensor, sphere, press = bench
    press(1.0, -1.0)
    noisy = TactileSensor(world.client, sensor.body, sensor.pad_links, sensor.pads,
                          SensorConfig(noise=NoiseConfig(enabled=True, offset=3.0)))
    a = noisy.read(sphere, rng=np.random.default_rng(7), forces=[2.0, 0.0])
    b = noisy.read(sphere, rng=np.random.default_rng(7), forces=[2.0, 0.0])
    c = noisy.read(sphere, rng=np.random.default_rng(8), forces=[2.0, 0.0])
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a[1].mean() > 1.0, "noise with an offset lights the untouched pad"
    with pytest.raises(ValueError, match="rng"):
        noisy.read(sphere, forces=[2.0, 0.0])
    clean = sensor.read(sphere, forces=[0.0, 0.0])
    assert clean.dtype == np.uint8 and clean.sum() == 0


def test_shear_channels_are_optional_and_centred():
    cell = GraspCell(CellConfig(sensor=SensorConfig(shear=True)))
    cell.load_object("plate_w10")
    result = cell.grasp_offset(np.zeros(6))
    assert result.tactile.shape[1] == 3
    untouched = result.tactile[:, 0] == 0
    assert np.all(result.tactile[:, 1:][:, :, untouched[0]] == 128)
    cell.close()
    assert GraspCell().sensor.config.channels == 1


@pytest.mark.parametrize(("rows", "cols", "pitch"), [(32, 32, 0.5), (11, 9, 1.1)])
def test_resolution_is_configurable(rows, cols, pitch):
    cell = GraspCell(CellConfig(sensor=SensorConfig(rows=rows, cols=cols, pitch_mm=pitch)))
    cell.load_object("rod_r4")
    result = cell.grasp_offset(np.zeros(6))
    assert result.tactile.shape == (2, 1, rows, cols)
    assert (result.tactile > 0).sum() > 4
    cell.close()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"pitch_mm": 0.0}, "sensor.pitch_mm"), ({"rows": 0}, "sensor.rows"), ({"cols": -3}, "sensor.cols"),
     ({"layer_stiffness": -1.0}, "sensor.layer_stiffness"), ({"pitch_mm": float("nan")}, "sensor.pitch_mm")],
)
def test_bad_sensor_settings_are_refused_by_name(kwargs, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        SensorConfig(**kwargs)


def test_sensing_area_larger_than_pad_is_refused():
    with pytest.raises(ConfigError, match="sensor.rows/cols/pitch_mm"):
        GraspCell(CellConfig(sensor=SensorConfig(rows=40, cols=40, pitch_mm=1.0)))


@pytest.mark.parametrize(("kwargs", "field"), [({"grip_force_n": -1.0}, "gripper.grip_force_n"),
                                               ({"max_opening_mm": 0.0}, "gripper.max_opening_mm"),
                                               ({"settle_steps": 0}, "gripper.settle_steps")])
def test_bad_gripper_settings_are_refused_by_name(kwargs, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        GripperConfig(**kwargs)
