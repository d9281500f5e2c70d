"""write → read → validate per format, the writer's table-to-format mapping, the reader, the format registry and the
reference-file loader."""

from __future__ import annotations

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.submission import get_format, read_submission, validate_file, write_submission
from abaw_bench.harness.submission.reference import load_reference_file
from abaw_bench.harness.tasks.base import Table

CASES = [("emi", None), ("bah", "frame"), ("bah", "video"), ("va", None), ("expr", None)]


def random_table(task: str, level: str | None, ids: list[str], rng: np.random.Generator) -> Table:
    layout = get_format(task, level).default_layout
    columns = []
    for column in layout:
        if column.integer:
            columns.append(rng.integers(int(column.low), int(column.high) + 1, len(ids)).astype(float))
        else:
            columns.append(column.low + (column.high - column.low) * rng.random(len(ids)))
    values = np.stack(columns, axis=1)
    if [c.name for c in layout] == ["p0", "p1", "pred"]:
        values[:, 0] = 1.0 - values[:, 1]
        values[:, 2] = values[:, 1] > values[:, 0]
    return Table(list(ids), values, tuple(c.name for c in layout))


@pytest.mark.parametrize(("task", "level"), CASES)
def test_write_read_validate_round_trip(tmp_path, references, task, level):
    ids = references[(task, level)]
    table = random_table(task, level, ids, np.random.default_rng(7))
    path = tmp_path / "sub.csv"
    write_submission(task, path, table, level=level)
    assert [p.name for p in tmp_path.iterdir()] == ["sub.csv"]  # atomic write left no temp file
    back = read_submission(task, path, level=level)
    assert back.ids == ids and back.columns == table.columns
    np.testing.assert_array_equal(back.values, table.values)  # shortest round-trip repr: exact
    report = validate_file(task, path, ids, level=level)
    assert report.ok and report.problems == [], report.render()


def test_writer_clips_to_the_format_range(tmp_path, references):
    ids = references[("emi", None)]
    values = np.full((len(ids), 6), 0.5)
    values[0, 0], values[1, 5] = 1.3, -0.2
    write_submission("emi", tmp_path / "e.csv", Table(ids, values, get_format("emi").header[1:]))
    back = read_submission("emi", tmp_path / "e.csv")
    assert back.values[0, 0] == 1.0 and back.values[1, 5] == 0.0


def test_writer_maps_columns_by_name_and_class_scores_by_argmax(tmp_path, references):
    ids = references[("emi", None)]
    emotions = get_format("emi").header[1:]
    values = np.arange(len(ids) * 6, dtype=float).reshape(len(ids), 6) / 100
    reversed_table = Table(ids, values[:, ::-1], emotions[::-1])
    write_submission("emi", tmp_path / "e.csv", reversed_table)
    np.testing.assert_array_equal(read_submission("emi", tmp_path / "e.csv").values, values)

    frames = references[("expr", None)]
    logits = np.random.default_rng(0).normal(size=(len(frames), 8))
    write_submission("expr", tmp_path / "x.csv", Table(frames, logits, tuple(f"c{i}" for i in range(8))))
    np.testing.assert_array_equal(read_submission("expr", tmp_path / "x.csv").values[:, 0], logits.argmax(axis=1))


def test_writer_bah_probabilities(tmp_path, references):
    frames = references[("bah", "frame")]
    probabilities = np.array([[0.2], [0.5], [0.51], [0.9], [0.0], [1.0]])
    write_submission("bah", tmp_path / "f.txt", Table(frames, probabilities, ("p1_as_pred",)), level="frame")
    assert read_submission("bah", tmp_path / "f.txt").values[:, 0].tolist() == [0, 0, 1, 1, 0, 1]

    videos = references[("bah", "video")]
    write_submission("bah", tmp_path / "v.txt", Table(videos, np.array([[0.2], [0.7], [0.5]]), ("p1",)),
                     level="video")
    back = read_submission("bah", tmp_path / "v.txt", level="video")
    assert back.columns == ("p0", "p1", "pred")
    np.testing.assert_allclose(back.values, [[0.8, 0.2, 0], [0.3, 0.7, 1], [0.5, 0.5, 0]])
    assert validate_file("bah", tmp_path / "v.txt", videos).ok


def test_writer_refuses_nan_and_unmappable_tables(tmp_path, references):
    ids = references[("va", None)]
    values = np.zeros((len(ids), 2))
    values[3, 1] = np.nan
    with pytest.raises(AbawError, match=f"NaN.*{ids[3]}"):
        write_submission("va", tmp_path / "v.csv", Table(ids, values, ("valence", "arousal")))
    with pytest.raises(AbawError, match="valence,arousal"):
        write_submission("va", tmp_path / "v.csv", Table(ids, np.zeros((len(ids), 3)), ("a", "b", "c")))
    assert not (tmp_path / "v.csv").exists()


def test_read_submission_names_the_first_problem(tmp_path, valid_text):
    path = tmp_path / "s.csv"
    path.write_text(valid_text("va").replace("0.25", "oops", 1))
    with pytest.raises(AbawError, match=r"s\.csv:2: \[value-type\] expected arousal as a number in \[-1, 1\]"):
        read_submission("va", path)
    with pytest.raises(AbawError, match="cannot read"):
        read_submission("va", tmp_path / "absent.csv")


def test_get_format_unknown_names():
    assert get_format("bah").level == "frame" and get_format("bah", "video").level == "video"
    with pytest.raises(AbawError, match="Did you mean 'emi'"):
        get_format("emj")
    with pytest.raises(AbawError, match="Did you mean 'video'"):
        get_format("bah", "vidoe")


def test_reference_file_sample_or_plain_list(tmp_path, valid_text, references):
    fmt = get_format("emi")
    sample = tmp_path / "sample.csv"
    sample.write_text(valid_text("emi").replace("\n08", "\n8"))
    assert load_reference_file(sample, fmt) == references[("emi", None)]
    plain = tmp_path / "ids.txt"
    plain.write_text("\r\n".join(references[("emi", None)]) + "\r\n\r\n")
    assert load_reference_file(plain, fmt) == references[("emi", None)]
    plain.write_text("00001\n1\n")
    with pytest.raises(AbawError, match="line 2: id '00001' already appears on line 1"):
        load_reference_file(plain, fmt)
    plain.write_bytes(b"\xff\xfe0\x001\x00")
    with pytest.raises(AbawError, match="not UTF-8"):
        load_reference_file(plain, fmt)
