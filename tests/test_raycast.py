"""The closed-form taxel rays agree with the engine and with geometry."""

from __future__ import annotations

import numpy as np
import pytest

from tacrefine import geometry
from tacrefine.sim import raycast
from tacrefine.sim.cell import CellConfig, GraspCell
from tacrefine.sim.hands import hand_config
from tacrefine.sim.raycast import ConvexPart


@pytest.mark.parametrize("name", ["plate_w6", "box_8x8", "t_shape", "l_shape"])
def test_closed_form_matches_engine_rays_on_box_objects(name):
    cell = GraspCell()
    cell.load_object(name)
    rng = np.random.default_rng(0)
    for _ in range(3):
        cell.place_object(rng)
        offset = geometry.embed(rng.uniform(-1, 1, 3) * [0.004, 0.004, 0.15], ("y", "z", "roll"))
        cell.grasp_offset(offset)
        closed, cover = cell.sensor.contact_geometry(cell.object)
        engine = cell.sensor.gaps_mm(None)  # unregistered query: the engine's ray test
        # a taxel centre inside the outline covers at least half its taxel, outside less
        centre_inside = cover >= 0.5
        assert (centre_inside != np.isfinite(engine)).mean() < 0.02  # rays grazing an edge may differ
        both = (cover == 1.0) & np.isfinite(engine)
        assert both.sum() > 10 and ((cover > 0) & (cover < 1)).sum() > 0
        assert (np.abs(closed[both] - engine[both]) < 0.02).mean() > 0.98
    cell.close()


def test_rod_gaps_follow_the_circle():
    cell = GraspCell()
    cell.load_object("rod_r4")
    cell.grasp_offset(np.zeros(6))
    gaps, cover = cell.sensor.contact_geometry(cell.object)
    row = gaps[0, 10]
    assert np.all(cover[0, 10][np.isfinite(row)] == 1.0)  # a rod's side has no outline edge here
    finite = np.isfinite(row)
    cols = (np.arange(row.size) - (row.size - 1) / 2) * cell.sensor.config.pitch_mm
    expected = 4.0 - np.sqrt(np.clip(16.0 - cols**2, 0, None))
    # up to a common offset (how far the pad sits from the rod's surface)
    shift = np.median(row[finite] - expected[finite])
    assert np.allclose(row[finite], expected[finite] + shift, atol=0.02)
    assert finite.sum() == 8  # |y| < 4 mm: 8 columns at 1.1 mm pitch
    cell.close()


def test_parts_clip_rays_like_solids():
    box = ConvexPart("box", np.eye(4), (0.01, 0.02, 0.03))
    origins = np.array([[-1.0, 0, 0], [-1.0, 0.05, 0], [0.0, 0, 0]])
    dirs = np.tile([[1.0, 0, 0]], (3, 1))
    t0, t1 = box.interval(origins, dirs)
    assert t0[0] == pytest.approx(0.99) and t1[0] == pytest.approx(1.01)
    assert t0[1] > t1[1]  # passes beside the box
    assert t0[2] < 0 < t1[2]  # starts inside
    pose = geometry.vector_to_pose([0, 0, 0, np.pi / 2, 0, 0])  # axis along -y after the turn
    cyl = ConvexPart("cylinder", pose, (0.01, 0.1))
    t0, _ = cyl.interval(np.array([[-1.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 0.0]]))
    assert t0[0] == pytest.approx(0.99)


def test_edges_read_in_proportion_to_coverage_so_small_shifts_are_felt():
    cell = GraspCell()
    cell.load_object("t_shape")
    images = []
    for z_mm in (0.0, 0.1, 0.2, 0.3):
        cell.place_object(None)
        images.append(cell.grasp_offset(np.array([0, 0, z_mm / 1000, 0, 0, 0])).tactile.astype(int))
    changes = [np.abs(img - images[0]).sum() for img in images[1:]]
    # a tenth of a millimetre (a tenth of a taxel) already changes the image, and more shift changes it more
    assert changes[0] > 0 and changes[0] < changes[1] < changes[2]
    cell.close()


def _pad_rays(normal, centre, n=5, pitch=0.0011, back=0.002, reach=0.003):
    """A square bundle of taxel rays along ``normal`` starting ``back`` behind ``centre``."""
    normal = np.asarray(normal, float)
    a = np.cross(normal, [0.0, 0.0, 1.0]) if abs(normal[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(normal, a)
    grid = (np.arange(n) - (n - 1) / 2) * pitch
    on_face = np.array([np.asarray(centre) + i * a + j * b for i in grid for j in grid])
    return on_face - back * normal, on_face + reach * normal


@pytest.mark.parametrize("kind,size", [("box", (0.004, 0.004, 0.004)), ("cylinder", (0.002, 0.003))])
def test_pads_at_right_angles_read_the_same_cast_together_or_alone(kind, size):
    # A pad facing +x and one facing +y (a three-finger hand's fingers are not opposed):
    # casting both in one call must give each pad what it reads when cast alone.
    from tacrefine.sim.raycast import ConvexBody

    # the cylinder's axis lies along x: face-on to the first pad, side-on to the second
    turn = geometry.vector_to_pose([0, 0, 0, 0, np.pi / 2, 0]) if kind == "cylinder" else np.eye(4)
    body = ConvexBody([ConvexPart(kind, turn, size)])
    pose = np.eye(4)
    a_from, a_to = _pad_rays([1.0, 0, 0], [-0.0035, 0, 0])
    b_from, b_to = _pad_rays([0, 1.0, 0], [0, -0.0035, 0])
    alone = [body.covered_hit(f, t, pose, 0.0011) for f, t in ((a_from, a_to), (b_from, b_to))]
    together = body.covered_hit(np.vstack([a_from, b_from]), np.vstack([a_to, b_to]), pose, 0.0011)
    for i, (hit, cover) in enumerate(alone):
        assert (cover > 0).sum() >= 9, f"pad {i} alone must feel the object"
        sl = slice(i * len(a_from), (i + 1) * len(a_from))
        assert np.array_equal(together[0][sl], hit)
        assert np.array_equal(together[1][sl], cover)


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()  # tells -0.0 from 0.0, unlike ==


def _numpy_reductions(name: str, a: np.ndarray, initial=None) -> np.ndarray:
    """What the row helpers replace: NumPy's own reduction along axis 1."""
    if name == "row_max":
        return a.max(axis=1)
    if name == "row_min":
        return a.min(axis=1) if initial is None else a.min(axis=1, initial=initial)
    if name == "row_any":
        return a.any(axis=1)
    if name == "row_sum":
        return a.sum(axis=1)
    if name == "column_min":
        return a.min(axis=0)
    if name == "column_max":
        return a.max(axis=0)
    return np.linalg.norm(a, axis=1)


@pytest.mark.parametrize("name", ["row_max", "row_min", "row_any", "row_sum", "row_norms", "column_min",
                                  "column_max"])
def test_row_reductions_equal_numpys_bit_for_bit(name):
    """The fast row reductions of the ray casting give NumPy's ``axis=1`` results exactly,
    on random rows of every width they meet (and the generic fallback beyond)."""
    rng = np.random.default_rng(0)
    fn = getattr(raycast, name)
    for k in (1, 2, 3, 4, 6, 20):
        for scale in (1e-3, 1.0, 1e3):
            a = rng.normal(size=(997, k)) * scale
            a[::7, 0] = 0.0
            if name == "row_any":
                a = a > 0.5
            assert _bits(fn(a)) == _bits(_numpy_reductions(name, a)), (k, scale)
    empty = np.zeros((5, 0))
    assert _bits(raycast.row_min(empty, initial=np.inf)) == _bits(empty.min(axis=1, initial=np.inf))


def test_row_reductions_equal_numpys_on_the_simulations_own_rays(monkeypatch):
    """Every array the closed-form rays reduce in real grasps (jaw and hand; boxes, cylinders,
    hulls, compounds) reduces to NumPy's ``axis=1`` result: sums and norms bit for bit, max /
    min / any to the same values (at most the sign of a zero may differ, see raycast)."""
    names = ("row_max", "row_min", "row_any", "row_sum", "row_norms", "column_min", "column_max")
    originals = {name: getattr(raycast, name) for name in names}
    seen: dict[str, list] = {name: [] for name in names}
    for name in names:
        def recorder(a, *args, _name=name, **kwargs):
            seen[_name].append((np.array(a, copy=True), args, kwargs))
            return originals[_name](a, *args, **kwargs)
        monkeypatch.setattr(raycast, name, recorder)
    rng = np.random.default_rng(1)
    for hand, objects in (("parallel_jaw", ("rod_r4", "t_shape", "prism_tri", "hexagon")),
                          ("three_finger", ("rod_d8_l100", "plate_t4_w60", "disc_d40_t4"))):
        cell = GraspCell(CellConfig(gripper=hand_config(hand)))
        try:
            for obj in objects:
                cell.load_object(obj)
                cell.place_object(rng)
                for _ in range(2):
                    cell.grasp_offset(rng.uniform(-1, 1, 6) * [0.001, 0.004, 0.004, 0.1, 0.1, 0.02])
        finally:
            cell.close()
    assert all(len(calls) >= 10 for name, calls in seen.items() if name != "row_any"), \
        {k: len(v) for k, v in seen.items()}  # (row_any: only for rays along a face)
    for name, calls in seen.items():
        for a, args, kwargs in calls:
            fast = originals[name](a, *args, **kwargs)
            slow = _numpy_reductions(name, a, kwargs.get("initial"))
            if name in ("row_sum", "row_norms"):
                assert _bits(fast) == _bits(slow), name
            else:
                assert np.array_equal(fast, slow), name


@pytest.mark.parametrize("kind,size", [("box", (0.004, 0.01, 0.006)), ("cylinder", (0.005, 0.03)),
                                       ("cylinder", (0.02, 0.002)), ("sphere", (0.006,))])
def test_skipping_parts_no_ray_can_read_changes_no_reading(kind, size, monkeypatch):
    """A part skipped because the rays' box lies over half a taxel outside its own box
    (``ConvexPart.clear_of``) leaves every reading bit for bit as computing it would: opposed
    pads at random poses around a part and a neighbour, many just past the skipping distance."""
    from tacrefine.sim.raycast import ConvexBody

    rng = np.random.default_rng(7)
    taxel = 0.0011
    skipped = felt = 0
    for trial in range(150):
        pose = geometry.vector_to_pose(np.concatenate([rng.uniform(-0.01, 0.01, 3), rng.normal(size=3)]))
        neighbour = geometry.vector_to_pose([0.0, 0.0, -0.02, 0.0, 0.0, 0.3])
        body = ConvexBody([ConvexPart(kind, pose, size), ConvexPart("box", neighbour, (0.01, 0.01, 0.004))])
        normal = rng.normal(size=3) if trial % 3 else np.eye(3)[trial % 2]
        normal /= np.linalg.norm(normal)
        # a pad centre just outside the part's box along one of its axes, or anywhere near it
        reach = np.max(body.parts[0].half_extents) + rng.uniform(-0.004, 0.012)
        axis = pose[:3, :3][:, trial % 3] * (1 if trial % 2 else -1)
        centre = pose[:3, 3] + axis * reach + rng.uniform(-0.003, 0.003, 3)
        a_from, a_to = _pad_rays(normal, centre - 0.003 * normal, n=7)
        b_from, b_to = _pad_rays(-normal, centre + 0.003 * normal, n=7)
        origins, ends = np.vstack([a_from, b_from]), np.vstack([a_to, b_to])
        lo, hi = np.minimum(origins, ends).min(axis=0), np.maximum(origins, ends).max(axis=0)
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        skipped += body.parts[0].clear_of(corners, taxel / 2 + 1e-6)
        fast = body.covered_hit(origins, ends, np.eye(4), taxel)
        with monkeypatch.context() as m:
            m.setattr(ConvexPart, "clear_of", lambda self, corners, margin: False)
            full = body.covered_hit(origins, ends, np.eye(4), taxel)
        assert _bits(fast[0]) == _bits(full[0]) and _bits(fast[1]) == _bits(full[1]), trial
        felt += bool((full[1] > 0).any())
    assert skipped >= 10 and felt >= 20, (skipped, felt)  # both cases were exercised


def test_a_needle_along_the_rays_is_met_at_its_tip_not_crashed():
    """A hull with no face turned to the rays (its tips sharper than the outline test; found in
    PyBullet's random_urdfs/362, once a crash on an empty reduction): the depth comes from every face."""
    length, width = 0.05, 0.001
    vertices = np.array([[length, 0, 0], [-length, 0, 0], [0, width, 0], [0, -width, 0], [0, 0, width],
                         [0, 0, -width]])
    needle = ConvexPart("hull", np.eye(4), vertices=vertices)
    dirs = np.tile([[1.0, 0, 0]], (2, 1))
    assert not (np.abs(needle.normals @ dirs[0]) >= raycast._SIDE_COS).any()  # no front face at all
    origins = np.array([[-0.1, 0.0, 0.0], [-0.1, 0.01, 0.0]])  # along the axis, and beside the needle
    t, lateral = needle.footprint(origins, dirs * 0.2)
    exact0, _ = needle.interval(origins[:1], dirs[:1] * 0.2)
    assert t[0] == pytest.approx(exact0[0]) and t[0] == pytest.approx((0.1 - length) / 0.2)
    assert t[1] == np.inf and lateral[1] < 0  # the ray beside it misses, outside the outline
