"""The leaderboard: the paper tables with this repo's runs placed beside the rows they reproduce, and its renderings.

A run is placed on a row when the row is linked to the run's system and variant on the run's task, and the run's
validation metric is the table's metric. Runs on demo data or with random-weight encoders are marked in their own
columns: their figures measure the harness on synthetic data, not a reproduction of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abaw_bench.leaderboard.runs import RunResult, SkippedFile
from abaw_bench.leaderboard.tables import PaperTable

LEGEND = ("data DEMO: trained and scored on the embedded synthetic demo dataset; its figure checks the harness, it "
          "does not reproduce the paper.\nweights RANDOM: the listed inputs' encoders had random weights (tiny preset "
          "or no checkpoint), so even on real data the figure is not the paper's setting.")


@dataclass
class Board:
    tables: list[PaperTable]
    runs_by_row: dict[tuple[str, int], list[RunResult]] = field(default_factory=dict)  # (table name, row index)
    unplaced: list[RunResult] = field(default_factory=list)  # runs no row of any table is linked to
    not_placed: list[str] = field(default_factory=list)  # runs linked to a row but measured with another metric
    skipped: list[SkippedFile] = field(default_factory=list)
    runs_dir: Path | None = None

    def runs_for(self, table: PaperTable, index: int) -> list[RunResult]:
        return self.runs_by_row.get((table.name, index), [])


def build_board(all_tables: list[PaperTable], shown: list[PaperTable], runs: list[RunResult],
                skipped: list[SkippedFile], runs_dir: Path | None) -> Board:
    """Place `runs` on the rows of `all_tables`; show `shown` and the unplaced runs of the tasks shown."""
    board = Board(tables=shown, skipped=skipped, runs_dir=runs_dir)
    shown_tasks = {table.task for table in shown}
    for run in runs:
        linked = False
        for table in all_tables:
            if table.task != run.task:
                continue
            for index, row in enumerate(table.rows):
                if (row.system, row.variant) != (run.system, run.variant):
                    continue
                linked = True
                if run.metric is not None and run.metric != table.harness_metric:
                    board.not_placed.append(f"{run.path}: reports {run.metric!r}, but table {table.name} row "
                                            f"{row.label!r} is {table.harness_metric!r}; not placed there")
                else:
                    board.runs_by_row.setdefault((table.name, index), []).append(run)
        if not linked and run.task in shown_tasks:
            board.unplaced.append(run)
    return board


def format_figure(value: float | None, decimals: int) -> str:
    """The paper's style: '.090' for 0.09, '–' for a missing figure."""
    if value is None:
        return "–"
    text = f"{value:.{decimals}f}"
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def _run_dir(run: RunResult, runs_dir: Path | None) -> str:
    folder = run.path.parent
    if runs_dir is not None and folder.is_relative_to(runs_dir):
        return str(folder.relative_to(runs_dir))
    return str(folder)


def _weights(run: RunResult) -> str:
    if not run.weights_known:
        return "?"
    return "RANDOM: " + ", ".join(run.random_encoders) if run.random_encoders else "no random"


def _run_cells(run: RunResult, decimals: int, runs_dir: Path | None) -> list[str]:
    return [format_figure(run.value, decimals), "DEMO" if run.demo else "real", _weights(run),
            _run_dir(run, runs_dir)]


def table_rows(board: Board, table: PaperTable) -> tuple[list[str], list[list[str]]]:
    """Header and cells of one table: the paper's rows, each followed by the runs placed on it."""
    header = ["row", *(column.label for column in table.columns), "reproduced by"]
    with_runs = board.runs_dir is not None
    if with_runs:
        val_label = next((column.label for column in table.columns if column.key == "val"), "val")
        header += [f"run {val_label}", "data", "weights", "run dir"]
    cells = []
    for index, row in enumerate(table.rows):
        paper = [row.label, *(format_figure(row.figures[column.key], table.decimals) for column in table.columns),
                 f"{row.system}/{row.variant}" if row.linked else ""]
        runs = board.runs_for(table, index)
        if not with_runs:
            cells.append(paper)
            continue
        if not runs:
            cells.append([*paper, "", "", "", ""])
        for position, run in enumerate(runs):
            lead = paper if position == 0 else [""] * len(paper)
            cells.append([*lead, *_run_cells(run, table.decimals, board.runs_dir)])
    return header, cells


UNPLACED_HEADER = ["system/variant", "task", "metric", "value", "data", "weights", "run dir"]


def unplaced_rows(board: Board) -> list[list[str]]:
    return [[f"{run.system}/{run.variant}", run.task, run.metric or "–", format_figure(run.value, 4),
             "DEMO" if run.demo else "real", _weights(run), _run_dir(run, board.runs_dir)] for run in board.unplaced]


def render_text(board: Board) -> str:
    from tabulate import tabulate

    blocks = []
    for table in board.tables:
        header, cells = table_rows(board, table)
        lines = [f"{table.name}  ·  {table.source}  ·  task {table.task}  ·  {table.metric}", table.citation, "",
                 tabulate(cells, headers=header, disable_numparse=True)]
        lines += [f"note: {note}" for note in table.notes]
        blocks.append("\n".join(lines))
    if board.unplaced:
        blocks.append("runs that reproduce no paper row:\n"
                      + tabulate(unplaced_rows(board), headers=UNPLACED_HEADER, disable_numparse=True))
    if board.runs_dir is not None:
        blocks.append(LEGEND)
    return "\n\n".join(blocks)


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(board: Board) -> str:
    from tabulate import tabulate

    blocks = []
    for table in board.tables:
        header, cells = table_rows(board, table)
        cells = [[_markdown_cell(cell) for cell in row] for row in cells]
        lines = [f"### {table.name} — {table.source}", "", f"{table.citation}  ", f"Task `{table.task}`; metric: "
                 f"{table.metric}.", "", tabulate(cells, headers=header, tablefmt="github", disable_numparse=True)]
        if table.notes:
            lines += ["", *(f"- {note}" for note in table.notes)]
        blocks.append("\n".join(lines))
    if board.unplaced:
        cells = [[_markdown_cell(cell) for cell in row] for row in unplaced_rows(board)]
        blocks.append("### Runs that reproduce no paper row\n\n"
                      + tabulate(cells, headers=UNPLACED_HEADER, tablefmt="github", disable_numparse=True))
    if board.runs_dir is not None:
        blocks.append("\n".join(f"> {line}" for line in LEGEND.splitlines()))
    return "\n\n".join(blocks)


def to_json(board: Board) -> dict[str, Any]:
    tables = []
    for table in board.tables:
        document = table.to_json()
        for index, row in enumerate(document["rows"]):
            row["runs"] = [run.to_json() for run in board.runs_for(table, index)]
        tables.append(document)
    return {
        "tables": tables,
        "runs_dir": None if board.runs_dir is None else str(board.runs_dir),
        "unplaced_runs": [run.to_json() for run in board.unplaced],
        "not_placed": list(board.not_placed),
        "skipped": [skipped.to_json() for skipped in board.skipped],
    }
