"""Arguments shared by several scripts, defined once."""

from __future__ import annotations

from typing import Any


def add_units_argument(parser: Any) -> None:
    """``--units`` of the scripts that take ``--object`` mesh files (one definition for all)."""
    from tacrefine.sim.mesh_io import UNITS

    parser.add_argument("--units", choices=tuple(UNITS),
                        help=f"units of the --object mesh files: {', '.join(UNITS)} "
                             "(default: what the file declares, else m)")
