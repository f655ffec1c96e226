"""What the pads can feel of a part: its refined DoF and class, from its surface (issue 17).

A part given by path gets its class, hence the DoF refined for it, from geometry. A round /
not-round test on its section called a rod of square section a plate, and refined DoF the
pads could not tell apart. Here the test is what touch observes: the pads' contact images
are computed from the part's surface points at the nominal grasp and again with the part
moved by a small step along each DoF (1 mm, 3 deg). A DoF whose step changes the images is
*observed* (a round rod turned about its axis, or a plate wider than the pads slid
sideways, leaves them unchanged); the part refines the observed DoF.

The class follows: the paper's class whose DoF are exactly the observed ones (a bar lying
on supports with the observed DoF of a plate is a rod whose section is not round; a part
felt like a plate that is not thin keeps its geometric class), else the geometric class
given by the caller. When that class's DoF differ from the observed
ones, or a DoF is near the threshold, the class is *unclear*: the result says so (and is
logged), and the part refines what touch observes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.spatial.transform import Rotation

log = logging.getLogger(__name__)

#: DoF probed, and the step each is probed with (mm, deg); x is not probed (the pads close
#: on the part wherever it is along the closing axis), yaw is refined by no class
PROBES: dict[str, float] = {"y": 1.0, "z": 1.0, "roll": 5.0, "pitch": 5.0}
TRANSLATIONS = ("y", "z")
#: a DoF whose step changes the contact images by at least this much (root of the summed
#: squared change of the spread press, mm, over 0.5 mm cells) beyond what the felt translations
#: explain is observed (measured: a paper rod's roll 1.3-1.9, a plate's 1.5, a large disc's
#: sideways move 0.7; a round rod's turn about its axis 0.03, a disc's 0.15 or less) ...
OBSERVED_CHANGE = 0.5
#: ... and one between this and OBSERVED_CHANGE is near the threshold (reported as unclear)
UNCLEAR_CHANGE = 0.25
#: offsets (mm) tried around the estimated translation that best reproduces a turn
SEARCH_MM = tuple(np.arange(-2, 3) * step for step in (0.8, 0.2, 0.05, 0.0125))
#: image cells (mm) and how deep the pads press into the part's outermost point (mm)
CELL_MM = 0.5
PRESS_MM = 0.6
#: how far the pads' skin spreads a press (mm, standard deviation)
SPREAD_MM = 0.75
#: half the reach of the probing rays along the closing axis (mm)
RAY_REACH_MM = 60.0
#: the paper's classes by their DoF
CLASS_BY_DOFS = {("z", "roll"): "rod", ("z", "roll", "pitch"): "plate", ("y", "z", "pitch"): "disc"}
#: outermost surface along the closing axis at pad cells, for the part moved by a pose (tool
#: frame, mm): ``(cells (n, 2) of y, z; pose 4x4) -> (n, 2)`` of max x and min x (nan = none)
Surface = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TouchClass:
    """What touch tells of a part: its class, the DoF it refines, and how sure that is.

    Attributes:
        category: the part's class (registered in :mod:`tacrefine.sim.object_classes`).
        refined_dofs: the DoF refined for it (canonical order).
        scores: per probed DoF, the share of the contact images that a step changes.
        clear: False when the class's own DoF differ from what touch observes, or a DoF
            scored near the threshold; ``reason`` says which.
        reason: a plain sentence, empty when clear.
    """

    category: str
    refined_dofs: tuple[str, ...]
    scores: dict[str, float]
    clear: bool
    reason: str = ""


def _pose(dof: str, step: float) -> np.ndarray:
    pose = np.eye(4)
    if dof in TRANSLATIONS:
        pose[["x", "y", "z"].index(dof), 3] = step
    else:
        pose[:3, :3] = Rotation.from_euler({"roll": "x", "pitch": "y"}[dof], step, degrees=True).as_matrix()
    return pose


def ray_surface(hit_fraction: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Surface:
    """A :data:`Surface` from an exact ray test ``(origins, ends) (n, 3) mm -> hit fraction``
    (tool frame; ``inf`` = miss): rays along the closing axis from either side, the part
    moved by a pose being the rays moved by its inverse."""

    def surface(cells: np.ndarray, pose: np.ndarray) -> np.ndarray:
        inv = np.linalg.inv(pose)
        out = np.full((len(cells), 2), np.nan)
        for k, sign in enumerate((1.0, -1.0)):
            start = np.column_stack([np.full(len(cells), sign * RAY_REACH_MM), cells])
            end = start * np.array([-1.0, 1.0, 1.0])
            frac = hit_fraction(start @ inv[:3, :3].T + inv[:3, 3], end @ inv[:3, :3].T + inv[:3, 3])
            hit = np.isfinite(frac)
            out[hit, k] = sign * RAY_REACH_MM * (1.0 - 2.0 * frac[hit])
        return out

    return surface


def point_surface(points_mm: np.ndarray) -> Surface:
    """A :data:`Surface` from surface points (tool frame, mm), binned to the cells: for parts
    without convex pieces (a coarser, noisier view than :func:`ray_surface`)."""

    def surface(cells: np.ndarray, pose: np.ndarray) -> np.ndarray:
        pts = points_mm @ pose[:3, :3].T + pose[:3, 3]
        low = cells.min(axis=0) - CELL_MM / 2
        shape = np.round((cells.max(axis=0) - cells.min(axis=0)) / CELL_MM).astype(int) + 1
        idx = np.floor((pts[:, 1:] - low) / CELL_MM).astype(int)
        inside = np.all((idx >= 0) & (idx < shape), axis=1)
        out = np.full((len(cells), 2), np.nan)
        cell_idx = np.floor((cells - low) / CELL_MM).astype(int)
        for k, sign in enumerate((1.0, -1.0)):
            grid = np.full(tuple(shape), -np.inf)
            np.maximum.at(grid, (idx[inside, 0], idx[inside, 1]), sign * pts[inside, 0])
            values = grid[cell_idx[:, 0], cell_idx[:, 1]]
            out[np.isfinite(values), k] = sign * values[np.isfinite(values)]
        return out

    return surface


def contact_images(surface: Surface, pose: np.ndarray, half_width_mm: float, half_height_mm: float) -> np.ndarray:
    """The two pads' press (mm) at each cell, the part moved by ``pose``: each pad presses
    :data:`PRESS_MM` into the part's outermost point on its side within its window."""
    ys = np.arange(-half_width_mm + CELL_MM / 2, half_width_mm, CELL_MM)
    zs = np.arange(-half_height_mm + CELL_MM / 2, half_height_mm, CELL_MM)
    cells = np.stack(np.meshgrid(ys, zs, indexing="ij"), axis=-1).reshape(-1, 2)
    outer = surface(cells, pose) * np.array([1.0, -1.0])  # how far out on each pad's side
    press = np.zeros_like(outer)
    for k in range(2):
        if np.isfinite(outer[:, k]).any():
            reach = np.nan_to_num(outer[:, k], nan=-np.inf)
            press[:, k] = np.clip(reach - (np.nanmax(outer[:, k]) - PRESS_MM), 0, None)
    # the pads' skin spreads a press (and the images change smoothly with a move, so that
    # the translation reproducing a turn can be found by a local search)
    images = press.T.reshape(2, len(ys), len(zs))
    return np.stack([gaussian_filter(im, SPREAD_MM / CELL_MM, mode="constant") for im in images]).ravel()


def _shift(basis: list, values: np.ndarray) -> np.ndarray:
    shift = np.eye(4)
    for (name, _), value in zip(basis, values):
        shift[["x", "y", "z"].index(name), 3] = value
    return shift


def observability(surface: Surface, half_width_mm: float = 8.0, half_height_mm: float = 8.0) -> dict[str, float]:
    """Per probed DoF: how much a step changes the contact images (root summed square, mm).

    A turn counts only what no move along the observed translations reproduces (a disc
    turned about a point off its axis moves sideways, which the pads feel, but its turn
    they do not): the turned images are compared with the images of the part moved by the
    best translation (a linear estimate refined by a small search)."""

    def images(pose: np.ndarray) -> np.ndarray:
        return contact_images(surface, pose, half_width_mm, half_height_mm)

    rest = images(np.eye(4))
    scores, basis = {}, []
    for dof in TRANSLATIONS:
        column = (images(_pose(dof, PROBES[dof])) - images(_pose(dof, -PROBES[dof]))) / 2
        scores[dof] = float(np.linalg.norm(column))
        if scores[dof] >= UNCLEAR_CHANGE:  # any felt translation may explain a turn
            basis.append((dof, column / PROBES[dof]))
    for dof in PROBES:
        if dof in TRANSLATIONS:
            continue
        worst = 0.0
        for sign in (1.0, -1.0):
            turned = images(_pose(dof, sign * PROBES[dof]))
            best = float(np.linalg.norm(turned - rest))
            if basis:
                a = np.stack([c for _, c in basis], axis=1)
                centre = np.linalg.lstsq(a, turned - rest, rcond=None)[0]
                for grid in SEARCH_MM:  # coarse, then fine around the best so far
                    tries = centre + np.stack(np.meshgrid(*[grid] * len(basis)), axis=-1).reshape(-1, len(basis))
                    errors = [float(np.linalg.norm(turned - images(_shift(basis, t)))) for t in tries]
                    centre = tries[int(np.argmin(errors))]
                    best = min(best, min(errors))
            worst = max(worst, best)
        scores[dof] = worst
    return scores


def part_surface(parts: tuple, part_to_tool: np.ndarray, points_tool_mm: np.ndarray) -> Surface:
    """The part's :data:`Surface`: exact rays on its convex ``parts`` (mm, their frame) placed
    by ``part_to_tool`` (4x4, mm), or its surface points when it has none."""
    if not parts:
        return point_surface(points_tool_mm)
    from tacrefine.sim.raycast import convex_body_from_parts

    body = convex_body_from_parts(parts)  # metres
    pose = part_to_tool.copy()
    pose[:3, 3] /= 1000.0
    return ray_surface(lambda o, e: body.first_hit(o / 1000.0, e / 1000.0, pose))


def lies_on_supports(points_obj_mm: np.ndarray, grasp_height_mm: float, slab_mm: float = 3.0) -> bool:
    """True when, straight below the grasp, the part leaves a gap above its bottom: a bar held
    at its ends (a rod across the pads), not a plate or a post standing on its base."""
    slab = points_obj_mm[np.abs(points_obj_mm[:, 1]) <= slab_mm]
    bottom = float(points_obj_mm[:, 2].min())
    edges = np.arange(bottom + 3.0, grasp_height_mm, 2.0)
    if len(edges) < 3 or not len(slab):
        return False
    empty = np.histogram(slab[:, 2], bins=edges)[0] == 0
    return bool((empty[1:] & empty[:-1]).any())  # a gap of at least 4 mm (a rod's is 10 mm or more)


def classify_by_touch(surface: Surface, points_obj_mm: np.ndarray, grasp_height_mm: float,
                      geometric_category: str, narrow: bool, half_width_mm: float = 8.0,
                      half_height_mm: float = 8.0, name: str = "part") -> TouchClass:
    """Class and refined DoF of a part (module docstring) from its ``surface`` (tool frame) and
    surface points (object frame, mm).

    ``narrow``: the part is narrower than the pads (a parallel-jaw feature), so its class is
    the geometric one and it refines the observed DoF of the jaw's ``y, z, roll``.
    """
    from tacrefine.sim.object_classes import class_dofs

    scores = observability(surface, half_width_mm, half_height_mm)
    observed = tuple(d for d in PROBES if scores[d] >= OBSERVED_CHANGE)
    near = [d for d in PROBES if UNCLEAR_CHANGE <= scores[d] < OBSERVED_CHANGE]
    if narrow:
        dofs = tuple(d for d in ("y", "z", "roll") if d in observed) or ("y", "z", "roll")
        category, expected = geometric_category, ("y", "z", "roll")
    else:
        dofs = observed or ("z",)
        category = CLASS_BY_DOFS.get(observed, geometric_category)
        if category == "plate" and lies_on_supports(points_obj_mm, grasp_height_mm):
            category = "rod"  # a bar whose section shows its turn about the axis
        elif category == "plate" and geometric_category != "plate":
            category = geometric_category  # felt like a plate, but not thin: say so below
        expected = class_dofs(category)
    reasons = []
    if dofs != expected:
        reasons.append(f"its shape looks like a {category} ({', '.join(expected)}) but touch observes "
                       f"{', '.join(dofs)}")
    if near:
        reasons.append(f"{', '.join(near)} barely felt (scores {', '.join(f'{scores[d]:.2f}' for d in near)})")
    reason = "; ".join(reasons)
    say_unclear(name, reason, dofs)
    return TouchClass(category, dofs, {d: round(v, 3) for d, v in scores.items()}, not reason, reason)


def say_unclear(name: str, reason: str, dofs: tuple[str, ...]) -> None:
    """Tell the user (log, INFO) that a part's class is unclear and what is refined instead;
    also when the answer comes from the measurement cache."""
    if reason:
        log.info("%s: class unclear: %s; refining what touch observes: %s", name, reason, ", ".join(dofs))


def classify_part(spec, link_pose: np.ndarray, object_pose: np.ndarray, points_world: np.ndarray,
                  grasp_height_mm: float, geometric_category: str, narrow: bool) -> TouchClass:
    """:func:`classify_by_touch` for a part measured in a world (metres): ``link_pose`` places
    its file's frame (where its convex pieces are given), ``object_pose`` its object frame."""
    from tacrefine.sim.part_bodies import object_parts

    to_object = np.linalg.inv(object_pose)
    points_obj = (points_world @ to_object[:3, :3].T + to_object[:3, 3]) * 1000.0
    tool = np.eye(4)
    tool[2, 3] = -grasp_height_mm
    part_to_tool = to_object @ link_pose
    part_to_tool[:3, 3] *= 1000.0
    surface = part_surface(object_parts(spec), tool @ part_to_tool, points_obj + tool[:3, 3])
    return classify_by_touch(surface, points_obj, grasp_height_mm, geometric_category, narrow, name=spec.name)
