"""pyproject's package list against the folders: every listed package's folder (through package-dir) holds an
__init__.py, and every folder with an __init__.py under a mapped folder is listed, so an install ships them all."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # the standard library's from Python 3.11 on
ROOT = Path(__file__).resolve().parents[2]


def setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_the_package_list_matches_the_folders_holding_an_init():
    config = setuptools_config()
    mapped = {name: ROOT / folder for name, folder in config["package-dir"].items()}
    found = set()
    for folder in set(mapped.values()):
        for init in folder.rglob("__init__.py"):
            directory = init.parent
            # the package a folder installs as: through the mapping whose folder is its nearest ancestor
            name, base = max(((n, f) for n, f in mapped.items() if directory.is_relative_to(f)),
                             key=lambda item: len(item[1].parts))
            found.add(".".join([name, *directory.relative_to(base).parts]))
    assert set(config["packages"]) == found


def test_abaw_bench_itself_is_the_small_api_folder_inside_harness():
    """The top-level package lives inside harness/, so the repository's top-level layout has no extra folder."""
    config = setuptools_config()
    assert "abaw_bench" in config["packages"] and config["package-dir"]["abaw_bench"] == "harness/public"
