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


@pytest.mark.parametrize("command", ["validate", "score"])
@pytest.mark.parametrize("value", ["0", "-5", "ten"])
def test_max_bytes_must_be_a_whole_number_of_at_least_one(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          command: str, value: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--task", "emi", "--max-bytes", value, str(tmp_path / "sub.csv")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "--max-bytes" in err and "expected a whole number in [1, " in err and "Traceback" not in err
