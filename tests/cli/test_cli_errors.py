"""The CLI's last line of defence: file-system errors on paths the user named end in a message, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from abaw_bench.harness import cli


def test_unwritable_output_path_is_reported_with_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder is expected\n")
    code = cli.main(["template", "--task", "emi", "--out", str(blocker / "sub" / "emi.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert "abaw-bench template: error:" in err and str(blocker) in err
    assert "Traceback" not in err
