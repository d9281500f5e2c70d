"""`profile`'s timing rules, checked on the CPU with a stand-in for torch.compile whose first call takes long (as a
compilation does; an hour on a fake clock, so the machine's load cannot blur it): compiling is never timed, whisper's
compiled part is what transcription calls, and the two MFU columns come from the measured and the datasheet peaks."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import torch
from abaw_bench.harness import profile as profiling
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.profile import ProfileSettings, datasheet_peak, profile

COMPILE_SECONDS = 3600.0


class FakeClock:
    """The profiler's perf_counter: real time plus what the fake compilations have "spent"."""

    skipped = 0.0

    @classmethod
    def perf_counter(cls) -> float:
        return time.perf_counter() + cls.skipped


class SlowFirstCall(torch.nn.Module):
    """What torch.compile returns, minus the compiler: the first call pays for the "compilation"."""

    compiled: ClassVar[list[SlowFirstCall]] = []

    def __init__(self, module: torch.nn.Module, **options: Any) -> None:
        super().__init__()
        self.inner, self.options, self.calls = module, options, 0
        SlowFirstCall.compiled.append(self)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            FakeClock.skipped += COMPILE_SECONDS
        return self.inner(*args, **kwargs)


@pytest.fixture
def fake_compile(monkeypatch: pytest.MonkeyPatch) -> list[SlowFirstCall]:
    SlowFirstCall.compiled = []
    monkeypatch.setattr(profiling.torch, "compile", SlowFirstCall)
    monkeypatch.setattr(profiling, "time", SimpleNamespace(perf_counter=FakeClock.perf_counter))
    return SlowFirstCall.compiled


def test_warmup_zero_never_times_the_compilation(fake_compile: list[SlowFirstCall]) -> None:
    report = profile(ProfileSettings("vit-h14", preset="tiny", batch_sizes=(2,), frames=1, compile=True, warmup=0,
                                     iters=3, peak_tflops=1.0))
    row = report["rows"][0]
    assert fake_compile[0].options == {"dynamic": False}
    assert row["compile_seconds"] >= COMPILE_SECONDS and row["graph_breaks"] == 0
    assert max(row["step_ms"]) < 1000 * COMPILE_SECONDS
    assert fake_compile[0].calls == 1 + 3  # the compiling pass, then the timed steps; the FLOP count stays eager


def test_whisper_compiles_the_audio_encoder_that_transcription_calls(fake_compile: list[SlowFirstCall]) -> None:
    report = profile(ProfileSettings("whisper-large-v3", preset="tiny", batch_sizes=(1,), seconds=1.0, compile=True,
                                     warmup=0, iters=1, peak_tflops=1.0))
    assert report["rows"][0]["status"] == "ok"
    (compiled,) = fake_compile
    assert type(compiled.inner).__name__ == "AudioEncoder" and compiled.calls >= 2


def test_cpu_rows_have_cpu_utilisation_and_no_datasheet_mfu() -> None:
    report = profile(ProfileSettings("vit-h14", preset="tiny", batch_sizes=(1,), frames=1, warmup=0, iters=1,
                                     peak_tflops=1.0))
    row = report["rows"][0]
    assert row["cpu_utilisation"] > 0 and row["mfu_datasheet"] is None and report["datasheet_peak"] is None
    with pytest.raises(AbawError, match=r"tf32.*CUDA"):
        profile(ProfileSettings("vit-h14", preset="tiny", dtype="tf32"))


@pytest.mark.parametrize(("name", "dtype", "tflops"), [
    ("NVIDIA H100 80GB HBM3", "bf16", 989.4), ("NVIDIA H100 PCIe", "tf32", 378.0), ("NVIDIA H200", "fp16", 989.4),
    ("NVIDIA A100-SXM4-80GB", "fp32", 19.5), ("NVIDIA L4", "bf16", 121.0), ("NVIDIA A10", "bf16", 125.0),
])
def test_datasheet_peaks_of_known_gpus(name: str, dtype: str, tflops: float) -> None:
    assert datasheet_peak(name, dtype)["tflops"] == tflops


def test_unknown_devices_have_no_datasheet_peak() -> None:
    for name in ("NVIDIA A10G", "NVIDIA H200 NVL", "NVIDIA GeForce RTX 4090", "AMD EPYC 7B13"):
        assert datasheet_peak(name, "bf16") is None
