"""Expected validation performance (Dodge et al., 2019): the expected best validation overall
of n trials, against n, per method, from the search's own trials: "how many trials did this
answer need?"."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from reports.palette import METHOD_LABELS, PAGE_SIZE, method_color, page_note, page_title
from reports.stats import expected_max
from study.records import TrialRecord

MIN_TRIALS = 2


def search_scores(rows: list[TrialRecord]) -> dict[str, list[float]]:
    """method -> the validation overall (dev for rows without one) of its search trials."""
    out: dict[str, list[float]] = {}
    for r in rows:
        score = r.selection_score()
        if r.scored and r.phase == "search" and score is not None:
            out.setdefault(r.method, []).append(float(score))
    return out


def evp_figure(rows: list[TrialRecord]) -> Figure | None:
    """One curve per method with at least MIN_TRIALS search trials; None otherwise."""
    scores = {m: v for m, v in search_scores(rows).items() if len(v) >= MIN_TRIALS}
    if not scores:
        return None
    on_val = any(r.val_overall is not None for r in rows)
    fig, ax = plt.subplots(figsize=PAGE_SIZE)
    page_title(fig, "Expected validation performance: the best of n trials (Dodge et al., 2019)")
    for name, values in sorted(scores.items()):
        n = np.arange(1, len(values) + 1)
        mean, std = expected_max(values)
        color = method_color(name)
        ax.plot(
            n,
            mean,
            marker="o",
            color=color,
            label=f"{METHOD_LABELS.get(name, name)} ({len(values)} trials)",
        )
        ax.fill_between(n, mean - std, mean + std, color=color, alpha=0.15)
    ax.set_xlabel("number of trials n")
    ax.set_ylabel(("validation" if on_val else "dev") + " overall: expected best of n (± 1 std)")
    ax.legend(loc="lower right")
    page_note(
        fig,
        "Computed per method from its search trials' scores as if each were an independent draw "
        "(with replacement) from their empirical distribution. TPE proposes trials from earlier "
        "results, so they are not independent draws, and ASHA-stopped trials count with the "
        "score of the epoch they stopped at: read the curves as the search's own learning curve, "
        "not as what a random search would need.",
    )
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.15)
    return fig
