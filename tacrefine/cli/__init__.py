"""Command-line tools (``scripts/*.py`` call their ``main``); importing this package sets the
OpenMP defaults of :mod:`tacrefine.runtime` before torch loads."""

from tacrefine.runtime import configure_threads

configure_threads()
