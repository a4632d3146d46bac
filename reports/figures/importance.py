"""Beyond the paper: Optuna's hyperparameter importances (study/tuning/journal.py reads them
from the study's journal); a missing journal or too few completed trials skips the page with a
note."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from reports.palette import PAGE_SIZE, page_note, page_title
from study.tuning.journal import Importances


def importance_figure(found: list[Importances], notes: list[str]) -> Figure | None:
    """Horizontal bars per Optuna study; None when nothing was computable."""
    if not found:
        return None
    fig, axes = plt.subplots(1, len(found), figsize=PAGE_SIZE, squeeze=False)
    page_title(
        fig,
        "Beyond the paper: hyperparameter importances (Optuna fANOVA on the objective)",
    )
    for ax, imp in zip(axes[0], found, strict=True):
        names = list(imp.values)[::-1]  # largest on top
        ax.barh(names, [imp.values[n] for n in names], color="#0072B2", height=0.5)
        ax.set_xlim(0, 1)
        ax.set_xlabel("importance (fraction of objective variance explained)")
        ax.set_ylabel("hyperparameter")
        ax.set_title(f"{imp.label} ({imp.completed} completed trials)")
        for y, n in enumerate(names):
            ax.text(imp.values[n] + 0.01, y, f"{imp.values[n]:.2f}", va="center", fontsize=8)
    text = "Read from optuna.journal with optuna.importance.get_param_importances (seed 0)."
    if notes:
        text += " Skipped: " + "; ".join(notes)
    page_note(fig, text)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.12, wspace=0.4)
    return fig
