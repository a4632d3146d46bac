"""Draw a Table on A4-landscape pages (matplotlib table), splitting long tables across pages."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from reports.palette import PAGE_SIZE, page_note, page_title
from reports.tables.model import Table, display_frame

ROWS_PER_PAGE = 24
FONT_SIZE = 7.0
_PAPER_SHADE = "#F3F3F3"
_HEADER_SHADE = "#E4E4E4"


def table_pages(table: Table, rows_per_page: int = ROWS_PER_PAGE) -> list[Figure]:
    """One figure per page; bold marks the best of ours per column as the table says."""
    cells, bold = display_frame(table)
    headers = [_two_lines(h) for h in cells.columns]
    starts = list(range(0, max(len(cells), 1), rows_per_page))
    figures = []
    for page, start in enumerate(starts):
        part = cells.iloc[start : start + rows_per_page]
        fig = plt.figure(figsize=PAGE_SIZE)
        title = table.title + (f" (continued, {page + 1}/{len(starts)})" if page else "")
        page_title(fig, title)
        ax = fig.add_axes((0.03, 0.2, 0.94, 0.7))
        ax.axis("off")
        widths = [
            max([len(line) for line in headers[j].split("\n")] + [len(s) for s in part.iloc[:, j]])
            + 2
            for j in range(len(headers))
        ]
        total = float(sum(widths))
        drawn = ax.table(
            cellText=part.values.tolist() or [["-"] * len(headers)],
            colLabels=headers,
            colWidths=[w / total for w in widths],
            loc="upper center",
            cellLoc="center",
        )
        drawn.auto_set_font_size(False)
        drawn.set_fontsize(FONT_SIZE)
        for (r, c), cell in drawn.get_celld().items():
            cell.set_edgecolor("#BBBBBB")
            cell.set_linewidth(0.4)
            if r == 0:
                cell.set_facecolor(_HEADER_SHADE)
                cell.set_text_props(fontweight="bold")
                cell.set_height(cell.get_height() * 2.0)
                continue
            cell.set_height(cell.get_height() * 1.25)
            if headers[c].endswith("paper"):
                cell.set_facecolor(_PAPER_SHADE)
            if start + r - 1 < len(bold) and bool(bold.iat[start + r - 1, c]):
                cell.set_text_props(fontweight="bold")
            if c < len(table.key_columns):
                cell.set_text_props(ha="left")
                cell.PAD = 0.02
        notes = "\n".join(textwrap.fill(n, 190) for n in table.notes)
        page_note(fig, notes)
        figures.append(fig)
    return figures


def _two_lines(header: str) -> str:
    """'SST ours' -> 'SST\\nours' so a column is as narrow as its numbers."""
    for tail in (" ours", " paper", " diff"):
        if header.endswith(tail):
            return header[: -len(tail)] + "\n" + tail.strip()
    return header
