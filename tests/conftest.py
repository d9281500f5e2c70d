"""Suite-wide isolation: every test session gets its own cache (so demo datasets and feature caches are generated
fresh, never read from the user's ~/.cache) and runs with the Hugging Face hub offline, as CI's machines are: they
reach no model hub."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pyproject.toml runs the suite on two workers: one intra-op thread each keeps them from oversubscribing two
    # cores. Set before torch is imported (no plugin imports it); the tests' subprocesses inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


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


CAP_PRELUDE = """
import resource

def _address_space() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))

resource.setrlimit(resource.RLIMIT_AS, (_address_space() + {headroom}, resource.getrlimit(resource.RLIMIT_AS)[1]))
"""


@pytest.fixture(scope="session")
def capped_python() -> Callable[..., subprocess.CompletedProcess[str]]:
    """capped_python(code, headroom=256 MiB, timeout=60, before_cap=""): `code` in a fresh Python whose address space
    may grow by at most `headroom` beyond what the interpreter and `before_cap` (imports) take. A hang ends at
    `timeout` (a failure: hostile inputs are answered in well under a second), a memory blow-up in a MemoryError."""
    if not Path("/proc/self/status").is_file():
        pytest.skip("the address-space cap reads /proc/self/status (Linux)")

    def run(code: str, headroom: int = 256 << 20, timeout: float = 60,
            before_cap: str = "") -> subprocess.CompletedProcess[str]:
        script = before_cap + "\n" + CAP_PRELUDE.format(headroom=headroom) + code
        try:
            return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the capped run did not finish within {timeout} s (a hang)")

    return run
