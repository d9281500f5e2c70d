"""A label Python's float() would read but a label file never holds ("0_1" is 1.0 to float(), "١" is 1) is an error
naming the file and line, not a silently different label (issue 18.9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.tasks.affwild2 import EXPR, VA, parse_annotation
from abaw_bench.harness.tasks.emi import LABEL_HEADER, read_label_csv

NOT_DECIMAL = ("0_1", "\u0661", "1_0.5")


@pytest.mark.parametrize("label", NOT_DECIMAL)
def test_an_expr_label_that_only_python_reads_is_an_error(tmp_path: Path, label: str) -> None:
    path = tmp_path / "video.txt"
    path.write_text(",".join(EXPR.header) + f"\n0\n{label}\n", encoding="utf-8")
    with pytest.raises(AbawError, match=rf"^{path}:3: expected a number, found '{label}'$"):
        parse_annotation(path, EXPR)


def test_a_va_label_that_only_python_reads_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "video.txt"
    path.write_text("valence,arousal\n0.5,-0.25\n0_1,0.2\n", encoding="utf-8")
    with pytest.raises(AbawError, match=rf"^{path}:3: expected a number, found '0_1'$"):
        parse_annotation(path, VA)
    path.write_text("valence,arousal\n0.5,-0.25\n.1,1e-1\n", encoding="utf-8")
    assert parse_annotation(path, VA).tolist() == [[0.5, -0.25], [0.1, 0.1]]


@pytest.mark.parametrize("label", NOT_DECIMAL)
def test_an_emi_intensity_that_only_python_reads_is_an_error(tmp_path: Path, label: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(",".join(LABEL_HEADER) + "\n00001,0,0,0,0,0,0\n00002," + label + ",0,0,0,0,0\n", encoding="utf-8")
    with pytest.raises(AbawError, match=rf"^{path}, line 3, field Admiration: '{label}' is not a number"):
        read_label_csv(path)
