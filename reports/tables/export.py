"""Write a Table as CSV (raw numbers, full precision), Markdown and LaTeX (formatted, bold best)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from reports.tables.model import Table, display_frame
from study.atomic import write_text

EXTENSIONS = ("csv", "md", "tex")


def write_table(table: Table, folder: Path) -> list[Path]:
    """folder/<key>.csv, .md and .tex; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    cells, bold = display_frame(table)
    paths = [folder / f"{table.key}.{ext}" for ext in EXTENSIONS]
    # float repr round-trips, so the CSV holds exactly the values the rows carry.
    write_text(paths[0], table.data.to_csv(index=False, float_format=None))
    write_text(paths[1], to_markdown(table, cells, bold))
    write_text(paths[2], to_latex(table, cells, bold))
    return paths


def remove_stale(folder: Path, keep: set[str]) -> None:
    """Drop tableN.* files of tables this report no longer has (e.g. rows were removed)."""
    if not folder.is_dir():
        return
    for path in folder.glob("table*.*"):
        if path.suffix.lstrip(".") in EXTENSIONS and path.stem not in keep:
            path.unlink()


def to_markdown(table: Table, cells: pd.DataFrame, bold: pd.DataFrame) -> str:
    def cell(text: str, strong: bool) -> str:
        text = text.replace("|", "\\|")
        return f"**{text}**" if strong and text else text

    header = "| " + " | ".join(cells.columns) + " |"
    keys = len(table.key_columns)
    align = "|" + "|".join(":---" if i < keys else "---:" for i in range(len(cells.columns))) + "|"
    lines = [f"### {table.title}", "", header, align]
    for i in range(len(cells)):
        row = [cell(cells.iat[i, j], bool(bold.iat[i, j])) for j in range(len(cells.columns))]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.extend(f"- {note}" for note in table.notes)
    return "\n".join(lines) + "\n"


def to_latex(table: Table, cells: pd.DataFrame, bold: pd.DataFrame) -> str:
    """A booktabs table (needs \\usepackage{booktabs}); best values in \\textbf."""
    styler = cells.style.hide(axis="index").format(escape="latex")
    styler = styler.apply(lambda _: bold.map(lambda b: "textbf:--rwrap;" if b else ""), axis=None)
    styler = styler.format_index(escape="latex", axis=1)
    latex = styler.to_latex(
        environment="table",
        hrules=True,
        caption=_escape(table.title),
        label=f"tab:{table.key}",
        column_format="l" * len(table.key_columns)
        + "r" * (len(cells.columns) - len(table.key_columns)),
        position="htbp",
    )
    latex = latex.replace("±", r"$\pm$")
    notes = "\n".join(r"\par\footnotesize " + _escape(n) for n in table.notes)
    latex = latex.replace(r"\begin{tabular}", "\\footnotesize\n\\begin{tabular}", 1)
    return latex.replace(r"\end{table}", notes + "\n" + r"\end{table}", 1)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _escape(text: str) -> str:
    """Escape LaTeX's special characters in one pass (so escapes are not escaped again)."""
    return re.sub(r"[\\&%_#$\{\}~^]", lambda m: _LATEX_SPECIAL[m.group(0)], text)
