"""A part given by path is felt exactly like the same part built in: same contacts, same
tactile images (PyBullet's own URDF loading inflates shapes by a 1 mm margin, so before the
rebuild the fingers stopped ~1 mm early on hulls and the images differed by tens of levels)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tacrefine.sim.cell import GraspCell
from tacrefine.sim.file_shapes import file_shapes, mesh_hulls
from tacrefine.sim.objects import ObjectSpec, ShapePart, get_object
from tacrefine.sim.raycast import convex_body_from_parts
from tacrefine.sim.urdf_export import export_urdf

# wrist increments (m / rad): nominal, sideways, lower, rolled
OFFSETS = ([0, 0, 0, 0, 0, 0], [0, 2e-3, 0, 0, 0, 0], [0, 0, -3e-3, 0, 0, 0], [0, 0, 0, np.radians(8), 0, 0])


def grasps(spec: ObjectSpec) -> list:
    cell = GraspCell()
    try:
        cell.load_object(spec)
        out = []
        for offset in OFFSETS:
            cell.place_object(None)
            out.append(cell.grasp_offset(np.asarray(offset, dtype=float)))
        return out
    finally:
        cell.close()


def same_part_by_path(spec: ObjectSpec, path) -> ObjectSpec:
    """The file with the spec's grasp given (nothing inferred: only the simulation is compared)."""
    return ObjectSpec(name=f"file_{spec.name}", category=spec.category, urdf=str(path), mass=spec.mass,
                      grasp_height_mm=spec.grasp_height_mm, thickness_mm=spec.thickness_mm,
                      refined_dofs=spec.refined_dofs)


# a hull (the wedge's slanted edge), boxes only (an L), a cylinder (a rod)
@pytest.mark.parametrize("name", ["wedge", "l_shape", "jaw_rods-100000"])
def test_part_by_path_feels_like_the_same_part_built_in(tmp_path, name):
    spec = get_object(name)
    by_path = same_part_by_path(spec, export_urdf(spec, tmp_path, inertial_z_mm=0.0))
    for built, loaded in zip(grasps(spec), grasps(by_path)):
        assert built.ok and loaded.ok
        # the fingers close on the true surface (a 1 mm margin stopped them 0.95 mm early)
        assert np.abs(built.joints - loaded.joints).max() < 5e-5
        diff = np.abs(built.tactile.astype(int) - loaded.tactile.astype(int))
        assert diff.max() <= 3 and diff.mean() < 0.2, (diff.max(), diff.mean())
        # and the part sits in the hand where the built-in one sits
        assert np.abs(built.grasp[:3, 3] - loaded.grasp[:3, 3]).max() < 5e-5


def write_obj(path, pieces) -> None:
    lines, base = [], 0
    for i, verts in enumerate(pieces):
        lines.append(f"o piece{i}")
        lines += [f"v {x} {y} {z}" for x, y, z in verts]
        # a fan of faces over the piece's vertices (PyBullet keeps vertices that faces use)
        lines += [f"f {base + 1} {base + k} {base + k + 1}" for k in range(2, len(verts))]
        base += len(verts)
    path.write_text("\n".join(lines) + "\n")


def cube(centre, half):
    return [tuple(c + s * h for c, s, h in zip(centre, signs, half))
            for signs in np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).T.reshape(-1, 3)]


def test_obj_objects_are_separate_hulls_and_stl_is_read(tmp_path):
    # two blocks with a 10 mm gap: one hull each (as PyBullet's importer does), not one over both
    obj = tmp_path / "two.obj"
    write_obj(obj, [cube((-0.01, 0, 0.005), (0.005, 0.005, 0.005)), cube((0.01, 0, 0.005), (0.005, 0.005, 0.005))])
    hulls = mesh_hulls(obj, 1.0, "test")
    assert len(hulls) == 2 and all(len(h) == 8 for h in hulls)
    parts = file_shapes(ObjectSpec(name="two", category="custom", mesh=str(obj))).parts
    body = convex_body_from_parts(parts)
    # a vertical ray through the gap misses; one through a block hits its top at 10 mm
    frac = body.first_hit(np.array([[0.0, 0, 0.05], [0.01, 0, 0.05]]), np.array([[0.0, 0, -0.05], [0.01, 0, -0.05]]),
                          np.eye(4))
    assert np.isinf(frac[0]) and frac[1] == pytest.approx(0.4, abs=1e-6)
    # a binary STL of one block, scaled by 2
    tris = [(cube((0, 0, 0), (0.005, 0.005, 0.005))[i] for i in (0, 1, 2)),
            (cube((0, 0, 0), (0.005, 0.005, 0.005))[i] for i in (5, 6, 7))]
    data = b"\0" * 80 + struct.pack("<I", len(tris))
    for tri in tris:
        data += struct.pack("<3f", 0, 0, 0) + b"".join(struct.pack("<3f", *v) for v in tri) + b"\0\0"
    stl = tmp_path / "block.stl"
    stl.write_bytes(data)
    (verts,) = mesh_hulls(stl, 2.0, "test")
    assert np.ptp(verts, axis=0) == pytest.approx([0.02, 0.02, 0.02])


def test_mesh_file_is_built_from_its_hulls_with_thin_margin(tmp_path):
    # the wedge as hulls only (a mesh holds no boxes), built in and written as one OBJ file
    # (its base and its slanted feature as two objects)
    wedge = get_object("wedge")
    hulls = tuple(ShapePart("hull", vertices=tuple(cube(p.position, p.size))) if p.kind == "box" else p
                  for p in wedge.parts)
    spec = ObjectSpec(name="wedge_hulls", category="edge", parts=hulls, grasp_height_mm=wedge.grasp_height_mm,
                      thickness_mm=wedge.thickness_mm)
    obj = tmp_path / "wedge.obj"
    write_obj(obj, [[tuple(v / 1000 for v in p) for p in part.vertices] for part in hulls])
    mesh = ObjectSpec(name="wedge_mesh", category="edge", mesh=str(obj), grasp_height_mm=wedge.grasp_height_mm,
                      thickness_mm=wedge.thickness_mm)
    assert [p.kind for p in file_shapes(mesh).parts] == ["hull", "hull"]
    for built, loaded in zip(grasps(spec), grasps(mesh)):
        assert np.abs(built.joints - loaded.joints).max() < 5e-5
        diff = np.abs(built.tactile.astype(int) - loaded.tactile.astype(int))
        assert diff.max() <= 3 and diff.mean() < 0.2, (diff.max(), diff.mean())


TWO_LINKS = """<?xml version="1.0"?>
<robot name="two">
  <link name="base">
    <inertial><origin xyz="0 0 0.0025"/><mass value="0.05"/>
      <inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 0.0025"/><geometry><box size="0.03 0.03 0.005"/></geometry></collision>
  </link>
  <link name="post">
    <inertial><origin xyz="0 0 0"/><mass value="0.03"/>
      <inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 0" rpy="0 1.5707963 0"/><geometry><cylinder radius="0.004" length="0.006"/>
    </geometry></collision>
  </link>
  <joint name="j" type="{kind}"><parent link="base"/><child link="post"/><origin xyz="0.002 0 0.02"/>
    <axis xyz="0 0 1"/><limit lower="-1" upper="1" effort="1" velocity="1"/></joint>
</robot>
"""


def test_links_on_fixed_joints_become_one_body_and_movable_ones_are_left_to_pybullet(tmp_path):
    path = tmp_path / "fixed.urdf"
    path.write_text(TWO_LINKS.format(kind="fixed"))
    shapes = file_shapes(ObjectSpec(name="fixed", category="custom", urdf=str(path)))
    assert [p.kind for p in shapes.parts] == ["box", "cylinder"]
    assert shapes.mass == pytest.approx(0.08)
    # the post sits where its joint puts it, turned by its collision origin (axis along x)
    post = shapes.parts[1]
    assert post.position == pytest.approx((2.0, 0.0, 20.0), abs=1e-4)
    assert post.rpy_deg[1] == pytest.approx(90.0, abs=1e-3) and post.size == pytest.approx((4.0, 6.0))
    # the centre of mass of both links: (0.05 * 2.5 mm + 0.03 * 20 mm) / 0.08 in z
    assert shapes.inertial_pose[:3, 3] * 1000 == pytest.approx([0.75, 0.0, 9.0625], abs=1e-4)
    moving = tmp_path / "moving.urdf"
    moving.write_text(TWO_LINKS.format(kind="revolute"))
    shapes = file_shapes(ObjectSpec(name="moving", category="custom", urdf=str(moving)))
    assert shapes.parts == () and "movable joints (j)" in shapes.reason


def test_a_part_of_more_pieces_than_one_pybullet_shape_holds_is_one_rigid_body(tmp_path):
    # 17 blocks side by side (a comb, 6 mm thick, 50 mm long): one compound holds at most 16
    # pieces (more crashed the engine), so a second link is fixed to the base
    blocks = [cube((0, 0.003 * i - 0.024, 0.01), (0.003, 0.001, 0.01)) for i in range(17)]
    obj = tmp_path / "comb.obj"
    write_obj(obj, blocks)
    mesh = ObjectSpec(name="comb_mesh", category="custom", mesh=str(obj), grasp_height_mm=15.0, thickness_mm=6.0)
    assert len(file_shapes(mesh).parts) == 17
    built = ObjectSpec(name="comb", category="custom", grasp_height_mm=15.0, thickness_mm=6.0,
                       parts=tuple(ShapePart("hull", vertices=tuple(tuple(v * 1000 for v in p) for p in b))
                                   for b in blocks))
    for spec in (built, mesh):
        cell = GraspCell()
        try:
            cell.load_object(spec)
            assert cell.client.getNumJoints(cell.object) == 1
            assert sum(cell.link_masses.values()) == pytest.approx(0.06)
            low, high = cell.client.getAABB(cell.object, 0)
            assert (high[1] + low[1]) / 2 == pytest.approx(0.024, abs=1e-4)  # the 17th block, on the link
        finally:
            cell.close()
    for a, b in zip(grasps(built), grasps(mesh)):
        assert a.ok and b.ok
        assert np.abs(a.tactile.astype(int) - b.tactile.astype(int)).max() <= 3
        assert np.abs(a.joints - b.joints).max() < 5e-5


MESH_URDF = """<?xml version="1.0"?>
<robot name="meshy"><link name="base">
  <inertial><mass value="0.05"/><inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>
  <collision><geometry><mesh filename="block.obj"/></geometry></collision>
</link></robot>
"""


def test_editing_a_mesh_a_urdf_names_changes_both_rays_and_collisions_in_a_running_cell(tmp_path):
    urdf = tmp_path / "meshy.urdf"
    urdf.write_text(MESH_URDF)
    write_obj(tmp_path / "block.obj", [cube((0, 0, 0.01), (0.003, 0.01, 0.01))])
    spec = ObjectSpec(name="meshy", category="custom", urdf=str(urdf), grasp_height_mm=10.0, thickness_mm=6.0)
    cell, widths = GraspCell(), []
    try:
        for half_x in (0.003, 0.004):  # the same URDF, its mesh made 2 mm thicker in between
            write_obj(tmp_path / "block.obj", [cube((0, 0, 0.01), (half_x, 0.01, 0.01))])
            (hull,) = file_shapes(spec).parts  # what the taxel rays are cast against
            assert np.ptp(np.asarray(hull.vertices)[:, 0]) == pytest.approx(2000 * half_x, abs=1e-6)
            cell.load_object(spec)
            low, high = cell.client.getAABB(cell.object, -1)  # what the fingers collide with
            widths.append(high[0] - low[0])  # (PyBullet pads the box by a constant threshold)
    finally:
        cell.close()
    assert widths[1] - widths[0] == pytest.approx(0.002, abs=1e-5)
