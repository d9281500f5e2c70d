"""`abaw-bench run`, `systems` and `info` through the real entry point, on the demo dataset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from abaw_bench.harness.cli import main

RESULTS_KEYS = {"schema_version", "system", "task", "task_facts", "variant", "row", "preset", "val", "best_epoch",
                "epochs_run", "epochs_source", "paper", "notes", "hyper", "batch_size", "data", "encoders",
                "submission", "config", "skipped", "provenance"}
PROVENANCE_KEYS = {"git_commit", "packages", "seed", "device", "deterministic", "wall_time_seconds", "started_at",
                   "finished_at"}


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory: pytest.TempPathFactory, demo_root) -> tuple[Path, str]:
    demo_root("emi")
    out = tmp_path_factory.mktemp("runs")
    code = main(["run", "--system", "baseline", "--task", "emi", "--variant", "multimodal", "--epochs", "2",
                 "--seed", "5", "--out", str(out), "--quiet"])
    assert code == 0
    return out / "baseline" / "emi" / "multimodal" / "seed5", str(out)


def test_run_directory_holds_every_artefact(baseline_run: tuple[Path, str]) -> None:
    run_dir, _ = baseline_run
    names = {path.name for path in run_dir.iterdir()}
    assert {"config.json", "results.json", "val_predictions.csv", "submission_test.csv", "train_log.jsonl",
            "best.pt", "last.pt"} <= names
    assert not any(name.endswith(".tmp") for name in names)
    best = torch.load(run_dir / "best.pt", weights_only=True)
    assert best["epoch"] in (1, 2)


def test_results_schema_and_provenance(baseline_run: tuple[Path, str]) -> None:
    from abaw_bench.harness.metrics.functional import pearson_columns
    from abaw_bench.harness.tasks import get_task

    run_dir, _ = baseline_run
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results) >= RESULTS_KEYS and set(results["provenance"]) >= PROVENANCE_KEYS
    assert results["schema_version"] == 7
    assert results["task_facts"] == {"headline_metric": "mean_pearson", "higher_is_better": True, "unit": "clip"}
    assert results["demo_schedule"] == {"batch_size": 16, "lr": 5e-3}  # its epochs came from --epochs
    assert results["data"]["demo"] is True and results["data"]["root"] == "demo"
    assert len(results["data"]["manifest_sha256"]) == 64
    assert (results["data"]["manifest_version"], results["data"]["manifest_source"]) == ("demo-v1", "repository")
    assert results["provenance"]["seed"] == 5 and results["provenance"]["device"] == "cpu"
    assert results["provenance"]["deterministic"] is True  # the CPU default
    batch = results["hyper"]["batch_size"]
    assert results["batch_size"] == {"global": batch, "per_rank": batch, "world_size": 1}
    assert set(results["provenance"]["packages"]) == {"torch", "transformers", "numpy", "abaw-bench"}
    assert set(results["val"]["breakdown"]) == set(get_task("emi").columns)
    assert results["submission"]["valid"] is True
    assert results["skipped"]["skip_bad"] is False and results["skipped"]["splits"] == {}
    # The recorded metric is the one the per-item predictions give (recomputed independently here).
    lines = (run_dir / "val_predictions.csv").read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    import numpy as np

    values = np.array([[float(v) for v in row[1:]] for row in rows])
    k = len(get_task("emi").columns)
    r, _ = pearson_columns(values[:, :k], values[:, k:], get_task("emi").columns)
    assert abs(float(np.mean(r)) - results["val"]["value"]) < 1e-4
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == [1, 2]
    assert results["best_epoch"] == max(log, key=lambda row: row["val"]["value"])["epoch"]


def test_submission_validates_with_the_cli(baseline_run: tuple[Path, str]) -> None:
    run_dir, _ = baseline_run
    assert main(["validate", "--task", "emi", str(run_dir / "submission_test.csv")]) == 0


def test_trainval_row_reuses_the_best_epoch_or_asks_for_epochs(baseline_run: tuple[Path, str], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    # No matching train-only run under this --out: a clear error, no traceback.
    code = main(["run", "--system", "hallmen2025", "--task", "emi", "--variant", "trainval-text-vision",
                 "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert "--epochs" in capsys.readouterr().err


def test_resume_continues_to_a_new_epoch_count_and_refuses_other_changes(tmp_path: Path, demo_root,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    demo_root("emi")
    common = ["run", "--system", "baseline", "--task", "emi", "--variant", "multimodal", "--out", str(tmp_path),
              "--quiet"]
    assert main([*common, "--epochs", "2"]) == 0
    capsys.readouterr()
    assert main([*common, "--resume", "--epochs", "3", "--lr", "0.01"]) == 2  # the lr is not the stored run's
    assert "(differs in: lr, hyper); resume with the same options (only --epochs may change)" in \
        capsys.readouterr().err
    assert main([*common, "--resume", "--epochs", "3", "--hyper", "hidden=64"]) == 2  # a model knob
    assert "(differs in: hyper_overrides, model)" in capsys.readouterr().err
    assert main([*common, "--resume", "--epochs", "1"]) == 2
    assert "already after epoch 2; give --epochs 2 or more" in capsys.readouterr().err
    config = tmp_path / "baseline" / "emi" / "multimodal" / "seed0" / "config.json"
    kept = config.read_text()
    config.write_text(kept[: len(kept) // 2])  # a damaged config.json is a message, not a traceback
    assert main([*common, "--resume", "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert f"--resume: {config} is not a config.json this harness wrote" in err and "Traceback" not in err
    config.write_text(kept)
    assert main([*common, "--resume", "--epochs", "3"]) == 0
    assert "resuming after epoch 2" in capsys.readouterr().err
    run_dir = tmp_path / "baseline" / "emi" / "multimodal" / "seed0"
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in log] == [1, 2, 3]
    assert json.loads((run_dir / "results.json").read_text())["epochs_run"] == 3


def test_bad_options_are_user_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--system", "baseline", "--task", "emi", "--weights", "novalue", "--quiet"]) == 2
    assert "ENCODER=DIR" in capsys.readouterr().err
    assert main(["run", "--system", "nosuch", "--task", "emi", "--quiet"]) == 2
    assert main(["info", "--system", "baseline", "--task", "emi", "--variant", "nosuch"]) == 2


@pytest.mark.parametrize(("override", "message"), [
    ("centred_seconds=5", "Hyper.centred_seconds: expected an object mapping input names to numbers, found '5'"),
    ('centred_rows={"vit-h14": "many"}', "Hyper.centred_rows: expected an object mapping input names to integers"),
    ('centred_rows={"vit_h14": 100}', "unknown --hyper centred_rows input 'vit_h14'"),
    ("window=abc", "Hyper.window: expected an integer or null, found 'abc'"),
    ("threshold_sweep=[0.5]", "Hyper.threshold_sweep: expected 3 numbers [first, last, step]"),
    ("threshold_sweep=[0.7, 0.4, 0.01]", "expected [first, last, step] with first <= last"),
    ("lr=true", "Hyper.lr: expected a number, found 'True'"),
    ("step_size=0", "Hyper.step_size 0: expected in [1, 100000]"),
    ("step_gamma=0", "Hyper.step_gamma 0: expected in (0, 1]"),
    ("step_min_lr=1", "Hyper.step_min_lr 1: expected in [0, lr] = [0, 0.001]"),  # the demo schedule's lr
    ("momentum=1", "Hyper.momentum 1: expected in [0, 1)"),
    ("optimizer=lamb", "Hyper.optimizer 'lamb': expected one of adamw, adam, sgd"),
    ("dropout=1", "Hallmen2025Knobs.dropout 1: expected in [0, 1)"),  # a model knob, checked as the engine's
    ("fusion_hidden=0.5", "Hallmen2025Knobs.fusion_hidden: expected an integer, found '0.5'"),
    ("vision_hiden=8", "Model knobs of hallmen2025 on bah: audio_hidden, dropout, fusion_hidden, lstm_layers, "
                       "vision_hidden. Engine knobs: "),
])
def test_a_mistyped_hyper_override_is_a_message_before_any_work(capsys: pytest.CaptureFixture[str], override: str,
                                                               message: str) -> None:
    assert main(["run", "--system", "hallmen2025", "--task", "bah", "--hyper", override, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_systems_lists_rows_and_does_not_import_torch() -> None:
    code = ("import sys, json, io, contextlib\nfrom abaw_bench.harness.cli import main\nbuf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n    main(['systems', '--json'])\n"
            "print(json.dumps({'torch': 'torch' in sys.modules, 'out': json.loads(buf.getvalue())}))")
    result = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                       text=True).stdout)
    assert result["torch"] is False
    systems = {system["name"]: system for system in result["out"]}
    assert {"hallmen2024", "hallmen2025", "baseline"} <= set(systems)
    rows = {variant["row"] for variant in systems["hallmen2024"]["tasks"]["emi"]}
    assert "+ global + unfrozen + dropout" in rows
    assert sum(variant["default"] for variant in systems["hallmen2025"]["tasks"]["emi"]) == 1


def test_info_shows_the_authors_head_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--system", "hallmen2024", "--task", "emi", "--variant", "audio-global-unfrozen",
                 "--preset", "paper", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inputs"][0]["dim"] == 1027
    lstm = 4 * 1027 * (1027 + 1027 + 2) * 2  # 2 layers, input = hidden = 1027, two bias vectors
    mlp = 2054 * 2054 + 2054 + 2054 * 6 + 6
    assert info["head"]["trainable_parameters"] == lstm + mlp
    assert info["unfrozen_encoders"]["wav2vec2-vad"]["trainable_parameters"] > 100_000_000
    assert info["hyper"]["grad_clip_value"] == 100
    assert info["model"] == {"dropout": 0.0, "lstm_layers": 2, "lstm_hidden": None, "fusion_hidden": None}
    assert info["hyper"]["epochs"] == 30 and info["demo_schedule"] == {"epochs": 3, "batch_size": 16, "lr": 5e-3}
    assert main(["info", "--system", "hallmen2024", "--task", "emi", "--variant", "audio-global"]) == 0
    assert "demo schedule (runs on the embedded demo only; flags and --hyper override it): epochs=5, batch_size=16, " \
        "lr=0.005" in capsys.readouterr().out
    assert main(["info", "--system", "hallmen2025", "--task", "emi", "--variant", "text-audio-vision",
                 "--preset", "paper", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    fusion = [layer for layer in info["head"]["layers"] if layer["module"] == "Linear"]
    assert "in_features=2563, out_features=1027" in fusion[0]["repr"]
    assert "in_features=1027, out_features=6" in fusion[1]["repr"]


def test_info_counts_the_fine_tuned_text_encoder_and_its_marker_row(capsys: pytest.CaptureFixture[str]) -> None:
    """hallmen2025's BAH text row trains MiniLM (tiny preset: the real model, 22,713,216 parameters without its
    pooler's 147,840) and the [ATTENTION] token's 384-wide embedding row with its head; the frozen twin trains the
    head alone."""
    assert main(["info", "--system", "hallmen2025", "--task", "bah", "--variant", "text", "--preset", "tiny",
                 "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    text = info["unfrozen_encoders"]["text"]
    assert (text["encoder"], text["marker_token"], text["marker_parameters_added"]) == ("minilm", "[ATTENTION]", 384)
    assert text["trainable_parameters"] == 22_713_216 - 147_840 + 384
    assert info["trainable_parameters"] == info["head"]["trainable_parameters"] + text["trainable_parameters"]
    assert info["inputs"][0]["unfrozen"] and info["hyper"]["encoder_lr"] == 7.5e-6
    assert main(["info", "--system", "hallmen2025", "--task", "bah", "--variant", "text-frozen", "--preset", "tiny",
                 "--json"]) == 0
    frozen = json.loads(capsys.readouterr().out)
    assert frozen["unfrozen_encoders"] == {} and frozen["notes"]
    head = info["head"]["trainable_parameters"]
    assert frozen["trainable_parameters"] == frozen["head"]["trainable_parameters"] == head


@pytest.mark.distributed
def test_torchrun_two_processes_run_two_seeds_in_one_group_and_rank0_writes(baseline_run: tuple[Path, str],
                                                                             tmp_path: Path) -> None:
    """`--seeds 2` under torchrun: both seeds finish (one process group for both; re-creating it per seed hung),
    each rank trains on half of the global batch, and the flags are recorded."""
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    "-m", "abaw_bench.harness", "run", "--system", "baseline", "--task", "emi", "--variant", "audio",
                    "--epochs", "1", "--seeds", "2", "--batch-size", "6", "--no-deterministic", "--out",
                    str(tmp_path), "--quiet"],
                   check=True, env=env, capture_output=True, timeout=240)
    for seed in (0, 1):
        results = json.loads((tmp_path / "baseline" / "emi" / "audio" / f"seed{seed}" / "results.json").read_text())
        assert results["provenance"]["world_size"] == 2 and results["provenance"]["seed"] == seed
        assert results["batch_size"] == {"global": 6, "per_rank": 3, "world_size": 2}
        assert results["provenance"]["deterministic"] is False
        assert results["submission"]["valid"] is True
        assert results["val"]["metric"] == "mean_pearson"


def test_a_global_batch_that_does_not_split_across_the_ranks_is_refused() -> None:
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.harness.runtime.distributed import DistContext, per_rank_batch

    assert per_rank_batch(32, DistContext(1, 4, 1, torch.device("cpu"))) == 8
    with pytest.raises(AbawError, match=r"32 does not split evenly across 3 ranks.*multiple of 3 \(e\.g\. 33\)"):
        per_rank_batch(32, DistContext(0, 3, 0, torch.device("cpu")))


def test_a_model_with_nothing_to_train_is_evaluated_as_built(tmp_path: Path, demo_root,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    demo_root("emi")
    assert main(["run", "--system", "baseline", "--task", "emi", "--variant", "constant-mean", "--out",
                 str(tmp_path), "--quiet"]) == 0
    run_dir = tmp_path / "baseline" / "emi" / "constant-mean" / "seed0"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["best_epoch"] == 0 and results["epochs_run"] == 0
    # the demo schedule (but its epochs: the floor's own 0) is said and recorded
    assert "demo schedule of baseline: batch_size=16, lr=0.005 (instead of batch_size=32, lr=0.001)" in \
        capsys.readouterr().err
    assert results["demo_schedule"] == {"batch_size": 16, "lr": 5e-3}
    assert json.loads((run_dir / "config.json").read_text())["demo_schedule"] == results["demo_schedule"]
    assert results["submission"]["valid"] is True
    rows = (run_dir / "submission_test.csv").read_text().splitlines()[1:]
    assert len({row.split(",", 1)[1] for row in rows}) == 1  # one constant row for every clip


def test_a_run_whose_submission_does_not_validate_fails(tmp_path: Path, demo_root, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import abaw_bench.harness.submission as submission

    demo_root("emi")
    real_validate = submission.validate_file

    def validate_against_one_row_fewer(task: str, path: Path, rows: list[str], **options):
        return real_validate(task, path, rows[1:], **options)  # the written file now holds an id it should not

    monkeypatch.setattr(submission, "validate_file", validate_against_one_row_fewer)
    code = main(["run", "--system", "baseline", "--task", "emi", "--variant", "constant-mean", "--out", str(tmp_path),
                 "--quiet"])
    assert code == 2
    assert "the test submission does not validate" in capsys.readouterr().err
    results = json.loads((tmp_path / "baseline" / "emi" / "constant-mean" / "seed0" / "results.json").read_text())
    assert results["submission"]["valid"] is False


def test_info_counts_the_fine_tuned_wav2vec2_of_the_bah_audio_rows(capsys: pytest.CaptureFixture[str]) -> None:
    """hallmen2025's BAH audio row trains the whole wav2vec2-vad with its head (paper preset, written out from the
    architecture: 7 convolutions with their layer norms, the feature projection, the SpecAugment mask embedding, the
    weight-normed positional convolution, 12 transformer layers, the final layer norm, then the VAD head); its frozen
    twin trains the head alone."""
    conv = [10 * 512] + [3 * 512 * 512] * 4 + [2 * 512 * 512] * 2  # kernels 10, 3, 3, 3, 3, 2, 2; 512 channels
    convolutions = sum(weights + 512 + 2 * 512 for weights in conv)  # + bias + layer norm
    projection = 2 * 512 + 512 * 1024 + 1024
    positional = 128 + 1024 * 64 * 128 + 1024  # weight_g, weight_v, bias
    layer = 4 * (1024 * 1024 + 1024) + 2 * 2 * 1024 + (1024 * 4096 + 4096) + (4096 * 1024 + 1024)
    wav2vec2 = convolutions + projection + 1024 + positional + 2 * 1024 + 12 * layer
    vad_head = 1024 * 1024 + 1024 + 1024 * 3 + 3
    assert wav2vec2 == 164_284_032
    assert main(["info", "--system", "hallmen2025", "--task", "bah", "--variant", "audio", "--preset", "paper",
                 "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    audio = info["unfrozen_encoders"]["wav2vec2-vad"]
    assert audio == {"encoder": "wav2vec2-vad", "trainable_parameters": wav2vec2 + vad_head}
    assert info["trainable_parameters"] == info["head"]["trainable_parameters"] + wav2vec2 + vad_head
    assert info["inputs"][0]["unfrozen"] and info["hyper"]["encoder_lr"] == 7.5e-6
    assert main(["info", "--system", "hallmen2025", "--task", "bah", "--variant", "text-audio-vision", "--preset",
                 "paper", "--json"]) == 0
    fused = json.loads(capsys.readouterr().out)
    assert set(fused["unfrozen_encoders"]) == {"text", "wav2vec2-vad"}
    assert main(["info", "--system", "hallmen2025", "--task", "bah", "--variant", "audio-frozen", "--preset", "paper",
                 "--json"]) == 0
    frozen = json.loads(capsys.readouterr().out)
    assert frozen["unfrozen_encoders"] == {} and frozen["trainable_parameters"] == info["head"]["trainable_parameters"]
