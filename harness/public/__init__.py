"""abaw_bench: the participants' Python API (`harness.api`), importable as

    from abaw_bench import write_submission, validate_submission, score_predictions

This folder is the `abaw_bench` package itself (pyproject's package-dir maps it; the repository's top-level folders
install as its sub-packages, `abaw_bench.harness` and so on). The names are imported when first used, so
`import abaw_bench` costs nothing and never imports torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["score_predictions", "validate_submission", "write_submission"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from abaw_bench.harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'abaw_bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
