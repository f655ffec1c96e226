"""Upper bounds on sizes a user can ask for, in one place, checked before anything is allocated.

Why: a sensor of 5000 x 5000 taxels, a 100 000 x 100 000 render or a part a kilometre long
are accepted by every lower-bound check and then fill memory (gigabytes) before failing with
a ``MemoryError`` far from the field that caused it. Each bound below is far above any real
use (the largest real tactile arrays are a few hundred taxels a side; the shipped pads are
14 x 12 and 11 x 9) and far below what exhausts a laptop; :func:`require_at_most` refuses a
value above its bound naming the field, the value and the bound, before any array exists.
"""

from __future__ import annotations

from typing import Any

from tacrefine.config import require

#: Taxels along one side of a pad (rows or cols).
MAX_TAXELS_PER_SIDE = 512
#: Taxels of one pad (rows x cols): 64 Ki, a 256 x 256 array.
MAX_TAXELS_PER_PAD = 65_536
#: Pixels along one side of a rendered image (``render_size``).
MAX_IMAGE_SIDE = 4096
#: Pixels of one rendered image (width x height): 16.7 M, 4096 x 4096.
MAX_IMAGE_PIXELS = 4096 * 4096
#: Largest extent of a part in any direction, mm (the hand opens a few centimetres).
MAX_PART_SIZE_MM = 1000.0
#: Convex pieces of one object (built-in parts, or pieces of a mesh file).
MAX_OBJECT_PIECES = 256
#: Vertices of one convex hull piece.
MAX_HULL_VERTICES = 100_000
#: Triangles of one mesh file (all pieces together).
MAX_MESH_TRIANGLES = 1_000_000
#: Bytes of a small text file read whole (a sensor profile YAML).
MAX_PROFILE_BYTES = 1 << 20


def require_at_most(field: str, value: Any, bound: float, unit: str = "") -> None:
    """Refuse ``value`` above ``bound`` (a documented limit of :mod:`tacrefine.limits`)."""
    ok = not isinstance(value, (int, float)) or value <= bound
    suffix = f" {unit}" if unit else ""
    require(ok, field, f"at most {bound:g}{suffix} (limit in tacrefine/limits.py)", value)


def check_image_size(field: str, size: Any) -> tuple[int, int]:
    """``(width, height)`` of an image: two integers >= 1 within the image bounds."""
    ok = (isinstance(size, (tuple, list)) and len(size) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size))
    require(ok, field, "two integers >= 1 (width, height in pixels)", size)
    for side in size:
        require_at_most(field, side, MAX_IMAGE_SIDE, "pixels a side")
    require_at_most(f"{field} (width x height)", size[0] * size[1], MAX_IMAGE_PIXELS, "pixels")
    return int(size[0]), int(size[1])


def check_part_sizes(spec: Any) -> None:
    """An object spec's piece count, hull vertex counts and sizes (mm) within the bounds."""
    where = f"objects.{spec.name}"
    require_at_most(f"{where}.parts (count)", len(spec.parts), MAX_OBJECT_PIECES, "pieces")
    for key in ("thickness_mm", "grasp_height_mm"):
        require_at_most(f"{where}.{key}", abs(getattr(spec, key)), MAX_PART_SIZE_MM, "mm")
    for i, part in enumerate(spec.parts):
        require_at_most(f"{where}.parts[{i}].vertices (count)", len(part.vertices), MAX_HULL_VERTICES, "vertices")
        for name in ("size", "position"):
            for v in getattr(part, name):
                require_at_most(f"{where}.parts[{i}].{name}", abs(v), MAX_PART_SIZE_MM, "mm")


__all__ = ["MAX_HULL_VERTICES", "MAX_IMAGE_PIXELS", "MAX_IMAGE_SIDE", "MAX_MESH_TRIANGLES", "MAX_OBJECT_PIECES",
           "MAX_PART_SIZE_MM", "MAX_PROFILE_BYTES", "MAX_TAXELS_PER_PAD", "MAX_TAXELS_PER_SIDE", "check_image_size",
           "check_part_sizes", "require_at_most"]
