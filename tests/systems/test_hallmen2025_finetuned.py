"""hallmen2025's fine-tuned rows as the authors trained them, on the demo. BAH: the real MiniLM (the tiny preset's
text encoder) fine-tuned with the head, the `[ATTENTION]` token's embedding row learned, each sample carrying its
window's token ids; the tiny wav2vec2 fine-tuned with the head on each sample's centred waveform window. EMI: MiniLM
fine-tuned with the head through the clip-level engine.

The BAH text row must beat its shuffled-label control (as every row in tests/systems/test_frame_demo.py does,
which runs the rows' frozen twins) and the marker's row must have moved away from the vocabulary mean it starts at.
Both runs take the row's demo schedule (systems/hallmen2025.py: one centred sample every 24th frame, a 2 s text
window sized to the demo's 3-8 s videos, head lr 1e-3, batch 8, a 0.01 threshold step, 4 epochs of 4 steps, the
encoder at lr 1e-4), as a user's demo run does. Measured (seed 0): weighted F1 .817 against .675 for the control
(6 epochs: .806 vs .675).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from abaw_bench.harness.train import pipeline
from abaw_bench.harness.train.config import RunConfig

pytestmark = pytest.mark.slow

MARGIN = 0.02  # test_frame_demo.py's BAH margin (weighted F1)


def _run(out: Path, *, shuffle: bool, variant: str = "text") -> tuple[dict[str, Any], Path]:
    config = RunConfig(system="hallmen2025", task="bah", variant=variant, preset="tiny", data_root=None,
                       out_root=str(out / ("shuffled" if shuffle else "real")), seed=0, shuffle_labels=shuffle,
                       progress=False)
    pipeline.run(config)
    return json.loads((config.run_dir() / "results.json").read_text(encoding="utf-8")), config.run_dir()


def test_fine_tuned_text_row_learns_the_marker_and_beats_its_shuffled_label_control(tmp_path: Path) -> None:
    results, run_dir = _run(tmp_path, shuffle=False)
    control, _ = _run(tmp_path, shuffle=True)
    real, shuffled = results["val"]["value"], control["val"]["value"]
    assert real > shuffled + MARGIN, f"fine-tuned text: {real:.3f} vs control {shuffled:.3f}"
    assert results["encoders"]["text"]["unfrozen"] and results["encoders"]["text"]["encoder"] == "minilm"
    state = torch.load(run_dir / "best.pt", weights_only=True)["model"]
    embeddings = state["encoders.text.embeddings.word_embeddings.weight"]
    vocabulary, marker = embeddings[:-1], embeddings[-1]  # the marker is the one row added to MiniLM's 30,522
    assert embeddings.shape == (30_523, 384)
    assert (marker - vocabulary.mean(dim=0)).abs().max() > 1e-4  # learned: no longer the mean it started at


def test_fine_tuned_audio_row_trains_wav2vec2_on_its_windows_end_to_end(tmp_path: Path, demo_root) -> None:
    """The audio row's demo run (15 epochs of 4 steps, 4 s windows, the encoder at lr 1e-4): wav2vec2 trains in its
    own optimiser group and ends away from its random start, results.json says so and carries the row's notes, and
    the submission passes the validator. The run alone (a control would double it) took 17 s here (beside other
    jobs); measured
    against its shuffled-label control (seed 0): weighted F1 .735 vs .687."""
    from abaw_bench.harness.encoders import load_encoder
    from abaw_bench.harness.submission import validate_file
    from abaw_bench.harness.tasks import get_task

    results, run_dir = _run(tmp_path, shuffle=False, variant="audio")
    audio = results["encoders"]["wav2vec2-vad"]
    assert audio["unfrozen"] and results["hyper"]["encoder_lr"] == 1e-4 and results["notes"]
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 15 and all(len(entry["lr"]) == 2 for entry in log)  # head and encoder groups
    state = torch.load(run_dir / "best.pt", weights_only=True)["model"]
    start = load_encoder("wav2vec2-vad", "tiny").model.state_dict()  # the seeded random weights it starts from
    trained = {name.removeprefix("encoders.wav2vec2-vad."): value for name, value in state.items()
               if name.startswith("encoders.wav2vec2-vad.")}
    assert trained.keys() == start.keys()
    assert sum(not torch.equal(trained[name], start[name]) for name in start) > len(start) // 2
    reader = get_task("bah").reader(demo_root("bah"))
    report = validate_file("bah", run_dir / "submission_test.csv", reader.reference_rows("test"))
    assert report.ok and results["val"]["value"] > 0.5


def test_fine_tuned_emi_text_row_trains_minilm_with_the_head_end_to_end(tmp_path: Path, demo_root) -> None:
    """hallmen2025's EMI `text` row as the authors trained it (the encoder fine-tuned with the head, at lr 1e-4), on
    its demo schedule (3 epochs of batch 16, head lr 5e-3), through the clip-level engine: the README's default
    family. MiniLM ends away from the shipped weights it starts from and the submission validates. Its val mean
    Pearson must clear 0.45: measured (seed 0, one torch thread) .634, against .217 for the shuffled-label control,
    whose kept value spread over 8 seeds up to .31 (tests/systems/test_demo_training.py); the control itself is left
    out to hold the slow tier's budget."""
    from abaw_bench.harness.encoders import load_encoder
    from abaw_bench.harness.submission import validate_file
    from abaw_bench.harness.tasks import get_task

    config = RunConfig(system="hallmen2025", task="emi", variant="text", preset="tiny", data_root=None,
                       out_root=str(tmp_path), seed=0, progress=False)
    pipeline.run(config)
    run_dir = config.run_dir()
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert results["encoders"]["text"]["unfrozen"] and results["hyper"]["encoder_lr"] == 1e-4
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 3 and all(len(entry["lr"]) == 2 for entry in log)  # head and encoder groups
    state = torch.load(run_dir / "best.pt", weights_only=True)["model"]
    start = load_encoder("minilm", "tiny").model.state_dict()
    trained = {name.removeprefix("encoders.text."): value for name, value in state.items()
               if name.startswith("encoders.text.")}
    moved = [name for name in start if name in trained and not torch.equal(trained[name], start[name])]
    assert len(moved) > len(start) // 2, f"{len(moved)} of {len(start)} MiniLM tensors changed"
    reader = get_task("emi").reader(demo_root("emi"))
    assert validate_file("emi", run_dir / "submission_test.csv", reader.reference_rows("test")).ok
    assert results["val"]["value"] > 0.45
