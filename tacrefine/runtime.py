"""Process-wide runtime settings of the command-line tools, applied before torch loads.

Why: torch's OpenMP threads spin while they wait for work. On a machine whose cores are
shared with other busy processes, a spinning thread burns the time slice its partner needs,
and two intra-op threads then ran a training step ~10x slower than one (measured on 2
shared cores). With ``OMP_WAIT_POLICY=PASSIVE`` waiting threads sleep instead, and two
threads are never slower than one by more than noise, while an idle machine still gets
both cores. OpenMP reads the variable once, when torch is first imported, so this must run
before that; a value the user set is kept.

Sleeping has its own price: a training step is some 400 short parallel regions, and waking the
partner thread for each one made a step ~30 % slower than with spinning threads on an idle machine
(train.py: 1,370 vs 1,800 pairs/s, 2 threads). A process that trains with the machine to itself
(``train.py``) therefore asks for a brief spin (:data:`BRIEF_SPIN`: GNU OpenMP, the runtime of
torch's Linux wheels, spins that many rounds, some tens of microseconds, before it sleeps), which
bridges the gaps inside a step and still sleeps between steps. The main job does not: its
training shares the cores with the baselines' background episodes, and spinning threads there
slowed its first epochs 3x (measured). Child processes inherit whatever the parent set.
"""

from __future__ import annotations

import os
import sys

#: environment defaults for OpenMP (torch's intra-op thread pool)
OPENMP_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}
#: GNU OpenMP's spin before a waiting thread sleeps, for a process that trains alone (it
#: overrides the passive policy's zero spin; other OpenMP runtimes ignore it)
BRIEF_SPIN = {"GOMP_SPINCOUNT": "30000"}


def configure_threads(brief_spin: bool = False) -> bool:
    """Set :data:`OPENMP_DEFAULTS` (and with ``brief_spin`` :data:`BRIEF_SPIN`) where the user
    has not; False if torch is already loaded (too late to take effect in this process; child
    processes still inherit it)."""
    for key, value in (OPENMP_DEFAULTS | (BRIEF_SPIN if brief_spin else {})).items():
        os.environ.setdefault(key, value)
    return "torch" not in sys.modules


__all__ = ["BRIEF_SPIN", "OPENMP_DEFAULTS", "configure_threads"]
