"""Beyond the paper: Optuna's hyperparameter importances, read from the study's JournalStorage.

The journal (optuna.journal in the study folder) is only read; a missing journal or too few
completed trials skips the page with a note.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from reports.palette import PAGE_SIZE, page_note, page_title

JOURNAL = "optuna.journal"
MIN_COMPLETED = 4  # fANOVA on fewer finished trials says little


@dataclass
class Importances:
    label: str  # source study / Optuna study name
    values: dict[str, float]  # parameter -> importance (sums to 1)
    completed: int


def read_importances(label: str, folder: Path) -> tuple[list[Importances], list[str]]:
    """Importances of every Optuna study in folder/optuna.journal, and notes on what was skipped."""
    path = folder / JOURNAL
    if not path.is_file():
        return [], [f"{label}: no Optuna journal ({JOURNAL}) in {folder}"]
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    found, notes = [], []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # JournalStorage's experimental-API warnings
            backend = optuna.storages.journal.JournalFileBackend(str(path))
            storage = optuna.storages.JournalStorage(backend)
            names = optuna.study.get_all_study_names(storage)
    except Exception as err:  # a torn or foreign file must not stop the report
        return [], [f"{label}: cannot read {path} ({type(err).__name__}: {err})"]
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        tag = label if len(names) == 1 else f"{label}/{name}"
        if len(complete) < MIN_COMPLETED:
            notes.append(
                f"{tag}: {len(complete)} completed Optuna trials, fewer than {MIN_COMPLETED}"
            )
            continue
        # Multi-objective studies (overall, params_pct): importance for the first objective.
        target = (lambda t: t.values[0]) if len(study.directions) > 1 else None
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        try:
            values = optuna.importance.get_param_importances(
                study, evaluator=evaluator, target=target
            )
        except (RuntimeError, ValueError) as err:
            notes.append(f"{tag}: importances not computable ({err})")
            continue
        if not values:
            notes.append(f"{tag}: no parameter varies across completed trials")
            continue
        found.append(Importances(tag, dict(values), len(complete)))
    return found, notes


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
