"""The findings page: one row per claim of the paper with its verdict, and the same as CSV."""

from __future__ import annotations

import csv
import math
import textwrap
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from reports.findings.claims import SAME_BAND, Finding
from reports.palette import PAGE_SIZE, page_note, page_title
from study.atomic import atomic_file

FINDINGS_CSV = "findings.csv"
_VERDICT_COLORS = {
    "holds": "#D9F0D3",
    "reversed": "#F4CCCC",
    "inconclusive": "#FFF2CC",
    "not run": "#EEEEEE",
}
HEADERS = (
    "claim",
    "source",
    "verdict",
    "effect",
    "mean [95% interval]",
    "n",
    "P(A>B)",
    "seeds to decide",
)


def _cells(f: Finding) -> list[str]:
    interval = "-"
    if math.isfinite(f.mean):
        interval = f"{f.mean:+.4f}"
        if math.isfinite(f.low):
            interval += f" [{f.low:+.4f}, {f.high:+.4f}]"
    needed = (
        "-" if f.verdict != "inconclusive" else (str(f.seeds_needed) if f.seeds_needed else "many")
    )
    p = "-" if not math.isfinite(f.p_better) else f"{f.p_better:.2f}"
    effect = f.effect or f.note
    return [
        textwrap.fill(f.claim, 34),
        f.source,
        f.verdict,
        textwrap.fill(effect, 40),
        interval,
        str(f.n) if f.n else "-",
        p,
        needed,
    ]


def findings_page(
    findings: list[Finding], title: str = "Findings: each claim of the paper at this scale"
) -> Figure:
    fig = plt.figure(figsize=PAGE_SIZE)
    page_title(fig, title)
    ax = fig.add_axes((0.02, 0.25, 0.96, 0.66))
    ax.axis("off")
    rows = [_cells(f) for f in findings]
    table = ax.table(
        cellText=rows,
        colLabels=HEADERS,
        loc="upper center",
        cellLoc="left",
        colWidths=(0.2, 0.09, 0.07, 0.25, 0.16, 0.04, 0.06, 0.08),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    for (r, c), cell in table.get_celld().items():
        cell.set_edgecolor("#BBBBBB")
        cell.set_linewidth(0.4)
        cell.set_height(0.06 if r else 0.04)
        if r == 0:
            cell.set_text_props(fontweight="bold")
        elif c == 2:
            cell.set_facecolor(_VERDICT_COLORS.get(findings[r - 1].verdict, "white"))
    notes = [f"{f.claim}: {f.note}" for f in findings if f.note and f.effect]
    page_note(
        fig,
        "Dev overall of completed trials, paired by seed (and by task order for Figure 2). A "
        "directional claim holds when the 95% t interval of the paired difference lies above "
        f"0 and is reversed when it lies below; a 'no difference' claim holds when the interval "
        f"lies within ±{SAME_BAND} and is reversed when it lies outside that band. Otherwise "
        "inconclusive, with the seeds that would likely decide it if the mean and spread stay. "
        "P(A>B): bootstrap over the paired seeds (10,000 resamples). " + " ".join(notes)[:900],
    )
    return fig


def write_findings_csv(findings: list[Finding], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FINDINGS_CSV
    fields = list(asdict(findings[0])) if findings else ["claim"]
    with atomic_file(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for f in findings:
            row = asdict(f)
            row["trials"] = " ".join(f.trials)
            writer.writerow(row)
    return path
