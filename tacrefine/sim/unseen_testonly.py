"""TEST-ONLY parts: the benchmark's true ``unseen`` split. Never train on these.

Held-out seeds of a training family measure interpolation: the part is new, its kind is
not. The parts here are made by rules that no training family uses (issue 17), so "unseen"
means a shape the policy has never met:

* parallel jaw: gears (9-14 small teeth on a hub), 7- and 9-gons (training has 5, 6 and 8),
  letters (H, E, F of orthogonal bars), sawtooth tops, crescents (an open ring);
  plus PyBullet's ``random_urdfs`` 000-099 by path (training may use 100-899);
* three-finger hand: rods of star section, plates with an arched or sawtooth top, toothed
  discs.

They are not registered as families (``family:NAME`` cannot name them) and no shipped
training config may list them (``tests/test_unseen_split.py`` checks). The benchmark takes
them *by path*, as a user gives a part: :func:`unseen_split` writes each as a URDF
(:mod:`tacrefine.sim.urdf_export`) and returns ``{name, urdf}`` mappings, so their grasp
and class are inferred (:mod:`tacrefine.sim.user_parts`, :mod:`tacrefine.sim.touch_class`).
Every part is a pure function of its rule and index.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tacrefine.config import ConfigError, require_choice
from tacrefine.sim.objects import FEATURE_BOTTOM_MM, JAW_DOFS, ObjectSpec, ShapePart, _base, _extrusion, _feature_box

#: parts per rule
PER_RULE = 3
#: PyBullet's random_urdfs of the jaw suite's unseen split (training may use 100-899)
RANDOM_URDF_INDICES = range(0, 100)
#: salt of the rules' seeds: distinct from every family's
_SALT = zlib.crc32(b"tacrefine-unseen-testonly")

Rule = Callable[[np.random.Generator], ObjectSpec]
JAW_RULES: dict[str, Rule] = {}
HAND_RULES: dict[str, Rule] = {}


def _rule(table: dict[str, Rule], name: str) -> Callable[[Rule], Rule]:
    def wrap(fn: Rule) -> Rule:
        table[name] = fn
        return fn

    return wrap


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _ring(n: int, radius: float, phase: float, cy: float = 0.0, cz: float = 0.0) -> list[tuple[float, float]]:
    return [(cy + radius * math.sin(phase + 2 * math.pi * k / n), cz + radius * math.cos(phase + 2 * math.pi * k / n))
            for k in range(n)]


def _jaw(parts: tuple[ShapePart, ...], top: float, thick: float, below_top: float) -> ObjectSpec:
    return ObjectSpec("unseen", "custom", (_base(), *parts), grasp_height_mm=top - below_top, thickness_mm=thick,
                      refined_dofs=JAW_DOFS)


def _on_post(outlines: list[list[tuple[float, float]]], thick: float, rng: np.random.Generator,
             below_top: float) -> ObjectSpec:
    """Outlines drawn about (0, 0) within +-7.5 mm, lifted so the top stands 24-32 mm above
    the base, on a post up to their centre."""
    pts = np.array([p for o in outlines for p in o])
    top = FEATURE_BOTTOM_MM + _u(rng, 24.0, 32.0)
    lift = top - float(pts[:, 1].max())
    pieces = tuple(_extrusion([(y, lift + z) for y, z in o], thick) for o in outlines)
    post = _feature_box(min(2.0, thick), 3.0, lift - FEATURE_BOTTOM_MM)
    return _jaw((post, *pieces), top, thick, below_top)


# -- the parallel jaw ----------------------------------------------------------------------------
@_rule(JAW_RULES, "gear")
def _gear(rng: np.random.Generator) -> ObjectSpec:
    teeth = int(rng.integers(9, 15))
    root, height = _u(rng, 4.5, 6.0), _u(rng, 0.8, 1.4)
    phase = _u(rng, 0.0, 2 * math.pi / teeth)
    width = math.pi * root / teeth * 0.9
    outlines = [_ring(2 * teeth, root, phase)]
    for k in range(teeth):
        a = phase + 2 * math.pi * k / teeth
        d, n = np.array([math.sin(a), math.cos(a)]), np.array([math.cos(a), -math.sin(a)])
        outlines.append([tuple(map(float, p)) for p in (d * (root - 0.5) + n * width / 2, d * (root + height)
                                                        + n * width / 3, d * (root + height) - n * width / 3,
                                                        d * (root - 0.5) - n * width / 2)])
    return _on_post(outlines, _u(rng, 3.0, 6.0), rng, _u(rng, 1.0, 3.0))


@_rule(JAW_RULES, "odd_gon")
def _odd_gon(rng: np.random.Generator) -> ObjectSpec:
    n = int(rng.choice([7, 9]))
    return _on_post([_ring(n, _u(rng, 5.0, 7.5), _u(rng, 0.0, 2 * math.pi / n))], _u(rng, 3.0, 6.0), rng,
                    _u(rng, 1.0, 4.0))


@_rule(JAW_RULES, "letter")
def _letter(rng: np.random.Generator) -> ObjectSpec:
    """H, E or F of orthogonal bars, upright, 10-14 mm wide and tall."""
    letter = ["H", "E", "F"][int(rng.integers(3))]
    w, h, bar = _u(rng, 10.0, 14.0), _u(rng, 10.0, 14.0), _u(rng, 1.8, 2.8)
    thick = _u(rng, 3.0, 6.0)
    z0 = FEATURE_BOTTOM_MM + _u(rng, 12.0, 18.0)
    stem = _feature_box(min(2.0, thick), 3.0, z0 - FEATURE_BOTTOM_MM)
    if letter == "H":
        parts = (_feature_box(thick, bar, h, y=-w / 2 + bar / 2, z0=z0), _feature_box(thick, bar, h, y=w / 2 - bar / 2,
                                                                                      z0=z0),
                 _feature_box(thick, w, bar, z0=z0 + h / 2 - bar / 2))
    else:
        arms = [z0, z0 + h / 2 - bar / 2, z0 + h - bar] if letter == "E" else [z0 + h / 2 - bar / 2, z0 + h - bar]
        parts = (_feature_box(thick, bar, h, y=-w / 2 + bar / 2, z0=z0),
                 *[_feature_box(thick, w * _u(rng, 0.7, 1.0), bar, y=0.0, z0=z) for z in arms])
    return _jaw((stem, *parts), z0 + h, thick, _u(rng, 1.0, 3.0))


@_rule(JAW_RULES, "sawtooth")
def _sawtooth(rng: np.random.Generator) -> ObjectSpec:
    teeth = int(rng.integers(3, 6))
    w, thick, h = _u(rng, 9.0, 14.0), _u(rng, 3.0, 6.0), _u(rng, 20.0, 26.0)
    depth = _u(rng, 1.5, 3.5)
    z0 = FEATURE_BOTTOM_MM
    pitch = w / teeth
    parts = [_feature_box(thick, w, h - depth)]
    lean = _u(rng, 0.0, 1.0)
    for k in range(teeth):
        y0 = -w / 2 + k * pitch
        parts.append(_extrusion([(y0, z0 + h - depth), (y0 + pitch, z0 + h - depth), (y0 + lean * pitch, z0 + h)],
                                thick))
    return _jaw(tuple(parts), z0 + h, thick, _u(rng, 1.5, 3.0))


@_rule(JAW_RULES, "crescent")
def _crescent(rng: np.random.Generator) -> ObjectSpec:
    outer = _u(rng, 5.0, 7.5)
    inner = outer * _u(rng, 0.45, 0.7)
    span = math.radians(_u(rng, 150.0, 260.0))
    start = _u(rng, 0.0, 2 * math.pi)
    n = 10
    angles = [start + span * k / n for k in range(n + 1)]
    outlines = [[(r * math.sin(a), r * math.cos(a)) for r, a in ((outer, a0), (outer, a1), (inner, a1), (inner, a0))]
                for a0, a1 in zip(angles[:-1], angles[1:])]
    return _on_post(outlines, _u(rng, 3.0, 6.0), rng, _u(rng, 1.0, 3.0))


# -- the three-finger hand ------------------------------------------------------------------------
@_rule(HAND_RULES, "star_rod")
def _star_rod(rng: np.random.Generator) -> ObjectSpec:
    from tacrefine.sim import paper_objects as paper

    points = int(rng.integers(4, 7))
    outer, inner = _u(rng, 5.0, 8.0), _u(rng, 2.5, 3.5)
    length = _u(rng, 80.0, 120.0)
    spec = paper.rod(2 * inner, length)
    axis = spec.grasp_height_mm
    phase = _u(rng, 0.0, 2 * math.pi / points)
    core = _ring(2 * points, inner, phase)
    n2 = len(core)
    pieces = [core] + [[(outer * math.sin(phase + 2 * math.pi * k / points), outer * math.cos(phase + 2 * math.pi * k
                                                                                              / points)),
                        core[(2 * k - 1) % n2], core[(2 * k + 1) % n2]] for k in range(points)]
    hulls = tuple(ShapePart("hull", vertices=tuple((x, sy * length / 2, axis + z) for sy in (-1, 1) for x, z in p))
                  for p in pieces)
    thickness = 2 * max(abs(x) for p in pieces for x, _ in p)
    return replace(spec, parts=(*spec.parts[:-1], *hulls), thickness_mm=thickness, refined_dofs=None)


@_rule(HAND_RULES, "arched_plate")
def _arched_plate(rng: np.random.Generator) -> ObjectSpec:
    from tacrefine.sim import paper_objects as paper
    from tacrefine.sim.families import _box_yz

    t, w, h = _u(rng, 2.0, 6.0), _u(rng, 40.0, 60.0), _u(rng, 34.0, 46.0)
    spec = paper.plate(t, w, h)
    z0, top = paper.BASE_THICK_MM, paper.BASE_THICK_MM + h
    if rng.random() < 0.5:  # an arch cut into the top edge
        r = _u(rng, 3.0, 6.0)
        at = _u(rng, -4.0, 4.0)
        floor = top - r
        parts = [_box_yz(t, w, z0, floor - 0.5, 0.0)]
        arc = [(at + r * math.cos(a), top - r * math.sin(a)) for a in np.linspace(0, math.pi, 13)]
        for k in range(12):  # the wall between the arch and each side, in slices under the arc
            (ya, za), (yb, zb) = arc[k], arc[k + 1]
            parts.append(_extrusion([(ya, floor - 0.5), (yb, floor - 0.5), (yb, zb), (ya, za)], t))
        parts += [_box_yz(t, at - r + w / 2, floor - 0.5, top, (at - r - w / 2) / 2),
                  _box_yz(t, w / 2 - at - r, floor - 0.5, top, (at + r + w / 2) / 2)]
        return replace(spec, parts=(spec.parts[0], *parts), grasp_height_mm=top - 2.0)
    teeth = int(rng.integers(4, 8))
    depth = _u(rng, 2.0, 4.0)
    pitch = 30.0 / teeth
    side = w / 2 - 15.0
    parts = [_box_yz(t, w, z0, top - depth, 0.0), _box_yz(t, side, top - depth, top - depth / 2, -(w / 2 + 15) / 2),
             _box_yz(t, side, top - depth, top - depth / 2, (w / 2 + 15) / 2)]
    for k in range(teeth):
        y0 = -15.0 + k * pitch
        parts.append(_extrusion([(y0, top - depth), (y0 + pitch, top - depth), (y0 + pitch / 2, top)], t))
    return replace(spec, parts=(spec.parts[0], *parts), grasp_height_mm=top - 2.0)


@_rule(HAND_RULES, "toothed_disc")
def _toothed_disc(rng: np.random.Generator) -> ObjectSpec:
    from tacrefine.sim import paper_objects as paper

    diameter, t = _u(rng, 30.0, 50.0), _u(rng, 2.0, 6.0)
    spec = paper.disc(diameter, t)
    r = diameter / 2
    centre = paper.BASE_THICK_MM + 6.0 + r
    teeth = int(rng.integers(14, 20))
    height = _u(rng, 1.0, 2.0)
    phase = _u(rng, 0.0, 2 * math.pi / teeth)
    body = _extrusion(_ring(2 * teeth, r - height, phase, 0.0, centre), t)
    pieces = []
    for k in range(teeth):
        a = phase + 2 * math.pi * k / teeth
        half = math.pi / teeth * 0.45
        pieces.append(_extrusion([((r - height - 0.3) * math.sin(a + s * half), centre + (r - height - 0.3)
                                   * math.cos(a + s * half)) for s in (-1, 1)]
                                 + [(r * math.sin(a + s * half * 0.6), centre + r * math.cos(a + s * half * 0.6))
                                    for s in (1, -1)], t))
    return replace(spec, parts=(spec.parts[0], spec.parts[1], body, *pieces), grasp_height_mm=centre + r - 4.0,
                   refined_dofs=None)


SUITE_RULES = {"jaw": JAW_RULES, "hand": HAND_RULES}


def unseen_part(suite: str, rule: str, index: int) -> ObjectSpec:
    """Part ``index`` of ``rule`` in ``suite`` (a pure function of the three)."""
    require_choice("suite", suite, tuple(SUITE_RULES))
    rules = SUITE_RULES[suite]
    if rule not in rules:
        raise ConfigError(f"unseen rule {rule!r} is unknown for suite {suite!r}; allowed: {sorted(rules)}")
    rng = np.random.default_rng(np.random.SeedSequence([_SALT, zlib.crc32(rule.encode()), index]))
    return replace(rules[rule](rng), name=f"unseen_{rule}_{index}")


def unseen_specs(suite: str, per_rule: int = PER_RULE) -> list[ObjectSpec]:
    """Every generated unseen part of ``suite`` (``per_rule`` of each rule)."""
    require_choice("suite", suite, tuple(SUITE_RULES))
    return [unseen_part(suite, rule, i) for rule in SUITE_RULES[suite] for i in range(per_rule)]


def random_urdf_entries(indices: Sequence[int] = RANDOM_URDF_INDICES) -> list[dict[str, Any]]:
    """PyBullet's ``random_urdfs`` by path, as ``{name, urdf}`` mappings (the names
    :mod:`tacrefine.sim.pybullet_parts` resolves to the same files)."""
    from tacrefine.sim.pybullet_parts import part_name, random_urdf_path

    return [{"name": part_name(i), "urdf": str(random_urdf_path(i))} for i in indices]


def fitting_entries(entries: Sequence[dict[str, Any]], hand: str = "parallel_jaw") -> list[dict[str, Any]]:
    """The mappings whose part the env accepts for ``hand`` (loads, rests, fits the open hand),
    in their order: a deterministic filter (the same files give the same list)."""
    from tacrefine.sim.hands import hand_config
    from tacrefine.sim.object_lists import usable_items

    cfg = hand_config(hand)
    kept, _ = usable_items([dict(e) for e in entries], (), cfg.max_opening_mm, cfg.release_clearance_mm)
    return kept


def unseen_split(suite: str, folder: str | Path, *, per_rule: int = PER_RULE,
                 random_urdfs: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The benchmark's ``unseen`` split of ``suite`` by path: the generated parts written as
    URDFs into ``folder``, then (jaw) PyBullet's random_urdfs ``random_urdfs`` (default
    000-099) that the env accepts."""
    from tacrefine.sim.urdf_export import export_urdf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = [{"name": spec.name, "urdf": str(export_urdf(spec, folder))} for spec in unseen_specs(suite, per_rule)]
    if suite == "jaw":
        indices = RANDOM_URDF_INDICES if random_urdfs is None else random_urdfs
        entries += fitting_entries(random_urdf_entries(indices), "parallel_jaw")
    return entries
