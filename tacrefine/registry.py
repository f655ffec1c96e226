"""Named registries: hands, object classes and DoF profiles are open sets, not closed tuples.

A registry maps a name to an entry. Users add their own entries with :meth:`Registry.register`;
looking up an unknown name fails with an error that names the field and lists what is known.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from tacrefine.config import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered name -> entry mapping that refuses unknown names and silent replacement.

    Args:
        kind: what the entries are (used in error messages), e.g. ``"hand"``.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Add ``entry`` under ``name``; an existing name is refused unless ``replace``."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.kind} name: got {name!r}; allowed: a non-empty string")
        if name in self._entries and not replace:
            raise ConfigError(f"{self.kind} {name!r} is already registered; pass replace=True to replace it")
        self._entries[name] = entry
        return entry

    def get(self, name: str, field: str | None = None) -> T:
        """The entry named ``name``; unknown names are refused with the known ones."""
        if name not in self._entries:
            raise ConfigError(f"{field or self.kind}: {name!r} is unknown; known: {self.names()}")
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"
