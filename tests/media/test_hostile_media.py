"""Hostile media: FIFOs and devices in place of media files, decompression-bomb and huge JPEG headers, and crop
file names whose frame numbers would become gigabyte arrays. Memory is the point, so those run under a 256 MiB
address-space cap (`capped_python`)."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
from abaw_bench.harness.media import MediaError, list_frames, load_audio, load_face_crop, video_timing
from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[1] / "features"))
from _wav import write_wav

T = TypeVar("T")
CAPPED_IMPORTS = "import numpy, PIL.Image, PIL.JpegImagePlugin\nfrom abaw_bench.harness import media\n"


def answer_within(call: Callable[[], T], seconds: float = 30) -> T:
    """`call()`'s value (or its exception, re-raised), failing the test if it blocks, as opening a FIFO does."""
    outcome: list[tuple[T | None, BaseException | None]] = []

    def target() -> None:
        try:
            outcome.append((call(), None))
        except BaseException as error:  # re-raised in the test's thread
            outcome.append((None, error))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"no answer within {seconds} s: the call blocks")
    value, error = outcome[0]
    if error is not None:
        raise error
    return value


def small_jpeg(path: Path, size: tuple[int, int] = (16, 16)) -> Path:
    Image.new("RGB", size, (120, 80, 40)).save(path, format="JPEG")
    return path


def claim_size(path: Path, width: int, height: int) -> Path:
    """Patch the JPEG's SOF0 frame header to declare width × height (the pixel data stays 16×16)."""
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 7] = height.to_bytes(2, "big")
    data[sof + 7:sof + 9] = width.to_bytes(2, "big")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["wav", "mp4", "crop"])
def test_a_fifo_in_place_of_a_media_file_is_refused_by_name(tmp_path: Path, kind: str) -> None:
    fifo = tmp_path / {"wav": "clip.wav", "mp4": "video.mp4", "crop": "frame-0.jpg"}[kind]
    os.mkfifo(fifo)
    call = {"wav": lambda: load_audio(fifo), "mp4": lambda: video_timing(fifo), "crop": lambda: load_face_crop(fifo)}
    with pytest.raises(MediaError, match=rf"^{fifo}: expected .*, found a FIFO \(named pipe\)$"):
        answer_within(call[kind])


def test_a_fifo_or_device_among_face_crops_is_named(tmp_path: Path) -> None:
    small_jpeg(tmp_path / "frame-0.jpg")
    os.mkfifo(tmp_path / "frame-1.jpg")
    with pytest.raises(MediaError, match=r"frame-1\.jpg: expected a face-crop image file, found a FIFO"):
        list_frames(tmp_path)
    (tmp_path / "frame-1.jpg").unlink()
    os.symlink("/dev/zero", tmp_path / "frame-1.jpg")  # a symlink is followed: to a device, refused
    with pytest.raises(MediaError, match=r"frame-1\.jpg: expected .* found a character device"):
        list_frames(tmp_path)


def test_skip_bad_records_a_fifo_wav_and_extracts_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from abaw_bench.harness.encoders import load_encoder
    from abaw_bench.harness.features import FeatureRequest, extract_items
    from abaw_bench.harness.tasks.base import Item

    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    good, fifo = tmp_path / "good.wav", tmp_path / "fifo.wav"
    write_wav(good, 0.5, seed=0)
    os.mkfifo(fifo)
    items = [Item("good", "train", {"audio": good}), Item("fifo", "train", {"audio": fifo})]
    encoder = load_encoder("wav2vec2-vad", "tiny")
    request = FeatureRequest.for_encoder(encoder, "synthetic", tmp_path, num_workers=0, skip_bad=True, progress=False)
    store = answer_within(lambda: extract_items(encoder, request, items, "train"))
    assert store.ids == ["good"] and store.summary["skipped"] == 1, store.skipped
    assert "found a FIFO" in store.skipped["fifo"] and str(fifo) in store.skipped["fifo"]


def test_decompression_bomb_header_is_refused_under_the_cap(tmp_path: Path, capped_python) -> None:
    bomb = claim_size(small_jpeg(tmp_path / "frame-0.jpg"), 65_000, 65_000)
    result = capped_python(f"""
from pathlib import Path
from PIL import Image
for lifted in (False, True):
    if lifted:
        Image.MAX_IMAGE_PIXELS = None  # another library lifted PIL's own limit: the harness's still holds
    try:
        media.load_face_frames(Path({str(tmp_path)!r}))
    except media.MediaError as error:
        print(error)
""", before_cap=CAPPED_IMPORTS)
    assert result.returncode == 0, result.stderr
    pil_says, ours = result.stdout.strip().splitlines()
    assert pil_says.startswith(f"{bomb}: refused as a decompression bomb")
    assert ours == (f"{bomb}: the image header declares 65000×65000 pixels, more than the {178_956_970} a face crop "
                    "may have (a decompression bomb?)")


def test_a_folder_of_large_legal_jpegs_decodes_at_reduced_size_under_the_cap(tmp_path: Path, capped_python) -> None:
    """Six 6000² crops are 648 MB decoded at full size; at reduced size they fit in the cap many times over."""
    folder = tmp_path / "faces"
    folder.mkdir()
    Image.new("RGB", (6000, 6000), (200, 30, 90)).save(folder / "frame-0.jpg", quality=50)
    for index in range(1, 6):
        os.link(folder / "frame-0.jpg", folder / f"frame-{index}.jpg")
    result = capped_python(f"""
from pathlib import Path
frames = media.load_face_frames(Path({str(folder)!r}))
print(len(frames), *{{frame.shape for frame in frames}})
print(*numpy.abs(numpy.stack(frames).astype(int) - (200, 30, 90)).max(axis=(0, 1, 2)))
""", before_cap=CAPPED_IMPORTS)
    assert result.returncode == 0, result.stderr
    shapes, error = result.stdout.strip().splitlines()
    assert shapes == "6 (512, 512, 3)"
    assert max(map(int, error.split())) <= 8  # JPEG at quality 50: near the solid colour drawn


def test_a_small_crop_decodes_exactly_as_before(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "frame-0.png")
    np.testing.assert_array_equal(load_face_crop(tmp_path / "frame-0.png"), pixels)


def test_a_huge_png_is_refused_by_name(tmp_path: Path, capped_python) -> None:
    """PNG has no reduced-size decoding: above MAX_DECODED_PIXELS it is refused, not decoded whole."""
    path = tmp_path / "frame-0.png"
    Image.new("L", (6000, 6000)).save(path)
    result = capped_python(f"""
try:
    media.load_face_crop({str(path)!r})
except media.MediaError as error:
    print(error)
""", before_cap=CAPPED_IMPORTS)
    assert result.stdout.strip() == (f"{path}: a 6000×6000 PNG face crop cannot be decoded at reduced size and "
                                     "exceeds 25000000 pixels"), result.stderr


@pytest.fixture
def bah_root_with_far_crop(tmp_path: Path, demo_root) -> tuple[Path, str, Path]:
    """A private copy of the BAH demo where one video has an extra crop `frame-999999999.jpg`."""
    root = shutil.copytree(demo_root("bah"), tmp_path / "bah", copy_function=os.link)
    folder = sorted((root / "cropped-aligned-faces").glob("*/*/*.mp4"))[0]
    shutil.copyfile(folder / "frame-0.jpg", folder / "frame-999999999.jpg")
    return root, folder.relative_to(root / "cropped-aligned-faces").as_posix(), folder


def test_far_frame_number_is_refused_under_the_cap_for_run_and_splits(bah_root_with_far_crop, capped_python) -> None:
    root, video, folder = bah_root_with_far_crop
    frames = video_timing(root / "Videos" / video).frames
    result = capped_python(f"""
from pathlib import Path
from abaw_bench.harness.tasks import get_task
for call in ("frames_on_disk", "check"):  # what `run` reads the crops with; what `splits` checks
    reader = get_task("bah").reader(Path({str(root)!r}))
    try:
        reader.frames_on_disk({video!r}) if call == "frames_on_disk" else reader.check()
    except media.MediaError as error:
        print(error)
""", before_cap=CAPPED_IMPORTS + "import av\nfrom abaw_bench.harness.tasks import bah\n")
    expected = (f"{folder / 'frame-999999999.jpg'}: face crop number 999999999 is beyond the video's {frames} frames "
                f"({root / 'Videos' / video}) + 25 frames of slack: expected numbers below {frames + 25}; "
                "rename or remove that crop")
    assert result.stdout.strip().splitlines() == [expected, expected], result.stderr


def test_far_frame_number_without_a_video_meets_the_global_cap(bah_root_with_far_crop) -> None:
    from abaw_bench.harness.tasks import get_task

    root, video, folder = bah_root_with_far_crop
    (root / "Videos" / video).unlink()
    expected = rf"{folder / 'frame-999999999.jpg'}: face crop number 999999999 is beyond the cap of 5184000 frames"
    with pytest.raises(MediaError, match=expected + r" \(no frame count known\)"):
        get_task("bah").reader(root).frames_on_disk(video)
    (folder / "frame-999999999.jpg").rename(folder / "frame-400.jpg")  # a gap, not a bomb: accepted
    assert get_task("bah").reader(root).frames_on_disk(video)[-1] == 400


def test_a_fifo_in_place_of_a_transcript_is_refused_by_name(tmp_path: Path) -> None:
    from abaw_bench.harness.features.cache import Source
    from abaw_bench.harness.features.pipeline import decode_source
    from abaw_bench.harness.features.text_windows import read_transcript_words

    fifo = tmp_path / "transcript.json"
    os.mkfifo(fifo)
    expected = rf"^{fifo}: expected a transcript JSON file, found a FIFO \(named pipe\)$"
    with pytest.raises(MediaError, match=expected):
        answer_within(lambda: decode_source(Source("transcript", fifo), max_seconds=None, max_frames=None))
    with pytest.raises(MediaError, match=expected):
        answer_within(lambda: read_transcript_words(fifo))
