"""User parts by path: the grasp inferred from geometry, scaled with the part, and bad files
refused with the file and the problem named."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pybullet_data
import pytest
from tacrefine.envs.grip_refine import UngraspableObjectError

import tacrefine  # noqa: F401  (registers the env ids)
from tacrefine.config import ConfigError
from tacrefine.sim.cell import GraspCell
from tacrefine.sim.objects import object_from_dict

BOXES_URDF = """<?xml version="1.0"?>
<robot name="part">
  <link name="base">
    <inertial><origin xyz="{ix} 0 {iz}" rpy="0 {ip} 0"/><mass value="0.07"/>
      <inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>
    {shapes}
  </link>
</robot>
"""


def box(size, xyz):
    return (f'<collision><origin xyz="{xyz[0]} {xyz[1]} {xyz[2]}"/><geometry><box size="{size[0]} {size[1]} '
            f'{size[2]}"/></geometry></collision>')


def write_urdf(path: Path, shapes: str, inertial=(0.0, 0.0, 0.0)) -> str:
    path.write_text(BOXES_URDF.format(ix=inertial[0], iz=inertial[1], ip=inertial[2], shapes=shapes))
    return str(path)


# a 30 x 30 x 5 mm base carrying a 4 mm thick, 12 mm wide, 30 mm tall plate, 3 mm off centre in x
PLATE = box((0.03, 0.03, 0.005), (0, 0, 0.0025)) + box((0.004, 0.012, 0.03), (0.003, 0, 0.02))


def test_grasp_of_a_plate_is_inferred_from_its_geometry(tmp_path):
    spec = object_from_dict({"name": "p", "urdf": write_urdf(tmp_path / "p.urdf", PLATE)})
    assert spec.grasp_height_mm == pytest.approx(34.0, abs=0.6)  # 1 mm below the 35 mm top
    assert spec.thickness_mm == pytest.approx(4.0, abs=0.6)
    assert spec.category == "plate"
    assert spec.frame_in_file[0] == pytest.approx(3.0, abs=0.3)  # centred on the plate, not the file origin
    cell = GraspCell(extra_objects={"p": spec})
    try:
        cell.load_object("p")
        result = cell.grasp_offset(np.zeros(6))
        assert result.ok, result.failure
        assert (result.tactile[:, 0].reshape(2, -1) > 0).sum(axis=1).min() >= 10
        # the pads close symmetrically on a centred 4 mm plate
        assert result.joints == pytest.approx([0.002, 0.002], abs=4e-4)
    finally:
        cell.close()


def test_offset_inertial_frame_changes_nothing_inferred(tmp_path):
    centred = object_from_dict({"name": "c", "urdf": write_urdf(tmp_path / "c.urdf", PLATE)})
    offset = object_from_dict({"name": "o", "urdf": write_urdf(tmp_path / "o.urdf", PLATE, (0.006, 0.01, 0.4))})
    # PyBullet's ray test sees the shapes of a body with a rotated inertial frame inflated by
    # its default collision margin (about 0.8 mm; contacts are not): hence the tolerance
    assert offset.grasp_height_mm == pytest.approx(centred.grasp_height_mm, abs=2.0)
    assert offset.thickness_mm == pytest.approx(centred.thickness_mm, abs=2.0)
    assert np.allclose(offset.frame_in_file[:2], centred.frame_in_file[:2], atol=0.5)
    assert np.allclose(offset.frame_in_file[3:], centred.frame_in_file[3:], atol=1.0)


def test_a_round_post_is_a_rod_and_user_values_win(tmp_path):
    shapes = box((0.03, 0.03, 0.005), (0, 0, 0.0025)) + (
        '<collision><origin xyz="0 0 0.02"/><geometry><cylinder radius="0.005" length="0.03"/></geometry></collision>')
    path = write_urdf(tmp_path / "rod.urdf", shapes)
    spec = object_from_dict({"name": "r", "urdf": path})
    assert spec.category == "rod"
    assert spec.thickness_mm == pytest.approx(10.0, abs=1.5)  # rays see the cylinder's margin
    given = object_from_dict({"name": "r", "urdf": path, "grasp_height_mm": 25.0, "category": "custom",
                              "thickness_mm": 11.0})
    assert (given.grasp_height_mm, given.thickness_mm, given.category) == (25.0, 11.0, "custom")


def test_mesh_scale_scales_the_part_and_its_grasp(tmp_path):
    mesh = tmp_path / "slab.obj"
    # a 4 x 12 x 20 mm slab standing on its end
    verts = [(sx * 0.002, sy * 0.006, z) for sx in (-1, 1) for sy in (-1, 1) for z in (0.0, 0.02)]
    faces = [(1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5), (2, 6, 8, 4)]
    mesh.write_text("".join(f"v {a} {b} {c}\n" for a, b, c in verts)
                    + "".join("f " + " ".join(map(str, f)) + "\n" for f in faces))
    one = object_from_dict({"name": "s", "mesh": str(mesh)})
    two = object_from_dict({"name": "s", "mesh": str(mesh), "mesh_scale": 2.0})
    # rays see a convex mesh with a margin of about 0.6 mm
    assert one.thickness_mm == pytest.approx(4.0, abs=2.0)
    assert two.thickness_mm == pytest.approx(8.0, abs=2.0)
    assert two.thickness_mm - one.thickness_mm == pytest.approx(4.0, abs=0.8)  # the margin cancels
    assert two.grasp_height_mm == pytest.approx(39.0, abs=1.5)  # the 40 mm part, 1 mm below its top
    given = object_from_dict({"name": "s", "mesh": str(mesh), "mesh_scale": 1.5, "grasp_height_mm": 18.0,
                              "thickness_mm": 4.0})
    assert (given.grasp_height_mm, given.thickness_mm) == (27.0, 6.0)


def test_relative_mesh_paths_resolve_next_to_the_urdf(tmp_path, monkeypatch):
    folder = tmp_path / "part"
    folder.mkdir()
    mesh = folder / "slab.obj"
    verts = [(sx * 0.002, sy * 0.006, z) for sx in (-1, 1) for sy in (-1, 1) for z in (0.0, 0.025)]
    faces = [(1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5), (2, 6, 8, 4)]
    mesh.write_text("".join(f"v {a} {b} {c}\n" for a, b, c in verts)
                    + "".join("f " + " ".join(map(str, f)) + "\n" for f in faces))
    shapes = '<collision><geometry><mesh filename="slab.obj"/></geometry></collision>'
    path = write_urdf(folder / "part.urdf", shapes)
    monkeypatch.chdir(tmp_path)
    spec = object_from_dict({"name": "rel", "urdf": os.path.relpath(path, tmp_path)})
    assert spec.grasp_height_mm == pytest.approx(24.0, abs=1.5)


def test_bad_parts_are_refused_naming_file_and_problem(tmp_path):
    with pytest.raises(ConfigError, match=r"objects\.g\.urdf: file .*nope\.urdf.* does not exist"):
        object_from_dict({"name": "g", "urdf": str(tmp_path / "nope.urdf")})
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ConfigError, match=r"notes\.txt.* is not a mesh file"):
        object_from_dict({"name": "g", "mesh": str(text)})
    junk = tmp_path / "junk.urdf"
    junk.write_text("<robot><link")
    with pytest.raises(ConfigError, match=r"junk\.urdf.* could not be loaded"):
        object_from_dict({"name": "g", "urdf": str(junk)})
    ghost = write_urdf(tmp_path / "ghost.urdf", '<visual><geometry><box size="0.01 0.01 0.01"/></geometry></visual>')
    with pytest.raises(ConfigError, match=r"ghost\.urdf.* has no collision geometry"):
        object_from_dict({"name": "g", "urdf": ghost})
    with pytest.raises(ConfigError, match=r"mesh_scale.*ghost\.urdf.*> 0"):
        object_from_dict({"name": "g", "urdf": ghost, "mesh_scale": 0})
    wide = write_urdf(tmp_path / "wide.urdf", box((0.07, 0.07, 0.03), (0, 0, 0.015)))
    with pytest.raises(ConfigError, match=r"wide\.urdf.*70\.\d mm thick.*up to 48\.0 mm"):
        gym.make("tacrefine/GripRefine-v0", objects=[{"name": "wide", "urdf": wide}])


@pytest.mark.slow
def test_pybullet_random_urdfs_are_usable_or_refused_by_name():
    root = Path(pybullet_data.getDataPath()) / "random_urdfs"
    usable = 0
    for index in range(0, 12):
        path = str(root / f"{index:03d}" / f"{index:03d}.urdf")
        try:
            env = gym.make("tacrefine/GripRefine-v0", objects=[{"name": f"blob{index}", "urdf": path}])
        except ConfigError as exc:
            assert path in str(exc)
            continue
        try:
            obs, info = env.reset(seed=0)
        except UngraspableObjectError as exc:
            assert f"blob{index}" in str(exc)
            continue
        increment = env.unwrapped.oracle_increment() / env.unwrapped.action_scale
        for _ in range(5):
            obs, _, terminated, _, info = env.step(np.clip(increment, -1, 1))
            if terminated:
                break
            increment = env.unwrapped.oracle_increment() / env.unwrapped.action_scale
        usable += bool(info["is_success"])
        env.close()
    assert usable >= 6
