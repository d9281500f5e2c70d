"""benchmarks/gpu_check.py on a machine without CUDA: one line, exit 0, a report that says it was skipped."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would run")
def test_without_cuda_the_check_is_skipped_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    gpu_check = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", gpu_check)  # dataclasses look their module up there
    spec.loader.exec_module(gpu_check)
    report_path = tmp_path / "report.json"
    assert gpu_check.main(["--out", str(report_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "skipped: no CUDA device" in lines[0]
    report = json.loads(report_path.read_text())
    assert report["status"] == "skipped: no CUDA device" and report["checks"] == {}
    assert report["environment"]["cuda_available"] is False
