"""The BAH demo generator: byte-for-byte determinism, the shipped manifest, and the planted signal's strength order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.demo import generate
from abaw_bench.harness.demo.bah import HESITATIONS, structure
from abaw_bench.harness.metrics import bah_frame_metric
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks._common import load_shipped_manifest


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def demo(demo_root) -> Path:
    return demo_root("bah")


def test_same_seed_writes_the_same_bytes(tmp_path: Path, demo: Path) -> None:
    again = tree_bytes(generate("bah", tmp_path / "again", seed=0))
    first = tree_bytes(demo)
    assert again.keys() == first.keys()
    assert [name for name in first if first[name] != again[name]] == []
    assert any(name.endswith(".mp4") for name in first)


def test_shipped_manifest_is_the_generator_structure() -> None:
    manifest, extra = load_shipped_manifest("bah-demo-v1.json")
    layout = structure()
    assert {split: list(ids) for split, ids in manifest.splits.items()} == {
        split: [video for video, _ in videos] for split, videos in layout.items()}
    assert extra["frames"] == {video: n for videos in layout.values() for video, n in videos}
    assert all(3 * 25 <= n <= 8 * 25 for n in extra["frames"].values())


def test_videos_carry_picture_and_audio(demo: Path) -> None:
    import av

    item = get_task("bah").reader(demo).items("train")[0]
    with av.open(str(item.media["video"])) as container:
        kinds = {stream.type for stream in container.streams}
        frames = sum(1 for _ in container.decode(video=0))
    assert kinds == {"video", "audio"}
    assert frames == len(list(item.media["faces"].iterdir()))


def _best_weighted_f1(feature: np.ndarray, labels: np.ndarray) -> float:
    """A detector's best frame-level weighted F1 over thresholds: how much the feature tells about the labels."""
    return max(bah_frame_metric((feature >= t).astype(int), labels).value
               for t in np.quantile(feature, np.linspace(0.02, 0.98, 49)))


def test_planted_signal_is_strongest_in_text_then_audio_then_vision(demo: Path) -> None:
    """Simple per-modality detectors on train+val must rank text > audio > vision > nothing, as documented."""
    import av
    from PIL import Image

    reader = get_task("bah").reader(demo)
    labels, text, audio, vision = [], [], [], []
    for split in ("train", "val"):
        labels.append(reader.labels(split).values[:, 0])
        for item in reader.items(split):
            n = len(reader.frames_on_disk(item.id))
            hesitant = np.zeros(n)
            for chunk in json.loads(item.media["transcript"].read_text())["chunks"]:
                start, end = (round(seconds * 25) for seconds in chunk["timestamp"])
                hesitant[start:end] = any(f" {phrase}" in chunk["text"] for phrase in HESITATIONS)
            text.append(hesitant)
            with av.open(str(item.media["audio"])) as container:
                sound = np.concatenate([frame.to_ndarray().ravel() for frame in container.decode(audio=0)])
            sound = np.pad(sound, (0, max(0, n * 640 - len(sound))))[: n * 640]
            loudness = np.sqrt((sound.reshape(n * 16, 40) ** 2).mean(axis=1)).reshape(n, 16)
            steadiness = -np.array([loudness[max(0, i - 4):i + 5].std() for i in range(n)])  # hums are steady
            audio.append(steadiness)
            faces = np.stack([np.asarray(Image.open(reader.frame_file(item.id, i)), dtype=float) for i in range(n)])
            redness = (faces[..., 0] - faces[..., 1]).mean(axis=(1, 2))
            vision.append(redness - redness.mean())
    y = np.concatenate(labels)
    scores = {name: _best_weighted_f1(np.concatenate(feature), y)
              for name, feature in (("text", text), ("audio", audio), ("vision", vision))}
    nothing = bah_frame_metric(np.zeros_like(y), y).value
    assert scores["text"] > scores["audio"] > scores["vision"] > nothing + 0.005, scores
