"""The leaderboard: the paper tables with this repo's runs placed beside the rows they reproduce.

A run is placed on a row when the row is linked to the run's system and variant on the run's task, and the run's
validation metric is the table's metric. `summary` turns the runs of a row into mean ± sd, an interval and Δ;
`render`, `html` and `figures` show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from abaw_bench.harness.results import Results
from abaw_bench.leaderboard.runs import SkippedFile
from abaw_bench.leaderboard.tables import PaperTable


@dataclass
class Board:
    tables: list[PaperTable]
    runs_by_row: dict[tuple[str, int], list[Results]] = field(default_factory=dict)  # (table name, row index)
    unplaced: list[Results] = field(default_factory=list)  # runs no row of any table is linked to
    not_placed: list[str] = field(default_factory=list)  # runs linked to a row but measured with another metric
    skipped: list[SkippedFile] = field(default_factory=list)
    runs_dir: Path | None = None

    def runs_for(self, table: PaperTable, index: int) -> list[Results]:
        return self.runs_by_row.get((table.name, index), [])


def build_board(all_tables: list[PaperTable], shown: list[PaperTable], runs: list[Results],
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
