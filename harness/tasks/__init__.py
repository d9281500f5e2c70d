"""The task registry: `emi`, `bah`, `va`, `expr`."""

from __future__ import annotations

from harness.registry import Registry
from harness.tasks.base import Task

TASKS: Registry[Task] = Registry(
    "task", plugin_modules=("harness.tasks.emi", "harness.tasks.bah", "harness.tasks.affwild2")
)


def get_task(name: str) -> Task:
    return TASKS.get(name)
