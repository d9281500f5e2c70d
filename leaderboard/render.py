"""The leaderboard's renderings: text and Markdown (tabulate), CSV and LaTeX (one pandas DataFrame per table), JSON.

Each paper row is followed by one line per group of runs placed on it (see `summary`): the reproductions first, then
the DEMO / RANDOM-weight runs, which never get a Δ. Output depends only on the tables and the runs (no timestamps,
stable order), so regenerating it gives byte-identical files.
"""

from __future__ import annotations

import re
from typing import Any

from abaw_bench.harness.results import Results
from abaw_bench.leaderboard.board import Board, format_figure
from abaw_bench.leaderboard.runs import run_summary
from abaw_bench.leaderboard.summary import Aggregate, Summary
from abaw_bench.leaderboard.tables import PaperTable

LEGEND = (
    "Δ: reproduced mean − the paper's validation figure, for reproductions only (real data, published encoder "
    "weights).\n"
    "mean ± sd: over the runs (seeds) found, n of them, pooled only when they share their configuration (everything "
    "but the seed; a row with several shows each apart, as runs [hash: the fields that differ]), one run per seed; "
    "95 % CI: percentile bootstrap of that mean over the validation "
    "items (clips; whole videos for frame-level tasks), resampled jointly across the runs.\n"
    "runs DEMO: trained and scored on the embedded synthetic demo dataset; its figure checks the harness, it does not "
    "reproduce the paper.\n"
    "runs RANDOM: the listed inputs' encoders had random weights (tiny preset or no checkpoint), so even on real data "
    "the figure is not the paper's setting.")

# Machine names of the DataFrame columns (CSV header) and what LaTeX/HTML show instead.
PAPER_KEYS = ("val", "test")
RUN_COLUMNS = ("runs", "config_hash", "config_differs", "n", "seeds", "mean", "sd", "ci95_low", "ci95_high", "delta")
CONFIG_COLUMNS = ("config_hash", "config_differs")  # machine output only; people read them in the "runs" label


def direction(table: PaperTable) -> str:
    from abaw_bench.harness.tasks import get_task

    return "↑" if get_task(table.task).higher_is_better else "↓"


def val_label(table: PaperTable) -> str:
    return next((column.label for column in table.columns if column.key == "val"), "val")


def format_delta(value: float | None, decimals: int) -> str:
    """'+.012' / '-.009': the sign always shown, since it is the point of the column."""
    if value is None:
        return "–"
    text = format_figure(abs(value), decimals)
    return ("-" if value < 0 and text.strip("0.") else "+") + text


def format_mean(aggregate: Aggregate, decimals: int) -> str:
    mean = format_figure(aggregate.mean, decimals)
    return mean if aggregate.sd is None else f"{mean} ± {format_figure(aggregate.sd, decimals)}"


def format_interval(interval: tuple[float, float] | None, decimals: int) -> str:
    if interval is None:
        return "–"
    return f"[{format_figure(interval[0], decimals)}, {format_figure(interval[1], decimals)}]"


def format_seeds(seeds: list[int | None]) -> str:
    return ", ".join("?" if seed is None else str(seed) for seed in seeds)


def table_header(board: Board, table: PaperTable) -> list[str]:
    arrow = direction(table)
    header = ["row", *(f"{column.label} {arrow}" for column in table.columns), "reproduced by"]
    if board.runs_dir is not None:
        label = val_label(table)
        header += ["runs", "n", "seeds", f"mean {label} ± sd", "95 % CI", f"Δ {label}"]
    return header


def lines(summary: Summary | None, table: PaperTable) -> list[tuple[int, Aggregate | None]]:
    """(row index, aggregate) per output line: a row without runs is one line with None."""
    out: list[tuple[int, Aggregate | None]] = []
    for index in range(len(table.rows)):
        aggregates = summary.aggregates(table, index) if summary is not None else []
        out += [(index, aggregate) for aggregate in aggregates] or [(index, None)]
    return out


def table_cells(board: Board, summary: Summary | None, table: PaperTable) -> list[list[str]]:
    """Text cells: a row's paper cells on its first line only; its further lines (more run groups) start blank."""
    cells = []
    previous = None
    for index, aggregate in lines(summary, table):
        row = table.rows[index]
        paper = [row.label, *(format_figure(row.figures[column.key], table.decimals) for column in table.columns),
                 f"{row.system}/{row.variant}" if row.linked else ""]
        if index == previous:
            paper = [""] * len(paper)
        previous = index
        if board.runs_dir is None:
            cells.append(paper)
        elif aggregate is None:
            cells.append([*paper, "", "", "", "", "", ""])
        else:
            cells.append([*paper, aggregate.label, str(aggregate.n), format_seeds(aggregate.seeds),
                          format_mean(aggregate, table.decimals), format_interval(aggregate.interval, table.decimals),
                          format_delta(aggregate.delta, table.decimals) if aggregate.is_reproduction else "–"])
    return cells


UNPLACED_HEADER = ["system/variant", "task", "seed", "metric", "value", "runs", "run dir"]


def run_dir_label(board: Board, run: Results) -> str:
    """The run directory relative to --runs (short and stable), or as found when it lies elsewhere."""
    folder = run.run_dir
    if board.runs_dir is not None and folder.is_relative_to(board.runs_dir):
        return str(folder.relative_to(board.runs_dir))
    return str(folder)


def unplaced_rows(board: Board) -> list[list[str]]:
    return [[f"{run.system}/{run.variant}", run.task, "?" if run.seed is None else str(run.seed), run.metric or "–",
             format_figure(run.value, 4), ", ".join(run.marks) or "real", run_dir_label(board, run)]
            for run in board.unplaced]


def heading(table: PaperTable) -> str:
    arrow = direction(table)
    better = "higher" if arrow == "↑" else "lower"
    return f"{table.name}  ·  {table.reference}  ·  task {table.task}  ·  {table.metric} ({arrow} {better} is better)"


def render_text(board: Board, summary: Summary | None) -> str:
    from tabulate import tabulate

    blocks = []
    for table in board.tables:
        text = [heading(table), table.citation, "",
                tabulate(table_cells(board, summary, table), headers=table_header(board, table),
                         disable_numparse=True)]
        text += [f"note: {note}" for note in table.notes]
        blocks.append("\n".join(text))
    if board.unplaced:
        blocks.append("runs that reproduce no paper row:\n"
                      + tabulate(unplaced_rows(board), headers=UNPLACED_HEADER, disable_numparse=True))
    if board.runs_dir is not None:
        blocks.append(LEGEND)
    return "\n\n".join(blocks) + "\n"


# What a results file's text (a variant name, a run directory, a note) could use to break a Markdown table or put
# HTML or a link in the page: HTML's specials as entities, a cell's pipe, link brackets, code and emphasis marks
# backslash-escaped, line breaks as spaces. Underscores stay: inside a word (mean_ccc,
# text_vision) CommonMark never reads them as emphasis.
_MARKDOWN_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*",
                     "[": "\\[", "]": "\\]", "\r": " ", "\n": " "}
_MARKDOWN_SPECIAL = re.compile("|".join(re.escape(char) for char in _MARKDOWN_ESCAPES))


def markdown_text(text: str) -> str:
    """`text` for a Markdown table cell or line, shown as it is: never markup, never HTML (the Markdown counterpart
    of the HTML report's `html.escape` and the LaTeX one's `_LATEX_ESCAPES`)."""
    return _MARKDOWN_SPECIAL.sub(lambda match: _MARKDOWN_ESCAPES[match.group()], text)


def render_markdown(board: Board, summary: Summary | None) -> str:
    from tabulate import tabulate

    blocks = []
    for table in board.tables:
        cells = [[markdown_text(cell) for cell in row] for row in table_cells(board, summary, table)]
        text = [f"### {markdown_text(f'{table.name} — {table.reference}')}", "", f"{markdown_text(table.citation)}  ",
                f"Task `{table.task}`; metric: {markdown_text(table.metric)} ({direction(table)}).", "",
                tabulate(cells, headers=[markdown_text(cell) for cell in table_header(board, table)],
                         tablefmt="github", disable_numparse=True)]
        if table.notes:
            text += ["", *(f"- {markdown_text(note)}" for note in table.notes)]
        blocks.append("\n".join(text))
    if board.unplaced:
        cells = [[markdown_text(cell) for cell in row] for row in unplaced_rows(board)]
        blocks.append("### Runs that reproduce no paper row\n\n"
                      + tabulate(cells, headers=UNPLACED_HEADER, tablefmt="github", disable_numparse=True))
    if board.runs_dir is not None:
        blocks.append("\n".join(f"> {line}  " for line in LEGEND.splitlines()))
    return "\n\n".join(blocks) + "\n"


def table_frame(board: Board, summary: Summary | None, table: PaperTable) -> Any:
    """One DataFrame per table, machine column names, every line complete (a row's figures repeat on its lines)."""
    import pandas as pd

    records = []
    for index, aggregate in lines(summary, table):
        row = table.rows[index]
        record: dict[str, Any] = {"table": table.name, "row": row.label}
        for key in PAPER_KEYS:
            record[f"paper_{key}"] = row.figures.get(key)
        record["reproduced_by"] = f"{row.system}/{row.variant}" if row.linked else ""
        if board.runs_dir is not None:
            record |= dict.fromkeys(RUN_COLUMNS)
            if aggregate is not None:
                low, high = aggregate.interval if aggregate.interval is not None else (None, None)
                record |= {"runs": aggregate.kind, "config_hash": aggregate.config_hash,
                           "config_differs": "; ".join(f"{name}={value}" for name, value in aggregate.differs),
                           "n": aggregate.n, "seeds": format_seeds(aggregate.seeds),
                           "mean": aggregate.mean, "sd": aggregate.sd, "ci95_low": low, "ci95_high": high,
                           "delta": aggregate.delta}
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    for name in ("paper_val", "paper_test", "mean", "sd", "ci95_low", "ci95_high", "delta"):
        if name in frame:
            frame[name] = frame[name].astype("float64")
    if "n" in frame:
        frame["n"] = frame["n"].astype("Int64")
    return frame


def display_frame(board: Board, summary: Summary | None, table: PaperTable) -> tuple[Any, dict[str, Any]]:
    """The table's DataFrame for people (LaTeX, HTML): the paper's column labels and its number style.

    Returns the frame (columns renamed to display labels, the table's absent paper columns dropped) and the
    per-column formatters for `Styler.format`.
    """
    frame = table_frame(board, summary, table).drop(columns=["table"])
    if board.runs_dir is not None:
        frame["runs"] = [None if aggregate is None else aggregate.label for _, aggregate in lines(summary, table)]
        frame = frame.drop(columns=list(CONFIG_COLUMNS))
    keys = [column.key for column in table.columns]
    frame = frame.drop(columns=[f"paper_{key}" for key in PAPER_KEYS if key not in keys])
    arrow = direction(table)
    label = val_label(table)
    names = {"row": "row", "reproduced_by": "reproduced by", "runs": "runs", "n": "n", "seeds": "seeds",
             "mean": f"mean {label} {arrow}", "sd": "sd", "ci95_low": "95 % CI low", "ci95_high": "95 % CI high",
             "delta": f"Δ {label}"}
    names |= {f"paper_{column.key}": f"{column.label} {arrow}" for column in table.columns}
    frame = frame.rename(columns=names)

    def figure(value: float) -> str:
        return format_figure(float(value), table.decimals)

    def delta(value: float) -> str:
        return format_delta(float(value), table.decimals)

    formatters: dict[str, Any] = {names[f"paper_{key}"]: figure for key in keys}
    if board.runs_dir is not None:
        formatters |= {names[key]: figure for key in ("mean", "sd", "ci95_low", "ci95_high")}
        formatters[names["delta"]] = delta
        formatters["n"] = lambda value: str(int(value))
    return frame, formatters


def styled(frame: Any, formatters: dict[str, Any], escape: str, uuid: str = "board") -> Any:
    """A Styler showing `frame` in the paper's style: missing figures '–', no index, text escaped for `escape`.
    A fixed `uuid` (pandas draws a random one) keeps the HTML identical from one generation to the next."""
    from pandas.io.formats.style import Styler

    return (Styler(frame, uuid=uuid, cell_ids=False).hide(axis="index")
            .format(formatters, na_rep="–", escape=escape).format_index(escape=escape, axis=1))


def render_csv(board: Board, summary: Summary | None) -> str:
    import pandas as pd

    frame = pd.concat([table_frame(board, summary, table) for table in board.tables], ignore_index=True)
    return frame.to_csv(index=False, lineterminator="\n")


def render_latex(board: Board, summary: Summary | None) -> str:
    """One `table` environment per paper table, booktabs rules (\\usepackage{booktabs}), in ASCII: every other
    character spelt as LaTeX (`latex_ascii`), so it compiles with pdfLaTeX as with LuaLaTeX or XeLaTeX."""
    blocks = ["% abaw-bench leaderboard: needs \\usepackage{booktabs}\n"]
    for table in board.tables:
        frame, formatters = display_frame(board, summary, table)
        caption = f"{table.reference}: {table.metric}. {table.citation}"
        blocks.append(styled(frame, formatters, "latex").to_latex(
            hrules=True, caption=_LATEX_SPECIAL.sub(lambda match: _LATEX_ESCAPES[match.group()], caption),
            label=f"tab:{table.name}", position="htbp", position_float="centering"))
    return latex_ascii("\n".join(blocks))


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_SPECIAL = re.compile("|".join(re.escape(char) for char in _LATEX_ESCAPES))
# The non-ASCII characters the tables, their labels and the report use, as LaTeX: symbols in math mode.
_LATEX_SYMBOLS = {"ρ": r"$\rho$", "Δ": r"$\Delta$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "±": r"$\pm$",
                  "−": r"$-$", "×": r"$\times$", "·": r"$\cdot$", "★": r"$\star$", "≥": r"$\geq$", "≤": r"$\leq$",
                  "–": "--", "—": "---", "…": r"\ldots{}", "\u00a0": "~", "“": "``", "”": "''", "‘": "`", "’": "'",
                  "ß": r"\ss{}", "ø": r"\o{}", "Ø": r"\O{}", "æ": r"\ae{}", "ł": r"\l{}"}
_COMBINING_ACCENTS = {"\u0301": "'", "\u0300": "`", "\u0308": '"', "\u0302": "^", "\u0303": "~", "\u0327": "c",
                      "\u030c": "v", "\u0304": "=", "\u0306": "u", "\u030a": "r"}


def latex_ascii(text: str) -> str:
    """`text` with every non-ASCII character spelt in LaTeX: the symbols above, accented letters as accent commands
    (é → \\'{e}), anything else as a visible (U+XXXX) rather than a character pdfLaTeX rejects (not in brackets: a
    row starting with "[" would be read as the optional argument of the row end before it)."""
    import unicodedata

    def spell(char: str) -> str:
        if char in _LATEX_SYMBOLS:
            return _LATEX_SYMBOLS[char]
        base, *marks = unicodedata.normalize("NFD", char)
        if base.isascii() and marks and all(mark in _COMBINING_ACCENTS for mark in marks):
            for mark in marks:
                base = f"\\{_COMBINING_ACCENTS[mark]}{{{base}}}"
            return base
        return f"(U+{ord(char):04X})"

    return "".join(char if char.isascii() else spell(char) for char in text)


def to_json(board: Board, summary: Summary | None) -> dict[str, Any]:
    settings = summary.settings if summary is not None else None
    tables = []
    for table in board.tables:
        document = table.to_json() | {"reference": table.reference, "higher_is_better": direction(table) == "↑"}
        for index, row in enumerate(document["rows"]):
            aggregates = summary.aggregates(table, index) if summary is not None else []
            row["aggregates"] = [aggregate.to_json(settings.resamples, settings.seed) for aggregate in aggregates]
        tables.append(document)
    return {
        "tables": tables,
        "runs_dir": None if board.runs_dir is None else str(board.runs_dir),
        "bootstrap": None if settings is None else {"resamples": settings.resamples, "seed": settings.seed,
                                                    "level": 0.95},
        "unplaced_runs": [run_summary(run) for run in board.unplaced],
        "not_placed": list(board.not_placed),
        "skipped": [skipped.to_json() for skipped in board.skipped],
        "notes": [] if summary is None else list(summary.notes),
    }
