"""pyproject's package list against the folders, and the wheel it builds: every listed package's folder (through
package-dir) holds an __init__.py and every folder with an __init__.py under a mapped folder is listed; the wheel
holds every file of the four top-level folders (modules and data) and nothing else; the build warns about nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # the standard library's from Python 3.11 on
ROOT = Path(__file__).resolve().parents[2]
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def setuptools_config() -> dict:
    return pyproject()["tool"]["setuptools"]


def installed_name(path: Path) -> str:
    """The dotted name a folder of the repository installs as: through the package-dir mapping whose folder is its
    nearest ancestor (harness/public is `abaw_bench`, harness/metrics `abaw_bench.harness.metrics`)."""
    mapped = {name: ROOT / folder for name, folder in setuptools_config()["package-dir"].items()}
    name, base = max(((n, f) for n, f in mapped.items() if path.is_relative_to(f)), key=lambda item: len(item[1].parts))
    return ".".join([name, *path.relative_to(base).parts])


def mapped_folders() -> list[Path]:
    return [ROOT / folder for folder in setuptools_config()["package-dir"].values()]


def source_files() -> set[str]:
    """Every file under the mapped folders as the wheel would name it (`abaw_bench/harness/splits/emi-v1.json`)."""
    files = set()
    for folder in mapped_folders():
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add("/".join([*installed_name(path.parent).split("."), path.name]))
    return files


def test_the_package_list_matches_the_folders_holding_an_init():
    found = {installed_name(init.parent) for folder in mapped_folders() for init in folder.rglob("__init__.py")}
    assert set(setuptools_config()["packages"]) == found


def test_the_mapped_folders_are_the_repositorys_top_level_packages():
    """harness, systems, baselines and leaderboard: a new top-level package would otherwise be left out unnoticed."""
    top_level = {init.parent.name for init in ROOT.glob("*/__init__.py")}
    assert {Path(folder).parts[0] for folder in setuptools_config()["package-dir"].values()} == top_level
    assert top_level == {"harness", "systems", "baselines", "leaderboard"}


def test_abaw_bench_itself_is_the_small_api_folder_inside_harness():
    """The top-level package lives inside harness/, so the repository's top-level layout has no extra folder."""
    config = setuptools_config()
    assert "abaw_bench" in config["packages"] and config["package-dir"]["abaw_bench"] == "harness/public"


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], str]:
    """The wheel built from a copy of the four folders with pip and the project's own build backend, offline (no
    build isolation, no index: about 3 s): the names it holds outside its dist-info, and the build's output."""
    backend = next(Requirement(line) for line in pyproject()["build-system"]["requires"]
                   if Requirement(line).name == "setuptools")
    assert backend.specifier.contains(version("setuptools")), (
        f"the wheel is built with the installed setuptools {version('setuptools')}, but pyproject's build-system "
        f"asks for {backend}: `pip install -e '.[test]'` installs it")
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in {Path(folder).parts[0] for folder in setuptools_config()["package-dir"].values()}:
        shutil.copytree(ROOT / folder, source / folder, ignore=SKIPPED)
    # PYTHONDONTWRITEBYTECODE (set on some machines) only makes distutils say it skips byte-compiling: not ours
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--verbose", "--no-deps", "--no-build-isolation",
                            "--no-index", "--wheel-dir", str(out), str(source)],
                           capture_output=True, text=True, env=env, timeout=300)
    output = build.stdout + build.stderr
    assert build.returncode == 0, output[-4000:]
    (wheel,) = out.glob("abaw_bench-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = {name for name in archive.namelist() if not name.split("/")[0].endswith(".dist-info")}
    return names, output


def test_the_wheel_holds_every_module_and_data_file_of_the_four_folders(built_wheel: tuple[set[str], str]):
    names, _ = built_wheel
    expected = source_files()
    assert {"abaw_bench/__init__.py", "abaw_bench/harness/splits/emi-v1.json",
            "abaw_bench/leaderboard/tables/wen2024-va.json"} <= expected  # the walk itself found the folders
    assert sorted(expected - names) == [], "missing from the wheel: list the package, or the data file in package-data"
    assert sorted(names - expected) == [], "in the wheel but not in the four folders"


def test_building_the_wheel_prints_no_setuptools_warning(built_wheel: tuple[set[str], str]):
    _, output = built_wheel
    assert "adding 'abaw_bench/harness/splits/emi-v1.json'" in output  # the backend's own lines are in the output
    warnings = [line for line in output.splitlines() if re.search(r"warning", line, re.IGNORECASE)]
    assert warnings == []
