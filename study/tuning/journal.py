"""Optuna's hyperparameter importances, read from a study folder's JournalStorage (reports use
them; this module only reads the journal)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

JOURNAL = "optuna.journal"  # Optuna's JournalStorage file in the study folder
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
