"""The object library: classes, nominal grasps, user objects and clear refusals."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tacrefine.config import ConfigError
from tacrefine.sim.cell import GraspCell
from tacrefine.sim.objects import DEFAULT_OBJECT_SET, OBJECTS, get_object, object_from_dict

URDF = """<?xml version="1.0"?>
<robot name="user_block">
  <link name="base">
    <inertial><mass value="0.05"/><inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 0.017"/><geometry><box size="0.006 0.008 0.034"/></geometry></collision>
    <visual><origin xyz="0 0 0.017"/><geometry><box size="0.006 0.008 0.034"/></geometry></visual>
  </link>
</robot>
"""


def _box_obj(half: tuple[float, float, float], z0: float) -> str:
    x, y, z = half
    verts = [(sx * x, sy * y, z0 + (sz + 1) * z) for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
    faces = [(1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5), (2, 6, 8, 4)]
    return "".join(f"v {a} {b} {c}\n" for a, b, c in verts) + "".join(
        "f " + " ".join(map(str, f)) + "\n" for f in faces)


def test_library_has_classes_and_at_least_twelve_objects():
    counts = Counter(o.category for o in OBJECTS.values())
    assert len(OBJECTS) >= 12
    for category in ("rod", "plate", "disc", "box", "prism", "edge"):
        assert counts[category] >= 1
    assert counts["rod"] >= 3, "rods come in several radii"
    assert {"t_shape", "l_shape", "wedge", "hexagon"} <= set(OBJECTS)
    assert all(OBJECTS[n].category != "disc" for n in DEFAULT_OBJECT_SET)


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_every_object_rests_and_is_grasped_at_its_nominal_grasp(name):
    cell = GraspCell()
    cell.load_object(name)
    cell.world.step(120)
    assert cell.object_pose()[2, 2] > 0.999, "the object stands upright on the table"
    result = cell.grasp_offset(np.zeros(6))
    assert result.ok, result.failure
    assert (result.tactile[:, 0] > 0).sum(axis=(1, 2)).min() >= 3, "every pad feels a dense patch"
    cell.close()


def test_unknown_object_is_refused_with_the_known_names():
    with pytest.raises(ConfigError, match="known objects: .*rod_r4"):
        get_object("teapot")


def test_user_objects_from_urdf_and_mesh(tmp_path):
    urdf = tmp_path / "block.urdf"
    urdf.write_text(URDF)
    mesh = tmp_path / "block.obj"
    mesh.write_text(_box_obj((0.003, 0.004, 0.017), 0.0))
    for data in ({"name": "u_urdf", "urdf": str(urdf), "grasp_height_mm": 33.0, "thickness_mm": 6.0},
                 {"name": "u_mesh", "mesh": str(mesh), "grasp_height_mm": 33.0, "thickness_mm": 6.0}):
        spec = object_from_dict(data)
        cell = GraspCell(extra_objects={spec.name: spec})
        cell.load_object(spec.name)
        result = cell.grasp_offset(np.zeros(6))
        assert result.ok, (spec.name, result.failure)
        assert result.tactile[:, 0].sum() > 0
        cell.close()


def test_missing_file_and_bad_fields_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"objects\.ghost\.mesh: file .* does not exist"):
        object_from_dict({"name": "ghost", "mesh": str(tmp_path / "nope.obj")})
    with pytest.raises(ConfigError, match=r"objects\.ghost\.colour: unknown field"):
        object_from_dict({"name": "ghost", "colour": "red"})
    with pytest.raises(ConfigError, match=r"objects\.ghost\.mass"):
        object_from_dict({"name": "ghost", "mesh": __file__, "mass": -1.0})


def test_hull_files_are_private_and_a_damaged_one_is_rewritten(tmp_path, monkeypatch):
    import hashlib
    import os
    import tempfile
    from pathlib import Path

    from tacrefine.sim import objects

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    verts = ((0.0, 0.0, 0.0), (10.0, 0.0, 0.0), (0.0, 10.0, 0.0), (0.0, 0.0, 10.0))
    path = Path(objects._hull_mesh_file(verts))
    assert path.parent.parent == tmp_path and path.parent.stat().st_mode & 0o777 == 0o700
    whole = path.read_bytes()
    path.write_bytes(whole[:20])  # cut short, as by an interrupted non-atomic writer
    assert objects._hull_mesh_file(verts) == str(path) and path.read_bytes() == whole
    assert hashlib.sha256(whole).hexdigest()[:16] == path.stem  # named by its content
    if hasattr(os, "getuid"):  # a folder another user owns is refused, not used
        monkeypatch.setattr(os, "getuid", lambda: path.parent.stat().st_uid + 1)
        with pytest.raises(RuntimeError, match="not a folder owned by this user"):
            objects._hull_mesh_file(verts)
