"""Beyond the paper, per trial: learning curves per epoch (ASHA stops marked) and wall time."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from reports.palette import (
    METHOD_COLORS,
    METHOD_LABELS,
    PAGE_SIZE,
    floor_line,
    method_color,
    page_legend,
    page_note,
    page_title,
)
from reports.rows import (
    METRIC_LABELS,
    METRIC_UNITS,
    number,
    trial_label,
)
from study.metrics import METRICS
from study.records import Status, TrialRecord


def learning_curves(rows: list[TrialRecord], floors: dict | None = None) -> Figure | None:
    """Validation scores after each epoch (dev for rows without a validation split, whose
    history holds dev per epoch); None when no row has a history. floors: {metric: value}
    of the same split, drawn as a reference line."""
    with_history = [
        r for r in rows if r.history and r.status is not Status.ERRORED and not r.is_merge
    ]
    if not with_history:
        return None
    on_val = any(h.val_overall is not None for r in with_history for h in r.history)
    prefix = "val_" if on_val else ""
    fig, axes = plt.subplots(2, 2, figsize=PAGE_SIZE, sharex=True)
    split = "validation" if on_val else "dev"
    page_title(fig, f"Beyond the paper: learning curves ({split} score after each epoch)")
    max_epoch = 1
    for ax, metric in zip(axes.flat, METRICS, strict=True):
        floor_line(ax, floors, metric)
        for r in with_history:
            points = [
                (h.epoch, number(getattr(h, prefix + metric)))
                for h in r.history
                if number(getattr(h, prefix + metric)) is not None
            ]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            max_epoch = max(max_epoch, *xs)
            stopped = r.status is Status.STOPPED_EARLY
            colour = method_color(r.method)
            ax.plot(xs, ys, color=colour, alpha=0.6, lw=1, ls="--" if stopped else "-", marker=".")
            if stopped:
                ax.plot(xs[-1], ys[-1], marker="x", color="k", ms=7, mew=1.5)
        ax.set_title(METRIC_LABELS[metric])
        ax.set_ylabel(METRIC_UNITS[metric])
    for ax in axes[1]:
        ax.set_xlabel("epoch")
        ax.set_xticks(range(1, int(max_epoch) + 1))
    present = sorted({r.method for r in with_history}, key=list(METHOD_COLORS).index)
    handles = [Line2D([], [], color=method_color(m), label=METHOD_LABELS[m]) for m in present]
    handles.append(
        Line2D(
            [], [], color="k", ls="--", marker="x", label="stopped early by ASHA (last epoch run)"
        )
    )
    page_legend(fig, handles)
    stopped_n = sum(r.status is Status.STOPPED_EARLY for r in with_history)
    page_note(
        fig,
        f"{len(with_history)} trials with a per-epoch history, {stopped_n} of them stopped early.",
    )
    fig.subplots_adjust(left=0.07, right=0.98, top=0.84, bottom=0.12, hspace=0.25)
    return fig


def wall_time(rows: list[TrialRecord]) -> Figure | None:
    """Seconds per trial (row.seconds) in file order; None when no row has a time."""
    timed = [r for r in rows if number(r.seconds) is not None]
    if not timed:
        return None
    seconds = [float(r.seconds) for r in timed]
    minutes = max(seconds) > 300
    values = [s / 60 for s in seconds] if minutes else seconds
    fig, ax = plt.subplots(figsize=PAGE_SIZE)
    total = sum(seconds)
    page_title(
        fig,
        f"Beyond the paper: wall time per trial (total {format_duration(total)})",
    )
    hatches = {"stopped_early": "//", "errored": "xx"}
    for i, (r, v) in enumerate(zip(timed, values, strict=True)):
        ax.bar(
            i,
            v,
            color=method_color(r.method),
            hatch=hatches.get(str(r.status), ""),
            edgecolor="#333333",
            lw=0.4,
        )
    if len(timed) <= 60:
        ax.set_xticks(range(len(timed)), [trial_label(r) for r in timed], rotation=70, fontsize=6)
    ax.set_xlabel("trial (in the order results were written)")
    ax.set_ylabel("wall time per trial (" + ("min" if minutes else "s") + ")")
    present = sorted({r.method for r in timed}, key=list(METHOD_COLORS).index)
    handles = [Patch(color=method_color(m), label=METHOD_LABELS[m]) for m in present]
    handles += [
        Patch(facecolor="white", edgecolor="k", hatch="//", label="stopped early"),
        Patch(facecolor="white", edgecolor="k", hatch="xx", label="errored"),
    ]
    ax.legend(handles=handles, loc="upper right")
    page_note(
        fig,
        f"{len(timed)} trials with a recorded time (row 'seconds': setup, training, evaluation "
        "and saving of one trial; merges: the merge and its evaluation).",
    )
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.22)
    return fig


def format_duration(seconds: float) -> str:
    """e.g. '42 s', '3 min 05 s', '2 h 07 min'."""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
