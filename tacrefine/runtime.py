"""Process-wide runtime settings of the command-line tools, applied before torch loads.

Why: torch's OpenMP threads spin while they wait for work. On a machine whose cores are
shared with other busy processes, a spinning thread burns the time slice its partner needs,
and two intra-op threads then ran a training step ~10x slower than one (measured on 2
shared cores). With ``OMP_WAIT_POLICY=PASSIVE`` waiting threads sleep instead, and two
threads are never slower than one by more than noise, while an idle machine still gets
both cores. OpenMP reads the variable once, when torch is first imported, so this must run
before that; a value the user set is kept.
"""

from __future__ import annotations

import os
import sys

#: environment defaults for OpenMP (torch's intra-op thread pool)
OPENMP_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def configure_threads() -> bool:
    """Set :data:`OPENMP_DEFAULTS` where the user has not; False if torch is already
    loaded (too late to take effect in this process; child processes still inherit it)."""
    for key, value in OPENMP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return "torch" not in sys.modules


__all__ = ["OPENMP_DEFAULTS", "configure_threads"]
