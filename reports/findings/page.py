"""The findings page: one row per claim of the paper with its verdict, and the same as CSV."""

from __future__ import annotations

import csv
import math
import textwrap
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from reports.findings.verdicts import ALPHA, Finding, interval_text, verdict_words
from reports.palette import PAGE_SIZE, page_note, page_title
from reports.stats import MIN_EFFECT, MIN_PAIRS
from reports.stein import PROCEDURE
from study.atomic import atomic_file

FINDINGS_CSV = "findings.csv"
_VERDICT_COLORS = {
    "holds": "#D9F0D3",
    "reversed": "#F4CCCC",
    "differs": "#F4CCCC",
    "no practical difference": "#D9F0D3",
    "inconclusive": "#FFF2CC",
    "undecided": "#FFF2CC",
    "undecided within the budget": "#FFF2CC",
    "pending": "#EEEEEE",
    "not run": "#EEEEEE",
}
UNDECIDED = ("inconclusive", "not run", "undecided", "undecided within the budget", "pending")
HEADERS = (
    "claim",
    "source",
    "verdict",
    "Holm",
    "effect",
    "mean [95% interval]",
    "n",
    "p (one-sided)",
    "E",
    "seeds to decide",
)


def cell_texts(f: Finding) -> list[str]:
    """The row of HEADERS for one finding (long texts wrapped with newlines)."""
    interval = interval_text(f)
    p = "–" if not math.isfinite(f.p_one_sided) else f"{f.p_one_sided:.3f}"
    p = "<0.001" if p == "0.000" else p
    decide = "–" if f.verdict not in UNDECIDED else (f.to_decide or "unknown")
    if f.started_with is not None:  # --decide: the seeds it had, was given, and their cost
        given = f"{f.started_with} + {f.given} seeds, {f.minutes or 0:.0f} min"
        decide = given if decide == "–" else f"{given}; {decide}"
    verdict = verdict_words(f)
    return [
        textwrap.fill(f.claim, 30),
        textwrap.fill(f.source, 14),
        textwrap.fill(verdict, 14),
        f.holm_verdict or "–",
        textwrap.fill(f.effect or f.note, 40),
        interval,
        str(f.n) if f.n else "–",
        p,
        f"{f.min_effect:g}",
        textwrap.fill(decide, 24),
    ]


DECIDE_NOTE = (
    f"Claims with seeds 'a + b' were decided by `run --decide` with {PROCEDURE}: a pilot of "
    "n0 seeds gives the sd s0 of each paired difference, n = max(n0, ((t.975 + t.8) s0 / E)^2) "
    "seeds in all run, and the interval is the mean of the n ± t.975 s0 / sqrt(n) at n0 - 1 "
    "degrees of freedom: its 95% coverage holds although n depends on the data. 'a + b': the "
    "seeds it started with and those it was given; min: their recorded trial minutes. "
    "Precedence: within ±E is 'no practical difference' (an A ≥ B claim then holds), then "
    "holds / reversed, then undecided within the budget, then pending. A claim the budget "
    "could not fund is read over its pilot's seeds (n0 then depends on the sds and the budget "
    "alone, so the interval still covers): it decides when that interval does."
)


def findings_page(
    findings: list[Finding], title: str = "Findings: each claim of the paper at this scale"
) -> Figure:
    fig = plt.figure(figsize=PAGE_SIZE)
    page_title(fig, title)
    ax = fig.add_axes((0.02, 0.25, 0.96, 0.66))
    ax.axis("off")
    rows = [cell_texts(f) for f in findings]
    table = ax.table(
        cellText=rows,
        colLabels=HEADERS,
        loc="upper center",
        cellLoc="left",
        colWidths=(0.16, 0.08, 0.07, 0.07, 0.2, 0.14, 0.03, 0.06, 0.04, 0.13),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    for (r, c), cell in table.get_celld().items():
        cell.set_edgecolor("#BBBBBB")
        cell.set_linewidth(0.4)
        cell.set_height(0.072 if r else 0.04)
        if r == 0:
            cell.set_text_props(fontweight="bold")
        elif c in (2, 3):
            verdict = findings[r - 1].verdict if c == 2 else findings[r - 1].holm_verdict
            cell.set_facecolor(_VERDICT_COLORS.get(verdict, "white"))
    tested = sum(f.verdict != "not run" for f in findings)
    notes = [f"{f.claim}: {f.note}" for f in findings if f.note and f.verdict != "not run"]
    if any(f.started_with is not None for f in findings):
        notes.insert(0, DECIDE_NOTE)
    page_note(
        fig,
        f"This page tests {tested} claim(s) ({len(findings) - tested} not run), each at the 95% "
        f"level; 'Holm' is each verdict once Holm's step-down over those {tested} is applied "
        f"(family-wise {1 - ALPHA:.0%}). Dev overall of completed trials at the paper's point, "
        "paired by seed (by task order and seed for Figure 2). A > B holds when the 95% t "
        "interval of the paired difference lies above 0 and is reversed below 0; 'no "
        f"difference' holds within ±E and differs entirely outside it (E = {MIN_EFFECT:g} "
        "unless the row says otherwise); the task order holds when every Tukey interval over "
        f"all pairs of orders lies within ±E. Fewer than {MIN_PAIRS} pairs, or no spread, is "
        "inconclusive. p: the one-sided paired t-test (for 'no difference', the larger of the two "
        f"one-sided p's against ±E), shown from {MIN_PAIRS} pairs. Seeds to decide: pairs for "
        "80% power at the 95% level against E, from the pilot's spread. " + " ".join(notes)[:800],
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
