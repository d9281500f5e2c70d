"""The Aff-Wild2 demo dataset (shared by the VA and Expr tasks): 12 short videos in the release layout.

Structure (fixed, independent of the seed, recorded in `harness/splits/{va,expr}-demo-v1.json`): 12 videos of
100–300 frames at 30 fps, among them one `_left`/`_right` pair (two persons of one video, sharing one audio track);
train/val/test 6/3/3 videos. As in the release, the two challenges cover different videos: one train video is
annotated for Expr only and one validation video for VA only. The seed changes the curves, classes and pixels.

Labels: valence and arousal are smooth curves (sums of slow sinusoids) in [-0.9, 0.9]; expressions are segments of
15–60 frames drawn from a skewed class distribution (Neutral and Other most frequent). About half of the videos have
an invalid stretch (VA -5, Expr -1) of 8–20 frames. The test videos have frames and audio but no annotation files.

Planted signal (`SIGNAL` records it):
- vision (cropped_aligned/<video>/NNNNN.jpg, 48×48 JPEG): redness follows valence (+`RED_PER_VALENCE` levels per
  unit), brightness follows arousal (+`BRIGHTNESS_PER_AROUSAL` per unit), under a per-frame jitter of ±12 levels;
  each expression class lights a 10×10 patch at its own place on the face by `EXPR_PATCH_LEVELS` levels.
- audio (audio/<base video>.wav, 16 kHz mono 16-bit PCM): a voice whose pitch is 140 + 80·arousal Hz and whose
  loudness grows with valence; a `_left`/`_right` pair's track follows the `_left` person.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.media import SAMPLE_RATE
from abaw_bench.harness.tasks.affwild2 import EXPR, EXPR_CLASSES, FRAMES_DIR, SET_DIRS, TEST_LIST, VA, base_video

FPS = 30
FACE_SIZE = 48
STRUCTURE_SEED = 20240601
SPLIT_VIDEOS = {
    "train": ("101-30-640x480", "102-30-640x480", "103-30-1280x720_left", "103-30-1280x720_right",
              "104-30-640x480", "105-30-640x480"),
    "val": ("106-30-640x480", "107-30-640x480", "108-30-640x480"),
    "test": ("109-30-640x480", "110-30-640x480", "111-30-640x480"),
}
ONLY_EXPR, ONLY_VA = "105-30-640x480", "108-30-640x480"
EXPR_PRIOR = (0.30, 0.05, 0.04, 0.04, 0.20, 0.10, 0.07, 0.20)
RED_PER_VALENCE, BRIGHTNESS_PER_AROUSAL, EXPR_PATCH_LEVELS = 35.0, 30.0, 30.0
SIGNAL = {
    "vision": {"red_levels_per_valence": RED_PER_VALENCE, "brightness_levels_per_arousal": BRIGHTNESS_PER_AROUSAL,
               "expression_patch_levels": EXPR_PATCH_LEVELS, "pixel_jitter_levels": 12},
    "audio": {"pitch_hz": "140 + 80*arousal", "amplitude": "0.05 + 0.05*(valence + 1)"},
}


def structure() -> dict[str, list[tuple[str, int]]]:
    """split → [(video, frame count)], the seed-independent skeleton the shipped manifests record."""
    rng = np.random.default_rng(STRUCTURE_SEED)
    return {split: [(video, int(rng.integers(100, 301))) for video in videos] for split, videos in SPLIT_VIDEOS.items()}


def task_splits(task: str) -> dict[str, list[str]]:
    """The videos each split holds for one challenge ("va" or "expr")."""
    excluded = ONLY_EXPR if task == "va" else ONLY_VA
    return {split: [video for video in videos if video != excluded] for split, videos in SPLIT_VIDEOS.items()}


def _smooth_curve(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    t = np.arange(n_frames) / FPS
    curve = sum(rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 6.28))
                for _ in range(3))
    return 0.9 * curve / np.abs(curve).max()


def _segments(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    classes = np.empty(n_frames, dtype=np.int64)
    start = 0
    while start < n_frames:
        length = int(rng.integers(15, 61))
        classes[start:start + length] = rng.choice(len(EXPR_CLASSES), p=EXPR_PRIOR)
        start += length
    return classes


def _invalid_span(rng: np.random.Generator, n_frames: int) -> slice | None:
    if rng.random() < 0.5:
        return None
    length = int(rng.integers(8, 21))
    start = int(rng.integers(0, n_frames - length))
    return slice(start, start + length)


def _patch_corner(label: int) -> tuple[int, int]:
    """Top-left corner of class `label`'s patch: 8 places on a ring around the face centre."""
    angle = 2 * np.pi * label / len(EXPR_CLASSES)
    return int(19 + 14 * np.cos(angle)), int(19 + 14 * np.sin(angle))


def _faces(rng: np.random.Generator, valence: np.ndarray, arousal: np.ndarray, classes: np.ndarray) -> np.ndarray:
    n_frames = len(valence)
    y, x = np.mgrid[0:FACE_SIZE, 0:FACE_SIZE]
    template = np.full((FACE_SIZE, FACE_SIZE, 3), 80.0)
    skin = np.array([180.0, 140.0, 115.0]) + rng.normal(0, 15, 3)
    template[((x - 23.5) / 18) ** 2 + ((y - 24) / 22) ** 2 <= 1] = skin
    faces = np.repeat(template[None], n_frames, axis=0)
    faces[..., 0] += (RED_PER_VALENCE * valence)[:, None, None]
    faces += (BRIGHTNESS_PER_AROUSAL * arousal)[:, None, None, None]
    for label in range(len(EXPR_CLASSES)):
        row, col = _patch_corner(label)
        faces[classes == label, row:row + 10, col:col + 10, :] += EXPR_PATCH_LEVELS
    faces += rng.integers(-12, 13, faces.shape)
    return np.clip(faces, 0, 255).astype(np.uint8)


def _jpeg(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _wav(rng: np.random.Generator, valence: np.ndarray, arousal: np.ndarray) -> bytes:
    n = len(valence) * SAMPLE_RATE // FPS
    frame_times = np.arange(len(valence)) / FPS
    t = np.arange(n) / SAMPLE_RATE
    pitch = 140 + 80 * np.interp(t, frame_times, arousal)
    amplitude = 0.05 + 0.05 * (np.interp(t, frame_times, valence) + 1)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    signal = amplitude * (np.sin(phase) + 0.5 * np.sin(2 * phase)) + rng.normal(0, 0.01, n)
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(pcm.tobytes())
    return buffer.getvalue()


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def generate(out: Path, seed: int) -> dict[str, Any]:
    """Write the Aff-Wild2 demo into `out` (the caller stages it; files go straight in). Returns its description."""
    out = Path(out)
    splits_of = {task: task_splits(task) for task in ("va", "expr")}
    counts: dict[str, dict[str, dict[str, int]]] = {task: {} for task in splits_of}
    for number, (split, video, n_frames) in enumerate(
            (split, video, n) for split, videos in structure().items() for video, n in videos):
        rng = np.random.default_rng([seed, number])
        valence, arousal, classes = _smooth_curve(rng, n_frames), _smooth_curve(rng, n_frames), _segments(rng, n_frames)
        for index, face in enumerate(_faces(rng, valence, arousal, classes), start=1):
            _write(out / FRAMES_DIR / video / f"{index:05d}.jpg", _jpeg(face))
        if not video.endswith("_right"):  # the pair's shared track follows the _left person
            _write(out / "audio" / f"{base_video(video)}.wav", _wav(rng, valence, arousal))
        va_rows = np.round(np.stack([valence, arousal], axis=1), 3)
        expr_rows = classes.copy()
        if (span := _invalid_span(rng, n_frames)) is not None:
            va_rows[span] = VA.invalid
        if (span := _invalid_span(rng, n_frames)) is not None:
            expr_rows[span] = int(EXPR.invalid)
        per_task = (("va", VA, [f"{v:g},{a:g}" for v, a in va_rows], int((va_rows[:, 0] == VA.invalid).sum())),
                    ("expr", EXPR, [str(c) for c in expr_rows], int((expr_rows == EXPR.invalid).sum())))
        for task, challenge, lines, n_invalid in per_task:
            if video not in splits_of[task][split]:
                continue
            tally = counts[task].setdefault(split, {"videos": 0, "frames": 0, "invalid_frames": 0})
            tally["videos"] += 1
            tally["frames"] += n_frames
            if split != "test":
                tally["invalid_frames"] += n_invalid
                text = ",".join(challenge.header) + "\n" + "\n".join(lines) + "\n"
                _write(out / challenge.folder / SET_DIRS[split] / f"{video}.txt", text)
    for task, challenge in (("va", VA), ("expr", EXPR)):
        _write(out / challenge.folder / TEST_LIST, "".join(f"{video}\n" for video in splits_of[task]["test"]))
    return {
        "description": "DEMO data: synthetic Aff-Wild2 videos with a planted signal; says nothing about the real "
                       "benchmark",
        "fps": FPS,
        "splits": counts,
        "media": {"faces": "cropped_aligned/<video>/NNNNN.jpg (48x48 JPEG, 1-based)",
                  "audio": "audio/<base video>.wav (16 kHz mono PCM; _left/_right share one)"},
        "signal": SIGNAL,
    }
