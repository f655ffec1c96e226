"""One isolated PyBullet world: its own client, a table and a fixed time step.

Every world owns a :class:`BulletClient` (:class:`BoundClient`); nothing here touches PyBullet's module-global
client, so two worlds in one process never see each other.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass

import pybullet as pb
from pybullet_utils.bullet_client import BulletClient

from tacrefine.config import require, require_positive

#: Collision-filter bit carried by bodies the tactile sensors can feel (ray mask).
SENSED_GROUP = 1 << 6


@contextlib.contextmanager
def _quiet_stdout():
    """Silence what PyBullet's C code prints on connect (it would break progress bars)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class BoundClient(BulletClient):
    """A :class:`BulletClient` that binds each PyBullet function to its client once.

    ``BulletClient.__getattr__`` builds a new ``functools.partial(pybullet.<name>,
    physicsClientId=<this client>)`` on every lookup (some 10,000 per 30 episodes); the
    first one is kept here on the instance, so later lookups are plain attribute reads.
    Exact: the kept partial is the very one each lookup would build (the client id never
    changes while connected). ``disconnect`` is not kept: its lookup marks the client closed.
    """

    def __getattr__(self, name: str):
        attribute = super().__getattr__(name)
        if name != "disconnect":
            self.__dict__[name] = attribute
        return attribute


@dataclass(frozen=True)
class WorldConfig:
    """Physics settings shared by every world.

    Attributes:
        time_step: integration step in seconds (fixed, so results repeat exactly).
        solver_iterations: constraint solver iterations per step.
        gravity: gravity along world z, m/s^2 (negative is down).
        table_friction: lateral friction of the table top.
        gui: open the PyBullet GUI instead of the headless DIRECT client.
    """

    time_step: float = 1.0 / 240.0
    solver_iterations: int = 50
    gravity: float = -9.81
    table_friction: float = 0.6
    gui: bool = False

    def __post_init__(self) -> None:
        require_positive("world.time_step", self.time_step)
        require(isinstance(self.solver_iterations, int) and self.solver_iterations > 0,
                "world.solver_iterations", "an integer > 0", self.solver_iterations)
        require_positive("world.table_friction", self.table_friction, allow_zero=True)


class World:
    """A physics client with a table whose top is the plane z = 0."""

    TABLE_HALF_EXTENTS = (0.4, 0.4, 0.02)

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        if self.config.gui and sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
            # PyBullet's GUI kills the whole process when no X server answers; fail politely.
            raise RuntimeError("the PyBullet GUI (gui=True / render_mode='human') needs a display, and DISPLAY "
                               "is not set; use render_mode='rgb_array' on a headless machine")
        mode = pb.GUI if self.config.gui else pb.DIRECT
        with _quiet_stdout():
            self.client = BoundClient(connection_mode=mode)
        self._populate()

    def reset(self) -> None:
        """Empty the world and build it anew in the same client: no body, shape, contact or
        solver cache survives, so what runs next cannot depend on what ran before (and it
        costs well under a millisecond, where a new client costs 4-25 ms)."""
        self.client.resetSimulation()
        self._populate()

    def _populate(self) -> None:
        """Physics settings and the table (body 0)."""
        c = self.client
        c.setPhysicsEngineParameter(
            fixedTimeStep=self.config.time_step,
            numSolverIterations=self.config.solver_iterations,
            deterministicOverlappingPairs=1,
        )
        c.setGravity(0, 0, self.config.gravity)
        shape = c.createCollisionShape(pb.GEOM_BOX, halfExtents=self.TABLE_HALF_EXTENTS)
        visual = c.createVisualShape(pb.GEOM_BOX, halfExtents=self.TABLE_HALF_EXTENTS,
                                     rgbaColor=(0.75, 0.68, 0.55, 1))
        self.table = c.createMultiBody(0, shape, visual, basePosition=(0, 0, -self.TABLE_HALF_EXTENTS[2]))
        c.changeDynamics(self.table, -1, lateralFriction=self.config.table_friction)

    @property
    def time_step(self) -> float:
        return self.config.time_step

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.client.stepSimulation()

    def num_bodies(self) -> int:
        return self.client.getNumBodies()

    def close(self) -> None:
        """Disconnect; safe to call twice."""
        if getattr(self, "client", None) is not None:
            with contextlib.suppress(pb.error):
                self.client.disconnect()
            self.client = None  # type: ignore[assignment]

    def __del__(self) -> None:
        self.close()
