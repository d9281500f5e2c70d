"""The leaderboard as one static, self-contained HTML page.

Everything the page shows is inside the file: the tables (from the same DataFrames as CSV and LaTeX), the figures as
data URIs, a small inline script that sorts a table by the column header clicked. Nothing is fetched at view time,
so the page can be mailed or archived. Each table's runs and their provenance sit in a closed <details> element.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from abaw_bench.leaderboard.board import Board, format_figure
from abaw_bench.leaderboard.configs import run_config_hash
from abaw_bench.leaderboard.figures import Figure
from abaw_bench.leaderboard.render import (
    LEGEND,
    UNPLACED_HEADER,
    direction,
    display_frame,
    format_interval,
    lines,
    run_dir_label,
    styled,
    unplaced_rows,
)
from abaw_bench.leaderboard.summary import Summary
from abaw_bench.leaderboard.tables import PaperTable

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem auto; max-width: 82rem;
       padding: 0 1rem; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; } h3 { font-size: 1rem; }
.citation { color: #444; font-size: 0.9rem; margin: 0.2rem 0; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.6rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.22rem 0.45rem; text-align: left; white-space: nowrap; }
td:first-child { white-space: normal; min-width: 11rem; }
td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 9rem; }
.scroll { overflow-x: auto; }
thead th { background: #f2f4f7; position: sticky; top: 0; }
table.sortable thead th { cursor: pointer; }
table.sortable thead th[aria-sort="ascending"]::after { content: " ▲"; }
table.sortable thead th[aria-sort="descending"]::after { content: " ▼"; }
td.delta-pos { background: #dff3e4; color: #0b6b2b; font-weight: 600; }
td.delta-neg { background: #fbe3e1; color: #a3160b; font-weight: 600; }
td.marked { color: #9a5b00; }
details { margin: 0.4rem 0 1rem; } summary { cursor: pointer; color: #1f4f8f; }
figure { display: inline-block; margin: 0.5rem 1rem 0.5rem 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #e4e4e4; }
figcaption { font-size: 0.8rem; color: #555; }
.legend { font-size: 0.85rem; color: #333; background: #f8f8f8; padding: 0.6rem 0.9rem; }
nav a { margin-right: 0.8rem; }
"""

# Sorts on the clicked header; numbers in the paper's style (".389", "-.009", "+.012") sort as numbers, "–" last.
SCRIPT = r"""
(function () {
  function key(text) {
    var t = text.trim();
    var number = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(t) ? parseFloat(t) : NaN;
    return {empty: t === "" || t === "\u2013", number: number, text: t};
  }
  function compare(a, b) {
    if (a.empty || b.empty) { return (a.empty ? 1 : 0) - (b.empty ? 1 : 0); }
    if (!isNaN(a.number) && !isNaN(b.number)) { return a.number - b.number; }
    return a.text.localeCompare(b.text);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, column) {
      th.addEventListener("click", function () {
        var descending = th.getAttribute("aria-sort") === "ascending";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var order = compare(key(a.cells[column].textContent), key(b.cells[column].textContent));
          return descending ? -order : order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
    table.setAttribute("data-sortable", "ready");
  });
})();
"""


def _escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def _board_table(board: Board, summary: Summary | None, table: PaperTable) -> str:
    import pandas as pd

    frame, formatters = display_frame(board, summary, table)
    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    classes["reproduced by"] = "wrap"  # system/variant names are long; let them wrap before the figures do
    delta = next((column for column in frame.columns if column.startswith("Δ ")), None)
    if delta is not None:
        classes[delta] = ["delta-pos" if value > 0 else "delta-neg" if value < 0 else ""
                          for value in frame[delta].fillna(0.0)]
        classes["runs"] = ["marked" if aggregate is not None and not aggregate.is_reproduction else ""
                           for _, aggregate in lines(summary, table)]
    styler = styled(frame, formatters, "html", uuid=table.name).set_td_classes(classes)
    styler = styler.set_table_attributes(f'class="board sortable" data-table="{_escape(table.name)}"')
    return f'<div class="scroll">{styler.to_html()}</div>'


def _provenance(board: Board, summary: Summary | None, table: PaperTable) -> str:
    """Every run placed on the table, with what is needed to trust or redo it; empty without runs."""
    import pandas as pd

    if summary is None:
        return ""
    records = []
    for index, row in enumerate(table.rows):
        for aggregate in summary.aggregates(table, index):
            for run, spread in zip(aggregate.runs, aggregate.run_intervals, strict=True):
                records.append({
                    "row": row.label, "runs": aggregate.kind, "config": run_config_hash(run),
                    "run dir": run_dir_label(board, run),
                    "seed": "?" if run.seed is None else str(run.seed),
                    "value": format_figure(run.value, 4), "95 % CI": format_interval(spread, 4),
                    "commit": "unknown" if run.commit is None else run.commit[:12] + (" (dirty)" if run.git_dirty
                                                                                      else ""),
                    "data": "DEMO" if run.demo else (run.data_root or "?"),
                    "device": run.device or "?", "preset": run.preset or "?",
                    "encoder fingerprints": "; ".join(f"{name}: {fingerprint}"
                                                      for name, fingerprint in run.fingerprints) or "–",
                })
    if not records:
        return ""
    body = pd.DataFrame.from_records(records).to_html(index=False, escape=True, border=0,
                                                      classes="provenance sortable")
    return (f"<details class=\"provenance\"><summary>runs and provenance ({len(records)} run(s))</summary>\n"
            f"<div class=\"scroll\">{body}</div>\n</details>")


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    return (f'<figure data-section="{_escape(figure.section)}"><img alt="{_escape(figure.title)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_escape(figure.title)}</figcaption></figure>')


def render_html(board: Board, summary: Summary | None, figures: list[Figure]) -> str:
    by_name = {figure.path.name: figure for figure in figures}
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>abaw-bench leaderboard: paper vs reproduced</title>", f"<style>{STYLE}</style>", "</head>",
             "<body>", "<h1>abaw-bench leaderboard: paper vs reproduced</h1>"]
    if board.runs_dir is not None and summary is not None:
        settings = summary.settings
        spread = (f"95 % bootstrap intervals from {settings.resamples} resamples (seed {settings.seed})"
                  if settings.resamples > 0 else "no bootstrap intervals")
        parts.append(f"<p>Runs under <code>{_escape(board.runs_dir)}</code>; {spread}. Click a column header to "
                     "sort.</p>")
    parts.append("<nav>" + "".join(f'<a href="#{_escape(table.name)}">{_escape(table.name)}</a>'
                                   for table in board.tables) + "</nav>")
    for table in board.tables:
        arrow = direction(table)
        parts += [f'<section class="paper-table" id="{_escape(table.name)}">',
                  f"<h2>{_escape(table.name)} — {_escape(table.reference)}</h2>",
                  f'<p class="citation">{_escape(table.citation)}</p>',
                  f"<p>Task <code>{_escape(table.task)}</code>; metric: {_escape(table.metric)} ({arrow} "
                  f"{'higher' if arrow == '↑' else 'lower'} is better).</p>",
                  _board_table(board, summary, table)]
        if table.notes:
            parts.append("<ul class=\"notes\">" + "".join(f"<li>{_escape(note)}</li>" for note in table.notes)
                         + "</ul>")
        for kind in ("comparison", "scatter"):
            figure = by_name.get(f"{table.name}-{kind}.png")
            if figure is not None:
                parts.append(_figure(figure))
        parts += [_provenance(board, summary, table), "</section>"]
    if board.unplaced:
        parts += ["<section id=\"unplaced\"><h2>Runs that reproduce no paper row</h2>",
                  _simple_table(UNPLACED_HEADER, unplaced_rows(board)), "</section>"]
    for section, title in (("labels", "Label distributions"), ("curves", "Training curves"),
                           ("breakdown", "Validation breakdown per emotion / class"),
                           ("diagnostics", "Confusion matrices and precision-recall curves")):
        chosen = [figure for figure in figures if figure.section == section]
        if chosen:
            parts += [f'<section id="{section}"><h2>{title}</h2>', *(_figure(figure) for figure in chosen),
                      "</section>"]
    if board.runs_dir is not None:
        parts.append("<div class=\"legend\">" + "<br>".join(_escape(line) for line in LEGEND.splitlines()) + "</div>")
    parts += [f"<script>{SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(part for part in parts if part) + "\n"


def _simple_table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{_escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
