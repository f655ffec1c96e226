"""Dense tactile pads: a ray-cast elastic (Winkler) layer over a taxel grid.

Why this model: a rigid engine reports a handful of contact points, which would light a
single taxel. Instead, each taxel casts a short ray along the pad normal and measures the
*gap* between the pad surface and the object there (negative inside the pad). The pad
carries a thin elastic layer of stiffness ``k`` per unit area; pressed with the normal
force ``F`` the engine reports for that pad, the layer sinks uniformly by the depth
``delta`` that balances the force::

    F = k * A_taxel * sum_i max(0, delta - gap_i)

and taxel ``i`` reads the indentation ``max(0, delta - gap_i)``. This is dense (every
taxel under the object reads), follows the object's geometry (a sphere gives a round
blob, an edge a line), and reads more under more force. The optional shear channels
spread the pad's tangential (friction) force over the contact in proportion to pressure.

Images are ``uint8`` as in the paper: the normal channel maps ``full_scale_depth_mm`` to
255; shear channels are centred on 128. What a real array does to the signal on its way
to the image (spread, gain and offset maps, hysteresis, noise, saturation, dead taxels)
is :mod:`tacrefine.sim.sensor_response`; the sensor's description is
:class:`~tacrefine.sim.sensor_config.SensorConfig` (named profiles:
:mod:`tacrefine.sim.sensor_profiles`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tacrefine.config import require
from tacrefine.sim.raycast import ConvexBody
from tacrefine.sim.sensor_config import NoiseConfig, SensorConfig
from tacrefine.sim.sensor_response import ReprCache, SensorResponse, read_only
from tacrefine.sim.world import SENSED_GROUP

__all__ = ["NoiseConfig", "PadSpec", "SensorConfig", "TactileSensor"]

#: Taxel ray end points in the pad frames, built once per grid and pad layout (a cell builds
#: a sensor per episode).
_ENDPOINTS = ReprCache()


@dataclass(frozen=True)
class PadSpec:
    """Where a pad is on the hand: its link and its axes in that link's frame.

    Attributes:
        link: URDF link name of the pad.
        normal: unit vector (link frame) pointing out of the pad face toward the object.
        row_axis: direction of increasing row index (link frame).
        col_axis: direction of increasing column index (link frame).
        surface_offset_mm: distance from the link origin to the pad face along ``normal``.
        size_mm: physical pad face (length along rows, width along columns); the sensing
            area must fit inside it.
    """

    link: str
    normal: tuple[float, float, float]
    row_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    col_axis: tuple[float, float, float] = (0.0, 1.0, 0.0)
    surface_offset_mm: float = 1.0
    size_mm: tuple[float, float] = (16.0, 16.0)


class TactileSensor:
    """Reads every pad of one hand in a single batched ray query.

    Args:
        client: the world's BulletClient.
        body: the hand's body id.
        pad_links: link index of each pad, in finger order.
        pads: the matching :class:`PadSpec` list.
        config: the grid and layer model.
    """

    #: depth behind the pad face where rays start (inside the pad, which rays ignore)
    BACK_MM = 2.0

    def __init__(self, client, body: int, pad_links: Sequence[int], pads: Sequence[PadSpec],
                 config: SensorConfig) -> None:
        self.client = client
        self.body = body
        self.pad_links = list(pad_links)
        self.pads = list(pads)
        self._config = config
        self.response = SensorResponse(config, len(self.pads))
        rows_mm, cols_mm = config.size_mm
        for pad in pads:
            require(rows_mm <= pad.size_mm[0] + 1e-9 and cols_mm <= pad.size_mm[1] + 1e-9,
                    "sensor.rows/cols/pitch_mm",
                    f"a sensing area within the {pad.size_mm[0]} x {pad.size_mm[1]} mm pad",
                    f"{rows_mm:.2f} x {cols_mm:.2f} mm")
        # exact: a function of the grid, the reach and the pads only, all in the key
        self._local_from, self._local_to = _ENDPOINTS.get(
            (config.rows, config.cols, config.pitch_mm, config.reach_mm, self.BACK_MM, self.pads),
            self._ray_endpoints_local)
        self._ray_len_mm = self.BACK_MM + config.reach_mm
        self._taxel_area_mm2 = config.pitch_mm**2
        self._convex: dict[int, ConvexBody] = {}

    @property
    def config(self) -> SensorConfig:
        return self._config

    @config.setter
    def config(self, config: SensorConfig) -> None:
        """Swap the read-out (domain randomisation); the taxel grid must stay the same."""
        if config is self._config:
            return
        require((config.rows, config.cols, config.pitch_mm) == (self._config.rows, self._config.cols,
                                                                  self._config.pitch_mm),
                "sensor.rows/cols/pitch_mm", "the grid the sensor was built with", (config.rows, config.cols))
        self._config = config
        self.response = SensorResponse(config, len(self.pads))

    def reset(self) -> None:
        """Forget the read-out's memory (hysteresis, lag) before an unrelated grasp."""
        self.response.reset()

    def _ray_endpoints_local(self) -> tuple[np.ndarray, np.ndarray]:
        """Taxel-centre ray start and end points in each pad-link frame, metres, ``(P, R*C, 3)``
        (read-only: shared by the sensors of equal grids and pads, see :data:`_ENDPOINTS`)."""
        cfg = self.config
        r = (np.arange(cfg.rows) - (cfg.rows - 1) / 2) * cfg.pitch_mm
        c = (np.arange(cfg.cols) - (cfg.cols - 1) / 2) * cfg.pitch_mm
        rr, cc = np.meshgrid(r, c, indexing="ij")
        starts, ends = [], []
        for pad in self.pads:
            n, row, col = (np.asarray(v, float) for v in (pad.normal, pad.row_axis, pad.col_axis))
            on_face = rr.reshape(-1, 1) * row + cc.reshape(-1, 1) * col + n * pad.surface_offset_mm
            starts.append((on_face - n * self.BACK_MM) / 1000.0)
            ends.append((on_face + n * cfg.reach_mm) / 1000.0)
        out = np.stack(starts), np.stack(ends)
        read_only(*out)
        return out

    def pad_poses(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """World rotation matrix and position of every pad link."""
        states = self.client.getLinkStates(self.body, self.pad_links, computeForwardKinematics=1)
        poses = []
        for st in states:
            rot = np.asarray(self.client.getMatrixFromQuaternion(st[5]), dtype=float).reshape(3, 3)
            poses.append((rot, np.asarray(st[4], dtype=float)))
        return poses

    def register_convex(self, body: int, shape: ConvexBody | None) -> None:
        """Give the sensor the closed-form geometry of ``body`` (or forget it with None).

        Registered bodies are ray-cast in NumPy; others through the engine's ray test.
        """
        if shape is None:
            self._convex.pop(body, None)
        else:
            self._convex[body] = shape

    def contact_geometry(self, obj: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Gap (mm) and covered share of every taxel, each ``(P, rows, cols)``.

        The gap is measured from the pad face along the normal at the taxel centre: ``inf``
        where no object is within ``reach_mm``, negative where it is inside the pad. The
        covered share is 1 inside the object's outline and falls off across an edge (closed
        form objects); the engine's ray test gives 1 or 0. Without ``obj`` (or for an
        unregistered one) every sensed body counts.
        """
        poses = self.pad_poses()
        starts = np.concatenate([s @ rot.T + pos for (rot, pos), s in zip(poses, self._local_from)])
        ends = np.concatenate([e @ rot.T + pos for (rot, pos), e in zip(poses, self._local_to)])
        shape = self._convex.get(obj) if obj is not None else None
        if shape is not None:
            pos, quat = self.client.getBasePositionAndOrientation(obj)
            body_pose = np.eye(4)
            body_pose[:3, :3] = np.asarray(self.client.getMatrixFromQuaternion(quat)).reshape(3, 3)
            body_pose[:3, 3] = pos
            frac, cover = shape.covered_hit(starts, ends, body_pose, self.config.pitch_mm / 1000.0)
        else:
            hits = self.client.rayTestBatch(starts, ends, collisionFilterMask=SENSED_GROUP)
            frac = np.fromiter((h[2] if h[0] >= 0 else np.inf for h in hits), dtype=float, count=len(hits))
            cover = np.isfinite(frac).astype(float)
        shape_out = (len(self.pads), self.config.rows, self.config.cols)
        return (frac * self._ray_len_mm - self.BACK_MM).reshape(shape_out), cover.reshape(shape_out)

    def gaps_mm(self, obj: int | None = None) -> np.ndarray:
        """Gap at every taxel centre, ``(P, rows, cols)`` (see :meth:`contact_geometry`)."""
        return self.contact_geometry(obj)[0]

    def contact_forces(self, obj: int) -> tuple[np.ndarray, np.ndarray]:
        """Normal force (N) and tangential force (N, along row and column axes) on each pad."""
        normal = np.zeros(len(self.pads))
        shear = np.zeros((len(self.pads), 2))
        poses = self.pad_poses() if self.config.shear else None
        for i, (link, pad) in enumerate(zip(self.pad_links, self.pads)):
            points = self.client.getContactPoints(bodyA=self.body, bodyB=obj, linkIndexA=link)
            if not points:
                continue
            normal[i] = sum(p[9] for p in points)
            if poses is not None:
                rot, _ = poses[i]
                force = sum(p[10] * np.asarray(p[11]) + p[12] * np.asarray(p[13]) for p in points)
                shear[i] = [force @ (rot @ np.asarray(pad.row_axis)), force @ (rot @ np.asarray(pad.col_axis))]
        return normal, shear

    def indentation_mm(self, gaps_mm: np.ndarray, forces: np.ndarray,
                       coverage: np.ndarray | None = None) -> np.ndarray:
        """Solve the elastic-layer force balance per pad; returns each taxel's mean
        indentation over its area, ``(P, rows, cols)``.

        A taxel covering the share ``w`` of its area carries ``k * A * w * (delta - gap)``.
        """
        weights = np.ones_like(gaps_mm) if coverage is None else coverage
        k_area = self.config.layer_stiffness * self._taxel_area_mm2  # N per mm of indentation
        out = np.zeros_like(gaps_mm)
        for i, (gap, w, force) in enumerate(zip(gaps_mm, weights, forces)):
            if force <= 0:
                continue
            felt = np.isfinite(gap) & (w > 0)
            if not felt.any():
                continue
            gap_felt = gap[felt]
            order = np.argsort(gap_felt)
            g, wt = gap_felt[order], w[felt][order]
            # With the j smallest gaps engaged, delta = (F/kA + sum w g) / sum w; the right j is
            # the largest one whose own gap is still below the resulting delta.
            delta = (force / k_area + np.cumsum(wt * g)) / np.cumsum(wt)
            depth = delta[np.nonzero(g <= delta)[0][-1]]
            out[i] = np.where(felt, w * np.clip(depth - gap, 0.0, None), 0.0)
        return out

    def to_image(self, depth_mm: np.ndarray, shear_n: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Physical readings to ``uint8 (P, C, rows, cols)`` through the read-out chain."""
        return self.response.image(depth_mm, shear_n, rng)

    def read(self, obj: int, rng: np.random.Generator | None = None, forces: np.ndarray | None = None,
             shear: np.ndarray | None = None) -> np.ndarray:
        """Tactile images of every pad touching body ``obj``.

        Args:
            obj: body id of the object (its contact forces load the pads).
            rng: generator for the noise model (required when noise is on).
            forces: per-pad normal loads (N) to use instead of the engine's contact
                forces (a probe with a known load, or the hand's actuator forces).
            shear: per-pad tangential forces (N, along rows and columns) when the caller
                already has them; otherwise they are read from the engine if shear is on.
        """
        if forces is None or (self.config.shear and shear is None):
            engine_normal, engine_shear = self.contact_forces(obj)
            forces = engine_normal if forces is None else forces
            shear = engine_shear if shear is None else shear
        normal = np.asarray(forces, dtype=float)
        shear = np.zeros((len(self.pads), 2)) if shear is None else np.asarray(shear, dtype=float)
        gaps, cover = self.contact_geometry(obj)
        depth = self.indentation_mm(gaps, normal, cover)
        return self.to_image(depth, shear, rng)
