"""The task registry: `emi`, `bah`, `va`, `expr`."""

from __future__ import annotations

from abaw_bench.harness.registry import Registry
from abaw_bench.harness.tasks.base import Task

TASKS: Registry[Task] = Registry(
    "task", plugin_modules=tuple(f"abaw_bench.harness.tasks.{name}" for name in ("emi", "bah", "affwild2"))
)


def get_task(name: str) -> Task:
    return TASKS.get(name)
