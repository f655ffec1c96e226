"""Single-rotation conversions that equal SciPy's ``Rotation`` bit for bit, at a fraction of its cost.

Why: a simulated grasp converts a handful of single 3x3 matrices and quaternions, and
``Rotation.from_matrix`` alone (array-API dispatch, ``np.linalg.det``, ``np.isclose`` on
the Gram matrix) cost about 0.15 ms per call, some 15 % of an episode's CPU. The functions
here redo, on Python floats, exactly the arithmetic of SciPy's Cython backend
(``scipy/spatial/transform/_rotation_cy.pyx``, SciPy 1.17): same operations, same order,
same libm calls, so every result is the same double (``tests/test_fast_rotation.py``
checks them against SciPy with ``np.array_equal`` on random and on the simulation's own
inputs). Whatever SciPy would treat specially (a matrix that is not orthonormal to
well within its 1e-12 check, which SciPy orthogonalises by SVD; a non-finite or zero
quaternion, which it refuses) goes to SciPy itself, so the results stay SciPy's there too.
"""

from __future__ import annotations

from math import atan2, cos, isfinite, sin, sqrt

import numpy as np
from scipy.spatial.transform import Rotation

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
