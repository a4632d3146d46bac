"""Assemble the report: title page(s), Tables 1-3, Figures 1-2, the extra figures -> one PDF.

The PDF is written whole or not at all (study/atomic.py), so a reader never sees half a file;
every table is also written as CSV, Markdown and LaTeX under tables/.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from reports.figures import figure1, figure2, importance
from reports.figures import search as figures_search
from reports.figures import trials as figures_trials
from reports.figures.evp import evp_figure, evp_series, write_evp_csv
from reports.findings.budgets import budget_findings
from reports.findings.claims import findings
from reports.findings.decided import with_decisions
from reports.findings.page import findings_page, write_findings_csv
from reports.findings.verdicts import with_holm
from reports.loading import StudyData
from reports.palette import setup_matplotlib
from reports.provenance import how_made, selection_lines, settings_lines, usage_lines
from reports.render.html import REPORT_HTML, Block, write_html
from reports.render.text_pages import page_count, text_pages
from reports.rows import trial_label
from reports.tables.export import remove_stale, write_table
from reports.tables.paper import build_tables
from reports.tables.render import table_pages
from study.atomic import atomic_file
from study.records import Status
from study.tuning.journal import read_importances

REPORT = "report.pdf"
TABLES = "tables"
_TABLE_SKIPS = {
    "table1": "Table 1: no completed full fine-tuning trial",
    "table2": "Table 2: no completed single-task LoRA/DoRA trial",
    "table3": "Table 3: no completed sequential LoRA trial and no merge row",
}


@dataclass
class Report:
    pdf: Path
    pages: int
    tables: list[Path]
    used: int
    total: int
    sections: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    html: Path | None = None


def build_report(data: StudyData, command: str, png_dir: Path | None = None) -> Report:
    """Write out_dir/report.pdf and out_dir/tables/*; png_dir also gets each page as PNG."""
    setup_matplotlib()
    rows = data.rows
    floors, val_floors = data.floors("dev"), data.floors("val")
    sections: list[tuple[str, list[Figure]]] = []
    skipped: list[str] = []

    blocks: list[Block] = []  # the same sections for report.html, tables as tables
    found_claims = with_holm(with_decisions(findings(rows), data))  # one family: the claims
    sections.append(("Findings: the paper's claims", [findings_page(found_claims)]))
    blocks.append(Block("Findings: the paper's claims", findings=found_claims))
    by_budget = with_holm(budget_findings(rows))  # another: the budget tiers
    if by_budget[0].verdict != "not run":  # a lora_sweep report keeps to the paper's claims
        title = "Findings beyond the paper: which method wins at each parameter budget"
        sections.append(
            ("Findings: methods per parameter budget", [findings_page(by_budget, title)])
        )
        blocks.append(Block("Findings: methods per parameter budget", findings=by_budget))
        found_claims = found_claims + by_budget
    tables = build_tables(rows, floors)
    present = {t.key for t in tables}
    skipped += [text for key, text in _TABLE_SKIPS.items() if key not in present]
    sections += [(t.title, table_pages(t)) for t in tables]
    blocks += [Block(t.title, table=t) for t in tables]

    evp = evp_series(rows, data.first_points())
    fig1, note1 = figure1.figure1(rows)
    figures = [
        ("Figure 1: trained blocks per setting", fig1, f"Figure 1: {note1}"),
        (
            "Figure 2: head designs x task orders",
            figure2.figure2(rows, floors),
            "Figure 2: no completed full fine-tuning trial",
        ),
        (
            "Pareto front: overall vs parameters updated",
            figures_search.pareto_figure(rows, floors),
            "Pareto front: no scored trial with params_pct",
        ),
        (
            "Score against rank r per target set",
            figures_search.rank_figure(rows, floors),
            "Score vs r: no completed single-task LoRA/DoRA trial",
        ),
        (
            "Expected validation performance",
            evp_figure(evp, on_val=any(r.val_overall is not None for r in rows)),
            "Expected validation performance: fewer than 2 search trials per series",
        ),
    ]
    for title, fig, reason in figures:
        _add(sections, skipped, title, fig, reason, blocks)
    found, notes = [], []
    for source in data.sources:
        f, n = read_importances(source.name, source.folder)
        found += f
        notes += n
    _add(
        sections,
        skipped,
        "Hyperparameter importances (Optuna)",
        importance.importance_figure(found, notes),
        "Optuna importances: " + "; ".join(notes),
        blocks,
    )
    if found and notes:
        skipped.append("Optuna importances, partly: " + "; ".join(notes))
    curves_floors = val_floors if any(r.val_overall is not None for r in rows) else floors
    _add(
        sections,
        skipped,
        "Learning curves per epoch",
        figures_trials.learning_curves(rows, curves_floors),
        "Learning curves: no row has a per-epoch history",
        blocks,
    )
    _add(
        sections,
        skipped,
        "Wall time per trial",
        figures_trials.wall_time(rows),
        "Wall time: no row records seconds",
        blocks,
    )

    lines = how_made(data, command) + usage_lines(data) + selection_lines(rows, floors)
    lines += [line for source in data.sources for line in settings_lines(source)]
    contents_at = len(lines)
    lines += _contents(sections, skipped, rows, first_page=2)
    title_n = page_count(lines)
    lines[contents_at:] = _contents(sections, skipped, rows, first_page=1 + title_n)
    pages = text_pages(lines) + [fig for _, figs in sections for fig in figs]

    data.out_dir.mkdir(parents=True, exist_ok=True)
    # the HTML first: it draws the figures, which the PDF then closes; its own contents
    # replace the PDF's page numbers
    title_lines = lines[:contents_at] + _contents([], skipped, rows, first_page=1)[1:]
    html_path = write_html(data.out_dir / REPORT_HTML, data.name, title_lines, blocks)
    pdf_path = data.out_dir / REPORT
    _write_pdf(pdf_path, pages, data, command, png_dir)
    table_dir = data.out_dir / TABLES
    remove_stale(table_dir, present)
    written = [p for t in tables for p in write_table(t, table_dir)]
    written.append(write_findings_csv(found_claims, table_dir))
    written.append(write_evp_csv(evp, table_dir))
    used = sum(r.scored for r in rows)
    return Report(
        pdf_path,
        len(pages),
        written,
        used,
        len(rows),
        [s for s, _ in sections],
        skipped,
        html_path,
    )


def _add(
    sections: list,
    skipped: list[str],
    title: str,
    fig: Figure | None,
    reason: str,
    blocks: list[Block],
) -> None:
    if fig is None:
        skipped.append(reason)
    else:
        sections.append((title, [fig]))
        blocks.append(Block(title, figures=[fig]))


def _contents(
    sections: list[tuple[str, list[Figure]]], skipped: list[str], rows: list, first_page: int
) -> list[tuple[str, str, str]]:
    lines: list[tuple[str, str, str]] = [("heading", "", "Contents")]
    page = first_page
    for title, figs in sections:
        lines.append(("item", f"page {page}", title))
        page += len(figs)
    if skipped:
        lines.append(("heading", "", "Not in this report"))
        lines += [("item", "-", text) for text in skipped]
    errored = [r for r in rows if r.status is Status.ERRORED]
    if errored:
        lines.append(("heading", "", f"Errored trials ({len(errored)})"))
        for r in errored[:10]:
            lines.append(("item", trial_label(r)[:22], str(r.error or "no message")[:300]))
        if len(errored) > 10:
            lines.append(("item", "...", f"{len(errored) - 10} more in trials.jsonl"))
    return lines


def _write_pdf(
    path: Path, pages: list[Figure], data: StudyData, command: str, png_dir: Path | None
) -> None:
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    metadata = {
        "Title": f"peft-study report: {data.name}",
        "Author": "peft-study reports",
        "Subject": f"Made by `{command}` from {', '.join(str(s.folder) for s in data.sources)}",
        "Keywords": "LoRA DoRA PEFT multi-task BERT Ray Tune Optuna",
        "Creator": "peft-study reports (matplotlib PdfPages)",
    }
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as fh, PdfPages(fh, metadata=metadata) as pdf:
        for i, fig in enumerate(pages, start=1):
            fig.text(
                0.98,
                0.005,
                f"peft-study report {data.name} | page {i} of {len(pages)} | {stamp} | {command}",
                ha="right",
                va="bottom",
                fontsize=6,
                color="#888888",
            )
            pdf.savefig(fig)
            if png_dir is not None:
                fig.savefig(png_dir / f"page{i:02d}.png", dpi=110)
            plt.close(fig)
