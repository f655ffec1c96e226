"""Named registries: hands, object classes and DoF profiles are open sets, not closed tuples.

A registry maps a name to an entry. Users add their own entries with :meth:`Registry.register`;
looking up an unknown name fails with an error that names the field and lists what is known.

Suppliers register themselves: a module that ships entries imports the registry and calls
``register``; the registry never imports its suppliers. A registry may name the modules that
ship its built-in entries (``providers``): they are loaded by name the first time the registry
is read, so that a lookup sees the built-ins without the catalogue importing them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Generic, TypeVar

from tacrefine.config import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered name -> entry mapping that refuses unknown names and silent replacement.

    Args:
        kind: what the entries are (used in error messages), e.g. ``"hand"``.
        providers: modules (dotted names) that register the built-in entries; imported on
            the first read, after which user entries and built-ins live side by side.
        entries: entries the registry starts with (in this order, before the providers').
    """

    def __init__(self, kind: str, providers: Sequence[str] = (), entries: Mapping[str, T] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = dict(entries or {})
        self._providers = tuple(providers)
        self._loaded = not self._providers

    def _load(self) -> dict[str, T]:
        """The entries, after the providers have registered theirs (once)."""
        if not self._loaded:
            self._loaded = True  # set first: a provider may read the registry while it registers
            for module in self._providers:
                importlib.import_module(module)
        return self._entries

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Add ``entry`` under ``name``; an existing name is refused unless ``replace``."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.kind} name: got {name!r}; allowed: a non-empty string")
        self._load()  # built-ins first, so a user entry never silently takes a built-in's name
        if name in self._entries and not replace:
            raise ConfigError(f"{self.kind} {name!r} is already registered; pass replace=True to replace it")
        self._entries[name] = entry
        return entry

    def get(self, name: str, field: str | None = None) -> T:
        """The entry named ``name``; unknown names are refused with the known ones."""
        entries = self._load()
        if name not in entries:
            raise ConfigError(f"{field or self.kind}: {name!r} is unknown; known: {self.names()}")
        return entries[name]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._load())

    def keys(self) -> list[str]:
        return list(self._load())

    def values(self) -> list[T]:
        return list(self._load().values())

    def items(self) -> list[tuple[str, T]]:
        return list(self._load().items())

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._load())})"
