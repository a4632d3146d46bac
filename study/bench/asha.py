"""Does early stopping pay? Trial-epochs a study ran against its full budget, from trials.jsonl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from study.records import Status, TrialRecord


def asha_savings(rows: list[TrialRecord]) -> dict[str, Any]:
    """Savings of early stopping over trials.jsonl rows (errored and merge rows are left out).

    budget = sum of config.epochs; run = sum of epochs_run; saved = 1 - run / budget.
    best_survived: the configuration with the highest final `overall` among all counted rows
    (a stopped trial's last score included) is a completed trial, i.e. ASHA did not stop the
    trial that was best when it was stopped. `stopped_ahead_of_best` lists stopped trials whose
    score at their last epoch beat the best completed trial's score at that same epoch.
    """
    counted = [
        r
        for r in rows
        if r.status in (Status.COMPLETED, Status.STOPPED_EARLY)
        and isinstance(r.config.get("epochs"), int)
    ]
    budget = sum(r.config["epochs"] for r in counted)
    run = sum(r.epochs_run for r in counted)
    completed = [r for r in counted if r.status is Status.COMPLETED and r.overall is not None]
    stopped = [r for r in counted if r.status is Status.STOPPED_EARLY]
    best = max(completed, key=lambda r: r.overall, default=None)
    scored = [r for r in counted if r.overall is not None]
    top = max(scored, key=lambda r: r.overall, default=None)
    ahead = []
    if best is not None:
        curve = {h.epoch: h.overall for h in best.history}
        for r in stopped:
            at = curve.get(r.epochs_run)
            if r.overall is not None and at is not None and r.overall > at:
                ahead.append(r.trial_id)
    return {
        "trials": len(counted),
        "completed": len(completed),
        "stopped_early": len(stopped),
        "errored": sum(r.status is Status.ERRORED for r in rows),
        "trial_epochs_run": run,
        "trial_epochs_budget": budget,
        "saved_fraction": 1.0 - run / budget if budget else 0.0,
        "best_trial": best.trial_id if best else None,
        "best_overall": best.overall if best else None,
        "best_survived": best is not None and top is not None and top.trial_id == best.trial_id,
        "stopped_ahead_of_best": ahead,
    }


def study_asha_savings(study_dir: str | Path) -> dict[str, Any]:
    """asha_savings of a study folder's trials.jsonl; a missing folder is a UserError."""
    from study.errors import UserError
    from study.records import TRIALS, read_records

    path = Path(study_dir)
    if not (path / TRIALS).is_file():
        raise UserError(f"--asha {study_dir}: no {TRIALS} there; pass a study folder (runs/NAME)")
    return {"study_dir": str(path.resolve()), **asha_savings(read_records(path))}
