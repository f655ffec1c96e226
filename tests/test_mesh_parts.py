"""User meshes as CAD exports: non-convex parts decomposed (a hole reads as empty taxels),
the usual formats and units, a cached decomposition, and bad files refused by name.
Every mesh is made here with trimesh."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import trimesh

from tacrefine.config import ConfigError
from tacrefine.sim import decompose
from tacrefine.sim.cell import GraspCell
from tacrefine.sim.file_shapes import file_shapes, mesh_hulls
from tacrefine.sim.mesh_io import MESH_SUFFIXES
from tacrefine.sim.objects import ObjectSpec, object_from_dict
from tacrefine.sim.raycast import convex_body_from_parts


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test decomposes into its own cache folder (never the user's)."""
    monkeypatch.setenv("TACREFINE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "decompositions"


def disc_on_base(hole_mm: float) -> trimesh.Trimesh:
    """A 30 mm disc (4 mm thick, axis along x) standing on a 30 x 30 x 5 mm base, its centre 20 mm up;
    with a central hole of ``hole_mm`` (a washer) or without (0). One body, mm."""
    if hole_mm:
        disc = trimesh.creation.annulus(r_min=hole_mm / 2, r_max=15.0, height=4.0, sections=32)
    else:
        disc = trimesh.creation.cylinder(radius=15.0, height=4.0, sections=32)
    disc.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    disc.apply_translation([0, 0, 20.0])
    base = trimesh.creation.box((30.0, 30.0, 5.0))
    base.apply_translation([0, 0, 2.5])
    return trimesh.util.concatenate([base, disc])


def central_grasp(spec: ObjectSpec) -> np.ndarray:
    cell = GraspCell(extra_objects={spec.name: spec})
    try:
        cell.load_object(spec.name)
        result = cell.grasp_offset(np.zeros(6))
        assert result.ok, result.failure
        return result.tactile.astype(float)
    finally:
        cell.close()


def test_a_washer_reads_its_hole_where_a_solid_disc_reads_contact(tmp_path):
    specs = {}
    for name, hole in (("washer", 12.0), ("disc", 0.0)):
        path = tmp_path / f"{name}.stl"
        disc_on_base(hole).export(path)  # a binary STL in millimetres
        specs[name] = object_from_dict({"name": name, "mesh": str(path), "units": "mm", "grasp_height_mm": 20.0})
    washer, disc = specs["washer"], specs["disc"]
    # the grasp inference runs on the decomposed pieces: both 4 mm thick, closed across the faces
    assert washer.thickness_mm == pytest.approx(4.0, abs=0.3) and disc.thickness_mm == pytest.approx(4.0, abs=0.3)
    assert len(file_shapes(washer).parts) > 2 and len(file_shapes(disc).parts) == 2  # base + disc: convex
    images = {name: central_grasp(spec) for name, spec in specs.items()}
    # taxels within ~3.3 mm of the pad centre: inside the washer's 6 mm hole radius
    centre = (slice(None), 0, slice(4, 10), slice(3, 9))
    assert images["disc"][centre].mean() > 20  # the solid disc presses every central taxel
    assert images["washer"][centre].sum() <= 0.2 * images["disc"][centre].sum()
    # around the hole the washer is felt as the disc is
    assert images["washer"][:, 0].sum() > 0.3 * images["disc"][:, 0].sum()


def slab_mm() -> trimesh.Trimesh:
    """An L-shaped part as one closed (non-convex) body, 40 x 6 x 30 mm, in millimetres: a 5 mm
    foot along x and a 6 mm post at its -x end."""
    outline = np.array([(-20, 0), (20, 0), (20, 5), (-14, 5), (-14, 30), (-20, 30)], dtype=float)
    mesh = trimesh.creation.extrude_triangulation(outline, np.array([[0, 1, 2], [0, 2, 3], [0, 3, 5], [3, 4, 5]]),
                                                  6.0)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # outline in x-z
    mesh.apply_translation([0, 3.0, 0])
    assert mesh.is_watertight and mesh.body_count == 1
    return mesh


def test_a_millimetre_stl_with_units_mm_is_the_metre_one(tmp_path):
    mesh = slab_mm()
    mesh.export(tmp_path / "part_mm.stl")
    metres = mesh.copy()
    metres.apply_scale(0.001)
    metres.export(tmp_path / "part_m.stl", file_type="stl_ascii")
    a = file_shapes(ObjectSpec(name="a", category="custom", mesh=str(tmp_path / "part_m.stl"), concavity=0.2)).parts
    mm = object_from_dict({"name": "b", "mesh": str(tmp_path / "part_mm.stl"), "units": "mm", "concavity": 0.2,
                           "frame_in_file": [0, 0, 0, 0, 0, 0], "grasp_height_mm": 20.0})
    b = file_shapes(mm).parts
    assert mm.mesh_scale == pytest.approx(0.001)
    assert len(a) == len(b)
    for pa, pb_ in zip(a, b):
        assert np.asarray(pa.vertices) == pytest.approx(np.asarray(pb_.vertices), abs=1e-4)  # mm
    # without units the millimetre file is 1,000 times too large: refused, naming the unit that fits
    with pytest.raises(ConfigError, match=r"part_mm\.stl.*40000 mm across.*units: mm"):
        object_from_dict({"name": "c", "mesh": str(tmp_path / "part_mm.stl")})
    with pytest.raises(ConfigError, match=r"part_m\.stl.*0\.04 mm across.*units: m\b"):
        object_from_dict({"name": "d", "mesh": str(tmp_path / "part_m.stl"), "units": "mm"})
    with pytest.raises(ConfigError, match=r"objects\.e\.units.*'km'.*allowed.*'mm'"):
        object_from_dict({"name": "e", "mesh": str(tmp_path / "part_mm.stl"), "units": "km"})


def test_a_decomposition_is_cached_reused_and_redone_when_the_file_changes(tmp_path, private_cache, caplog):
    path = tmp_path / "l.obj"
    slab_mm().export(path)
    calls = []
    real = decompose._coacd

    def counting(piece, concavity):
        calls.append(concavity)
        return real(piece, concavity)

    decompose._coacd = counting
    try:
        with caplog.at_level(logging.INFO, logger="tacrefine.sim.decompose"):
            first = mesh_hulls(path, 0.001, "test", concavity=0.3)
        assert len(calls) == 1 and len(first) >= 2
        assert any("CoACD" in r.message and "convex pieces" in r.message for r in caplog.records)  # reported
        files = list(private_cache.glob("*.json"))
        assert len(files) == 1
        again = mesh_hulls(path, 0.002, "test", concavity=0.3)  # another scale: the same decomposition
        assert len(calls) == 1
        assert all(np.allclose(2 * a, b) for a, b in zip(first, again))
        mesh_hulls(path, 0.001, "test", concavity=0.6)  # another setting: decomposed again
        assert len(calls) == 2
        # a corrupted cache file is detected and rewritten
        data = json.loads(files[0].read_text())
        data["hulls"][0][0][0] += 1.0
        files[0].write_text(json.dumps(data))
        with caplog.at_level(logging.WARNING, logger="tacrefine.sim.decompose"):
            mesh_hulls(path, 0.001, "test", concavity=0.3)
        assert len(calls) == 3 and any("checksum" in r.message for r in caplog.records)
        # a changed file is decomposed again
        changed = slab_mm()
        changed.apply_translation([0, 0, 1.0])
        changed.vertices[changed.vertices[:, 2] > 20, 2] += 5.0
        changed.export(path)
        mesh_hulls(path, 0.001, "test", concavity=0.3)
        assert len(calls) == 4
    finally:
        decompose._coacd = real


def test_convex_meshes_and_obj_groups_are_used_as_they_are(tmp_path):
    box = trimesh.creation.box((0.01, 0.02, 0.03))
    box.export(tmp_path / "box.ply")
    (hull,) = mesh_hulls(tmp_path / "box.ply", 1.0, "test")
    assert np.ptp(hull, axis=0) == pytest.approx([0.01, 0.02, 0.03])
    two = trimesh.Scene({"left": box.copy().apply_translation([-0.02, 0, 0]),
                         "right": box.copy().apply_translation([0.02, 0, 0])})
    two.export(tmp_path / "two.glb")
    hulls = mesh_hulls(tmp_path / "two.glb", 1.0, "test")
    assert sorted(round(float(h[:, 0].mean()), 4) for h in hulls) == [-0.02, 0.02]
    assert not list((tmp_path / "cache").rglob("*.json"))  # nothing was decomposed


def test_every_format_is_read_and_the_part_is_the_same(tmp_path):
    mesh = slab_mm()
    reference = None
    for suffix in MESH_SUFFIXES:
        path = tmp_path / f"part{suffix}"
        mesh.export(path)
        parts = file_shapes(ObjectSpec(name=f"p{suffix[1:]}", category="custom", mesh=str(path), mesh_scale=0.001,
                                       concavity=0.3)).parts
        body = convex_body_from_parts(parts)
        # a vertical ray down through the post and one beside it (over the foot)
        frac = body.first_hit(np.array([[-0.017, 0, 0.05], [0.01, 0, 0.05]]),
                              np.array([[-0.017, 0, -0.05], [0.01, 0, -0.05]]), np.eye(4))
        assert frac == pytest.approx([0.2, 0.45], abs=0.01), suffix  # tops at 30 mm and 5 mm
        bounds = np.ptp(np.concatenate([np.asarray(p.vertices) for p in parts]), axis=0)
        reference = bounds if reference is None else reference
        assert bounds == pytest.approx(reference, abs=1e-3), suffix


@pytest.mark.parametrize("suffix", MESH_SUFFIXES)
def test_an_empty_or_corrupt_file_is_refused_naming_it(tmp_path, suffix):
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match=rf"empty\{suffix}.*empty"):
        object_from_dict({"name": "e", "mesh": str(empty)})
    corrupt = tmp_path / f"corrupt{suffix}"
    good = trimesh.creation.box((0.01, 0.01, 0.01)).export(file_type="glb" if suffix == ".gltf" else suffix[1:])
    good = good.encode() if isinstance(good, str) else good  # (a glTF's JSON cut short: .glb bytes)
    corrupt.write_bytes(good[: len(good) // 3] + b"\x00\xff garbage \x13" * 7)
    with pytest.raises(ConfigError, match=rf"corrupt\{suffix}"):
        object_from_dict({"name": "c", "mesh": str(corrupt)})


def test_a_piece_with_a_nan_vertex_is_refused_naming_file_and_piece(tmp_path):
    # issue 19: the second group's NaN vertex dropped that group without a word
    lines = []
    for i, (z0, z1) in enumerate(((0.0, 0.01), (0.01, 0.04))):
        lines.append(f"o piece{i}")
        for x in (-0.005, 0.005):
            for y in (-0.005, 0.005):
                for z in (z0, z1):
                    lines.append(f"v {x} {y} {z}")
        lines.append("v nan 0 0" if i == 1 else "v 0 0 0")
        b = 9 * i
        lines += [f"f {b + 1} {b + k} {b + k + 1}" for k in range(2, 9)]
    path = tmp_path / "nan.obj"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"nan\.obj.*piece1.*not finite"):
        object_from_dict({"name": "n", "mesh": str(path)})


def test_a_urdf_whose_mesh_is_missing_names_the_mesh_and_mass_minus_one_is_named(tmp_path):
    urdf = tmp_path / "m.urdf"
    urdf.write_text('<?xml version="1.0"?><robot name="m"><link name="base"><inertial><mass value="0.05"/>'
                    '<inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>'
                    '<collision><geometry><mesh filename="meshes/gone.stl"/></geometry></collision>'
                    '</link></robot>')
    with pytest.raises(ConfigError, match=r"m\.urdf.*mesh .*meshes/gone\.stl.*does not exist"):
        object_from_dict({"name": "m", "urdf": str(urdf)})
    neg = tmp_path / "neg.urdf"
    neg.write_text('<?xml version="1.0"?><robot name="n"><link name="base"><inertial><mass value="-1"/>'
                   '<inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>'
                   '<collision><geometry><box size="0.01 0.01 0.03"/></geometry></collision></link></robot>')
    with pytest.raises(ConfigError, match=r"neg\.urdf.*negative link mass \(-1 kg\)"):
        object_from_dict({"name": "n", "urdf": str(neg)})


def test_reading_a_urdf_part_prints_nothing(tmp_path, capfd):
    urdf = tmp_path / "b.urdf"
    urdf.write_text('<?xml version="1.0"?><robot name="b"><link name="base"><inertial><mass value="0.05"/>'
                    '<inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>'
                    '<collision><geometry><box size="0.01 0.01 0.03"/></geometry></collision></link></robot>')
    capfd.readouterr()
    file_shapes(ObjectSpec(name="b", category="custom", urdf=str(urdf)))
    assert "argv[0]" not in capfd.readouterr().out
