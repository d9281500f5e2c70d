"""`abaw-bench extract` end to end on the EMI demo (tiny random wav2vec2-vad), and its lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from abaw_bench.harness.cli import main


@pytest.mark.slow
def test_extract_demo_split_then_rerun_hits_cache(demo_root, capsys: pytest.CaptureFixture[str]) -> None:
    demo_root("emi")
    argv = ["extract", "--task", "emi", "--encoder", "wav2vec2-vad", "--preset", "tiny", "--split", "val",
            "--batch-size", "16", "--quiet", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "DEMO dataset" in captured.err
    [summary] = json.loads(captured.out)
    assert summary["demo_data"] and summary["extracted"] == summary["items"] > 0 and summary["skipped"] == 0
    assert summary["weights"].startswith("random weights")

    from abaw_bench.harness.features import FeatureRequest, open_store

    store = open_store(FeatureRequest("emi", "wav2vec2-vad", "tiny", demo_root("emi")), "val")
    assert len(store) == summary["items"] and store.get(store.ids[0]).shape[1] == 35
    assert np.isfinite(store.get(store.ids[-1])).all()

    assert main(argv[:-1]) == 0  # human-readable summary of a fully cached rerun
    out = capsys.readouterr().out
    assert f"cache_hits        {summary['items']}" in out and "extracted         0" in out and "RANDOM" in out


def test_bad_arguments_are_user_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="2"):
        main(["extract", "--task", "emi", "--encoder", "wav2vec2-vad", "--batch-size", "0"])
    assert "argument --batch-size: expected a whole number in [1, 65536], found '0'" in capsys.readouterr().err


def test_command_module_does_not_import_torch() -> None:
    code = ("import sys, abaw_bench.harness.cli.extract, abaw_bench.harness.features; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
