"""`abaw-bench leaderboard --figures`: PNGs that exist, are real images, are reproducible and follow the data."""

from __future__ import annotations

import io
import json
from pathlib import Path

from abaw_bench.harness.cli import main
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED = ["breakdown-hallmen2024-emi-audio-global-DEMO_RANDOM_wav2vec2-vad.png",
            "breakdown-hallmen2024-emi-audio-global-real.png",
            "curves-hallmen2024-emi-audio-global-DEMO_RANDOM_wav2vec2-vad.png",
            "curves-hallmen2024-emi-audio-global-real.png", "hallmen2024-emi-comparison.png",
            "hallmen2024-emi-scatter.png", "labels-emi.png"]


def _figures(runs: Path, label_root: Path, out: Path) -> dict[str, bytes]:
    assert main(["leaderboard", "--table", "hallmen2024-emi", "--runs", str(runs), "--resamples", "0",
                 "--figures", str(out), "--data-root", f"emi={label_root}", "--format", "json",
                 "--out", str(out / "board.json")]) == 0
    return {path.name: path.read_bytes() for path in sorted(out.glob("*.png"))}


def _assert_image(data: bytes) -> None:
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.width >= 400 and image.height >= 250
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 20  # drawn, not a blank canvas


def test_figures_are_reproducible_images_that_follow_the_data(tmp_path: Path, seeded_runs: Path, emi_label_root: Path,
                                                              kit, capsys) -> None:
    before = _figures(seeded_runs, emi_label_root, tmp_path / "before")
    assert sorted(before) == EXPECTED
    for data in before.values():
        _assert_image(data)
    assert "wrote 7 figure(s)" in capsys.readouterr().err
    from abaw_bench.leaderboard.figures import curves_figure, png_bytes, read_train_log
    from abaw_bench.leaderboard.runs import scan_runs
    from abaw_bench.leaderboard.summary import BootstrapSettings, summarise_runs

    runs, _ = scan_runs(seeded_runs / "real")  # the same inputs draw the same bytes
    aggregate = summarise_runs(runs, BootstrapSettings(resamples=0))
    logs = {run.path: read_train_log(run.run_dir / "train_log.jsonl") for run in runs}
    assert png_bytes(curves_figure(aggregate, logs)) == before["curves-hallmen2024-emi-audio-global-real.png"]

    results = next((seeded_runs / "real").rglob("results.json"))
    document = json.loads(results.read_text())
    document["val"]["value"] -= 0.2
    results.write_text(json.dumps(document), encoding="utf-8")
    log = next((seeded_runs / "demo" / "hallmen2024").rglob("train_log.jsonl"))
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    entries[0]["train_loss"] *= 2
    log.write_text("".join(json.dumps(entry) + "\n" for entry in entries), encoding="utf-8")
    shifted_root = kit.write_emi_label_root(tmp_path / "shifted", shift=0.3)
    after = _figures(seeded_runs, shifted_root, tmp_path / "after")

    changed = sorted(name for name in EXPECTED if before[name] != after[name])
    assert changed == ["curves-hallmen2024-emi-audio-global-DEMO_RANDOM_wav2vec2-vad.png",
                       "hallmen2024-emi-comparison.png", "hallmen2024-emi-scatter.png",
                       "labels-emi.png"]  # the real runs' curves kept their logs, their breakdowns their figures


def test_a_broken_training_log_leaves_its_curves_out_with_a_warning(seeded_runs: Path) -> None:
    from abaw_bench.leaderboard.figures import _logs
    from abaw_bench.leaderboard.runs import scan_runs

    runs, _ = scan_runs(seeded_runs / "real")
    broken = runs[0].run_dir / "train_log.jsonl"
    broken.write_text('{"epoch": 1}\nnot json\n', encoding="utf-8")
    (runs[1].run_dir / "train_log.jsonl").unlink()
    warnings: list[str] = []
    logs = _logs(tuple(runs), warnings.append)
    assert list(logs) == [runs[2].path] and [entry["epoch"] for entry in logs[runs[2].path]] == [1, 2, 3]
    assert warnings == [f"no training curves for {runs[0].run_dir}: {broken}:2: line 1, column 1: invalid JSON: "
                        "Expecting value",
                        f"no training curves for {runs[1].run_dir}: no train_log.jsonl"]
