"""The decomposition figure of the parts benchmark: a 50k-triangle non-convex part (a torus,
250 x 100 sections) decomposed at the default setting into an empty cache, timed in CPU
seconds (the work of one core, whatever else the machine runs) and wall seconds."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

#: issue 18's bound: one core, default setting
BOUND_CPU_S = 60.0


def time_decomposition(major_sections: int = 250, minor_sections: int = 100) -> dict[str, Any]:
    """Decompose a fresh torus of ``2 * major * minor`` triangles (mm) once; its figures."""
    import trimesh

    from tacrefine.sim import decompose
    from tacrefine.sim.mesh_io import MeshPiece

    torus = trimesh.creation.torus(major_radius=15.0, minor_radius=5.0, major_sections=major_sections,
                                   minor_sections=minor_sections)
    piece = MeshPiece("torus", torus.vertices.copy(), torus.faces.copy())
    saved = os.environ.get("TACREFINE_CACHE_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TACREFINE_CACHE_DIR"] = cache  # an empty cache: the decomposition runs
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            hulls = decompose.decompose(piece, decompose.DEFAULT_CONCAVITY, "benchmark torus")
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            if saved is None:
                os.environ.pop("TACREFINE_CACHE_DIR", None)
            else:
                os.environ["TACREFINE_CACHE_DIR"] = saved
    from scipy.spatial import ConvexHull

    volume = sum(ConvexHull(h).volume for h in hulls)
    return {"part": f"torus {major_sections} x {minor_sections}", "triangles": int(len(torus.faces)),
            "concavity": decompose.DEFAULT_CONCAVITY, "pieces": len(hulls), "cpu_s": round(cpu, 1),
            "wall_s": round(wall, 1), "volume_change_pct": round(100 * (volume / torus.volume - 1), 1),
            "bound_cpu_s": BOUND_CPU_S, "within_bound": cpu <= BOUND_CPU_S}


def decomposition_line(row: dict[str, Any]) -> str:
    return (f"decomposition of a {row['triangles']}-triangle non-convex part ({row['part']}, CoACD concavity "
            f"{row['concavity']}): {row['pieces']} pieces, {row['cpu_s']} s CPU ({row['wall_s']} s wall), hull "
            f"volume {row['volume_change_pct']:+.1f} %; bound {row['bound_cpu_s']:.0f} s CPU: "
            f"{'met' if row['within_bound'] else 'NOT met'}")
