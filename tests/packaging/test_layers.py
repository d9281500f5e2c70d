"""No package imports one above it: data flows reader → media → encoders → features → heads → predictions →
submission → scorer → leaderboard, and the command line sits on top of everything.

Every `abaw_bench` import in the product is read from the source (top-level and inside functions alike, since a lazy
import is still a dependency) and checked against the declared order. A module that belongs to no layer fails the
test, so a new package has to be placed before it can land.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Low to high. A unit is a top-level folder or a module/package directly under harness/; a unit may import units of
# its own layer and of lower ones only.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("harness", "harness.errors", "harness.atomic", "harness.files", "harness.jsonio", "harness.paths",
     "harness.registry", "harness.progress", "harness.safepickle", "harness.torchfiles", "harness.provenance",
     "harness.results"),
    ("harness.metrics", "harness.media"),
    ("harness.tasks", "harness.demo"),
    ("harness.dataroot",),
    ("harness.submission",),
    ("harness.systems",),  # the system contract and registry: plain data, read by features and train
    ("harness.encoders",),
    ("harness.runtime",),
    ("harness.features",),
    ("harness.train",),
    ("harness.profile", "harness.api", "harness.public"),
    ("systems", "baselines"),
    ("leaderboard",),
    ("harness.cli", "harness.__main__"),
)
LAYER_OF = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
FOLDERS = ("harness", "systems", "baselines", "leaderboard")


def unit_of_module(dotted: str) -> str:
    """`harness.train.engine` → `harness.train`; `systems._heads` → `systems`; `harness` → `harness`."""
    parts = dotted.split(".")
    return ".".join(parts[:2]) if parts[0] == "harness" and len(parts) > 1 else parts[0]


def unit_of_file(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = [part for part in relative.parts if part != "__init__"]
    return unit_of_module(".".join(parts))


def imported_units(path: Path) -> set[tuple[str, int]]:
    """The units `path` imports from abaw_bench, with the line of each import."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            if module.startswith("abaw_bench."):
                found.add((unit_of_module(module.removeprefix("abaw_bench.")), node.lineno))
    return found


def product_files() -> list[Path]:
    return sorted(path for folder in FOLDERS for path in (ROOT / folder).rglob("*.py"))


def test_every_product_module_has_a_layer():
    unplaced = sorted({unit_of_file(path) for path in product_files()} - set(LAYER_OF))
    assert not unplaced, f"place these in LAYERS: {unplaced}"


@pytest.mark.parametrize("path", product_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_module_imports_a_layer_above_its_own(path: Path):
    own = unit_of_file(path)
    upward = [f"line {line}: {unit}" for unit, line in sorted(imported_units(path), key=lambda item: item[1])
              if LAYER_OF.get(unit, -1) > LAYER_OF.get(own, len(LAYERS))]
    assert not upward, f"{own} imports above its layer: {upward}"


def test_the_check_sees_an_upward_import(tmp_path: Path):
    """The walk finds a lazy import inside a function, which is how an upward dependency usually hides."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from abaw_bench.harness.cli import main\n    return main\n", encoding="utf-8")
    assert imported_units(module) == {("harness.cli", 2)}
