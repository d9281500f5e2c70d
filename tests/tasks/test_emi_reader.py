"""The EMI task and reader: demo root, a hand-made real-layout root, malformed label files, check(), scoring."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.paths import DEMO_MARKER
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.base import Table
from abaw_bench.harness.tasks.emi import (
    EMOTIONS,
    LABEL_HEADER,
    SPLITS_DIR,
    EmiReader,
    normalise_emi_id,
    resolve_manifest,
)

HEADER = ",".join(LABEL_HEADER)


@pytest.fixture(scope="module")
def demo(demo_root) -> Path:
    return demo_root("emi")


def test_task_is_registered_with_the_official_schema() -> None:
    task = get_task("emi")
    assert task.columns == ("Admiration", "Amusement", "Determination", "Empathic Pain", "Excitement", "Joy")
    assert (task.headline_metric, task.higher_is_better, task.levels) == ("mean_pearson", True, ("default",))


def test_demo_root_reads_completely(demo: Path) -> None:
    reader = get_task("emi").reader(demo)
    manifest = reader.manifest()
    assert manifest.version == "demo-v1"
    assert {split: len(ids) for split, ids in manifest.splits.items()} == {"train": 160, "val": 80, "test": 80}
    assert manifest.splits["val"][0] == "08072" and manifest.splits["test"][0] == "12660"
    assert reader.check() == []
    for split in ("train", "val", "test"):
        items = reader.items(split)
        assert [item.id for item in items] == list(manifest.splits[split]) == reader.reference_rows(split)
        for item in items:
            assert set(item.media) == {"audio", "faces", "vit", "wav2vec2", "transcript"}
            assert all(path.exists() for path in item.media.values())
            assert ("test_data" in item.media["audio"].parts) == (split == "test")
    labels = reader.labels("val")
    assert labels.ids == list(manifest.splits["val"]) and labels.columns == EMOTIONS
    assert labels.values.shape == (80, 6) and labels.values.dtype == np.float64
    assert labels.values.min() >= 0.0 and labels.values.max() <= 1.0
    assert 0.4 < (labels.values == 0).mean() < 0.8  # skewed to zero, like the real annotator fractions
    with pytest.raises(AbawError, match="the test split has no labels"):
        reader.labels("test")


def test_demo_manifest_hash_is_the_shipped_one(demo: Path) -> None:
    shipped = json.loads((SPLITS_DIR / "emi-demo-v1.json").read_text(encoding="utf-8"))
    manifest = get_task("emi").reader(demo).manifest()
    assert manifest == resolve_manifest("emi-demo-v1")
    assert manifest.sha256() == shipped["sha256"]
    # The hash covers the ids: a different id list must hash differently.
    changed = type(manifest)(manifest.task, manifest.version, {**manifest.splits, "test": manifest.splits["test"][1:]})
    assert changed.sha256() != manifest.sha256()


def _write_real_layout(root: Path) -> None:
    """A real-release-shaped root: full label files (train ids written as integers), a little media."""
    train = [HEADER] + [f"{i},0,0.25,0,0,0.5,{(i % 10) / 10}" for i in range(8072)]
    val = [HEADER] + [f"{i:05d},0,0,0,0,0,0" for i in range(8072, 12660)]
    (root / "train_split.csv").write_text("\r\n".join(train) + "\r\n", encoding="utf-8")
    (root / "valid_split.csv").write_text("\n".join(val), encoding="utf-8")
    for relative in ("audio/00000.mp3", "wav2vec2/00000.pkl", "vit/08072.pkl", "test_data/audio/12700.mp3",
                     "test_data/audio/12660.mp3", "test_data/raw/12660.mp4", "test_data/raw/12661.mp4"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"")
    (root / "face_images" / "00001").mkdir(parents=True)


def test_real_layout_root(tmp_path: Path) -> None:
    _write_real_layout(tmp_path)
    reader = EmiReader(tmp_path)
    manifest = reader.manifest()
    assert manifest.version == "v1" and manifest.source == "repository+data-root"
    assert (len(manifest.splits["train"]), len(manifest.splits["val"])) == (8072, 4588)
    assert manifest.splits["test"] == ("12660", "12700")  # discovered from test_data/audio, not test_data/raw

    labels = reader.labels("train")
    assert labels.ids[:2] == ["00000", "00001"] and labels.ids[-1] == "08071"
    np.testing.assert_array_equal(labels.values[13], [0, 0.25, 0, 0, 0.5, 0.3])
    assert reader.labels("val").values.shape == (4588, 6)

    train = reader.items("train")
    assert train[0].media == {"audio": tmp_path / "audio/00000.mp3", "wav2vec2": tmp_path / "wav2vec2/00000.pkl"}
    assert train[1].media == {"faces": tmp_path / "face_images/00001"} and train[2].media == {}
    assert reader.items("val")[0].media == {"vit": tmp_path / "vit/08072.pkl"}
    assert reader.items("test")[0].media == {"audio": tmp_path / "test_data/audio/12660.mp3",
                                             "video": tmp_path / "test_data/raw/12660.mp4"}

    problems = reader.check()
    assert any(p.startswith("audio/: 12659 train/val clips") for p in problems), problems
    assert any(p.startswith("test_data/raw/: 1 test clips") and "12700" in p for p in problems), problems
    assert any(p.startswith("test_data/raw/: 1 clips are not test clips") and "12661" in p for p in problems)
    assert "test: 2 clips found under the test media folder; the official release has 4582" in problems
    assert not any("_split.csv" in p for p in problems), problems


def test_test_ids_fall_back_to_raw_and_missing_test_media_is_reported(tmp_path: Path) -> None:
    _write_real_layout(tmp_path)
    shutil.rmtree(tmp_path / "test_data" / "audio")
    assert EmiReader(tmp_path).manifest().splits["test"] == ("12660", "12661")
    shutil.rmtree(tmp_path / "test_data")
    reader = EmiReader(tmp_path)
    assert reader.manifest().splits["test"] == ()
    assert any(p.startswith("test: no test media found") for p in reader.check())


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "the file is empty"),
        ("Filename,Admiration,Amusement\n00001,0,0\n", "line 1: header is"),
        (f"{HEADER}\n00000,0,0,0,0,0,0\n00001,0,0,0,0,0\n", "line 3: 6 fields, expected 7"),
        (f"{HEADER}\nclip7,0,0,0,0,0,0\n", "line 2, field Filename: 'clip7' is not a clip id"),
        (f"{HEADER}\n123456,0,0,0,0,0,0\n", "line 2, field Filename: '123456' is not a clip id"),
        (f"{HEADER}\n00000,0,0,0,0,0,high\n", "line 2, field Joy: 'high' is not a number"),
        (f"{HEADER}\n00000,0,0,1.5,0,0,0\n", "line 2, field Determination: 1.5 is outside [0, 1]"),
        (f"{HEADER}\n00000,0,0,0,nan,0,0\n",
         "line 2, field Empathic Pain: 'nan' is not a number (expected an intensity in [0, 1])"),
        (f"{HEADER}\n00003,0,0,0,0,0,0\n3,0,0,0,0,0,0\n",
         "line 3, field Filename: clip 00003 already has a row on line 2"),
    ],
)
def test_malformed_label_files_name_file_line_and_field(tmp_path: Path, body: str, expected: str) -> None:
    (tmp_path / "train_split.csv").write_text(body, encoding="utf-8")
    with pytest.raises(AbawError) as error:
        EmiReader(tmp_path).labels("train")
    assert str(error.value).startswith(str(tmp_path / "train_split.csv"))
    assert expected in str(error.value)


def test_unreadable_and_missing_label_files(tmp_path: Path) -> None:
    (tmp_path / "train_split.csv").write_text(HEADER + "\n", encoding="utf-16")
    with pytest.raises(AbawError, match="not UTF-8 text"):
        EmiReader(tmp_path).labels("train")
    with pytest.raises(AbawError, match=r"valid_split.csv: label file not found"):
        EmiReader(tmp_path).labels("val")
    (tmp_path / "valid_split.csv").write_text(HEADER + "\n08072,0,0,0,0,0,0\n", encoding="utf-8")
    with pytest.raises(AbawError, match="no label row for 4587 of the 4588 val clips"):
        EmiReader(tmp_path).labels("val")


def _stub_demo_root(root: Path, demo: Path) -> None:
    """A demo-governed root with the demo's labels and an empty audio file per clip: cheap to damage."""
    (root / DEMO_MARKER).write_text("{}", encoding="utf-8")
    for filename in ("train_split.csv", "valid_split.csv"):
        shutil.copyfile(demo / filename, root / filename)
    manifest = resolve_manifest("emi-demo-v1")
    for split, ids in manifest.splits.items():
        folder = root / ("test_data/audio" if split == "test" else "audio")
        folder.mkdir(parents=True, exist_ok=True)
        for clip in ids:
            (folder / f"{clip}.mp3").write_bytes(b"")


def test_check_finds_deleted_extra_and_misplaced_items(tmp_path: Path, demo: Path) -> None:
    _stub_demo_root(tmp_path, demo)
    assert EmiReader(tmp_path).check() == []

    (tmp_path / "audio" / "00005.mp3").unlink()
    (tmp_path / "audio" / "09999.mp3").write_bytes(b"")
    (tmp_path / "test_data" / "audio" / "notes.txt").write_text("stray", encoding="utf-8")
    with open(tmp_path / "train_split.csv", "a", encoding="utf-8") as handle:
        handle.write("8100,0,0,0,0,0,0\n")  # a val clip's row in the train file
    problems = EmiReader(tmp_path).check()
    assert len(problems) == 4, problems
    assert "audio/: 1 train/val clips of the manifest have no audio media (e.g. 00005)" in problems
    assert "audio/: 1 clips are not train/val clips of manifest demo-v1 (e.g. 09999)" in problems
    assert any(p.startswith("test_data/audio/: 1 entries") and "notes.txt" in p for p in problems)
    assert "train_split.csv: 1 rows are val clips, whose labels belong in valid_split.csv (e.g. 08100)" in problems


def test_check_reports_a_malformed_label_file_without_raising(tmp_path: Path, demo: Path) -> None:
    _stub_demo_root(tmp_path, demo)
    (tmp_path / "valid_split.csv").write_text(f"{HEADER}\n08072,0,0,0,0,0\n", encoding="utf-8")
    problems = EmiReader(tmp_path).check()
    assert problems == [f"{tmp_path / 'valid_split.csv'}, line 2: 6 fields, expected 7 ({HEADER})"]


@pytest.mark.parametrize(("raw", "expected"), [("42", "00042"), (" 00042 ", "00042"), ("12659", "12659"),
                                               ("123456", None), ("-1", None), ("4.0", None), ("", None), ("٣", None)])
def test_id_normalisation(raw: str, expected: str | None) -> None:
    assert normalise_emi_id(raw) == expected


def test_score_uses_the_reference_metric(demo: Path) -> None:
    task = get_task("emi")
    labels = task.reader(demo).labels("val")
    perfect = task.score(Table(labels.ids, labels.values * 0.5 + 0.1, EMOTIONS), labels)
    assert perfect.metric == "mean_pearson" and perfect.value == pytest.approx(1.0)
    assert set(perfect.breakdown) >= set(EMOTIONS)
    noisy = labels.values + np.random.default_rng(0).normal(0, 0.3, labels.values.shape)
    result = task.score(Table(labels.ids, noisy, EMOTIONS), labels)
    expected = np.mean([np.corrcoef(noisy[:, k], labels.values[:, k])[0, 1] for k in range(6)])
    assert result.value == pytest.approx(expected, abs=1e-12)
    with pytest.raises(AbawError):
        task.score(Table(labels.ids[::-1], noisy, EMOTIONS), labels)
    with pytest.raises(AbawError, match="one submission level"):
        task.score(labels, labels, level="frame")


def test_reading_labels_does_not_import_torch(demo: Path) -> None:
    code = (
        "import sys\nfrom pathlib import Path\nfrom abaw_bench.harness.tasks import get_task\n"
        f"reader = get_task('emi').reader(Path({str(demo)!r}))\n"
        "reader.labels('val'); reader.items('test'); reader.check()\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
