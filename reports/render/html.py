"""report.html beside report.pdf: the same title page, findings, tables and figures in one
self-contained file. Tables and findings are real HTML tables (copy them into a draft); figures
are PNGs embedded as data URIs; no script, no server, no network.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from reports.findings.page import HEADERS, cell_texts
from reports.findings.verdicts import Finding
from reports.tables.model import Table, display_frame
from study.atomic import write_text

REPORT_HTML = "report.html"
FIGURE_DPI = 100

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.holds, td.no-practical-difference { background: #d9f0d3; }
td.reversed, td.differs { background: #f4cccc; }
td.inconclusive, td.undecided, td.undecided-within-the-budget { background: #fff2cc; }
td.pending, td.not-run { background: #eeeeee; }
dl { display: grid; grid-template-columns: 14em 1fr; gap: 2px 12px; }
dt { color: #555; } dd { margin: 0; overflow-wrap: anywhere; }
td { overflow-wrap: anywhere; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
p.note { font-size: 0.85em; color: #444; }
nav li { margin: 2px 0; }
"""


@dataclass
class Block:
    """One section of the report: a findings table, a results table or figures."""

    title: str
    findings: list[Finding] | None = None
    table: Table | None = None
    figures: list[Figure] | None = None


def _e(text: object) -> str:
    return html.escape(str(text))


def _anchor(i: int) -> str:
    return f"s{i}"


def _title_html(lines: list[tuple[str, str, str]]) -> str:
    out, items = [], []

    def flush() -> None:
        if items:
            out.append("<dl>" + "".join(items) + "</dl>")
            items.clear()

    for kind, key, text in lines:
        if kind == "item":
            items.append(f"<dt>{_e(key)}</dt><dd>{_e(text)}</dd>")
            continue
        flush()
        tag = {"title": "h1", "heading": "h2"}.get(kind, "p")
        out.append(f"<{tag}>{_e(text)}</{tag}>")
    flush()
    return "\n".join(out)


def _findings_html(findings: list[Finding]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in HEADERS)
    rows = []
    for f in findings:
        cells = cell_texts(f)
        tds = []
        for i, text in enumerate(cells):
            verdict = f.verdict if i == 2 else f.holm_verdict if i == 3 else ""
            css = f' class="{verdict.replace(" ", "-")}"' if verdict else ""
            tds.append(f"<td{css}>{_e(text.replace(chr(10), ' '))}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    notes = "".join(f"<p class='note'>{_e(f.claim)}: {_e(f.note)}</p>" for f in findings if f.note)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{notes}"


def _table_html(table: Table) -> str:
    cells, bold = display_frame(table)
    head = "".join(f"<th>{_e(c)}</th>" for c in cells.columns)
    rows = []
    for i in range(len(cells)):
        tds = []
        for column in cells.columns:
            text = _e(cells[column].iloc[i])
            tds.append(
                f"<td><strong>{text}</strong></td>" if bold[column].iloc[i] else f"<td>{text}</td>"
            )
        rows.append("<tr>" + "".join(tds) + "</tr>")
    notes = "".join(f"<p class='note'>{_e(n)}</p>" for n in table.notes)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{notes}"


def _figure_html(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def write_html(
    path: Path, name: str, title_lines: list[tuple[str, str, str]], blocks: list[Block]
) -> Path:
    """The whole page, written atomically. Figures are drawn here, before the PDF closes them."""
    contents = "".join(
        f'<li><a href="#{_anchor(i)}">{_e(b.title)}</a></li>' for i, b in enumerate(blocks)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>peft-study report: {_e(name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        _title_html(title_lines),
        f"<nav><h2>Sections</h2><ul>{contents}</ul></nav>",
    ]
    for i, block in enumerate(blocks):
        parts.append(f'<section id="{_anchor(i)}"><h2>{_e(block.title)}</h2>')
        if block.findings is not None:
            parts.append(_findings_html(block.findings))
        if block.table is not None:
            parts.append(_table_html(block.table))
        for j, fig in enumerate(block.figures or ()):
            parts.append(_figure_html(fig, f"{block.title} ({j + 1})"))
        parts.append("</section>")
    parts.append("</body></html>")
    return write_text(path, "\n".join(parts))
