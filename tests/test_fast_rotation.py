"""The fast single-rotation conversions of :mod:`tacrefine.geometry` equal SciPy's ``Rotation``
bit for bit, on random inputs, on the special cases of each formula, and on the simulation's own
inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tacrefine import geometry
from tacrefine.sim.cell import CellConfig, GraspCell
from tacrefine.sim.hands import hand_config


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()  # -0.0 != 0.0 here


def _special_matrices() -> list[np.ndarray]:
    """Rotations on the formula's branch points: identity, half turns (trace -1, ties between
    diagonal entries), axis permutations, tiny angles."""
    out = [np.eye(3), np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0])]
    out += [np.eye(3)[list(p)] * s for p in ((1, 2, 0), (2, 0, 1)) for s in (1.0,)]
    for axis in np.eye(3):
        for angle in (1e-12, 1e-4, 1e-3, 0.5, np.pi / 2, np.pi - 1e-9, np.pi):
            out.append(Rotation.from_rotvec(axis * angle).as_matrix())
    out.append(Rotation.from_rotvec(np.array([1.0, 1.0, 0.0]) / np.sqrt(2) * np.pi).as_matrix())
    out.append(Rotation.from_rotvec(np.array([1.0, 1.0, 1.0]) / np.sqrt(3) * np.pi).as_matrix())
    return out


def _random_matrices(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    mats = list(Rotation.random(n, rng=rng).as_matrix())
    # products of poses, as the code forms them (rounding leaves them a few ulp off orthonormal)
    for a, b in zip(mats[: n // 4], mats[n // 4: n // 2]):
        mats.append(a @ b.T @ a)
    # off orthonormal by more than SciPy's 1e-12 check (SciPy orthogonalises: the SVD path)
    mats += [m + rng.normal(0, s, (3, 3)) for m, s in zip(mats[:60], np.geomspace(1e-14, 1e-3, 60))]
    mats.append(np.diag([1.0, 1.0, 1.0 + 5e-13]))
    return mats


def test_matrix_to_quat_and_rotvec_equal_scipy():
    rng = np.random.default_rng(0)
    for m in _special_matrices() + _random_matrices(rng, 2000):
        assert _same(geometry.matrix_to_quat(m), Rotation.from_matrix(m).as_quat().tolist()), m
        assert _same(geometry.matrix_to_rotvec(m), Rotation.from_matrix(m).as_rotvec()), m
    # views and float32 input as the callers pass them
    pose = np.eye(4)
    pose[:3, :3] = Rotation.random(rng=rng).as_matrix()
    assert _same(geometry.matrix_to_quat(pose[:3, :3]), Rotation.from_matrix(pose[:3, :3]).as_quat().tolist())
    m32 = pose[:3, :3].astype(np.float32)
    assert _same(geometry.matrix_to_quat(m32), Rotation.from_matrix(m32).as_quat().tolist())


def _both_refuse(bad_inputs, scipy_call, our_call) -> None:
    for bad in bad_inputs:
        with pytest.raises(ValueError):
            scipy_call(bad)
        with pytest.raises(ValueError):
            our_call(bad)


def test_bad_matrices_fail_as_in_scipy():
    _both_refuse((np.diag([1.0, 1.0, -1.0]), np.zeros((3, 3)), np.ones((2, 3))), Rotation.from_matrix,
                 geometry.matrix_to_quat)


def test_quat_to_matrix_equals_scipy():
    rng = np.random.default_rng(1)
    quats = list(rng.normal(size=(3000, 4)) * rng.uniform(0.01, 10, (3000, 1)))
    quats += [np.array([0.0, 0.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.0, -1.0]), np.array([1e-150, 0, 0, 0]),
              np.array([0.0, 0.0, 1.0, 0.0])]
    for q in quats:
        assert _same(geometry.quat_to_matrix(q), Rotation.from_quat(q).as_matrix()), q
        as_tuple = tuple(float(v) for v in q)  # what PyBullet returns
        assert _same(geometry.quat_to_matrix(as_tuple), Rotation.from_quat(as_tuple).as_matrix())
    q32 = rng.normal(size=4).astype(np.float32)
    assert _same(geometry.quat_to_matrix(q32), Rotation.from_quat(q32).as_matrix())
    # the last one's norm underflows
    _both_refuse((np.zeros(4), np.array([np.nan, 0, 0, 1.0]), np.array([1e-300, 0, 0, 0])), Rotation.from_quat,
                 geometry.quat_to_matrix)


def test_rotvec_to_matrix_equals_scipy():
    rng = np.random.default_rng(2)
    axes = rng.normal(size=(3000, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([np.geomspace(1e-12, 1e-2, 1000), rng.uniform(0, 2 * np.pi, 2000)])
    vecs = list(axes * angles[:, None]) + [np.zeros(3), np.array([1e-3, 0, 0]), np.array([0, 0, -1e-3]),
                                           np.array([0.0, 0.0, np.pi])]
    for v in vecs:
        assert _same(geometry.rotvec_to_matrix(v), Rotation.from_rotvec(v).as_matrix()), v


class _Recorder:
    """Wraps a geometry-level conversion and keeps every input the simulation gives it."""

    def __init__(self, fn):
        self.fn, self.inputs = fn, []

    def __call__(self, value):
        self.inputs.append(np.array(value, copy=True))
        return self.fn(value)


@pytest.mark.parametrize("hand", ["parallel_jaw", "three_finger"])
def test_the_simulations_own_rotations_equal_scipy(hand, monkeypatch):
    """Every matrix, quaternion and rotation vector a few grasps convert, through both paths."""
    recorders = {name: _Recorder(getattr(geometry, name))
                 for name in ("matrix_to_quat", "quat_to_matrix", "rotvec_to_matrix", "matrix_to_rotvec")}
    for name, rec in recorders.items():
        monkeypatch.setattr(geometry, name, rec)
    cell = GraspCell(CellConfig(gripper=hand_config(hand)))
    rng = np.random.default_rng(3)
    try:
        for name in (("rod_r4", "t_shape") if hand == "parallel_jaw" else ("rod_d8_l100", "disc_d40_t4")):
            cell.reset()
            cell.load_object(name)
            cell.place_object(rng)
            target = cell.grasp_offset(np.zeros(6))
            for _ in range(3):
                res = cell.grasp_offset(rng.uniform(-1, 1, 6) * [0.002, 0.005, 0.005, 0.2, 0.2, 0.05])
                geometry.grasp_error(res.grasp, target.grasp, geometry.DOF_NAMES)
    finally:
        cell.close()
    monkeypatch.undo()  # the fast functions themselves again
    assert all(len(rec.inputs) > 5 for rec in recorders.values()), {k: len(r.inputs) for k, r in recorders.items()}
    for m in recorders["matrix_to_quat"].inputs:
        assert _same(geometry.matrix_to_quat(m), Rotation.from_matrix(m).as_quat().tolist())
    for m in recorders["matrix_to_rotvec"].inputs:
        assert _same(geometry.matrix_to_rotvec(m), Rotation.from_matrix(m).as_rotvec())
    for q in recorders["quat_to_matrix"].inputs:
        assert _same(geometry.quat_to_matrix(q), Rotation.from_quat(q).as_matrix())
    for v in recorders["rotvec_to_matrix"].inputs:
        assert _same(geometry.rotvec_to_matrix(v), Rotation.from_rotvec(v).as_matrix())
