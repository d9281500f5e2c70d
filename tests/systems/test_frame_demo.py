"""Frame-level systems on the BAH and Aff-Wild2 demos (tiny presets, no --data-root): each trained variant beats its
shuffled-label control, every submission it writes passes the validator, and results.json carries the task's
breakdown (and, for BAH, the threshold and the video-level scores).

The shuffled-label control permutes the training label rows across all frames of all videos, so the features carry
no information about the labels; the engine then keeps its best validation epoch, which flatters the control a
little (and under hallmen2025's segment draw its shuffled labels form many short segments, so its epochs are larger
than the real run's). MARGINS is the lead the real labels must have over it, per task metric (VA mean CCC, BAH
weighted F1, Expr macro F1). Measured leads: VA frame-head .36 vs ~0; BAH frame-head .729 vs .675 (the demo's vision
cue is its weakest, d' ≈ 0.8); hallmen2025 (segment-drawn epochs, one run each) vision .734 vs .675, audio .723 vs
.694, text .806 vs .675, text+audio .842 vs .737, text+vision .850 vs .768, text+audio+vision .818 vs .704;
bah-challenge's default row (vision+audio+text, 8 epochs: EPOCHS below) .691 vs .577.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from abaw_bench.harness.submission import validate_file
from abaw_bench.harness.systems import get_system
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.train import pipeline
from abaw_bench.harness.train.config import RunConfig

pytestmark = pytest.mark.slow

MARGINS = {"va": 0.15, "bah": 0.02, "expr": 0.04}
# Every run takes its system's demo schedule (SystemSpec.demo: few epochs, windows sized to the demo's 3-8 s videos),
# as a user's `abaw-bench run` without --data-root does; the schedules and what was measured with them are beside
# them in the system files.
CASES = [("baseline", "frame-head", "va"), ("baseline", "frame-head", "bah"), ("baseline", "frame-head", "expr")]
# The rows of both wen2024 tables. Measured leads (one run each, before the VA rows took the authors' per-window
# CCC loss and second MCTN seq2seq and the Expr rows the authors' focal loss; every row still passes): VA
# attention-resnet .34 vs .00, -senet .36 vs .01, -clip .35 vs .01, -eva02 .31 vs .02, -clip-wavlm .26 vs .02,
# mfn-clip-wavlm .27 vs .02, mfn-eva02-wavlm .53 vs .09, mctn-clip-wavlm .65 vs .02, mctn-eva02-wavlm .69 vs .08;
# Expr (soft F1) efficientnetv2-lr1e-3 .74 vs .13, -lr5e-4 .58 vs .13, mobilenetv3-lr1e-3 .086 vs .017, -lr5e-4
# .086 vs .000.
# Left out to hold the CI budget (~70 s): the rows whose run here would repeat another row's, i.e. an Expr row that
# differs from a tested one only in its lr, and a fusion row that differs from a tested one only in its face encoder
# (each face encoder still trains here in another row). Their heads and settings are checked in the fast tier.
WEN2024_REPEATS = {("va", "mfn-clip-wavlm"), ("va", "mctn-eva02-wavlm"), ("expr", "efficientnetv2-lr5e-4"),
                   ("expr", "mobilenetv3-lr5e-4")}
CASES += [("wen2024", name, task) for task in ("va", "expr") for name in get_system("wen2024").variants[task]
          if (task, name) not in WEN2024_REPEATS]
# hallmen2025's rows that fine-tune the text encoder or wav2vec2 run here as their frozen twins (cached windows and
# features: seconds, not minutes, per run); the fine-tuned text and audio rows have their own tests
# (tests/systems/test_hallmen2025_finetuned.py).
CASES += [("hallmen2025", name, "bah") for name, variant in get_system("hallmen2025").variants["bah"].items()
          if variant.train_splits == ("train",) and not variant.unfrozen]
CASES += [("bah-challenge", get_system("bah-challenge").default_variant["bah"], "bah")]
# Rows run for fewer epochs than their demo schedule, to keep each slow test within 30 s; both runs (real and
# control) take the same count. Measured with one torch thread (as under the suite's workers), seed 0, real vs
# control: MobileNetV3 (the schedule's 3 epochs: .053 vs .011, its best epoch the first in both; epochs cost ~7 s)
# 1 epoch: .053 vs .000; MCTN CLIP/WavLM (8 epochs: .518 vs .004) 5 epochs: .256 vs .004; bah-challenge (12 epochs:
# .724 vs .577; the run is mostly the first use of its three encoders, an epoch 0.4 s) 8 epochs: .691 vs .577.
EPOCHS = {("wen2024", "mobilenetv3-lr1e-3"): 1, ("wen2024", "mctn-clip-wavlm"): 5,
          ("bah-challenge", "vision-audio-text"): 8}


def _run(out: Path, system: str, variant: str, task: str, *, shuffle: bool = False) -> tuple[dict[str, Any], Path]:
    config = RunConfig(system=system, task=task, variant=variant, preset="tiny", data_root=None,
                       out_root=str(out / ("shuffled" if shuffle else "real")), seed=0, shuffle_labels=shuffle,
                       progress=False, epochs=EPOCHS.get((system, variant)))
    pipeline.run(config)
    return json.loads((config.run_dir() / "results.json").read_text(encoding="utf-8")), config.run_dir()


@pytest.mark.parametrize(("system", "variant", "task"), CASES)
def test_frame_variant_beats_shuffled_labels_and_writes_valid_submissions(tmp_path: Path, demo_root, system: str,
                                                                          variant: str, task: str) -> None:
    results, run_dir = _run(tmp_path, system, variant, task)
    control, _ = _run(tmp_path, system, variant, task, shuffle=True)
    real, shuffled = results["val"]["value"], control["val"]["value"]
    assert math.isfinite(real)
    if (system, task) != ("baseline", "expr"):  # see below
        assert real > shuffled + MARGINS[task], f"{system}/{variant} on {task}: {real:.3f} vs control {shuffled:.3f}"
    # The Expr demo plants its classes as small bright patches at class-specific places on the face; the frozen tiny
    # random ViT's token mean does not keep them (measured: .13 against a control of .16), so the per-frame baseline
    # is only required to train, predict every frame and write a valid submission. wen2024 fine-tunes its backbone.
    facts = get_task(task)
    assert results["val"]["metric"] == facts.headline_metric
    reader = facts.reader(demo_root(task))
    paths = sorted(run_dir.glob("submission_test*.csv"))
    assert len(paths) == (3 if task == "bah" else 1)  # BAH: frame level + video level by majority and by mean
    for path in paths:
        level = facts.levels[0] if path.name == "submission_test.csv" else path.stem.split("_")[2]
        report = validate_file(task, path, reader.reference_rows("test", level), level=level)
        assert report.ok, [problem.to_json() for problem in report.problems]
    rows = (run_dir / "val_predictions.csv").read_text().splitlines()
    assert rows[0].startswith("id,group,") and len(rows) == 1 + len(reader.reference_rows("val"))
    if task == "bah":
        if get_system(system).hyper[task].threshold_sweep is None:
            assert "calibration" not in results  # decided at probability 0.5 (bah-challenge: the authors' argmax)
        else:
            assert 0.05 <= results["calibration"]["threshold"] <= 0.95
        assert {"average_precision", "macro_f1", "f1_class0", "f1_class1"} <= set(results["val"]["breakdown"])
        assert set(results["val_levels"]["video"]) == {"majority", "mean"}
        assert {s["level"] for s in results["submissions"]} == {"frame", "video"}


@pytest.mark.parametrize("task", ["bah", "va", "expr"])
def test_constant_floor_completes_with_no_training(tmp_path: Path, task: str) -> None:
    results, _ = _run(tmp_path, "baseline", "constant", task)
    assert results["best_epoch"] == 0 and results["epochs_run"] == 0
    assert results["submission"]["valid"]
    if task == "va":
        assert results["val"]["value"] == pytest.approx(0.0, abs=1e-9)  # a constant has no concordance


def test_trainval_row_reuses_the_best_epoch_and_never_validates(tmp_path: Path) -> None:
    _run(tmp_path, "hallmen2025", "text-vision-frozen", "bah")
    results, run_dir = _run(tmp_path, "hallmen2025", "trainval-text-vision-frozen", "bah")
    assert results["val"] is None and results["epochs_source"].startswith("best epoch of text-vision-frozen")
    assert (run_dir / "submission_test.csv").is_file() and not (run_dir / "val_predictions.csv").exists()


def _repeats(task: str, name: str, other: str) -> bool:
    """wen2024 row `name` differs from `other`, of its family, only in the lr or only in the face encoder."""
    spec = get_system("wen2024")
    row, twin = spec.variant(task, name), spec.variant(task, other)
    hyper, twin_hyper = spec.hyper_for(task, row), spec.hyper_for(task, twin)
    lr_only = twin.inputs == row.inputs and hyper.replace(lr=twin_hyper.lr) == twin_hyper != hyper
    face_only = twin.inputs[1:] == row.inputs[1:] and twin.inputs[0] != row.inputs[0] and twin_hyper == hyper
    return other.split("-")[0] == name.split("-")[0] and (lr_only or face_only)


def test_the_rows_left_out_repeat_a_tested_row() -> None:
    tested = [(task, name) for system, name, task in CASES if system == "wen2024"]
    for task, name in WEN2024_REPEATS:
        assert any(_repeats(task, name, other) for t, other in tested if t == task), name
    assert not _repeats("va", "mctn-clip-wavlm", "mfn-clip-wavlm")  # another fusion is no repeat


def test_the_shortened_rows_are_tested_rows() -> None:
    """A renamed row would otherwise lose its shorter schedule silently (and the slow tier its budget)."""
    assert set(EPOCHS) <= {(system, variant) for system, variant, _ in CASES}


def test_frame_systems_declare_frame_sampling() -> None:
    from abaw_bench.harness.systems import SYSTEMS

    for _, spec in SYSTEMS:
        for task in spec.tasks:
            if get_task(task).unit == "frame":
                assert spec.hyper[task].sampling in ("windows", "centred"), (spec.name, task)
