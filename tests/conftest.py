"""Suite-wide isolation: every test session gets its own cache (so demo datasets and feature caches are generated
fresh, never read from the user's ~/.cache) and runs with the Hugging Face hub offline, as on the reference machines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("abaw-cache")
    os.environ["ABAW_BENCH_CACHE"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    return cache


@pytest.fixture(scope="session")
def demo_root(_isolated_cache: Path):
    """demo_root("emi") → the generated demo dataset for a task, shared by the whole session."""
    from abaw_bench.harness.demo import ensure_demo

    return ensure_demo
