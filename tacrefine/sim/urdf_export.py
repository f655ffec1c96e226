"""Write a part-built object (built-in or family) as a URDF file with its meshes beside it.

So a built-in or generated part can be handed to the env *by path only*, as a user's part
is: the benchmark of unseen parts does exactly that, and a user can start their own part
from one of ours. Boxes, cylinders and spheres become URDF primitives; hulls become OBJ
files referenced by relative paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull

from tacrefine.config import atomic_write_bytes
from tacrefine.sim.objects import DEFAULT_MASS_KG, ObjectSpec


def _origin(position_mm, rpy_deg) -> str:
    xyz = " ".join(f"{v / 1000:.6f}" for v in position_mm)
    rpy = " ".join(f"{v:.6f}" for v in np.radians(rpy_deg))
    return f'<origin xyz="{xyz}" rpy="{rpy}"/>'


def _hull_obj(vertices_mm) -> bytes:
    verts = np.asarray(vertices_mm, dtype=float)
    faces = ConvexHull(verts).simplices
    text = "".join(f"v {x / 1000:.9f} {y / 1000:.9f} {z / 1000:.9f}\n" for x, y, z in verts)
    text += "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces)
    return text.encode()


def export_urdf(spec: ObjectSpec, folder: str | Path, inertial_z_mm: float = 10.0) -> Path:
    """Write ``folder/<name>.urdf`` (and ``<name>_hull<i>.obj`` meshes); returns the URDF path.

    The inertial frame sits ``inertial_z_mm`` above the link origin (off it by default, as
    in many users' files, which the env must handle).
    """
    if not spec.parts:
        raise ValueError(f"export_urdf: {spec.name!r} is not built from parts (it is already a file)")
    folder = Path(folder)
    shapes = []
    for i, part in enumerate(spec.parts):
        origin = _origin(part.position, part.rpy_deg)
        if part.kind == "box":
            geom = '<box size="{}"/>'.format(" ".join(f"{2 * s / 1000:.6f}" for s in part.size))
        elif part.kind == "cylinder":
            geom = f'<cylinder radius="{part.size[0] / 1000:.6f}" length="{part.size[1] / 1000:.6f}"/>'
        elif part.kind == "sphere":
            geom = f'<sphere radius="{part.size[0] / 1000:.6f}"/>'
        else:
            mesh = f"{spec.name}_hull{i}.obj"
            atomic_write_bytes(folder / mesh, _hull_obj(part.vertices))
            geom = f'<mesh filename="{mesh}"/>'
        shapes.append(f"    <collision>{origin}<geometry>{geom}</geometry></collision>\n"
                      f"    <visual>{origin}<geometry>{geom}</geometry></visual>")
    mass = DEFAULT_MASS_KG if spec.mass is None else spec.mass
    text = (f'<?xml version="1.0"?>\n<robot name="{spec.name}">\n  <link name="base">\n'
            f'    <inertial><origin xyz="0 0 {inertial_z_mm / 1000:.6f}"/><mass value="{mass}"/>'
            f'<inertia ixx="2e-5" iyy="2e-5" izz="2e-5" ixy="0" ixz="0" iyz="0"/></inertial>\n'
            + "\n".join(shapes) + "\n  </link>\n</robot>\n")
    path = folder / f"{spec.name}.urdf"
    atomic_write_bytes(path, text.encode())
    return path
