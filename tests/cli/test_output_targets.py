"""Every `--out` FILE onto an odd target: regular files and symlinks are replaced atomically (the link stays a link),
character devices and FIFOs are written directly and stay what they are, a directory or a socket is an error."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest
from abaw_bench.harness import atomic
from abaw_bench.harness.cli import main
from abaw_bench.harness.errors import AbawError


def _read_fifo_in_background(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as handle:  # blocks until the writer opens its end
            received.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, received


def test_a_symlink_keeps_being_a_link_and_its_target_gets_the_content(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    atomic.write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "made-by-the-write.txt")
    atomic.write_text(dangling, "created")
    assert dangling.is_symlink() and (tmp_path / "made-by-the-write.txt").read_text() == "created"


def test_a_fifo_is_written_directly_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, received = _read_fifo_in_background(fifo)
    atomic.write_text(fifo, "through the pipe\n")
    reader.join(timeout=30)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_character_device_is_written_directly_and_not_replaced() -> None:
    """A pseudo-terminal stands for /dev/null: a character device that a rename cannot destroy even when the test
    runs as root (devpts takes no new files), so the test is harmless on a harness that still renames."""
    controller, terminal = os.openpty()
    try:
        device = Path(os.ttyname(terminal))
        before = os.stat(device)
        atomic.write_bytes(device, b"on the terminal")
        after = os.stat(device)
        assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
        assert os.read(controller, 100) == b"on the terminal"
    finally:
        os.close(terminal)
        os.close(controller)


@pytest.mark.skipif(os.geteuid() == 0, reason="a harness that still renamed would replace /dev/null as root")
def test_dev_null_stays_a_device() -> None:
    atomic.write_bytes(os.devnull, b"discarded")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_failed_block_writes_nothing_to_a_fifo_or_a_device(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic.atomic_path(os.devnull) as tmp:
        tmp.write_text("half")
        raise ValueError("the writer failed")
    assert not tmp.exists()


def test_a_directory_a_socket_and_a_symlink_loop_are_errors_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(AbawError, match=rf"{tmp_path}: is a directory"):
        atomic.write_text(tmp_path, "x")
    sock_path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(sock_path))
        with pytest.raises(AbawError, match=rf"{sock_path}: is a socket"):
            atomic.write_text(sock_path, "x")
    finally:
        server.close()
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(AbawError, match=rf"{loop}: cannot write there"):
        atomic.write_text(loop, "x")


def test_template_out_onto_dev_stdout_a_fifo_and_a_directory(tmp_path: Path, demo_root,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    demo_root("emi")
    assert main(["template", "--task", "emi", "--out", "/dev/stdout"]) == 0
    assert capfd.readouterr().out.startswith("Filename,")  # the submission's header, then the "wrote" line
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader, received = _read_fifo_in_background(fifo)
    assert main(["template", "--task", "emi", "--out", str(fifo)]) == 0
    reader.join(timeout=30)
    assert received and received[0].startswith(b"Filename,") and stat.S_ISFIFO(os.stat(fifo).st_mode)
    capfd.readouterr()
    assert main(["template", "--task", "emi", "--out", str(tmp_path)]) == 2
    assert f"{tmp_path}: is a directory" in capfd.readouterr().err


def test_leaderboard_out_onto_a_symlink_and_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "board.md"
    link = tmp_path / "latest.md"
    link.symlink_to(real)
    assert main(["leaderboard", "--format", "markdown", "--out", str(link)]) == 0
    assert link.is_symlink() and real.read_text().startswith("#")
    assert main(["leaderboard", "--format", "markdown", "--out", str(tmp_path)]) == 2
    assert f"{tmp_path}: is a directory" in capsys.readouterr().err


def test_run_out_onto_a_file_is_an_error_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_folder = tmp_path / "runs"
    not_a_folder.write_text("a file")
    assert main(["run", "--system", "baseline", "--task", "emi", "--out", str(not_a_folder), "--quiet"]) == 2
    assert str(not_a_folder) in capsys.readouterr().err
    assert not_a_folder.read_text() == "a file"
