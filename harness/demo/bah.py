"""The BAH demo dataset: 24 short videos of 12 participants in the release layout, with a planted A/H signal.

Structure (fixed, independent of the seed, and recorded in `harness/splits/bah-demo-v1.json`): 12 participants with
2 videos each, participant-disjoint splits of 6/3/3 participants (12/6/6 videos), 3–8 s per video at 25 fps (the
real frame rate is unconfirmed; 25 fps is what one team assumed). The seed changes labels, text, sound and pixels.

Labels: each video has 0–2 contiguous ambivalence/hesitancy (A/H) intervals of 0.5–1.6 s; about 20 % of frames are
positive; every split has videos with and without A/H. The test split's labels are not written.

Planted signal, strongest first (the order hallmen2025, Table 2, found on the real data: text > audio > vision):
- text: Whisper-style chunks split at every interval boundary (and every 1.5–2.5 s in between); a chunk inside an
  A/H interval contains a hesitation phrase ("um", "maybe", "I guess", ...) with probability `TEXT_HIT`, any
  other chunk with probability `TEXT_FALSE_ALARM`.
- audio (the mp4's AAC track, 16 kHz mono): speech is a harmonic voice with 4 Hz syllable modulation; with
  probability `AUDIO_HIT` an A/H interval is instead a steady, lower-pitched hum (a filled pause); outside the
  intervals such hums of `AUDIO_FALSE_ALARM_SECONDS` s occur at `AUDIO_FALSE_ALARM_RATE` per second.
- vision (face crops, 48×48 JPEG, and the 64×64 video picture): A/H frames are redder by `VISION_RED_SHIFT`
  levels, under a slowly drifting per-frame colour jitter of standard deviation `VISION_JITTER_STD` (d′ ≈ 0.8).
Every file is a pure function of the seed: two runs write the same bytes (x264 runs single-threaded for that).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.media import SAMPLE_RATE
from abaw_bench.harness.tasks.bah import (
    FACES_DIR,
    SPLIT_DIR,
    SPLIT_FRAMES_DIR,
    TRANSCRIPTS_DIR,
    VIDEOS_DIR,
    transcript_path_of,
)

FPS = 25
FACE_SIZE = 48
VIDEO_SIZE = 64
STRUCTURE_SEED = 20250314  # fixes the video list and frame counts, so the shipped manifest holds for every seed
PARTICIPANTS = {"train": ("101", "102", "103", "104", "105", "106"), "val": ("107", "108", "109"),
                "test": ("110", "111", "112")}
VIDEOS_PER_PARTICIPANT = 2
ANNOTATION_FILE = "annotation.yaml"

TEXT_HIT, TEXT_FALSE_ALARM = 0.9, 0.08
AUDIO_HIT, AUDIO_FALSE_ALARM_RATE, AUDIO_FALSE_ALARM_SECONDS = 0.6, 0.15, 0.8
VISION_RED_SHIFT, VISION_JITTER_STD = 8.0, 10.0

HESITATIONS = ("um", "uh", "maybe", "I guess", "I'm not sure", "kind of", "well, I don't know")
NEUTRAL_WORDS = ("I", "would", "like", "to", "start", "walking", "every", "day", "the", "doctor", "said", "eat",
                 "healthy", "food", "plan", "try", "this", "week", "at", "work", "with", "my", "family", "sleep",
                 "more", "quit", "smoking", "change", "today", "want", "exercise", "after", "dinner", "walk")


def video_name(pid: str, question: int, day: int) -> str:
    return f"{pid}/Visite_1/{pid}_Question_{question}_202403{day:02d}_Video.mp4"


def structure() -> dict[str, list[tuple[str, int]]]:
    """split → [(video id, frame count)], the seed-independent skeleton the shipped manifest records."""
    rng = np.random.default_rng(STRUCTURE_SEED)
    layout: dict[str, list[tuple[str, int]]] = {}
    for split, pids in PARTICIPANTS.items():
        layout[split] = []
        for day, pid in enumerate(pids, start=1):
            questions = sorted(rng.choice(np.arange(1, 9), size=VIDEOS_PER_PARTICIPANT, replace=False).tolist())
            for question in questions:
                layout[split].append((video_name(pid, question, day), int(rng.integers(3 * FPS, 8 * FPS + 1))))
    return layout


def _intervals(rng: np.random.Generator, n_frames: int, force: bool | None) -> list[tuple[int, int]]:
    """0–2 non-overlapping [first, last] frame intervals; `force` True/False guarantees some / none."""
    if force is False or (force is None and rng.random() < 0.3):
        return []
    count = 1 if force or rng.random() < 0.5 else 2
    intervals: list[tuple[int, int]] = []
    for slot in range(count):  # slot k lives in the k-th part of the video, so intervals never overlap
        lo, hi = slot * n_frames // count, (slot + 1) * n_frames // count
        length = int(rng.integers(12, 41))
        start = int(rng.integers(lo + 2, max(lo + 3, hi - length - 2)))
        intervals.append((start, min(start + length - 1, hi - 2)))
    return intervals


def _chunks(rng: np.random.Generator, n_frames: int, positive: np.ndarray,
            intervals: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Transcript chunks cut at every interval boundary, hesitation phrases planted per `TEXT_HIT`."""
    cuts = {0, n_frames} | {b for first, last in intervals for b in (first, last + 1)}
    edges = sorted(cuts)
    bounds: list[int] = [0]
    for end in edges[1:]:
        while end - bounds[-1] > 2.5 * FPS:
            bounds.append(bounds[-1] + int(rng.integers(int(1.5 * FPS), int(2.5 * FPS) + 1)))
        bounds.append(end)
    chunks = []
    for start, end in itertools.pairwise(bounds):
        words = [str(w) for w in rng.choice(NEUTRAL_WORDS, size=int(rng.integers(3, 7)))]
        inside = bool(positive[start:end].mean() > 0.5)
        if rng.random() < (TEXT_HIT if inside else TEXT_FALSE_ALARM):
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(HESITATIONS)))
        chunks.append({"timestamp": [round(start / FPS, 2), round(end / FPS, 2)], "text": " " + " ".join(words) + "."})
    return chunks


def _audio(rng: np.random.Generator, n_frames: int, intervals: list[tuple[int, int]]) -> np.ndarray:
    """float32 mono at 16 kHz: syllabic voice, with hums (filled pauses) in most A/H intervals and a few elsewhere."""
    n = n_frames * SAMPLE_RATE // FPS
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(110, 220)
    voice = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in (1, 2, 3))
    syllables = (0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6.28))) ** 2
    hum = np.sin(2 * np.pi * 0.8 * f0 * t)
    humming = np.zeros(n, dtype=bool)
    for first, last in intervals:
        if rng.random() < AUDIO_HIT:
            humming[first * SAMPLE_RATE // FPS:(last + 1) * SAMPLE_RATE // FPS] = True
    inside = np.zeros(n, dtype=bool)
    for first, last in intervals:
        inside[first * SAMPLE_RATE // FPS:(last + 1) * SAMPLE_RATE // FPS] = True
    false_alarm_len = int(AUDIO_FALSE_ALARM_SECONDS * SAMPLE_RATE)
    for _ in range(rng.poisson(AUDIO_FALSE_ALARM_RATE * n / SAMPLE_RATE)):
        start = int(rng.integers(0, max(1, n - false_alarm_len)))
        span = slice(start, start + false_alarm_len)
        if not inside[span].any():
            humming[span] = True
    signal = np.where(humming, 0.12 * hum, 0.08 * voice * syllables) + rng.normal(0, 0.02, n)
    return np.clip(signal, -1, 1).astype(np.float32)


def _face_template(rng: np.random.Generator) -> np.ndarray:
    """A participant's 48×48 RGB face: skin-coloured ellipse, dark eyes and mouth, on a grey background."""
    y, x = np.mgrid[0:FACE_SIZE, 0:FACE_SIZE]
    face = np.full((FACE_SIZE, FACE_SIZE, 3), 90.0)
    skin = np.array([200.0, 160.0, 130.0]) + rng.normal(0, 15, 3)
    inside = ((x - 23.5) / 18) ** 2 + ((y - 24) / 22) ** 2 <= 1
    face[inside] = skin
    for eye_x in (16, 31):
        face[17:21, eye_x - 2:eye_x + 3] = 40
    face[33:36, 18:30] = (120, 50, 50)
    return face


def _colour_jitter(rng: np.random.Generator, n_frames: int) -> np.ndarray:
    """(n_frames, 3) AR(1) colour drift with stationary standard deviation `VISION_JITTER_STD`."""
    phi = 0.9
    jitter = np.zeros((n_frames, 3))
    jitter[0] = rng.normal(0, VISION_JITTER_STD, 3)
    innovations = rng.normal(0, VISION_JITTER_STD * np.sqrt(1 - phi**2), (n_frames, 3))
    for i in range(1, n_frames):
        jitter[i] = phi * jitter[i - 1] + innovations[i]
    return jitter


def _jpeg(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _write_mp4(path: Path, pictures: np.ndarray, audio: np.ndarray) -> None:
    """H.264 (single-threaded, so bit-exact) + AAC mp4 at 25 fps."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        video = container.add_stream("libx264", rate=FPS, options={"threads": "1", "preset": "ultrafast", "crf": "28"})
        video.width = video.height = VIDEO_SIZE
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono", options={"aac_coder": "fast"})
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for start in range(0, len(audio), 1024):
            frame = av.AudioFrame.from_ndarray(audio[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            frame.time_base = Fraction(1, SAMPLE_RATE)
            container.mux(sound.encode(frame))
        container.mux(sound.encode())


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def _csv_lines(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def generate(out: Path, seed: int) -> dict[str, Any]:
    """Write the BAH demo into `out` (the caller stages it; files are written directly). Returns its description."""
    import yaml


    out = Path(out)
    layout = structure()
    annotation: dict[str, Any] = {}
    summary: dict[str, dict[str, Any]] = {}
    templates: dict[str, np.ndarray] = {}
    video_number = 0
    for split, videos in layout.items():
        split_lines, frame_lines = [], []
        positives = frames = videos_with_ah = 0
        for position, (video, n_frames) in enumerate(videos):
            video_number += 1
            rng = np.random.default_rng([seed, video_number])
            pid = video.split("/", 1)[0]
            if pid not in templates:
                templates[pid] = _face_template(np.random.default_rng([seed, 1000 + int(pid)]))
            force = True if position == 0 else False if position == 1 else None
            intervals = _intervals(rng, n_frames, force)
            positive = np.zeros(n_frames, dtype=np.int64)
            for first, last in intervals:
                positive[first:last + 1] = 1
            chunks = _chunks(rng, n_frames, positive, intervals)
            transcript = "".join(chunk["text"] for chunk in chunks).strip()
            _write(out / TRANSCRIPTS_DIR / transcript_path_of(video),
                   json.dumps({"text": transcript, "chunks": chunks}, indent=1) + "\n")
            shift = _colour_jitter(rng, n_frames)
            shift[:, 0] += VISION_RED_SHIFT * positive
            noise = rng.integers(-5, 6, (n_frames, FACE_SIZE, FACE_SIZE, 3))
            faces = np.clip(templates[pid] + shift[:, None, None, :] + noise, 0, 255).astype(np.uint8)
            for index, face in enumerate(faces):
                _write(out / FACES_DIR / video / f"frame-{index}.jpg", _jpeg(face))
            pictures = np.full((n_frames, VIDEO_SIZE, VIDEO_SIZE, 3), 90, dtype=np.uint8)
            offset = (VIDEO_SIZE - FACE_SIZE) // 2
            pictures[:, offset:offset + FACE_SIZE, offset:offset + FACE_SIZE] = faces
            _write_mp4(out / VIDEOS_DIR / video, pictures, _audio(rng, n_frames, intervals))
            global_ah = int(bool(intervals))
            labelled = split != "test"
            split_lines.append([f"{VIDEOS_DIR}/{video}", str(global_ah) if labelled else "", transcript])
            if labelled:
                frame_paths = [f"{FACES_DIR}/{video}/frame-{i}.jpg" for i in range(n_frames)]
                frame_lines += [[path, str(label)] for path, label in zip(frame_paths, positive, strict=True)]
                annotation[video] = {
                    "frame_annotation": [[path, int(label)] for path, label in zip(frame_paths, positive, strict=True)],
                    "fr_detailed_ah": [[first, last] for first, last in intervals],
                    "global_ah": global_ah,
                    "transcript": transcript,
                }
            positives += int(positive.sum())
            frames += n_frames
            videos_with_ah += global_ah
        _write(out / SPLIT_DIR / f"{split}.txt", _csv_lines(split_lines))
        if split != "test":
            _write(out / SPLIT_FRAMES_DIR / f"{split}.txt", _csv_lines(frame_lines))
        summary[split] = {"videos": len(videos), "participants": len(PARTICIPANTS[split]), "frames": frames,
                          "positive_frame_fraction": round(positives / frames, 4), "videos_with_ah": videos_with_ah}
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    _write(out / ANNOTATION_FILE, yaml.dump(annotation, Dumper=dumper, sort_keys=True, default_flow_style=None,
                                            width=120))
    return {
        "description": "DEMO data: synthetic BAH videos with a planted signal; says nothing about the real benchmark",
        "fps": FPS,
        "fps_note": "25 fps assumed; the real BAH frame rate is unconfirmed",
        "splits": summary,
        "media": {"video": "Videos/<video id> (64x64 H.264 + 16 kHz mono AAC)",
                  "faces": "cropped-aligned-faces/<video id>/frame-N.jpg (48x48 JPEG)",
                  "transcript": "transcription/<video id without .mp4>.json",
                  "annotation": ANNOTATION_FILE},
        "signal": {
            "order": "text > audio > vision",
            "text": {"hesitation_in_ah_chunk": TEXT_HIT, "hesitation_in_other_chunk": TEXT_FALSE_ALARM},
            "audio": {"hum_in_ah_interval": AUDIO_HIT, "false_hums_per_second": AUDIO_FALSE_ALARM_RATE,
                      "false_hum_seconds": AUDIO_FALSE_ALARM_SECONDS},
            "vision": {"red_shift_levels": VISION_RED_SHIFT, "colour_jitter_std": VISION_JITTER_STD},
        },
    }
