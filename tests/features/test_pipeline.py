"""Extraction with the real tiny wav2vec2-vad on synthetic wav files: store contents, batch independence, cache hits,
invalidation, corrupt files, SIGKILL + resume, torchrun with 2 gloo processes, and progress lines in a log."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features import FeatureRequest, extract_items
from abaw_bench.harness.media import MediaError, load_audio
from abaw_bench.harness.tasks.base import Item

sys.path.insert(0, str(Path(__file__).parent))
from _wav import write_wav

HELPER = Path(__file__).with_name("_run_extraction.py")
ITEM_COUNT = 14


@pytest.fixture(scope="module")
def encoder():
    from abaw_bench.harness.encoders import load_encoder

    return load_encoder("wav2vec2-vad", "tiny")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    lengths = np.random.default_rng(1).uniform(0.3, 2.5, ITEM_COUNT)
    for index, seconds in enumerate(lengths):
        write_wav(root / f"clip{index:02d}.wav", float(seconds), seed=index)
    return root


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(home))
    return home


def wav_items(root: Path) -> list[Item]:
    return [Item(path.stem, "train", {"audio": path}) for path in sorted(root.glob("*.wav"))]


def cache_bytes(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("items/*")) if p.is_file()}


def test_store_matches_items_encoded_alone(encoder, dataset: Path, cache: Path) -> None:
    items = wav_items(dataset)
    request = FeatureRequest.for_encoder(encoder, "synthetic", dataset, batch_size=4, num_workers=0, progress=False)
    store = extract_items(encoder, replace(request, num_workers=1), items, "train")
    assert store.ids == [item.id for item in items] and store.dim == 35
    assert store.summary["extracted"] == ITEM_COUNT and store.summary["cache_hits"] == 0
    assert store.summary["padded_fraction"] < 0.25
    import torch

    for item in items[:4]:
        features = store.get(item.id)
        assert isinstance(features, np.memmap) and features.dtype == np.float32
        with torch.no_grad():
            alone = encoder.forward(encoder.collate([encoder.prepare(load_audio(item.media["audio"]))]))[0]
        assert features.shape == tuple(alone.shape)
        np.testing.assert_allclose(features, alone.numpy(), rtol=1e-4, atol=1e-5)
    summary = json.loads((store.directory / "summary-train.json").read_text())
    assert summary["items"] == ITEM_COUNT and not summary["demo_data"]

    again = extract_items(encoder, request, items, "train")
    assert again.summary["extracted"] == 0 and again.summary["cache_hits"] == ITEM_COUNT

    write_wav(dataset / "clip03.wav", 1.0, seed=99)  # new content, size and mtime: only this entry is redone
    changed = extract_items(encoder, request, items, "train")
    assert changed.summary["extracted"] == 1
    assert changed.get("clip03").shape[0] != store.get("clip03").shape[0]
    assert changed.path("clip03") != store.path("clip03")


def test_corrupt_file_stops_or_is_skipped_never_zero_filled(encoder, dataset: Path, cache: Path) -> None:
    bad = dataset / "clip05.wav"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    items = wav_items(dataset)
    request = FeatureRequest.for_encoder(encoder, "synthetic", dataset, batch_size=4, num_workers=0, progress=False)
    with pytest.raises(MediaError, match=re.escape(str(bad))):
        extract_items(encoder, request, items, "train")
    store = extract_items(encoder, replace(request, skip_bad=True), items, "train")
    assert store.summary["skipped"] == 1 and "truncated" in store.summary["skipped_items"]["clip05"]
    assert "clip05" not in store.ids and len(store) == ITEM_COUNT - 1
    assert not list(store.directory.glob("items/clip05-*"))
    with pytest.raises(AbawError, match="skipped"):
        store.get("clip05")


def _run_helper(data: Path, cache_home: Path, *extra: str, launcher: list[str] | None = None) -> subprocess.Popen:
    # One thread per process, as torchrun sets it: the reference and the sharded runs then do identical arithmetic.
    env = {**os.environ, "ABAW_BENCH_CACHE": str(cache_home), "OMP_NUM_THREADS": "1"}
    command = [*(launcher or [sys.executable]), str(HELPER), "--data", str(data), *extra]
    # A session of its own, so a hung run (torchrun and both ranks) can be killed as one group.
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(process: subprocess.Popen, timeout: float = 180) -> dict:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset no test modifies, for the subprocess tests that compare caches byte for byte."""
    root = tmp_path_factory.mktemp("pristine")
    for index, seconds in enumerate(np.random.default_rng(2).uniform(0.3, 2.5, ITEM_COUNT)):
        write_wav(root / f"clip{index:02d}.wav", float(seconds), seed=index)
    return root


class _Reference:
    """One uninterrupted single-process run, started in the background and awaited when its cache is needed, so
    that it overlaps with the run a test kills."""

    def __init__(self, data: Path, home: Path) -> None:
        self.home = home
        self.process = _run_helper(data, home)
        self._bytes: dict[str, bytes] | None = None

    def cache(self) -> dict[str, bytes]:
        if self._bytes is None:
            assert _finish(self.process)["extracted"] == ITEM_COUNT
            self._bytes = cache_bytes(self.home)
        return self._bytes


@pytest.fixture(scope="module")
def reference(pristine: Path, tmp_path_factory: pytest.TempPathFactory):
    run = _Reference(pristine, tmp_path_factory.mktemp("reference"))
    yield run
    if run.process.poll() is None:
        run.process.kill()
        run.process.communicate()


@pytest.mark.slow
def test_sigkill_then_rerun_is_bit_identical(pristine: Path, reference: _Reference, tmp_path: Path) -> None:
    killed_home = tmp_path / "killed"
    victim = _run_helper(pristine, killed_home, "--sleep", "0.4")
    deadline = time.monotonic() + 90
    while len(list(killed_home.rglob("items/*.npy"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    partial = list(killed_home.rglob("items/*.npy"))
    assert 4 <= len(partial) < ITEM_COUNT, "the run was not killed mid-way"
    for entry in partial:  # whatever exists after the kill is a complete array
        assert np.load(entry).shape[1] == 35
    stale = partial[0].with_name(f".{partial[0].name}.abc123.tmp")  # what a kill during a write leaves behind
    stale.write_bytes(b"half an array")
    os.utime(stale, (time.time() - 60, time.time() - 60))
    # The rerun is a fresh process, as after a real kill, with the reference run's environment (one thread).
    resumed = _finish(_run_helper(pristine, killed_home))
    assert resumed["cache_hits"] == len(partial) and resumed["extracted"] == ITEM_COUNT - len(partial)
    assert cache_bytes(killed_home) == reference.cache()
    assert not list(killed_home.rglob("*.tmp"))


@pytest.mark.distributed
def test_torchrun_two_gloo_ranks_equal_single_process(pristine: Path, reference: _Reference,
                                                      tmp_path: Path) -> None:
    dist_home = tmp_path / "dist"
    torchrun = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2"]
    summary = _finish(_run_helper(pristine, dist_home, launcher=torchrun))
    assert summary["world_size"] == 2 and summary["extracted"] == ITEM_COUNT
    assert cache_bytes(dist_home) == reference.cache()
    assert (Path(summary["cache_dir"]) / "summary-train.json").is_file()


def test_extraction_logs_plain_lines_when_stderr_is_redirected(encoder, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    items = []
    for index in range(3):
        write_wav(tmp_path / f"clip{index}.wav", 0.5 + index / 4, seed=index)
        items.append(Item(f"clip{index}", "train", {"audio": tmp_path / f"clip{index}.wav"}))
    capfd.readouterr()
    request = FeatureRequest.for_encoder(encoder, "synthetic", tmp_path, batch_size=2, num_workers=0, progress=True)
    # stderr is a file here (pytest's fd capture), as under `... > log 2>&1`
    extract_items(encoder, request, items, "train")
    err = capfd.readouterr().err
    assert "extract wav2vec2-vad/tiny synthetic/train: done, 3/3 videos" in err
    assert "\r" not in err


@pytest.mark.parametrize(("text", "expected"), [
    (None, ({}, {})),
    ('{"items": 2, "skipped_items": {"clip1": "truncated"}}',
     ({"items": 2, "skipped_items": {"clip1": "truncated"}}, {"clip1": "truncated"})),
    ('{"items": 2, "skipped_items": "clip1 clip2"}', ({"items": 2, "skipped_items": "clip1 clip2"}, {})),
    ("[1, 2]", ({}, {})),
    ('{"items": ', ({}, {})),
])
def test_a_missing_or_damaged_summary_records_no_skipped_item(text: str | None, expected: tuple,
                                                              tmp_path: Path) -> None:
    from abaw_bench.harness.features.pipeline import read_summary

    if text is not None:
        (tmp_path / "summary-train.json").write_text(text)
    assert read_summary(tmp_path, "train") == expected
