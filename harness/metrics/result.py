"""The result every metric returns: a headline value plus its breakdown (kept apart so that metrics import no task)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class MetricResult:
    """A headline metric plus its breakdown, as `abaw-bench score --json` prints it."""

    metric: str
    value: float
    breakdown: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "breakdown": self.breakdown,
            "extra": self.extra,
            "warnings": self.warnings,
        }
