"""An unreadable face folder (a file in its place, a dangling symlink, permission denied) is one line naming the folder
and the OS error, also when a DataLoader worker meets it (torch would put the worker's traceback in the message)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.media import MediaError, list_frames
from abaw_bench.harness.runtime.distributed import setup
from abaw_bench.harness.train.data import Collate, ItemDataset, PreparedSource
from abaw_bench.harness.train.engine import make_loader


def _crop_count(folder: str) -> np.ndarray:
    return np.array([len(list_frames(folder))], dtype=np.float32)


def _stacked(rows: list[np.ndarray]) -> np.ndarray:
    return np.stack(rows)


def _faces(tmp_path: Path) -> list[str]:
    folders = []
    for index in range(6):
        folder = tmp_path / f"video{index}"
        folder.mkdir()
        (folder / "00001.jpg").write_bytes(b"")  # listed, never decoded here
        folders.append(str(folder))
    return folders


@pytest.mark.parametrize("workers", [0, 2])
def test_a_file_in_place_of_a_face_folder_is_one_plain_line(tmp_path: Path, workers: int) -> None:
    folders = _faces(tmp_path)
    broken = Path(folders[4])
    (broken / "00001.jpg").unlink()
    broken.rmdir()
    broken.write_text("not a folder\n")
    dataset = ItemDataset(folders, {}, {"faces": PreparedSource(str, _crop_count)})
    loader, _ = make_loader(dataset, Collate({}, {"faces": _stacked}), 2, shuffle=False, seed=0,
                            context=setup("cpu"), num_workers=workers)
    with pytest.raises(MediaError) as raised:
        list(loader)
    assert str(raised.value) == f"{broken}: expected a face-crop folder, found a regular file"


def test_a_dangling_symlink_and_a_folder_that_cannot_be_listed_are_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    with pytest.raises(MediaError, match=r"link: expected a face-crop folder, found a dangling symlink$"):
        list_frames(tmp_path / "link")

    def denied(self: Path):  # root reads any folder whatever its mode: deny as a non-root user would be denied
        raise PermissionError(13, "Permission denied", str(self))

    (tmp_path / "faces").mkdir()
    monkeypatch.setattr(Path, "iterdir", denied)
    with pytest.raises(MediaError, match=r"faces: cannot list the face-crop folder \(Permission denied\)$"):
        list_frames(tmp_path / "faces")
