"""What proposes and what stops trials: Optuna's TPE through OptunaSearch, and ASHA.

OptunaSearch never prunes; ASHA (a Tune scheduler) stops trials at its rungs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from search_spaces.spec import Choice, LogUniform, Param, Uniform
from study.tuning.journal import JOURNAL

if TYPE_CHECKING:  # built by study/plan.py; the tuning layer only reads it
    from study.plan import StudyPlan


def optuna_space(space: dict[str, Param]) -> dict[str, Any]:
    dist = optuna.distributions
    out = {}
    for name, p in space.items():
        if isinstance(p, Choice):
            out[name] = dist.CategoricalDistribution(list(p.values))
        elif isinstance(p, LogUniform):
            out[name] = dist.FloatDistribution(p.low, p.high, log=True)
        elif isinstance(p, Uniform):
            out[name] = dist.FloatDistribution(p.low, p.high)
    return out


def make_searcher(plan: StudyPlan) -> OptunaSearch:
    """Seeded TPE; its state is an Optuna JournalStorage file (parallel-safe, optuna-dashboard).
    With plan.max_params_pct, proposals above the budget are pruned before they run."""
    storage = JournalStorage(JournalFileBackend(str(plan.study_dir / JOURNAL)))
    multi = len(plan.metrics) > 1
    settings = {
        "space": optuna_space(plan.spec.space),
        "metric": list(plan.metrics) if multi else plan.metrics[0],
        "mode": list(plan.modes) if multi else plan.modes[0],
        "points_to_evaluate": [dict(p) for p in plan.spec.points_to_evaluate],
        "sampler": optuna.samplers.TPESampler(seed=plan.seed),
        "study_name": plan.spec.name,
        "storage": storage,
    }
    if plan.max_params_pct is None:
        return OptunaSearch(**settings)
    from study.tuning.budget import BudgetedOptunaSearch, ParamsPctCheck

    return BudgetedOptunaSearch(check=ParamsPctCheck(plan.base, plan.max_params_pct), **settings)


class PinnedASHA(ASHAScheduler):
    """ASHA that lets trials of the study's first points (the paper's rows) run their whole
    budget, so the tables can compare them with the paper. Their results still fill ASHA's rungs
    and so still set the bar for the trials Optuna proposes, which ASHA may stop."""

    def __init__(
        self, pinned: list[dict[str, Any]], time_attr: str, max_t: int, **kwargs: Any
    ) -> None:
        super().__init__(time_attr=time_attr, max_t=max_t, **kwargs)
        self.pinned, self.time_key, self.budget = pinned, time_attr, max_t

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        if decision == self.STOP and result.get(self.time_key, 0) < self.budget:
            if any(all(trial.config.get(k) == v for k, v in p.items()) for p in self.pinned):
                if isinstance(getattr(self, "_num_stopped", None), int):  # ASHA's own count
                    self._num_stopped -= 1
                return self.CONTINUE
        return decision


def make_scheduler(plan: StudyPlan) -> ASHAScheduler | None:
    """ASHA on overall, one rung per epoch; none for grids or multi-objective searches."""
    sched = plan.spec.scheduler
    if sched is None or len(plan.metrics) > 1 or plan.base.epochs < 2:
        return None
    pinned = [dict(p) for p in plan.spec.points_to_evaluate] if sched.run_first_points_fully else []
    return PinnedASHA(
        pinned,
        time_attr="epoch",
        max_t=plan.base.epochs,
        grace_period=max(1, min(sched.grace_period, plan.base.epochs)),
        reduction_factor=sched.reduction_factor,
    )
