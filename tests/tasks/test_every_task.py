"""Every registered task, found by the package scan, keeps the contract the harness relies on: its formats agree with
its levels and round-trip through the writer and reader, `template` writes a file that validates, its reader says
where it looks for reference rows, its demo generates and governs itself, its labels draw, and the help texts name
it. Nothing here names a task: a new task module is tested by adding it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.cli import main
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.paths import DEMO_MARKER
from abaw_bench.harness.submission import get_format, levels_of, read_submission, validate_file, write_submission
from abaw_bench.harness.submission.reference import DatasetReferences, reader_level
from abaw_bench.harness.tasks import TASKS, get_task
from abaw_bench.harness.tasks.base import SPLITS

TASK_NAMES = TASKS.names()
TASK_LEVELS = [(name, level) for name, task in TASKS for level in task.levels]


def test_the_package_scan_finds_every_task_module() -> None:
    """Each public module of harness/tasks that defines a Task subclass registers at least one task."""
    import importlib
    import inspect

    from abaw_bench.harness.tasks.base import Task

    registered = {type(task) for _, task in TASKS}
    for module_name in TASKS.plugin_module_names():
        module = importlib.import_module(module_name)
        defined = {obj for _, obj in inspect.getmembers(module, inspect.isclass)
                   if issubclass(obj, Task) and obj is not Task and obj.__module__ == module_name}
        assert defined <= registered, f"{module_name} defines {defined - registered} without registering it"
    assert TASK_NAMES and all(get_task(name).name == name for name in TASK_NAMES)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_formats_agree_with_the_task(name: str) -> None:
    """One format per level, each naming its task; the first is the default; the constant row fits the layout."""
    task = get_task(name)
    assert levels_of(name) == task.levels and len(set(task.levels)) == len(task.levels) > 0
    assert get_format(name).level == task.levels[0]
    for fmt in task.formats:
        assert fmt.task == name and get_format(name, fmt.level) is fmt
        assert len(fmt.template_values) == len(fmt.default_layout)
        assert all(column.low <= value <= column.high for column, value in zip(fmt.default_layout,
                                                                                fmt.template_values, strict=True))
    assert task.dataset and task.label_figure.title


@pytest.mark.parametrize(("name", "level"), TASK_LEVELS)
def test_example_predictions_round_trip_through_writer_and_reader(tmp_path: Path, demo_root, name: str,
                                                                  level: str) -> None:
    task = get_task(name)
    rows = task.reader(demo_root(name)).reference_rows("test", reader_level(name, level))
    predictions = task.example_predictions(level, rows, np.random.default_rng(0))
    path = tmp_path / "sub.txt"
    write_submission(name, path, predictions, level=level)
    assert validate_file(name, path, rows, level=None).level == level  # the file's level is detected back
    back = read_submission(name, path, level=level)
    fmt = get_format(name, level)
    assert back.ids == rows and back.columns == tuple(column.name for column in fmt.default_layout)
    for column in predictions.columns:
        np.testing.assert_allclose(back.values[:, back.columns.index(column)],
                                   predictions.values[:, predictions.columns.index(column)], atol=1e-9)


@pytest.mark.parametrize(("name", "level"), TASK_LEVELS)
def test_template_writes_a_file_that_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_root,
                                               name: str, level: str) -> None:
    root, out = str(demo_root(name)), tmp_path / "template.txt"
    assert main(["template", "--task", name, "--level", level, "--data-root", root, "--out", str(out)]
                if len(get_task(name).levels) > 1 else
                ["template", "--task", name, "--data-root", root, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["validate", "--task", name, "--data-root", root, str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["level"] == level and report["data_rows"] == report["reference_rows"] > 0


@pytest.mark.parametrize(("name", "level"), TASK_LEVELS)
def test_the_reader_says_where_it_looks_for_reference_rows(tmp_path: Path, demo_root, name: str, level: str) -> None:
    """On the demo every split has rows and a description; on an empty root a split either still has rows (a shipped
    manifest fixes them) or its error is about the root: a file of the root that is missing (BAH's split lists), or
    no rows there, naming where the reader looked."""
    task = get_task(name)
    for split in SPLITS:
        assert DatasetReferences(name, str(demo_root(name)), split).used(level)
        assert task.reader(tmp_path).reference_source(split, reader_level(name, level)).strip()
    for split in SPLITS:
        references = DatasetReferences(name, str(tmp_path), split)
        looked_for = references.reader.reference_source(split, reader_level(name, level))
        try:
            assert references.used(level)
        except AbawError as error:
            no_rows = f"data root {tmp_path}: no {split} rows of task {name}"
            assert ((no_rows in str(error) and f"looked for {looked_for}." in str(error))
                    or (str(error).startswith(f"{tmp_path}/") and "not found" in str(error))), str(error)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_the_demo_generates_its_dataset_and_agrees_with_its_manifest(demo_root, name: str) -> None:
    task = get_task(name)
    root = demo_root(name)
    assert json.loads((root / DEMO_MARKER).read_text())["dataset"] == task.dataset
    reader = task.reader(root)
    assert reader.check() == []
    for split in ("train", "val"):
        labels = reader.labels(split)
        assert len(labels) > 0 and labels.columns == task.columns


@pytest.mark.parametrize("name", TASK_NAMES)
def test_a_demo_of_another_dataset_is_refused(demo_root, name: str) -> None:
    from abaw_bench.harness.dataroot import check_demo_dataset

    for other_name, other in TASKS:
        if other.dataset != get_task(name).dataset:
            with pytest.raises(AbawError, match=f"holds the demo dataset of task\\(s\\) [^(]*{other_name}"):
                check_demo_dataset(name, demo_root(other_name))
            return


@pytest.mark.parametrize("name", TASK_NAMES)
def test_the_label_figure_draws(demo_root, name: str) -> None:
    from abaw_bench.leaderboard.figures import label_figure, png_bytes

    figure = label_figure(name, demo_root(name))
    titles = [figure.get_suptitle(), *(axes.get_title() for axes in figure.axes)]
    assert any(title.startswith(get_task(name).label_figure.title) for title in titles)
    assert any(axes.has_data() for axes in figure.axes)
    assert png_bytes(figure).startswith(b"\x89PNG")


@pytest.mark.parametrize("command", ["validate", "score", "template", "demo", "splits"])
def test_the_task_help_names_every_registered_task(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    listed = re.search(r"--task T task name: ((?:\w+(?:, | or ))*\w+)", shown)
    assert listed is not None, shown
    assert re.split(r", | or ", listed.group(1)) == TASK_NAMES
