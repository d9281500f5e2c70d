"""What the report's figures draw, read from the matplotlib artists before saving: the 95 % intervals as error bars,
harness checks apart from the paper, y = x, integer epochs, the BAH threshold, the Expr confusion counts; and a LaTeX
table that compiles (or, without a TeX engine, holds nothing pdfLaTeX would reject)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.cli import main
from abaw_bench.leaderboard.board import build_board
from abaw_bench.leaderboard.runs import scan_runs
from abaw_bench.leaderboard.summary import BootstrapSettings, summarise, summarise_runs
from abaw_bench.leaderboard.tables import load_tables
from matplotlib.container import BarContainer
from PIL import Image

N_FRAMES = 60


def _summary(runs_dir: Path, table_name: str, resamples: int = 50):
    tables = load_tables()
    shown = [table for table in tables if table.name == table_name]
    runs, skipped = scan_runs(runs_dir)
    board = build_board(tables, shown, runs, skipped, runs_dir)
    return shown[0], summarise(board, BootstrapSettings(resamples, 0))


def test_comparison_bars_carry_the_intervals_and_draw_checks_apart(seeded_runs: Path) -> None:
    from abaw_bench.leaderboard.figures import comparison_figure

    table, summary = _summary(seeded_runs, "hallmen2024-emi")
    row = next(i for i, row in enumerate(table.rows) if row.variant == "audio-global")
    real, demo = summary.aggregates(table, row)
    assert real.is_reproduction and not demo.is_reproduction and real.interval is not None
    paper_axes, checks_axes = comparison_figure(table, summary).axes[:2]

    bars = {container.get_label(): container for container in paper_axes.containers
            if isinstance(container, BarContainer)}
    assert sorted(bars) == ["paper (hallmen2024, Table 1)", "reproduced (mean, 95 % CI)"]  # no DEMO bar here
    assert bars["paper (hallmen2024, Table 1)"].errorbar is None
    reproduced = bars["reproduced (mean, 95 % CI)"]
    drawn = [(segment[0][1], segment[1][1]) for segment in reproduced.errorbar.lines[2][0].get_segments()
             if len(segment) == 2 and np.isfinite(segment[0][1])]  # one whisker per row with an interval
    assert drawn == [pytest.approx(real.interval)]

    assert "not comparable with the paper" in checks_axes.get_title()
    [check] = [container for container in checks_axes.containers if isinstance(container, BarContainer)]
    assert check.get_label().startswith("DEMO, RANDOM") and len(check.patches) == 1
    [[(_, low), (_, high)]] = check.errorbar.lines[2][0].get_segments()
    assert (low, high) == pytest.approx(demo.interval)


def test_scatter_has_the_identity_line_across_every_row(seeded_runs: Path) -> None:
    from abaw_bench.leaderboard.figures import scatter_figure

    table, summary = _summary(seeded_runs, "hallmen2024-emi", resamples=0)
    axes = scatter_figure(table, summary).axes[0]
    [identity] = [line for line in axes.get_lines() if line.get_label().startswith("y = x")]
    x, y = identity.get_data()
    assert list(x) == list(y)
    papers = [row.figures["val"] for row in table.rows if row.figures.get("val") is not None]
    assert min(x) < min(papers) and max(x) > max(papers) and len(papers) > 3


def _write_frame_run(root: Path, task: str, system: str, variant: str, seed: int, *, threshold: float | None,
                     metric: str) -> tuple[Path, np.ndarray, np.ndarray]:
    """A BAH or Expr run directory with val_predictions.csv (frames of three videos), results.json and a log."""
    rng = np.random.default_rng(seed)
    directory = root / system / task / variant / f"seed{seed}"
    directory.mkdir(parents=True)
    groups = [f"video{i % 3}" for i in range(N_FRAMES)]
    if task == "bah":
        labels = rng.integers(0, 2, N_FRAMES)
        scores = np.clip(0.35 * labels + rng.uniform(0, 0.65, N_FRAMES), 0, 1)
        chosen = 0.5 if threshold is None else threshold
        header = "id,group,pred,p1,label:label"
        rows = [f"f{i},{groups[i]},{float(scores[i] >= chosen):.6f},{scores[i]:.6f},{labels[i]:.6f}"
                for i in range(N_FRAMES)]
        breakdown = {"f1_class0": 0.6, "f1_class1": 0.4, "accuracy": 0.55}
    else:
        labels = rng.integers(-1, 8, N_FRAMES)
        scores = np.where(rng.uniform(size=N_FRAMES) < 0.5, labels.clip(0), rng.integers(0, 8, N_FRAMES))
        header = "id,group,label,label:label"
        rows = [f"f{i},{groups[i]},{scores[i]:.6f},{labels[i]:.6f}" for i in range(N_FRAMES)]
        breakdown = {name: 0.1 * k for k, name in enumerate(("Neutral", "Anger", "Disgust"))}
    (directory / "val_predictions.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    results = {"system": system, "task": task, "variant": variant, "preset": "tiny",
               "val": {"metric": metric, "value": 0.5, "breakdown": breakdown},
               "data": {"root": "demo", "demo": True}, "provenance": {"seed": seed}}
    if threshold is not None:
        results["calibration"] = {"threshold": threshold}
    (directory / "results.json").write_text(json.dumps(results), encoding="utf-8")
    log = [{"epoch": epoch, "train_loss": 1 / epoch, "best_epoch": epoch,
            "val": {"metric": metric, "value": 0.1 * epoch}} for epoch in range(1, 4)]
    (directory / "train_log.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in log), encoding="utf-8")
    return directory, scores, labels


def _row_of(task: str) -> tuple[str, str, str, str]:
    table = next(table for table in load_tables() if table.task == task)
    row = next(row for row in table.rows if row.linked)
    return table.name, row.system, row.variant, table.harness_metric


def test_bah_marks_the_swept_threshold_and_says_the_curve_is_at_one_half(tmp_path: Path) -> None:
    from abaw_bench.leaderboard.figures import curves_figure, precision_recall_figure, read_train_log
    from abaw_bench.leaderboard.predictions import read_predictions

    _, system, variant, metric = _row_of("bah")
    directory, scores, labels = _write_frame_run(tmp_path, "bah", system, variant, 0, threshold=0.6, metric=metric)
    runs, _ = scan_runs(tmp_path)
    aggregate = summarise_runs(runs, BootstrapSettings(0))
    axes = precision_recall_figure(aggregate, [read_predictions(directory / "val_predictions.csv")]).axes[0]
    [marker] = [line for line in axes.get_lines() if line.get_label() == "threshold 0.600 (swept)"]
    hits = ((scores >= 0.6) & (labels == 1)).sum()
    assert marker.get_xydata().tolist() == [[hits / labels.sum(), hits / (scores >= 0.6).sum()]]

    logs = {runs[0].path: read_train_log(directory / "train_log.jsonl")}
    curves = curves_figure(aggregate, logs)
    assert curves.axes[1].get_title() == (f"val {metric} at threshold 0.5; the table's figure is after the threshold "
                                          "sweep (0.600)")
    for axes in curves.axes:  # three epochs: ticks 1, 2, 3, not 1.25, 1.5, ...
        ticks = [tick for tick in axes.get_xticks() if 1 <= tick <= 3]
        assert ticks == [1, 2, 3]


def test_expr_confusion_counts_the_valid_frames(tmp_path: Path) -> None:
    from abaw_bench.leaderboard.figures import confusion_figure
    from abaw_bench.leaderboard.predictions import read_predictions

    _, system, variant, metric = _row_of("expr")
    directory, predicted, labels = _write_frame_run(tmp_path, "expr", system, variant, 0, threshold=None,
                                                    metric=metric)
    runs, _ = scan_runs(tmp_path)
    axes = confusion_figure(summarise_runs(runs, BootstrapSettings(0)),
                            [read_predictions(directory / "val_predictions.csv")]).axes[0]
    valid = labels >= 0
    expected = np.zeros((8, 8))
    np.add.at(expected, (labels[valid], predicted[valid]), 1)
    shares = expected / np.maximum(1, expected.sum(axis=1, keepdims=True))
    assert np.allclose(axes.get_images()[0].get_array(), shares)


def test_frame_task_figures_are_written_and_decode(tmp_path: Path) -> None:
    from abaw_bench.leaderboard.figures import write_figures

    runs = tmp_path / "runs"
    names = []
    for task in ("bah", "expr"):
        _, system, variant, metric = _row_of(task)
        for seed in range(2):
            _write_frame_run(runs, task, system, variant, seed, threshold=0.55 if task == "bah" else None,
                             metric=metric)
        names.append(f"{system}-{task}-{variant}-DEMO_weights_unknown")
    tables = load_tables()
    shown = [table for table in tables if table.name in {_row_of(task)[0] for task in ("bah", "expr")}]
    found, skipped = scan_runs(runs)
    board = build_board(tables, shown, found, skipped, runs)
    summary = summarise(board, BootstrapSettings(0))
    board.tables = []  # the per-run figures only: the tables' comparisons are tested above
    warnings: list[str] = []
    written = {figure.path.name: figure.path
               for figure in write_figures(board, summary, {}, tmp_path / "figures", warnings.append)}
    assert warnings == []
    expected = [f"{kind}-{name}.png" for name in names for kind in ("breakdown", "curves")]
    assert sorted(written) == sorted([*expected, f"confusion-{names[1]}.png", f"precision-recall-{names[0]}.png"])
    for name in (f"precision-recall-{names[0]}.png", f"confusion-{names[1]}.png", f"breakdown-{names[0]}.png"):
        image = Image.open(io.BytesIO(written[name].read_bytes()))
        image.load()
        assert image.width >= 300


def test_latex_is_ascii_with_booktabs_and_math_symbols(tmp_path: Path, seeded_runs: Path, capsys) -> None:
    assert main(["leaderboard", "--task", "emi", "--runs", str(seeded_runs), "--resamples", "0", "--format",
                 "latex"]) == 0
    latex = capsys.readouterr().out
    assert [char for char in latex if not char.isascii()] == []
    for spelt in (r"\toprule", r"\midrule", r"\bottomrule", r"$\rho$\_VAL $\uparrow$", r"$\Delta$", r"Andr\'{e}",
                  " -- "):
        assert spelt in latex
    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip("no pdflatex here: checked for unescaped non-ASCII only")
    document = tmp_path / "board.tex"
    document.write_text(f"\\documentclass{{article}}\n\\usepackage{{booktabs}}\n\\begin{{document}}\n{latex}\n"
                        "\\end{document}\n", encoding="utf-8")
    result = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", document.name], cwd=tmp_path,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]


def test_latex_ascii_spells_symbols_accents_and_the_unknown() -> None:
    from abaw_bench.leaderboard.render import latex_ascii

    assert latex_ascii("Δ ρ ↑ ± – André Müller ✓") == (r"$\Delta$ $\rho$ $\uparrow$ $\pm$ -- Andr\'{e} M\"{u}ller "
                                                      "(U+2713)")
