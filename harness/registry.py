"""Name → object registries with a timm-style `register` decorator and "did you mean" lookups.

The harness finds systems, baselines and encoders only through these registries. Registration happens when the
defining module is imported; `import_all` imports the modules listed in `PLUGIN_MODULES` so that listing commands
see every entry without the harness naming any system in its own code paths.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from harness.errors import unknown_name_error

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection; `register` is a decorator, `get` raises AbawError with suggestions."""

    def __init__(self, kind: str, plugin_modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._plugin_modules = plugin_modules
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def _load(self) -> None:
        if not self._loaded:
            for module in self._plugin_modules:
                importlib.import_module(module)
            self._loaded = True  # only once every plugin imported, so a failed import is retried, not hidden

    def get(self, name: str) -> T:
        self._load()
        if name not in self._entries:
            raise unknown_name_error(self.kind, name, self._entries)
        return self._entries[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(sorted(self._entries.items()))

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries
