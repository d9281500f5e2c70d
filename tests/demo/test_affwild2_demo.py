"""The Aff-Wild2 demo generator: determinism, seed dependence, shipped manifests and the planted face/audio signal."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.demo import generate
from abaw_bench.harness.demo.affwild2 import structure, task_splits
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks._common import load_shipped_manifest


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def demo(demo_root) -> Path:
    return demo_root("va")


def test_same_seed_same_bytes_other_seed_other_labels(tmp_path: Path, demo: Path) -> None:
    first = tree_bytes(demo)
    again = tree_bytes(generate("expr", tmp_path / "again", seed=0))
    assert again.keys() == first.keys() and [name for name in first if first[name] != again[name]] == []
    other = generate("va", tmp_path / "other", seed=1)
    reader, other_reader = get_task("va").reader(demo), get_task("va").reader(other)
    assert reader.labels("train").ids == other_reader.labels("train").ids  # same structure ...
    assert not np.array_equal(reader.labels("train").values, other_reader.labels("train").values)  # ... new labels


@pytest.mark.parametrize("task", ["va", "expr"])
def test_shipped_manifests_are_the_generator_structure(task: str) -> None:
    manifest, extra = load_shipped_manifest(f"{task}-demo-v1.json")
    assert {split: list(ids) for split, ids in manifest.splits.items()} == task_splits(task)
    assert extra["frames"] == {video: n for videos in structure().values() for video, n in videos}
    assert all(100 <= n <= 300 for n in extra["frames"].values())


def test_faces_carry_valence_arousal_and_expression(demo: Path) -> None:
    from PIL import Image

    va = get_task("va").reader(demo)
    labels = va.labels("train")
    valid = (labels.values != -5).all(axis=1)
    faces = np.stack([np.asarray(Image.open(demo / "cropped_aligned" / row_id), dtype=float) for row_id in labels.ids])
    redness = faces[:, 14:34, 14:34, 0].mean(axis=(1, 2)) - faces[:, 14:34, 14:34, 2].mean(axis=(1, 2))
    assert np.corrcoef(redness[valid], labels.values[valid, 0])[0, 1] > 0.5
    expr_labels = get_task("expr").reader(demo).labels("train")
    faces_by_id = dict(zip(labels.ids, faces, strict=True))
    happy = [faces_by_id[i] for i, y in zip(expr_labels.ids, expr_labels.values[:, 0], strict=True)
             if y == 4 and i in faces_by_id]
    other = [faces_by_id[i] for i, y in zip(expr_labels.ids, expr_labels.values[:, 0], strict=True)
             if y not in (4, -1) and i in faces_by_id]
    rows, cols = slice(5, 15), slice(19, 29)  # class 4 (Happiness) sits at angle π: top-left corner (19 - 14, 19)
    brightness = {name: np.mean([f[rows, cols].mean() for f in group]) for name, group in (("happy", happy),
                                                                                             ("other", other))}
    assert happy and brightness["happy"] > brightness["other"] + 10


def test_pair_shares_one_audio_track_of_the_video_length(demo: Path) -> None:
    items = get_task("va").reader(demo).items("train")
    pair = [item for item in items if item.id.endswith(("_left", "_right"))]
    assert len(pair) == 2 and pair[0].media["audio"] == pair[1].media["audio"]
    with wave.open(str(pair[0].media["audio"])) as handle:
        seconds = handle.getnframes() / handle.getframerate()
    assert seconds == pytest.approx(len(get_task("va").reader(demo).frames_on_disk(pair[0].id)) / 30, abs=0.05)
