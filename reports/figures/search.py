"""Beyond the paper, over the search: the Pareto front of score against parameters, and score
against LoRA rank r for each target set."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from model.peft_configs import SIZE_NAMES
from reports import paper_reference as ref
from reports.palette import (
    METHOD_COLORS,
    METHOD_LABELS,
    PAGE_SIZE,
    PAPER_COLOR,
    TARGET_COLORS,
    TARGET_LABELS,
    floor_line,
    method_color,
    page_legend,
    page_note,
    page_title,
)
from reports.rows import (
    METRIC_LABELS,
    METRIC_UNITS,
    config,
    mode,
    number,
    trial_label,
)
from study.metrics import METRICS
from study.records import Status, TrialRecord


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of non-dominated points (fewer params, higher score), by increasing params."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def pareto_figure(rows: list[TrialRecord], floors: dict | None = None) -> Figure | None:
    """Overall against params_pct (log x) for every scored trial; None without any."""
    pts = [
        r
        for r in rows
        if r.scored and number(r.overall) is not None and (number(r.params_pct) or 0) > 0
    ]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=PAGE_SIZE)
    page_title(
        fig,
        "Beyond the paper: overall score against parameters updated (Pareto front)",
    )
    for r in pts:
        m = r.method
        stopped = r.status is Status.STOPPED_EARLY
        marker = "D" if m == "merge" else ("x" if stopped else "o")
        ax.scatter(r.params_pct, r.overall, color=method_color(m), marker=marker, s=36, alpha=0.85)
    xy = [(float(r.params_pct), float(r.overall)) for r in pts]
    front = pareto_front(xy)
    fx, fy = [xy[i][0] for i in front], [xy[i][1] for i in front]
    ax.step(fx, fy, where="post", color="k", lw=1.2, zorder=1)
    for i in front:
        c = config(pts[i])
        size = SIZE_NAMES.get(pts[i].method, "r")
        text = f"{pts[i].method}" + ("" if size == "-" else f" {size}={c.get('r')}")
        text = trial_label(pts[i]) if pts[i].is_merge else text
        if pts[i].method == "full":
            text = "full"
        ax.annotate(text, xy[i], textcoords="offset points", xytext=(4, 4), fontsize=7)
    paper = ref.pareto_points()
    ax.scatter(
        [p["params_pct"] for p in paper],
        [p["overall"] for p in paper],
        facecolors="none",
        edgecolors=PAPER_COLOR,
        marker="s",
        s=36,
    )
    ax.set_xscale("log")
    ax.set_xlabel("parameters updated, params_pct (% of encoder + heads, log scale)")
    ax.set_ylabel(METRIC_UNITS["overall"] + " (dev)")
    floor_line(ax, floors, "overall")
    present = sorted({r.method for r in pts}, key=list(METHOD_COLORS).index)
    handles = [
        Line2D([], [], color=method_color(m), marker="o", ls="", label=METHOD_LABELS[m])
        for m in present
    ]
    handles += [
        Line2D([], [], color="k", marker="x", ls="", label="stopped early (ASHA)"),
        Line2D([], [], color="k", marker="D", ls="", label="merged adapters"),
        Line2D(
            [],
            [],
            color=PAPER_COLOR,
            marker="s",
            mfc="none",
            ls="",
            label="paper (BERT-base, its own %)",
        ),
        Line2D([], [], color="k", lw=1.2, label="Pareto front (ours)"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    page_note(
        fig,
        f"{len(pts)} scored trials (completed, stopped early and merges). The front keeps trials "
        "no other trial beats on both axes. params_pct counts heads (model/adapters.py).",
    )
    fig.subplots_adjust(left=0.07, right=0.8, top=0.9, bottom=0.12)
    return fig


def rank_figure(rows: list[TrialRecord], floors: dict | None = None) -> Figure | None:
    """Score against r per (method, target set, bias): completed single-task LoRA/DoRA trials."""
    peft = [
        r
        for r in rows
        if r.completed
        and not r.is_merge
        and mode(r) == "single_task"
        and r.method in ("lora", "dora")
    ]
    if not peft:
        return None
    groups: dict[tuple[str, str, str], dict[int, list]] = {}
    for r in peft:
        c = config(r)
        key = (r.method, str(c.get("targets")), str(c.get("bias", "none")))
        groups.setdefault(key, {}).setdefault(int(c.get("r", 0)), []).append(r)
    fig, axes = plt.subplots(2, 2, figsize=PAGE_SIZE, sharex=True)
    page_title(
        fig,
        "Beyond the paper: score against LoRA rank r for each target set (single task, dev)",
    )
    ranks = sorted({r for g in groups.values() for r in g})
    for ax, metric in zip(axes.flat, METRICS, strict=True):
        floor_line(ax, floors, metric)
        for (m, targets, bias), by_r in sorted(groups.items(), key=_group_rank):
            xs = sorted(by_r)
            vals = [[getattr(v, metric) for v in by_r[x]] for x in xs]
            mean = [np.mean(v) for v in vals]
            ax.errorbar(
                xs,
                mean,
                yerr=[
                    [mu - min(v) for mu, v in zip(mean, vals, strict=True)],
                    [max(v) - mu for mu, v in zip(mean, vals, strict=True)],
                ],
                color=TARGET_COLORS.get(targets, "#999999"),
                ls="--" if m == "dora" else "-",
                marker="^" if m == "dora" else ("s" if bias == "all" else "o"),
                capsize=3,
                label=f"{METHOD_LABELS[m]}, {TARGET_LABELS.get(targets, targets)}"
                + (", bias" if bias == "all" else ""),
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(ranks, [str(r) for r in ranks])
        ax.set_title(METRIC_LABELS[metric])
        ax.set_ylabel(METRIC_UNITS[metric])
    for ax in axes[1]:
        ax.set_xlabel("LoRA rank r (log scale)")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    page_legend(fig, handles, labels)
    page_note(
        fig,
        f"{len(peft)} completed single-task trials. Colour: target set; dashed, triangle: DoRA; "
        "square: biases trained. Point: mean over trials (other settings such as lr vary); bar: min-max.",
    )
    fig.subplots_adjust(left=0.07, right=0.98, top=0.84, bottom=0.12, hspace=0.25)
    return fig


def _group_rank(item: tuple) -> tuple:
    """Legend order: by target set, LoRA before DoRA, no bias before bias."""
    (m, targets, bias), _ = item
    rank = {"qkv": 0, "attn": 1, "all_linear": 2}
    return (rank.get(targets, 9), m != "lora", bias != "none", m, targets)
