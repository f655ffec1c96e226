"""Test-wide settings: decompositions go to a folder of the session, never the user's cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_decomposition_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("TACREFINE_CACHE_DIR", str(tmp_path_factory.mktemp("tacrefine-cache")))
    yield
    mp.undo()
