"""Name → object registries with a timm-style `register` decorator and "did you mean" lookups.

The harness finds tasks, systems, baselines and encoders only through these registries. Registration happens when
the defining module is imported. A registry loads its plugins on first use: every public module (name not starting
with "_") found in its `plugin_packages` by a package scan, in sorted order. So a new system is one new file in
`systems/` or `baselines/`, and a new task one new module in `harness/tasks/`: nothing else names it, and no reinstall
is needed (entry points would be read from install metadata). An import error in a plugin is raised, never skipped.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from abaw_bench.harness.errors import unknown_name_error

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection; `register` is a decorator, `get` raises AbawError with suggestions."""

    def __init__(self, kind: str, plugin_packages: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._plugin_packages = plugin_packages
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def plugin_module_names(self) -> list[str]:
        """The modules this registry imports: each package's public modules, sorted."""
        names: list[str] = []
        for package_name in self._plugin_packages:
            package = importlib.import_module(package_name)
            names += sorted(f"{package_name}.{info.name}" for info in pkgutil.iter_modules(package.__path__)
                            if not info.name.startswith("_"))
        return names

    def _load(self) -> None:
        if not self._loaded:
            for module in self.plugin_module_names():
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
