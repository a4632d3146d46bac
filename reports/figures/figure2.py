"""Figure 2: the three head designs (Eq. 1-3) across the 6 task orders, per task and overall.

Full fine-tuning rows (the paper's Sec. 6.1); a point is the mean over trials of that
(design, order), the bar its min-max when there are several.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from reports.palette import DESIGN_COLORS, PAGE_SIZE, floor_line, page_legend, page_note, page_title
from reports.rows import (
    METRIC_LABELS,
    METRIC_UNITS,
    config,
    order_label,
    task_order,
)
from study.metrics import METRICS
from study.records import TrialRecord

# The paper's horizontal axis (its Figure 2 caption).
PAPER_ORDERS = (
    "sst-sts-para",
    "sst-para-sts",
    "para-sst-sts",
    "para-sts-sst",
    "sts-sst-para",
    "sts-para-sst",
)
_EQUATION = {1: "Eq. 1", 2: "Eq. 2", 3: "Eq. 3"}


def figure2(rows: list[TrialRecord], floors: dict | None = None) -> Figure | None:
    """None when there are no completed full fine-tuning rows."""
    full = [r for r in rows if r.completed and not r.is_merge and r.method == "full"]
    if not full:
        return None
    groups: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for r in full:
        groups.setdefault((config(r).get("head_design"), task_order(r)), []).append(r)
    orders = list(PAPER_ORDERS) + sorted({o for _, o in groups} - set(PAPER_ORDERS))
    designs = sorted({d for d, _ in groups}, key=str)
    fig, axes = plt.subplots(2, 2, figsize=PAGE_SIZE, sharex=True)
    page_title(
        fig,
        "Figure 2: head designs across the 6 task orders (full fine-tuning, dev)",
    )
    x = np.arange(len(orders))
    for ax, metric in zip(axes.flat, METRICS, strict=True):
        floor_line(ax, floors, metric)
        for k, design in enumerate(designs):
            shift = (k - (len(designs) - 1) / 2) * 0.08
            xs, mean, low, high = [], [], [], []
            for i, order in enumerate(orders):
                vals = [
                    getattr(r, metric)
                    for r in groups.get((design, order), [])
                    if getattr(r, metric) is not None
                ]
                if vals:
                    xs.append(x[i] + shift)
                    mean.append(np.mean(vals))
                    low.append(np.mean(vals) - min(vals))
                    high.append(max(vals) - np.mean(vals))
            ax.errorbar(
                xs,
                mean,
                yerr=[low, high],
                marker="o",
                capsize=3,
                color=DESIGN_COLORS.get(design, "#999999"),
                label=f"head design {design} ({_EQUATION.get(design, '?')})",
            )
        ax.set_title(METRIC_LABELS[metric])
        ax.set_ylabel(METRIC_UNITS[metric])
        ax.set_xticks(x, [order_label(o) for o in orders], rotation=20, ha="right")
    for ax in axes[1]:
        ax.set_xlabel("task order within each epoch")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    page_legend(fig, handles, labels)
    n = len(full)
    page_note(
        fig,
        f"{n} completed full fine-tuning trials. Point: mean over trials of that design and order; "
        "bar: min-max when there are several. Missing points: no completed trial yet.",
    )
    fig.subplots_adjust(left=0.07, right=0.98, top=0.86, bottom=0.14, hspace=0.25)
    return fig
