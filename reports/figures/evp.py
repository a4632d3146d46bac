"""Expected validation performance (Dodge et al., 2019): the expected best validation overall
of n trials, against n: "how many trials did this answer need?".

Every search trial counts, a trial ASHA stopped included, at the validation overall of the last
epoch it ran: dropping the stopped ones would draw the curve from the trials that were already
best at a rung, so it would run high. Curves are per (study, method), so a combined report never
pools two studies' searches. A study's first points (the paper's rows, pinned in its spec) are
not draws of the search (at the cpu scale they are most of it: lora_sweep proposes 2 of its
10), so they are their own series beside the proposals. The points are also written to
tables/evp.csv.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from reports.palette import METHOD_LABELS, PAGE_SIZE, method_color, page_note, page_title
from reports.stats import expected_max
from study.atomic import atomic_file
from study.records import Status, TrialRecord

MIN_TRIALS = 2
EVP_CSV = "evp.csv"
PINNED, PROPOSED = "first points", "proposed"


@dataclass(frozen=True)
class EvpSeries:
    """The validation scores of one study's search trials of one method, pinned or proposed."""

    study: str
    method: str
    series: str
    """PINNED (the spec's points_to_evaluate) or PROPOSED (by the sampler)."""
    scores: tuple[float, ...]
    trials: tuple[str, ...]
    stopped: int
    """How many of them ASHA stopped (counted at their last epoch's validation score)."""

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(expected best of n, its sd) for n = 1..len(scores)."""
        return expected_max(list(self.scores))

    @property
    def label(self) -> str:
        name = METHOD_LABELS.get(self.method, self.method)
        stopped = f", {self.stopped} stopped early" if self.stopped else ""
        return f"{self.study}: {name}, {self.series} ({len(self.scores)} trials{stopped})"


def last_validation_score(row: TrialRecord) -> float | None:
    """The validation overall of the last epoch the trial ran (dev for rows made before the
    validation split); None for an errored trial or one without a score."""
    if row.status not in (Status.COMPLETED, Status.STOPPED_EARLY):
        return None
    score = row.selection_score()
    if score is None:  # an older row may keep it in the history only
        found = [h.val_overall for h in row.history if h.val_overall is not None]
        score = found[-1] if found else None
    return float(score) if score is not None and math.isfinite(score) else None


def is_pinned(row: TrialRecord, points: list[dict[str, Any]]) -> bool:
    """The trial's sampled params are one of the study's first points."""
    for point in points:
        if all(_same(row.params.get(k), v) for k, v in point.items()):
            return True
    return False


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def evp_series(rows: list[TrialRecord], first_points: dict[str, list[dict]]) -> list[EvpSeries]:
    """Every (study, method, series) with at least one scored search trial. first_points:
    study -> its spec's points_to_evaluate (a study missing here has only proposals)."""
    groups: dict[tuple[str, str, str], list[tuple[float, TrialRecord]]] = {}
    for r in rows:
        score = last_validation_score(r)
        if r.phase != "search" or score is None:
            continue
        study = r.study or "?"
        series = PINNED if is_pinned(r, first_points.get(study, [])) else PROPOSED
        groups.setdefault((study, r.method, series), []).append((score, r))
    out = []
    for (study, method, series), found in sorted(groups.items()):
        out.append(
            EvpSeries(
                study=study,
                method=method,
                series=series,
                scores=tuple(s for s, _ in found),
                trials=tuple(str(r.trial_id) for _, r in found),
                stopped=sum(r.status is Status.STOPPED_EARLY for _, r in found),
            )
        )
    return out


def evp_figure(series: list[EvpSeries], on_val: bool = True) -> Figure | None:
    """One curve per series with at least MIN_TRIALS trials; None without one."""
    drawn = [s for s in series if len(s.scores) >= MIN_TRIALS]
    if not drawn:
        return None
    fig, ax = plt.subplots(figsize=PAGE_SIZE)
    page_title(fig, "Expected validation performance: the best of n trials (Dodge et al., 2019)")
    for s in drawn:
        n = np.arange(1, len(s.scores) + 1)
        mean, std = s.curve()
        color = method_color(s.method)
        style = "--" if s.series == PINNED else "-"
        marker = "s" if s.series == PINNED else "o"
        ax.plot(n, mean, style, marker=marker, color=color, label=s.label)
        ax.fill_between(n, mean - std, mean + std, color=color, alpha=0.12)
    ax.set_xlabel("number of trials n")
    ax.set_ylabel(("validation" if on_val else "dev") + " overall: expected best of n (± 1 sd)")
    ax.legend(loc="lower right", fontsize=7)
    page_note(
        fig,
        "Per study and method, from every search trial: a trial ASHA stopped counts with the "
        "validation score of the last epoch it ran. The study's first points (the paper's rows, "
        "pinned in its spec; dashed) are not draws of the search, so they are a series of their "
        "own beside the sampler's proposals (solid). Each curve treats its trials as independent "
        "draws (with replacement) from their empirical distribution; TPE proposes from earlier "
        "results, so read a proposal curve as the search's own learning curve, not as what a "
        "random search would need. The points are in tables/evp.csv.",
    )
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.15)
    return fig


def write_evp_csv(series: list[EvpSeries], folder: Path) -> Path:
    """study, method, series, n, expected best, its sd, and the trial ids counted."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EVP_CSV
    fields = ["study", "method", "series", "n", "expected_best", "sd", "stopped", "trials"]
    with atomic_file(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for s in series:
            mean, std = s.curve()
            for n, (m, sd) in enumerate(zip(mean, std, strict=True), start=1):
                writer.writerow(
                    {"study": s.study, "method": s.method, "series": s.series, "n": n}
                    | {"expected_best": f"{m:.6f}", "sd": f"{sd:.6f}", "stopped": s.stopped}
                    | {"trials": " ".join(s.trials)}
                )
    return path
