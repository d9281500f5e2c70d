"""The task registry. Every public module of this package is imported on first use (a package scan, as for systems)
and registers its task(s) with `TASKS.register`: a new task is one new module here, nothing else names it."""

from __future__ import annotations

from abaw_bench.harness.registry import Registry
from abaw_bench.harness.tasks.base import Task

TASKS: Registry[Task] = Registry("task", plugin_packages=("abaw_bench.harness.tasks",))


def get_task(name: str) -> Task:
    return TASKS.get(name)
