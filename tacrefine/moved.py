"""Old module paths that still import: a module that moved stays importable under its old name.

A package lists the modules that left it with :func:`alias_modules`; importing an old name
then loads the module from its new home and binds the *same* module object under both
names, so ``import``, ``from ... import`` and ``monkeypatch.setattr`` on either name act on
one module. Nothing is imported until an old name is asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

_ALIASES: dict[str, str] = {}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias's spec on the real module: give it its own back.
        module.__spec__ = self._spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None,
                  ) -> importlib.machinery.ModuleSpec | None:
        new = _ALIASES.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def alias_modules(package: str, moved: Mapping[str, str]) -> None:
    """Make ``package.OLD`` import the module ``NEW`` for each ``OLD: NEW`` of ``moved``."""
    for old, new in moved.items():
        _ALIASES[f"{package}.{old}"] = new
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())


def moved_names(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that finds ``names`` (name -> the module that now holds it)
    where they moved, so that ``from module import name`` keeps working after a split."""

    def find(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return find
