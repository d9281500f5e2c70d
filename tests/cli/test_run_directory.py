"""`abaw-bench run` and the run directory it writes: one run per directory (run.lock), no silent overwrite, an
--overwrite that leaves the old run intact until the new one has finished, a moved runs tree that resumes, and a data
root that disagrees with its manifest (a leak between splits) stopped before anything is decoded."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from abaw_bench.harness.cli import main

VARIANT = "multimodal"  # trains in seconds on the demo, and shares its cached features with tests/cli's baseline run
HOLD_THE_LOCK = """
import sys
from pathlib import Path
from abaw_bench.harness.train import rundir
lock = rundir.acquire(Path(sys.argv[1]), print)
print("held", flush=True)
sys.stdin.readline()
lock.release()
"""


def _run(out: Path, *extra: str) -> int:
    return main(["run", "--system", "baseline", "--task", "emi", "--variant", VARIANT, "--out", str(out), "--quiet",
                 *extra])


def _run_dir(out: Path) -> Path:
    return out / "baseline" / "emi" / VARIANT / "seed0"


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory: pytest.TempPathFactory, demo_root) -> Path:
    """A runs tree holding one finished 1-epoch run; tests copy it before changing anything."""
    demo_root("emi")
    out = tmp_path_factory.mktemp("finished") / "runs"
    assert _run(out, "--epochs", "1") == 0
    return out


def _copy(finished_runs: Path, tmp_path: Path) -> Path:
    out = tmp_path / "runs"
    shutil.copytree(finished_runs, out)
    return out


def test_a_rerun_is_refused_and_names_both_ways_on(finished_runs: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = _copy(finished_runs, tmp_path)
    before = _snapshot(_run_dir(out))
    assert _run(out, "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert f"{_run_dir(out)} holds a finished run (results.json): give --resume" in err and "--overwrite" in err
    assert _snapshot(_run_dir(out)) == before
    (_run_dir(out) / "results.json").unlink()  # killed before it finished: a partial run is refused as well
    assert _run(out, "--epochs", "1") == 2
    assert "holds a partial run (best.pt, config.json, last.pt" in capsys.readouterr().err
    assert main(["run", "--system", "baseline", "--task", "emi", "--resume", "--overwrite"]) == 2
    assert "--resume and --overwrite exclude each other" in capsys.readouterr().err


def test_a_failed_or_interrupted_overwrite_leaves_the_old_run_byte_identical(
        finished_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import abaw_bench.harness.submission as submission
    from abaw_bench.harness.train.engine import Trainer

    out = _copy(finished_runs, tmp_path)
    before = _snapshot(_run_dir(out))
    staging = _run_dir(out).parent / ".seed0.overwrite"

    def interrupted(*args: object, **kwargs: object) -> None:
        assert (staging / "config.json").is_file()  # the new run is under way, in the staging directory
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_save", interrupted)  # after the first epoch has trained
        assert _run(out, "--epochs", "2", "--overwrite") == 130
    assert _snapshot(_run_dir(out)) == before and not staging.exists()
    assert f"--overwrite did not finish; {_run_dir(out)} is unchanged" in capsys.readouterr().err

    real_validate = submission.validate_file
    monkeypatch.setattr(submission, "validate_file",
                        lambda task, path, rows, **options: real_validate(task, path, rows[1:], **options))
    assert _run(out, "--epochs", "2", "--overwrite") == 2  # trained, wrote every file, then failed its check
    assert "the test submission does not validate" in capsys.readouterr().err
    assert _snapshot(_run_dir(out)) == before and not staging.exists()
    assert sorted(path.name for path in _run_dir(out).parent.iterdir()) == ["seed0"]


def test_an_overwrite_that_finishes_replaces_the_run_whole(finished_runs: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = _copy(finished_runs, tmp_path)
    (_run_dir(out) / "stray-from-the-old-run.txt").write_text("gone with it")
    assert _run(out, "--epochs", "2", "--overwrite") == 0
    assert "--overwrite: " in capsys.readouterr().err
    names = {path.name for path in _run_dir(out).iterdir()}
    assert "stray-from-the-old-run.txt" not in names and "run.lock" not in names and "results.json" in names
    assert json.loads((_run_dir(out) / "results.json").read_text())["epochs_run"] == 2
    assert sorted(path.name for path in _run_dir(out).parent.iterdir()) == ["seed0"]


def test_a_moved_runs_tree_resumes(finished_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    moved = tmp_path / "runs2"
    shutil.move(_copy(finished_runs, tmp_path), moved)  # `mv runs runs2`: config.json recorded the old --out
    assert _run(moved, "--epochs", "2", "--resume") == 0
    assert "resuming after epoch 1" in capsys.readouterr().err
    log = [json.loads(line) for line in (_run_dir(moved) / "train_log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == [1, 2]


def _hold_lock(run_dir: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(run_dir)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"  # the handshake: it holds the lock
    return holder


def test_a_second_run_into_a_locked_directory_is_refused_and_a_stale_lock_is_taken_over(
        tmp_path: Path, demo_root, capsys: pytest.CaptureFixture[str]) -> None:
    demo_root("emi")
    out = tmp_path / "runs"
    constant = ["run", "--system", "baseline", "--task", "emi", "--variant", "constant-mean", "--out", str(out),
                "--quiet"]
    run_dir = out / "baseline" / "emi" / "constant-mean" / "seed0"
    holder = _hold_lock(run_dir)
    try:
        assert main(constant) == 2
        err = capsys.readouterr().err
        assert f"{run_dir} is in use by another run (pid {holder.pid} on host {socket.gethostname()}" in err
        assert not (run_dir / "config.json").exists()
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=60)
    stale = _hold_lock(run_dir)
    os.kill(stale.pid, signal.SIGKILL)  # dies holding it: the lock file and its record stay behind
    stale.wait(timeout=60)
    assert (run_dir / "run.lock").is_file()
    assert main(constant) == 0
    err = capsys.readouterr().err
    assert f"stale lock {run_dir / 'run.lock'} left by pid {stale.pid}" in err and "no longer running" in err
    assert not (run_dir / "run.lock").exists()  # released at the end of the run


def test_a_stale_lock_with_a_tampered_record_is_still_taken_over(tmp_path: Path, demo_root,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    demo_root("emi")
    out = tmp_path / "runs"
    run_dir = out / "baseline" / "emi" / "constant-mean" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "run.lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname(),
                                                  "started": 1e300}))  # no date: localtime() overflows
    assert main(["run", "--system", "baseline", "--task", "emi", "--variant", "constant-mean", "--out", str(out),
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"stale lock {run_dir / 'run.lock'} left by pid {2**22 + 12345} on host {socket.gethostname()}" in err


def test_a_video_in_train_and_val_stops_run_and_extract_before_any_decoding(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "aff-wild2"
    assert main(["demo", "--task", "va", "--out", str(root)]) == 0
    annotations = root / "VA_Estimation_Challenge"
    leaked = next(iter(sorted((annotations / "Train_Set").iterdir())))
    shutil.copy(leaked, annotations / "Validation_Set" / leaked.name)
    capsys.readouterr()
    out = tmp_path / "runs"
    assert main(["run", "--system", "baseline", "--task", "va", "--data-root", str(root), "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"video {leaked.stem}: annotated in both Train_Set and Validation_Set" in err
    assert "stopped before decoding anything" in err and not out.exists()
    cache = Path(os.environ["ABAW_BENCH_CACHE"])
    cached_before = sorted(cache.rglob("*.npy"))
    assert main(["extract", "--task", "va", "--encoder", "wav2vec2-vad", "--preset", "tiny", "--data-root",
                 str(root), "--quiet"]) == 2
    assert f"video {leaked.stem}: annotated in both" in capsys.readouterr().err
    assert sorted(cache.rglob("*.npy")) == cached_before
