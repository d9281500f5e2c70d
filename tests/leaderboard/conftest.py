"""Small synthetic run directories, as `abaw-bench run` writes them, so the leaderboard is tested without training."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.base import Table

EMI_COLUMNS = get_task("emi").columns
N_CLIPS = 40


def emi_labels() -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(12345)
    return [f"{8072 + i:05d}" for i in range(N_CLIPS)], rng.uniform(0, 1, size=(N_CLIPS, len(EMI_COLUMNS)))


def predictions_csv(ids: list[str], predictions: np.ndarray, labels: np.ndarray, columns: tuple[str, ...],
                    groups: list[str] | None = None, label_columns: tuple[str, ...] | None = None) -> str:
    """val_predictions.csv: `id[,group],<columns>,label:<columns>` with six decimals, as the pipeline writes it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    label_columns = label_columns or columns
    writer.writerow(["id", *(["group"] if groups is not None else []), *columns,
                     *(f"label:{name}" for name in label_columns)])
    for row, item_id in enumerate(ids):
        lead = [item_id, groups[row]] if groups is not None else [item_id]
        writer.writerow([*lead, *(f"{v:.6f}" for v in predictions[row]), *(f"{v:.6f}" for v in labels[row])])
    return buffer.getvalue()


def write_run(root: Path, system: str, variant: str, seed: int, *, noise: float, demo: bool,
              random: tuple[str, ...] = (), task: str = "emi", epochs: int = 3, value: float | None = None,
              hyper: dict | None = None, config: dict | None = None) -> Path:
    """One run directory with results.json, val_predictions.csv and train_log.jsonl; returns the directory.

    EMI predictions are the labels plus seeded noise of scale `noise`, so a smaller noise is a better run. The
    recorded value is the reference metric of those predictions unless `value` overrides it. `hyper` and `config`
    update the recorded effective hyper-parameters and RunConfig (what the leaderboard's configuration hash reads).
    """
    ids, labels = emi_labels()
    rng = np.random.default_rng(1000 + seed)
    predictions = np.clip(labels + rng.normal(0, noise, size=labels.shape), 0, 1)
    predictions = np.round(predictions, 6)
    scored = get_task(task).score(Table(ids, predictions, EMI_COLUMNS), Table(ids, np.round(labels, 6), EMI_COLUMNS))
    value = scored.value if value is None else value
    directory = root / system / task / variant / f"seed{seed}"
    directory.mkdir(parents=True)
    results = {
        "schema_version": 1, "system": system, "task": task, "variant": variant, "row": "(ignored)",
        "preset": "tiny" if random else "paper",
        "val": {"metric": scored.metric, "value": value, "breakdown": scored.breakdown, "extra": {}, "warnings": []},
        "best_epoch": epochs, "data": {"root": "demo" if demo else "/data/emi", "demo": demo,
                                       "manifest_sha256": "ab" * 32},
        "encoders": {"wav2vec2-vad": {"encoder": "wav2vec2-vad", "fingerprint": f"fp-{'random' if random else 'real'}",
                                      "weights": "w", "random_weights": "wav2vec2-vad" in random}},
        "hyper": {"epochs": epochs, "lr": 1e-4, "batch_size": 8} | (hyper or {}),
        "config": {"system": system, "task": task, "variant": variant, "preset": "tiny" if random else "paper",
                   "data_root": None if demo else "/data/emi", "out_root": str(root), "seed": seed, "device": "cpu",
                   "num_workers": None, "shuffle_labels": False} | (config or {}),
        "provenance": {"git_commit": "0123456789abcdef0123", "git_dirty": False, "seed": seed, "device": "cpu",
                       "precision": "fp32"},
    }
    (directory / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (directory / "val_predictions.csv").write_text(predictions_csv(ids, predictions, labels, EMI_COLUMNS),
                                                   encoding="utf-8")
    log = [{"epoch": e, "train_loss": 1.0 / (e + seed), "best_epoch": e,
            "val": {"metric": scored.metric, "value": value * e / epochs}} for e in range(1, epochs + 1)]
    (directory / "train_log.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in log), encoding="utf-8")
    return directory


def write_seeded_runs(root: Path) -> Path:
    """hallmen2024 audio-global: three real runs and two DEMO runs with random weights; one unplaced floor run."""
    for seed in range(3):
        write_run(root / "real", "hallmen2024", "audio-global", seed, noise=0.3, demo=False)
    for seed in range(2):
        write_run(root / "demo", "hallmen2024", "audio-global", seed, noise=0.6, demo=True, random=("wav2vec2-vad",))
    write_run(root / "demo", "baseline", "constant-mean", 0, noise=0.5, demo=True)
    return root


@pytest.fixture()
def seeded_runs(tmp_path: Path) -> Path:
    return write_seeded_runs(tmp_path / "runs")


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers above, for tests that build their own files (conftest modules are not importable by name)."""
    return SimpleNamespace(EMI_COLUMNS=EMI_COLUMNS, emi_labels=emi_labels, predictions_csv=predictions_csv,
                           write_run=write_run, write_emi_label_root=write_emi_label_root,
                           write_seeded_runs=write_seeded_runs)


def write_emi_label_root(root: Path, shift: float = 0.0) -> Path:
    """An EMI data root holding only what a label-distribution figure reads: the two label CSVs (demo clip ids,
    marked as a demo root so that the shipped demo manifest governs it). `shift` moves every intensity."""
    from abaw_bench.harness.paths import DEMO_MARKER
    from abaw_bench.harness.tasks.emi import LABEL_FILES, LABEL_HEADER

    rng = np.random.default_rng(99)
    root.mkdir(parents=True)
    (root / DEMO_MARKER).write_text("{}\n", encoding="utf-8")
    for split, ids in (("train", range(0, 160)), ("val", range(8072, 8152))):
        values = np.clip(rng.beta(0.6, 3.0, size=(len(ids), len(EMI_COLUMNS))) + shift, 0, 1)
        lines = [",".join(LABEL_HEADER), *(f"{clip:05d}," + ",".join(f"{v:.4f}" for v in row)
                                           for clip, row in zip(ids, values, strict=True))]
        (root / LABEL_FILES[split]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture()
def emi_label_root(tmp_path: Path) -> Path:
    return write_emi_label_root(tmp_path / "emi-labels")
