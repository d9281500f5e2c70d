"""How extraction feeds a GPU, checked on the CPU: batches by an image budget, uint8 crops normalised on the device
(same numbers as normalising in the worker), decode workers within a shared-memory budget, the writer thread, and
`run` finding what `extract` cached."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from abaw_bench.harness.encoders import _image
from abaw_bench.harness.features import FeatureRequest, ensure_features, extract_items, find_cached_store
from abaw_bench.harness.features.bucketing import plan_batches
from abaw_bench.harness.features.loading import default_workers, loader_settings
from abaw_bench.harness.features.writer import EntryWriter
from abaw_bench.harness.tasks.base import Item
from PIL import Image


def test_an_image_budget_bounds_every_batch_whatever_the_clip_sizes() -> None:
    frames = [400, 3, 8, 120, 1, 1, 1, 700, 64, 64, 0, 30]
    batches = plan_batches(frames, None, budget=128)
    assert sorted(i for batch in batches for i in batch) == list(range(len(frames)))
    for batch in batches:
        assert len(batch) == 1 or sum(frames[i] for i in batch) <= 128  # an oversize clip gets a batch of its own
    assert [frames[b[0]] for b in batches[:3]] == [700, 400, 120]  # longest first, as without a budget
    assert plan_batches(frames, None, budget=128) == batches  # deterministic
    assert all(len(batch) <= 2 for batch in plan_batches(frames, 2, budget=128))
    with pytest.raises(ValueError):
        plan_batches(frames, None)


def test_workers_send_uint8_crops_and_the_device_normalises_exactly_as_before() -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (int(rng.integers(30, 90)), int(rng.integers(30, 90)), 3), dtype=np.uint8)
              for _ in range(5)]
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    crops = _image.preprocess(images, 28, resample="bicubic", center_crop=True)
    assert crops.dtype == torch.uint8 and crops.shape == (5, 28, 28, 3)
    # What the workers used to send: the same crops as float32, normalised in numpy.
    reference = (crops.numpy().astype(np.float32) / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    normalised = _image.to_model_input(crops, "cpu", mean, std)
    assert normalised.dtype == torch.float32 and normalised.is_contiguous()
    assert torch.equal(normalised, torch.from_numpy(reference).permute(0, 3, 1, 2))


def test_a_clip_with_many_crops_is_encoded_in_chunks_with_the_same_result() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4))
    pixels = torch.randn(10, 3, 2, 2)
    calls = []

    def forward(chunk: torch.Tensor) -> torch.Tensor:
        calls.append(len(chunk))
        return model(chunk)

    assert torch.allclose(_image.in_chunks(forward, pixels, limit=4), model(pixels))
    assert calls == [4, 4, 2]


def test_decode_workers_stay_within_the_shared_memory_budget() -> None:
    assert 4 <= default_workers("cuda") <= 8 and default_workers("cuda:1", local_world_size=8) >= 4
    assert default_workers("cpu") <= 1
    mb = 2**20
    roomy = loader_settings("cuda", 8, 77 * mb, free_shm=64 * 1024 * mb)
    assert (roomy.num_workers, roomy.prefetch_factor, roomy.pin_memory, roomy.note) == (8, 2, True, None)
    tight = loader_settings("cuda", 8, 77 * mb, free_shm=1024 * mb)  # 512 MB budget: 6 batches in flight
    assert (tight.num_workers, tight.prefetch_factor) == (6, 1) and "1024 MB free" in tight.note
    docker_default = loader_settings("cuda", 8, 77 * mb, free_shm=64 * mb)
    assert (docker_default.num_workers, docker_default.prefetch_factor) == (0, None)
    assert "--shm-size" in docker_default.note
    assert loader_settings("cpu", 0, 77 * mb, free_shm=0).num_workers == 0


def test_the_writer_thread_writes_after_the_copy_and_reports_errors(tmp_path: Path) -> None:
    events: list[str] = []

    def write(path: Path, value: int) -> None:
        events.append(f"write {path.name}")
        if value < 0:
            raise OSError(f"{path}: disk full")
        path.write_text(str(value))

    with EntryWriter(write) as writer:
        writer.submit([(tmp_path / "a", 1), (tmp_path / "b", 2)], ready=lambda: events.append("copied"))
    assert events == ["copied", "write a", "write b"]
    assert (tmp_path / "b").read_text() == "2"
    writer = EntryWriter(write)
    writer.submit([(tmp_path / "c", -1)])
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert not writer._thread.is_alive()


def _face_items(root: Path, counts: list[int]) -> list[Item]:
    rng = np.random.default_rng(3)
    items = []
    for index, count in enumerate(counts):
        folder = root / f"clip{index}"
        folder.mkdir(parents=True)
        for frame in range(count):
            Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(folder / f"{frame:03d}.png")
        items.append(Item(f"clip{index}", "train", {"faces": folder}))
    return items


def test_image_extraction_batches_by_images_and_matches_items_alone(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from abaw_bench.harness.encoders import load_encoder
    from abaw_bench.harness.media import load_face_frames

    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    items = _face_items(tmp_path / "data", [9, 2, 5, 1, 7])
    encoder = load_encoder("vit-h14", "tiny")
    seen: list[int] = []
    forward = encoder.forward

    def counting(batch: dict) -> list:
        seen.append(int(batch["pixel_values"].shape[0]))
        return forward(batch)

    monkeypatch.setattr(encoder, "forward", counting)
    request = FeatureRequest.for_encoder(encoder, "synthetic", tmp_path / "data", images_per_batch=8, num_workers=0,
                                         progress=False)
    store = extract_items(encoder, request, items, "train")
    assert seen == [9, 7, 8] and store.summary["images_per_batch"] == 8  # crops 9 | 7 | 5+2+1
    assert store.summary["padded_fraction"] == 0.0 and store.summary["extracted"] == len(items)
    for item in items:
        with torch.no_grad():
            alone = forward(encoder.collate([encoder.prepare(load_face_frames(item.media["faces"]))]))[0]
        np.testing.assert_allclose(store.get(item.id), alone.numpy(), rtol=1e-5, atol=1e-6)


def test_run_finds_the_cache_extract_made_in_another_dtype(demo_root, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    root = demo_root("emi")
    wanted = FeatureRequest("emi", "vit-h14", "tiny", root, max_frames=400)
    store, why = find_cached_store(wanted, "val")
    assert store is None and why.startswith("no cached vit-h14 [tiny]")
    made = ensure_features(FeatureRequest("emi", "vit-h14", "tiny", root, dtype="bf16", progress=False), "val")
    # `run` asks for fp32 ("auto" on the CPU) and the system's 400-crop cut; the bf16 cache of every crop serves it.
    store, why = find_cached_store(wanted, "val")
    assert store is not None and store.directory == made.directory and store.summary["dtype"] == "bf16"
    assert store.ids == made.ids and "using the cached" in why
    missing = made.path(made.ids[5])
    missing.unlink()
    store, why = find_cached_store(wanted, "val")
    assert store is None and "1 of 80 val items missing" in why
    assert json.loads((made.directory / "cache.json").read_text())["extraction"]["dtype"] == "bf16"


def test_an_audio_cache_serves_runs_with_the_same_effective_cut(tmp_path: Path) -> None:
    from abaw_bench.harness.encoders import load_encoder
    from abaw_bench.harness.features.lookup import _Candidate, _mismatch

    encoder = load_encoder("wav2vec2-vad", "tiny")  # reads at most its own 12 s

    def candidate(max_seconds: float | None) -> _Candidate:
        return _Candidate(tmp_path, {"fingerprint": encoder.fingerprint(), "cache_params": encoder.cache_params(),
                                     "extraction": {"dtype": "fp32", "max_seconds": max_seconds, "max_frames": None}})

    assert _mismatch(candidate(None), encoder, 12.0, None) is None  # `extract` without a cut, `run` with 12 s
    assert _mismatch(candidate(30.0), encoder, 12.0, None) is None
    assert "audio cut at 6.0 s" in _mismatch(candidate(6.0), encoder, 12.0, None)
