"""A parameter budget for the search (--max-params-pct): Optuna's proposals whose exact
params_pct is above it are told to Optuna as pruned and never become trials.

The count needs no training (model/param_count.py, the meta device), so a proposal costs about
a second to check. OptunaSearch keeps its Optuna study and trials in private attributes; where
this Ray lacks them, the check cannot run before the trial, and the study refuses to start.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from model.errors import ModelError
from study.config import TrialConfig
from study.errors import UserError

Check = Callable[[dict[str, Any]], str | None]  # params -> why it may not run, or None
MAX_TRIES = 100  # proposals in a row that may fall outside the budget before the search ends
SHOWN = 20  # skipped proposals named on stderr; the rest are counted in the closing line


class ParamsPctCheck:
    """A Check: None when base + params is a valid config within `budget` params_pct. A class,
    not a closure: Tune pickles the searcher, check included, into its experiment state."""

    def __init__(self, base: TrialConfig, budget: float) -> None:
        self.base, self.budget = base, budget
        self.seen: dict[str, str | None] = {}

    def __call__(self, params: dict[str, Any]) -> str | None:
        from model.param_count import count_parameters

        key = repr(sorted(params.items()))
        if key not in self.seen:
            try:
                config = self.base.replace(**params)
                pct = count_parameters(config.model_spec(), config.model_path)["params_pct"]
                ok = pct <= self.budget
                self.seen[key] = None if ok else f"params_pct {pct:.3f} > {self.budget:g}"
            except (UserError, ModelError, ValueError) as err:  # a combination refused
                self.seen[key] = str(err)
        return self.seen[key]


PRIVATE = ("_ot_study", "_ot_trials")  # where OptunaSearch keeps its Optuna study and trials


def check_supported() -> None:
    """A UserError, before Ray starts, when this Ray's OptunaSearch lacks PRIVATE."""
    probe = OptunaSearch(
        space={"x": optuna.distributions.FloatDistribution(0.0, 1.0)}, metric="m", mode="max"
    )
    if not all(hasattr(probe, a) for a in PRIVATE):
        raise UserError(
            f"--max-params-pct needs OptunaSearch's {' and '.join(PRIVATE)}, which this Ray "
            "version lacks; run without it"
        )


class BudgetedOptunaSearch(OptunaSearch):
    """OptunaSearch that asks again while a proposal fails `check` (marked PRUNED in the
    journal, one line on stderr each)."""

    def __init__(self, *args: Any, check: Check, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # plan.check_budget made sure of PRIVATE
        self.check = check
        self.skipped = 0

    def suggest(self, trial_id: str) -> dict | None:
        for _ in range(MAX_TRIES):
            params = super().suggest(trial_id)
            if not isinstance(params, dict):
                return params
            why = self.check(params)
            if why is None:
                return params
            self.skipped += 1
            if self.skipped <= SHOWN:
                print(f"search: skipped {params} before it ran: {why}", file=sys.stderr, flush=True)
            if self.skipped == SHOWN:
                print("search: further skipped proposals are counted, not shown", file=sys.stderr)
            pruned = self._ot_trials.pop(trial_id)
            self._ot_study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
        print(
            f"search: {MAX_TRIES} proposals in a row were outside the budget ({self.skipped} "
            "skipped in all); the search ends",
            file=sys.stderr,
        )
        return Searcher.FINISHED
