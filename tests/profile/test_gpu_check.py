"""benchmarks/gpu_check.py on a machine without CUDA: one line, exit 0, a report that says it was skipped; its EMI
estimate at `extract`'s defaults; its time budget."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture
def gpu_check(monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would run")
def test_without_cuda_the_check_is_skipped_in_one_line(gpu_check, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "report.json"
    assert gpu_check.main(["--out", str(report_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "skipped: no CUDA device" in lines[0]
    report = json.loads(report_path.read_text())
    assert report["status"] == "skipped: no CUDA device" and report["checks"] == {}
    assert report["environment"]["cuda_available"] is False


def test_the_emi_estimate_extracts_at_extracts_own_defaults(gpu_check) -> None:
    from abaw_bench.harness.features.pipeline import DEFAULT_IMAGES_PER_BATCH

    assert gpu_check.extraction_settings() == {"batch_size": 8, "images_per_batch": DEFAULT_IMAGES_PER_BATCH,
                                               "num_workers": None}


def test_a_check_past_the_time_budget_is_skipped_and_recorded(gpu_check, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_check, "TIME_BUDGET_SECONDS", -1.0)
    assert gpu_check.main(["--smoke", "--only", "lstm", "--out", str(tmp_path / "report.json")]) == 1
    check = json.loads((tmp_path / "report.json").read_text())["checks"]["lstm"]
    assert check["passed"] is False and "time budget" in check["error"]
