"""decide.json: the plan of `run --decide`, as a typed, versioned DecidePlan.

Saved (atomically) before the first of its trials runs and again before each further pass, so
that a resume continues the same plan: the pilot's seeds, each claim's n, the order of the
seeds, and which claims the budget funds are fixed before their seeds are seen. Written by
study/decide; read by the findings page and `--resume`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study.atomic import read_json, write_json_atomic
from study.errors import UserError

DECIDE = "decide.json"
DECIDE_FORMAT = 1


@dataclass(frozen=True)
class ContrastPlan:
    """One comparison of a claim: per seed, the sum of weight x dev overall over its arms."""

    effect: str
    kind: str
    """greater | at_least | same (reports/findings/verdicts.py)."""
    weights: tuple[tuple[str, float], ...]
    min_effect: float


@dataclass(frozen=True)
class ClaimPlan:
    """One claim under the procedure: what it compares, on which seeds, and why."""

    claim: str
    source: str
    study: str
    contrasts: tuple[ContrastPlan, ...]
    arms: dict[str, dict[str, Any]]
    """arm -> the params its trials run with (without the seed)."""
    rule: str
    """all | orders (reports/findings/claims.py, Claim.rule)."""
    pilot: tuple[int, ...]
    """The pilot's seeds: the first n0 seeds every arm has or will have (a configuration the
    search chose on validation starts after its search run's seed)."""
    level: float
    """Each contrast's interval level: 0.95, or Bonferroni's 1 - 0.05 / m over m pairs."""
    s0: tuple[float, ...] = ()
    """Per contrast, the pilot's standard deviation; empty until the pilot is complete."""
    n: int | None = None
    """Pairs in all (Stein's n, the largest over the contrasts); None until planned."""
    seeds: tuple[int, ...] = ()
    """The seeds the intervals use, pilot first: the claim's n seeds (the pilot's until n is
    planned)."""
    funded: bool = False
    """The budget pays for the seeds it still lacks (cheapest claims first)."""
    cost_s: float = 0.0
    """Projected trial seconds of the seeds it lacked when it was planned (shared trials
    counted for the first claim that needs them)."""
    why: str = ""
    """Why it gets these seeds, in words."""

    @property
    def planned(self) -> bool:
        return self.n is not None


@dataclass(frozen=True)
class DecidePass:
    """One Tune experiment of the decide phase: its name and its trials' params (seed set)."""

    experiment: str
    points: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class DecidePlan:
    format: int
    procedure: str
    min_effect: float
    """E: the smallest effect worth knowing (dev overall)."""
    budget_s: float | None
    """--budget-min in seconds of recorded decide-phase trials; None: no limit."""
    n0: int
    """The pilot's size."""
    seconds_per_trial: dict[str, float]
    """arm params key -> the measured seconds per trial the costs were projected with."""
    claims: tuple[ClaimPlan, ...]
    passes: tuple[DecidePass, ...] = ()

    def replace(self, **changes: Any) -> DecidePlan:
        return dataclasses.replace(self, **changes)

    def claim(self, name: str) -> ClaimPlan | None:
        return next((c for c in self.claims if c.claim == name), None)


def write_decide_plan(study_dir: str | Path, plan: DecidePlan) -> None:
    write_json_atomic(Path(study_dir) / DECIDE, dataclasses.asdict(plan))


def read_decide_plan(study_dir: str | Path) -> DecidePlan | None:
    """The folder's decide.json; None without one. A damaged one is one line."""
    path = Path(study_dir) / DECIDE
    if not path.is_file():
        return None
    data = read_json(path)
    try:
        if data.get("format", 0) > DECIDE_FORMAT:
            raise UserError(
                f"{path} has format {data['format']}; this peft-study reads format "
                f"{DECIDE_FORMAT} and earlier: upgrade peft-study"
            )
        claims = tuple(
            ClaimPlan(
                **{
                    **c,
                    "contrasts": tuple(
                        ContrastPlan(**{**k, "weights": tuple(map(tuple, k["weights"]))})
                        for k in c["contrasts"]
                    ),
                    "pilot": tuple(c["pilot"]),
                    "s0": tuple(c["s0"]),
                    "seeds": tuple(c["seeds"]),
                }
            )
            for c in data["claims"]
        )
        passes = tuple(DecidePass(p["experiment"], tuple(p["points"])) for p in data["passes"])
        return DecidePlan(**{**data, "claims": claims, "passes": passes})
    except (KeyError, TypeError, AttributeError) as err:
        raise UserError(
            f"{path} is damaged ({type(err).__name__}: {err}); move it away to plan the "
            "decide phase again"
        ) from None
