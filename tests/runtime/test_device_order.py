"""`--device cuda:N` outside torchrun: GPU N becomes the current device before anything else touches CUDA, and the
extraction's copy-done event and the profiler's timing events are recorded on GPU N's stream (a mocked torch.cuda
with two GPUs records the order of the calls)."""

from __future__ import annotations

import pytest
import torch
from abaw_bench.harness import profile
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features import pipeline
from abaw_bench.harness.runtime import distributed


class FakeCuda:
    """Two GPUs; `log` holds ("set_device", i), ("record", stream's GPU), ("synchronize", i) in call order."""

    def __init__(self) -> None:
        self.current = 0
        self.log: list[tuple[str, int]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake = self

        class Stream:
            def __init__(self, index: int) -> None:
                self.index = index

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                self.device: int | None = None

            def record(self, stream: Stream | None = None) -> None:
                self.device = fake.current if stream is None else stream.index
                fake.log.append(("record", self.device))

            def synchronize(self) -> None:
                fake.log.append(("synchronize", self.device))

            def elapsed_time(self, other: Event) -> float:
                return 1.0

        def index(device: object) -> int:
            found = torch.device(device).index if device is not None else None
            return fake.current if found is None else found

        def set_device(device: object) -> None:
            fake.current = index(device)
            fake.log.append(("set_device", fake.current))

        for name, value in {"is_available": lambda: True, "device_count": lambda: 2, "set_device": set_device,
                            "current_stream": lambda device=None: Stream(index(device)), "Event": Event,
                            "synchronize": lambda device=None: fake.log.append(("synchronize", index(device))),
                            "get_device_name": lambda device=None: "Fake GPU"}.items():
            monkeypatch.setattr(torch.cuda, name, value)
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> FakeCuda:
    fake = FakeCuda()
    fake.install(monkeypatch)
    return fake


def test_setup_makes_the_requested_gpu_current_and_the_copy_event_waits_on_it(cuda: FakeCuda) -> None:
    context = distributed.setup("cuda:1")
    done = pipeline._copies_done(str(context.device))
    done()
    assert context.device == torch.device("cuda:1")
    assert cuda.log == [("set_device", 1), ("record", 1), ("synchronize", 1)]


def test_an_invisible_gpu_index_is_a_message(cuda: FakeCuda) -> None:
    with pytest.raises(AbawError, match=r"'cuda:2': only 2 are visible \(cuda:0 to cuda:1\)"):
        distributed.setup("cuda:2")


def test_the_profiler_selects_the_gpu_first_and_times_on_its_stream(cuda: FakeCuda,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    class Built(Exception):
        pass

    def build_random(*args: object, **kwargs: object) -> None:
        cuda.log.append(("build_random", cuda.current))
        raise Built

    monkeypatch.setattr(profile, "build_random", build_random)
    with pytest.raises(Built):
        profile.profile(profile.ProfileSettings(encoder="wav2vec2-vad", preset="tiny", device="cuda:1"))
    assert cuda.log == [("set_device", 1), ("build_random", 1)]
    cuda.log.clear()
    assert profile._timed("cuda:1", lambda: None) == pytest.approx(0.001)
    assert cuda.log == [("record", 1), ("record", 1), ("synchronize", 1)]
