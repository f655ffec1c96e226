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

import numpy as np
from scipy.spatial.transform import Rotation

from tacrefine.fast_rotation import matrix_to_quat, matrix_to_rotvec, quat_to_matrix, rotvec_to_matrix

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
