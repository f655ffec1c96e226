"""Rigid-transform arithmetic for grasps, wrist increments and errors.

Conventions used throughout the project:

* A pose is a 4x4 homogeneous matrix (float64). Quaternions, where they appear in
  PyBullet calls, are ``(x, y, z, w)``.
* The *grasp* ``G`` is the object pose expressed in the wrist frame
  (``G = W^-1 @ O``).
* A wrist *increment* ``D`` is applied in the current wrist frame: ``W' = W @ D``.
  Moving the wrist so that the current grasp ``G_c`` becomes the target ``G_t`` needs
  ``D = G_c @ G_t^-1`` (derivation in :func:`correction`).
* Increments and offsets are written as 6-vectors over the degrees of freedom
  ``DOF_NAMES = (x, y, z, roll, pitch, yaw)``: translation in metres and a rotation
  vector in radians (roll, pitch, yaw are its components about the wrist x, y, z axes).
  For a single rotational DoF this is an exact rotation about that axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import atan2, cos, isfinite, sin, sqrt

import numpy as np
from scipy.spatial.transform import Rotation

DOF_NAMES: tuple[str, ...] = ("x", "y", "z", "roll", "pitch", "yaw")
TRANSLATION_DOFS = DOF_NAMES[:3]
ROTATION_DOFS = DOF_NAMES[3:]


def validate_dofs(dofs: Sequence[str], field: str = "refined_dofs") -> tuple[str, ...]:
    """Return ``dofs`` in canonical order, refusing unknown, repeated or empty lists."""
    dofs = tuple(dofs)
    unknown = [d for d in dofs if d not in DOF_NAMES]
    if unknown or not dofs or len(set(dofs)) != len(dofs):
        raise ValueError(
            f"{field}: got {list(dofs)!r}; allowed is a non-empty subset without repeats "
            f"of {list(DOF_NAMES)}"
        )
    return tuple(d for d in DOF_NAMES if d in dofs)


def dof_indices(dofs: Sequence[str]) -> np.ndarray:
    """Indices of ``dofs`` in the 6-vector layout."""
    return np.array([DOF_NAMES.index(d) for d in dofs], dtype=np.int64)


# -- single rotations, bit for bit as SciPy's Rotation (without its per-call overhead) -----
#
# Why: a simulated grasp converts a handful of single 3x3 matrices and quaternions, and
# ``Rotation.from_matrix`` alone (array-API dispatch, ``np.linalg.det``, ``np.isclose`` on the
# Gram matrix) cost about 0.15 ms per call, some 15 % of an episode's CPU. The functions below
# redo, on Python floats, exactly the arithmetic of SciPy's Cython backend
# (``scipy/spatial/transform/_rotation_cy.pyx``, SciPy 1.17): same operations, same order, same
# libm calls, so every result is the same double (``tests/test_fast_rotation.py`` checks them
# against SciPy bit for bit on random and on the simulation's own inputs). Whatever
# SciPy treats specially (a matrix that is not orthonormal to well within its 1e-12 check,
# which SciPy orthogonalises by SVD; a non-finite or zero quaternion, which it refuses) goes to
# SciPy itself, so the results stay SciPy's there too.

#: A matrix whose Gram matrix ``M @ M.T`` is this close to the identity off the diagonal
#: (and 1e-6 on it) passes SciPy's ``isclose(M @ M.T, I, atol=1e-12)`` test (tolerances
#: 1e-12 off and 1e-5 on the diagonal) whichever way the products are rounded: the rounding
#: of a 3-term dot product of numbers <= 1 is below 1e-15. Closer calls go to SciPy.
_GRAM_OFF_MARGIN = 1e-13
_GRAM_DIAG_MARGIN = 1e-6


def _normalised4(q0: float, q1: float, q2: float, q3: float) -> list[float]:
    """SciPy's ``_normalize4``: divide by ``sqrt(((q0^2 + q1^2) + q2^2) + q3^2)``."""
    norm = sqrt(q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3)
    return [q0 / norm, q1 / norm, q2 / norm, q3 / norm]


def matrix_to_quat(matrix: np.ndarray) -> list[float]:
    """``Rotation.from_matrix(matrix).as_quat().tolist()`` for one 3x3 matrix, ``(x, y, z, w)``."""
    m = np.asarray(matrix, dtype=float).tolist()
    if len(m) != 3 or any(len(row) != 3 for row in m):
        return Rotation.from_matrix(matrix).as_quat().tolist()  # SciPy's own error
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = m
    # SciPy first checks det > 0 and M @ M.T == I (isclose, atol 1e-12); decide both here
    # only when the answer cannot depend on rounding (NaN fails every comparison: SciPy).
    g01 = m00 * m10 + m01 * m11 + m02 * m12
    g02 = m00 * m20 + m01 * m21 + m02 * m22
    g12 = m10 * m20 + m11 * m21 + m12 * m22
    g00 = m00 * m00 + m01 * m01 + m02 * m02
    g11 = m10 * m10 + m11 * m11 + m12 * m12
    g22 = m20 * m20 + m21 * m21 + m22 * m22
    det = m00 * (m11 * m22 - m12 * m21) - m01 * (m10 * m22 - m12 * m20) + m02 * (m10 * m21 - m11 * m20)
    if not (abs(g01) <= _GRAM_OFF_MARGIN and abs(g02) <= _GRAM_OFF_MARGIN and abs(g12) <= _GRAM_OFF_MARGIN
            and abs(g00 - 1.0) <= _GRAM_DIAG_MARGIN and abs(g11 - 1.0) <= _GRAM_DIAG_MARGIN
            and abs(g22 - 1.0) <= _GRAM_DIAG_MARGIN and det > 0.5):
        return Rotation.from_matrix(matrix).as_quat().tolist()
    # _from_matrix_orthogonal: the largest of the diagonal and the trace picks the formula
    trace = m00 + m11 + m22
    choice, best = 0, m00
    for i, value in ((1, m11), (2, m22), (3, trace)):
        if value > best:
            choice, best = i, value
    if choice == 3:
        return _normalised4(m21 - m12, m02 - m20, m10 - m01, 1 + trace)
    i = choice
    j = (i + 1) % 3
    k = (j + 1) % 3
    q = [0.0, 0.0, 0.0, 0.0]
    q[i] = 1 - trace + 2 * m[i][i]
    q[j] = m[j][i] + m[i][j]
    q[k] = m[k][i] + m[i][k]
    q[3] = m[k][j] - m[j][k]
    return _normalised4(*q)


def _quat_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """SciPy's ``as_matrix`` of a quaternion as stored (no normalisation here)."""
    x2, y2, z2, w2 = x * x, y * y, z * z, w * w
    xy, zw, xz, yw, yz, xw = x * y, z * w, x * z, y * w, y * z, x * w
    return np.array([
        [x2 - y2 - z2 + w2, 2 * (xy - zw), 2 * (xz + yw)],
        [2 * (xy + zw), - x2 + y2 - z2 + w2, 2 * (yz - xw)],
        [2 * (xz - yw), 2 * (yz + xw), - x2 - y2 + z2 + w2],
    ])


def quat_to_matrix(quat) -> np.ndarray:
    """``Rotation.from_quat(quat).as_matrix()`` for one ``(x, y, z, w)`` quaternion (normalised first)."""
    values = np.asarray(quat, dtype=float)
    if values.shape == (4,):
        x, y, z, w = values.tolist()
        norm = sqrt(x * x + y * y + z * z + w * w)
        if isfinite(norm) and norm > 0:
            return _quat_matrix(x / norm, y / norm, z / norm, w / norm)
    return Rotation.from_quat(quat).as_matrix()  # SciPy's own error (zero, NaN, bad shape) or result


def rotvec_to_matrix(rotvec) -> np.ndarray:
    """``Rotation.from_rotvec(rotvec).as_matrix()`` for one rotation vector (radians)."""
    values = np.asarray(rotvec, dtype=float)
    if values.shape != (3,) or not np.isfinite(values).all():
        return Rotation.from_rotvec(rotvec).as_matrix()
    r0, r1, r2 = values.tolist()
    angle = sqrt(r0 * r0 + r1 * r1 + r2 * r2)
    if angle <= 1e-3:  # SciPy's small-angle Taylor series
        angle2 = angle * angle
        scale = 0.5 - angle2 / 48 + angle2 * angle2 / 3840
    else:
        scale = sin(angle / 2) / angle
    return _quat_matrix(scale * r0, scale * r1, scale * r2, cos(angle / 2))


def matrix_to_rotvec(matrix: np.ndarray) -> np.ndarray:
    """``Rotation.from_matrix(matrix).as_rotvec()`` for one 3x3 matrix."""
    q0, q1, q2, q3 = matrix_to_quat(matrix)
    if (q3 < 0 or (q3 == 0 and q0 < 0) or (q3 == 0 and q0 == 0 and q1 < 0)
            or (q3 == 0 and q0 == 0 and q1 == 0 and q2 < 0)):
        q0, q1, q2, q3 = -q0, -q1, -q2, -q3  # the canonical cover: 0 <= angle <= pi
    angle = 2 * atan2(sqrt(q0 * q0 + q1 * q1 + q2 * q2), q3)
    if angle <= 1e-3:  # SciPy's small-angle Taylor series
        angle2 = angle * angle
        scale = 2 + angle2 / 12 + 7 * angle2 * angle2 / 2880
    else:
        scale = angle / sin(angle / 2)
    return np.array([scale * q0, scale * q1, scale * q2])


def make_pose(position: Sequence[float], quaternion: Sequence[float] | None = None) -> np.ndarray:
    """4x4 pose from a position and an ``(x, y, z, w)`` quaternion (identity if omitted)."""
    pose = np.eye(4)
    pose[:3, 3] = position
    if quaternion is not None:
        pose[:3, :3] = quat_to_matrix(quaternion)
    return pose


def pose_to_pos_quat(pose: np.ndarray) -> tuple[list[float], list[float]]:
    """Split a 4x4 pose into lists that PyBullet accepts."""
    return pose[:3, 3].tolist(), matrix_to_quat(pose[:3, :3])


def invert(pose: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform without a general matrix inverse."""
    inv = np.eye(4)
    rot_t = pose[:3, :3].T
    inv[:3, :3] = rot_t
    inv[:3, 3] = -rot_t @ pose[:3, 3]
    return inv


def vector_to_pose(vec: Sequence[float]) -> np.ndarray:
    """6-vector ``(t, rotvec)`` to a 4x4 pose."""
    vec = np.asarray(vec, dtype=np.float64)
    pose = np.eye(4)
    pose[:3, :3] = rotvec_to_matrix(vec[3:])
    pose[:3, 3] = vec[:3]
    return pose


def pose_to_vector(pose: np.ndarray) -> np.ndarray:
    """4x4 pose to the 6-vector ``(t, rotvec)``."""
    return np.concatenate([pose[:3, 3], matrix_to_rotvec(pose[:3, :3])])


def embed(values: Sequence[float], dofs: Sequence[str]) -> np.ndarray:
    """Put values given over ``dofs`` into a full 6-vector (zeros elsewhere)."""
    full = np.zeros(6)
    full[dof_indices(dofs)] = values
    return full


#: factors from increment units (mm, deg) to library units (m, rad), per component of a 6-vector
_TO_SI = np.array([1e-3] * 3 + [np.pi / 180.0] * 3)


def inverse_increment(values: Sequence[float], dofs: Sequence[str]) -> np.ndarray:
    """The wrist increment that undoes ``values``: both in mm / deg over ``dofs`` (the other
    DoF are 0). Exact (the inverse rigid motion), not the negation: with a turn in the move,
    its translation is turned too."""
    idx = dof_indices(dofs)
    full = embed(values, dofs) * _TO_SI
    return (pose_to_vector(invert(vector_to_pose(full))) / _TO_SI)[idx]


def grasp_of(wrist: np.ndarray, obj: np.ndarray) -> np.ndarray:
    """The grasp: the object pose in the wrist frame."""
    return invert(wrist) @ obj


def correction(current_grasp: np.ndarray, target_grasp: np.ndarray) -> np.ndarray:
    """Wrist increment that turns ``current_grasp`` into ``target_grasp``.

    With the object at rest, ``W' = W @ D`` gives the new grasp ``D^-1 @ G_c``; setting it
    equal to ``G_t`` yields ``D = G_c @ G_t^-1``.
    """
    return current_grasp @ invert(target_grasp)


def batch_correction_vectors(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Vectorised :func:`correction` for stacks of grasps ``(N, 4, 4)`` -> ``(N, 6)``."""
    rot = np.einsum("nij,nkj->nik", current[:, :3, :3], target[:, :3, :3])
    trans = current[:, :3, 3] - np.einsum("nij,nj->ni", rot, target[:, :3, 3])
    return np.concatenate([trans, Rotation.from_matrix(rot).as_rotvec()], axis=1)


def grasp_error(current_grasp: np.ndarray, target_grasp: np.ndarray, dofs: Sequence[str]) -> dict:
    """Errors between two grasps, in mm and degrees.

    ``per_dof`` holds the components of the correction vector (what the wrist still has to
    move); ``refined_*`` takes only ``dofs``; ``full_*`` is the norm of the whole translation
    and the geodesic rotation angle.
    """
    vec = pose_to_vector(correction(current_grasp, target_grasp))
    trans_mm = vec[:3] * 1000.0
    rot_deg = np.degrees(vec[3:])
    per_dof = {name: float(v) for name, v in zip(DOF_NAMES, np.concatenate([trans_mm, rot_deg]))}
    ref_t = [per_dof[d] for d in dofs if d in TRANSLATION_DOFS]
    ref_r = [per_dof[d] for d in dofs if d in ROTATION_DOFS]
    return {
        "position_error_mm": float(np.linalg.norm(ref_t)) if ref_t else 0.0,
        "rotation_error_deg": float(np.linalg.norm(ref_r)) if ref_r else 0.0,
        "full_position_error_mm": float(np.linalg.norm(trans_mm)),
        "full_rotation_error_deg": float(np.linalg.norm(rot_deg)),
        "per_dof_error": per_dof,
    }
