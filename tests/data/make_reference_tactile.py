"""Write reference_tactile.npz: tactile images and finger joints of built-in and family parts at a
few grasps, as computed by the code before mesh decomposition existed (run once with that code:
``python tests/data/make_reference_tactile.py OUT.npz``). ``tests/test_builtin_identity.py``
checks that today's code reproduces them exactly (the shipped checkpoints see what they saw)."""

from __future__ import annotations

import sys

import numpy as np

from tacrefine.sim.cell import GraspCell

PARTS = ("rod_r4", "wedge", "hexagon", "disc_r7", "t_shape", "jaw_plates-100000", "compound-100001",
         "convex-100002")
# wrist increments (m / rad): nominal, sideways, lower, rolled
OFFSETS = ([0, 0, 0, 0, 0, 0], [0, 2e-3, 0, 0, 0, 0], [0, 0, -3e-3, 0, 0, 0], [0, 0, 0, np.radians(8), 0, 0])


def measure(name: str) -> tuple[np.ndarray, np.ndarray]:
    cell = GraspCell()
    try:
        cell.load_object(name)
        tactile, joints = [], []
        for offset in OFFSETS:
            cell.place_object(None)
            result = cell.grasp_offset(np.asarray(offset, dtype=float))
            tactile.append(result.tactile)
            joints.append(result.joints)
        return np.stack(tactile), np.stack(joints)
    finally:
        cell.close()


if __name__ == "__main__":
    out = {}
    for part in PARTS:
        out[f"{part}/tactile"], out[f"{part}/joints"] = measure(part)
    np.savez_compressed(sys.argv[1], **out)
