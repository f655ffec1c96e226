"""The paper's object classes at real-world sizes: 5 rods, 5 plates, 5 discs.

TacRefineNet (v2) refines grasps of rods ``{z, roll}``, plates ``{z, roll, pitch}`` and
discs ``{y, z, pitch}``. Each object here is one rigid body standing on a heavy base plate,
so it rests stably on the table while the hand opens, moves and re-grasps it; the graspable
part sits high enough that the fingertips clear the base over the task's offsets
(+-8 mm, +-15 deg). Object frame as for every object: origin at the centre of the base's
bottom face, z up; the nominal grasp closes along the object's x axis.

* rods lie along the object's y axis on two end posts (the hand grasps the middle, the
  three pads across the rod): sliding along the rod or turning about it is not felt;
* plates stand upright in the y-z plane, wider than the hand (their sides never reach the
  pads), grasped 2 mm below the top edge: the edge gives z and roll, the tilt gives pitch;
* discs stand face-on to the closing axis on a thin post, grasped 4 mm below their top:
  the arc gives y and z, the tilt gives pitch; turning about their axis is not felt.
"""

from __future__ import annotations

from tacrefine.sim.objects import OBJECTS, ObjectSpec, ShapePart

BASE_THICK_MM = 5.0
#: base plates weigh what a small steel fixture weighs: the squeeze never tips the object
MASS_KG = 0.3


def _base(half_x: float, half_y: float) -> ShapePart:
    return ShapePart("box", (half_x, half_y, BASE_THICK_MM / 2), (0.0, 0.0, BASE_THICK_MM / 2))


def _box(half: tuple[float, float, float], centre: tuple[float, float, float]) -> ShapePart:
    return ShapePart("box", half, centre)


def rod(diameter: float, length: float) -> ObjectSpec:
    """A rod (dowel, pen, bar) along y on two end posts; its axis 27 mm above the base."""
    r = diameter / 2
    axis_z = BASE_THICK_MM + 27.0
    post_y = length / 2 - 4.0
    posts = [_box((max(r, 3.0), 4.0, (axis_z - BASE_THICK_MM) / 2), (0.0, s * post_y, (BASE_THICK_MM + axis_z) / 2))
             for s in (-1, 1)]
    bar = ShapePart("cylinder", (r, length), (0.0, 0.0, axis_z), (90.0, 0.0, 0.0))
    return ObjectSpec(f"rod_d{diameter:g}_l{length:g}", "rod", (_base(25.0, length / 2 + 5.0), *posts, bar),
                      mass=MASS_KG, grasp_height_mm=axis_z, thickness_mm=diameter)


def plate(thickness: float, width: float, height: float = 40.0) -> ObjectSpec:
    """An upright plate (card, tile, panel) in the y-z plane; grasped 2 mm below its top edge."""
    top = BASE_THICK_MM + height
    body = _box((thickness / 2, width / 2, height / 2), (0.0, 0.0, BASE_THICK_MM + height / 2))
    return ObjectSpec(f"plate_t{thickness:g}_w{width:g}", "plate", (_base(25.0, width / 2 + 5.0), body),
                      mass=MASS_KG, grasp_height_mm=top - 2.0, thickness_mm=thickness)


def disc(diameter: float, thickness: float) -> ObjectSpec:
    """A disc (coin, washer, lid) face-on to the closing axis on a thin post; grasped 2 mm
    below its top."""
    r = diameter / 2
    centre = BASE_THICK_MM + 6.0 + r
    post = _box((max(thickness / 2 - 0.5, 0.5), 2.0, (centre - BASE_THICK_MM) / 2),
                (0.0, 0.0, (BASE_THICK_MM + centre) / 2))
    face = ShapePart("cylinder", (r, thickness), (0.0, 0.0, centre), (0.0, 90.0, 0.0))
    return ObjectSpec(f"disc_d{diameter:g}_t{thickness:g}", "disc", (_base(25.0, r + 5.0), post, face),
                      mass=MASS_KG, grasp_height_mm=centre + r - 4.0, thickness_mm=thickness)


def paper_objects() -> dict[str, ObjectSpec]:
    """The 15 built-in paper-class objects by name."""
    objs = [rod(d, length) for d, length in ((6, 100), (8, 100), (10, 110), (12, 120), (16, 120))]
    objs += [plate(t, w) for t, w in ((2, 40), (3, 50), (4, 60), (5, 45), (6, 55))]
    objs += [disc(d, t) for d, t in ((30, 2), (36, 3), (40, 4), (45, 5), (50, 6))]
    return {o.name: o for o in objs}


for _name, _spec in paper_objects().items():
    OBJECTS.register(_name, _spec)
