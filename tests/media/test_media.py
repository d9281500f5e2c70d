"""Decoding real encoded files (written here with PyAV): rates, channels, lengths, frame order, and clear errors for
missing, truncated and corrupt files."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.media import (
    MediaError,
    VideoTiming,
    count_frames,
    list_frames,
    load_audio,
    load_face_frames,
    media_duration,
    video_timing,
)
from PIL import Image

TONE_HZ = 440.0


def _tone(rate: int, seconds: float) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def write_audio(path: Path, codec: str, rate: int, seconds: float, *, stereo: bool = False) -> Path:
    """Encode a 440 Hz tone; stereo files carry the tone on the left channel and silence on the right."""
    wave = _tone(rate, seconds)
    layout = "stereo" if stereo else "mono"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        if codec == "pcm_s16le" or codec == "flac":
            channels = np.stack([wave, np.zeros_like(wave)]) if stereo else wave[None]
            samples = (channels * 32767).astype(np.int16).T.reshape(1, -1)  # packed s16
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout=layout)
        else:
            channels = np.stack([wave, np.zeros_like(wave)]) if stereo else wave[None]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(channels), format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_mp4(path: Path, seconds: float = 2.0, fps: int = 25) -> Path:
    """mpeg4 video whose frame i is uniformly grey level 5·i, plus an AAC 44.1 kHz tone."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=44100, layout="mono")
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 5 * index, np.uint8), format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        sound = av.AudioFrame.from_ndarray(_tone(44100, seconds)[None], format="fltp", layout="mono")
        sound.sample_rate, sound.pts = 44100, 0
        for packet in audio.encode(sound):
            container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)
    return path


def truncated_copy(path: Path) -> Path:
    data = path.read_bytes()
    out = path.with_name("cut_" + path.name)
    out.write_bytes(data[: len(data) // 2])
    return out


def _dominant_hz(wave: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(("name", "codec", "rate", "stereo"), [
    ("tone.wav", "pcm_s16le", 44100, True),
    ("tone.mp3", "libmp3lame", 16000, False),
    ("tone.flac", "flac", 22050, False),
])
def test_audio_decodes_to_mono_16k_float(tmp_path: Path, name: str, codec: str, rate: int, stereo: bool) -> None:
    path = write_audio(tmp_path / name, codec, rate, 3.0, stereo=stereo)
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) / 16000 - 3.0) < 0.1  # mp3 adds up to one frame of codec padding
    assert abs(_dominant_hz(wave) - TONE_HZ) < 2
    # Stereo is averaged: a 0.4 tone on one channel and silence on the other gives amplitude 0.2.
    expected_peak = 0.2 if stereo else 0.4
    assert abs(np.percentile(np.abs(wave), 99.9) - expected_peak) < 0.03
    assert abs(media_duration(path) - 3.0) < 0.1


def test_max_seconds_keeps_the_beginning(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "tone.wav", "pcm_s16le", 16000, 3.0)
    full = load_audio(path)
    cut = load_audio(path, max_seconds=1.25)
    assert len(cut) == 20000
    np.testing.assert_array_equal(cut, full[:20000])


def test_mp4_audio_track_and_video_timing(tmp_path: Path) -> None:
    """What the product reads from a BAH video: its audio track (decoded) and its rate and frame count (header)."""
    path = write_mp4(tmp_path / "clip.mp4", seconds=2.0, fps=25)
    wave = load_audio(path)
    assert abs(len(wave) / 16000 - 2.0) < 0.1 and abs(_dominant_hz(wave) - TONE_HZ) < 2
    assert video_timing(path) == VideoTiming(25.0, 50, "header")


@pytest.mark.parametrize("name,codec,rate", [
    ("tone.wav", "pcm_s16le", 16000), ("tone.mp3", "libmp3lame", 16000), ("tone.flac", "flac", 22050),
])
def test_truncated_audio_is_an_error_naming_the_file(tmp_path: Path, name: str, codec: str, rate: int) -> None:
    cut = truncated_copy(write_audio(tmp_path / name, codec, rate, 3.0))
    with pytest.raises(MediaError, match=re.escape(str(cut))) as caught:
        load_audio(cut)
    assert "truncated" in str(caught.value) or "corrupt" in str(caught.value)


def test_truncated_mp4_random_bytes_and_missing_files(tmp_path: Path) -> None:
    cut = truncated_copy(write_mp4(tmp_path / "clip.mp4"))
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    for path in (cut, noise, tmp_path / "absent.wav"):
        with pytest.raises(MediaError, match=re.escape(str(path))):
            load_audio(path)
    with pytest.raises(MediaError, match="not found"):
        media_duration(tmp_path / "absent.mp4")
    assert issubclass(MediaError, AbawError)


def test_video_without_audio_track(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
    with pytest.raises(MediaError, match="no audio stream"):
        load_audio(path)


def _face_folder(folder: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):  # frame-N.jpg with N unpadded: a plain string sort would put 10 before 2
        Image.fromarray(np.full((8, 8, 3), 20 * index, np.uint8)).save(folder / f"frame-{index}.jpg", quality=95)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_face_folder_natural_order_rate_and_limit(tmp_path: Path) -> None:
    folder = _face_folder(tmp_path / "faces", 12)
    assert [p.name for p in list_frames(folder)][:3] == ["frame-0.jpg", "frame-1.jpg", "frame-2.jpg"]
    assert count_frames(folder) == 12
    frames = load_face_frames(folder)
    assert len(frames) == 12 and frames[0].shape == (8, 8, 3) and frames[0].dtype == np.uint8
    np.testing.assert_allclose([f.mean() for f in frames], [20 * i for i in range(12)], atol=3)
    halved = load_face_frames(folder, source_fps=6, target_fps=3)
    np.testing.assert_allclose([f.mean() for f in halved], [20 * i for i in range(0, 12, 2)], atol=3)
    assert len(load_face_frames(folder, max_frames=4)) == 4


def test_face_folder_errors(tmp_path: Path) -> None:
    folder = _face_folder(tmp_path / "faces", 3)
    bad = folder / "frame-1.jpg"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(MediaError, match=re.escape("frame-1.jpg")):
        load_face_frames(folder)
    with pytest.raises(MediaError, match="not found"):
        load_face_frames(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MediaError, match="no image files"):
        load_face_frames(empty)


@pytest.mark.parametrize(("name", "counted_from"), [("clip.mp4", "header"), ("clip.mkv", "duration")])
def test_video_timing_reads_rate_and_frame_count_without_decoding(tmp_path: Path, name: str,
                                                                  counted_from: str) -> None:
    timing = video_timing(write_mp4(tmp_path / name, seconds=1.2, fps=24))  # Matroska states no frame count
    assert (timing.fps, timing.frames, timing.counted_from) == (24.0, 29, counted_from)
    with pytest.raises(MediaError, match="no video stream"):
        video_timing(write_audio(tmp_path / "tone.wav", "pcm_s16le", 16000, 0.5))
