"""The example submissions in `submissions/` (one per registered task and level) validate against their demo reference
and equal a fresh regeneration."""

from __future__ import annotations

import pytest
from abaw_bench.harness.submission import validate_file
from abaw_bench.harness.submission.examples import REPOSITORY_SUBMISSIONS, demo_reference_rows, examples, render_example


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.relative_path)
def test_example_validates_and_is_reproducible(demo_root, example):
    demo_root(example.task)
    path = REPOSITORY_SUBMISSIONS / example.relative_path
    assert path.is_file(), f"{path} is missing: run `python -m abaw_bench.harness.submission.examples`"
    report = validate_file(example.task, path, demo_reference_rows(example.task, example.level), level=None)
    assert report.ok and report.problems == [], report.render()
    assert report.level == example.level
    assert path.read_bytes() == render_example(example).encode("utf-8"), (
        f"{path} differs from a fresh regeneration: run `python -m abaw_bench.harness.submission.examples`")


def test_readme_says_how_examples_are_produced():
    assert "python -m abaw_bench.harness.submission.examples" in (REPOSITORY_SUBMISSIONS / "README.md").read_text()
