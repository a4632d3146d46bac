"""The plan of `run --decide`: which claims, the pilot, Stein's n, and what the budget funds.

Every claim of the study goes through the same procedure (reports/stein.py), whether or not its
first seeds look decided: choosing which claims to extend from their means would leak false
findings. Each step reads only what the procedure allows:

1. The pilot: the first n0 seeds of each claim (n0 = the study's seeds, at least 3). A
   configuration the search chose on validation starts after its search run's seed, whose dev
   score the choice made optimistic. Missing pilot seeds are run first.
2. Once a claim's pilot is complete: each contrast's pilot sd s0 gives its n; the claim's n is
   the largest. Its seeds are the pilot's, then the next ones in order.
3. The budget (recorded decide-phase trial seconds) funds whole claims, cheapest first, a trial
   that several claims share paid once. A claim the budget cannot fund is "undecided within the
   budget", with the seeds and minutes it would still take.

Pure functions of the records and the claims; study/decide/phase.py runs what they plan.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from reports.findings.claims import Claim, Contrast, paper_claims
from reports.findings.decided import arm_rows, contrasts
from reports.stats import LEVEL, MIN_EFFECT, MIN_PAIRS
from reports.stein import PROCEDURE, planned_pairs
from study.records import TrialRecord, rank_configurations
from study.records.decisions import DECIDE_FORMAT, ClaimPlan, ContrastPlan, DecidePlan
from study.tuning.reruns import SEED, params_key

MAX_PAIRS = 1000
"""A claim whose n is above this is left undecided (its spread is large against E)."""

Point = tuple[str, int]
"""(params key, seed): one trial of the decide phase."""


def arm_params(records: Iterable[TrialRecord]) -> dict[str, Any]:
    """An arm's params without the seed (its rows share them)."""
    first = min(records, key=lambda r: r.seed_value)
    return {k: v for k, v in first.params.items() if k != SEED}


def study_claims(
    rows: list[TrialRecord], study: str, first_points: list[dict], top_k: int, effect: float
) -> list[Claim]:
    """The claims `--decide` decides in this study: the paper's that it holds; for a study
    without any, its best configuration against each of the next top_k (by validation)."""
    found = [c for c in paper_claims(rows) if c.study == study and not c.missing]
    if found:
        pinned = {params_key(p) for p in first_points}
        out = []
        for c in found:
            chosen = tuple(
                arm
                for arm, seeds in c.arms.items()
                if params_key(arm_params(seeds.values())) not in pinned
            )
            # E of each contrast in proportion (the rank slope's is E per doubling)
            contrasts = tuple(
                replace(k, min_effect=k.min_effect * effect / MIN_EFFECT) for k in c.contrasts
            )
            out.append(replace(c, chosen=chosen, contrasts=contrasts))
        return out
    search = [r for r in rows if r.phase == "search"]
    ranked = rank_configurations(search)[: top_k + 1]
    if len(ranked) < 2:
        return []
    completed = [r for r in rows if r.completed]
    arms = []  # (label, seed -> row), best first
    for config in ranked:
        key = params_key(config.best_record.params)
        seeds = {r.seed_value: r for r in completed if params_key(r.params) == key}
        arms.append((_label(config.best_record.params), seeds))
    (a, best_seeds), out = arms[0], []
    for place, (b, seeds) in enumerate(arms[1:], start=2):
        contrast = Contrast(f"{a} - {b}, dev overall", "greater", ((a, 1.0), (b, -1.0)), effect)
        claim = f"the best ({a}) > #{place} ({b})"
        arms_of = {a: best_seeds, b: seeds}
        out.append(Claim(claim, "this study's search", study, (contrast,), arms_of, chosen=(a, b)))
    return out


def _label(params: dict[str, Any]) -> str:
    """e.g. 'lr=0.00106 r=4' (floats to 3 significant digits)."""
    shown = {k: f"{v:.3g}" if isinstance(v, float) else v for k, v in params.items()}
    return " ".join(f"{k}={v}" for k, v in sorted(shown.items()) if k != SEED)


def pilot_seeds(base_seed: int, n0: int, chosen: bool) -> tuple[int, ...]:
    start = base_seed + (1 if chosen else 0)
    return tuple(range(start, start + n0))


def new_plan(
    claims: list[Claim],
    rows: list[TrialRecord],
    base_seed: int,
    n0: int,
    effect: float,
    budget_s: float | None,
) -> DecidePlan:
    """Step 1: every claim with its pilot seeds; the budget funds the missing pilot seeds."""
    plans = []
    for c in claims:
        m = len(c.contrasts)
        level = 1 - (1 - LEVEL) / m if c.rule == "orders" else LEVEL  # Bonferroni over pairs
        plans.append(
            ClaimPlan(
                claim=c.claim,
                source=c.source,
                study=c.study,
                contrasts=tuple(
                    ContrastPlan(k.effect, k.kind, k.weights, k.min_effect) for k in c.contrasts
                ),
                arms={arm: arm_params(seeds.values()) for arm, seeds in c.arms.items()},
                rule=c.rule,
                pilot=pilot_seeds(base_seed, n0, bool(c.chosen)),
                level=level,
                seeds=pilot_seeds(base_seed, n0, bool(c.chosen)),
            )
        )
    seconds = seconds_per_trial(rows, [a for p in plans for a in p.arms.values()])
    plan = DecidePlan(
        format=DECIDE_FORMAT,
        procedure=PROCEDURE,
        min_effect=effect,
        budget_s=budget_s,
        n0=n0,
        seconds_per_trial=seconds,
        claims=tuple(plans),
    )
    return fund(plan, rows, list(range(len(plans))), "pilot")


def seconds_per_trial(rows: list[TrialRecord], arms: list[dict[str, Any]]) -> dict[str, float]:
    """params key -> the mean recorded seconds of that configuration's completed trials (the
    study's mean where it has none)."""
    timed = [r for r in rows if r.completed and r.seconds]
    overall = sum(r.seconds for r in timed) / len(timed) if timed else 60.0
    out = {}
    for params in arms:
        key = params_key(params)
        own = [r.seconds for r in timed if params_key(r.params) == key]
        out[key] = sum(own) / len(own) if own else overall
    return out


def completed_points(rows: list[TrialRecord]) -> set[Point]:
    return {(params_key(r.params), r.seed_value) for r in rows if r.completed}


def claim_points(p: ClaimPlan) -> list[tuple[dict[str, Any], int]]:
    """(params, seed) of every trial the claim's intervals read, seed-major."""
    return [(params, seed) for seed in p.seeds for params in p.arms.values()]


def lacking(p: ClaimPlan, rows: list[TrialRecord]) -> list[tuple[dict[str, Any], int]]:
    done = completed_points(rows)
    return [(a, s) for a, s in claim_points(p) if (params_key(a), s) not in done]


def fund(plan: DecidePlan, rows: list[TrialRecord], which: list[int], stage: str) -> DecidePlan:
    """Fund the claims `which` (indices), cheapest first, within what is left of the budget.
    A claim with nothing lacking is funded at no cost."""
    spent = decide_seconds(rows)
    committed = _committed_cost(plan, rows)
    left = math.inf if plan.budget_s is None else plan.budget_s - spent - committed
    paid: set[Point] = {
        (params_key(a), s) for c in plan.claims if c.funded for a, s in lacking(c, rows)
    }
    claims = list(plan.claims)
    todo = list(which)
    while todo:
        costs = {i: _marginal(claims[i], rows, paid, plan.seconds_per_trial) for i in todo}
        i = min(todo, key=lambda j: (costs[j], claims[j].claim))
        todo.remove(i)
        cost = costs[i]
        c = claims[i]
        if cost <= left and (c.n or 0) <= MAX_PAIRS:
            left -= cost
            paid |= {(params_key(a), s) for a, s in lacking(c, rows)}
            claims[i] = replace(c, funded=True, cost_s=cost, why=_why(c, stage, cost))
        else:
            why = _why(c, stage, cost, max(left, 0.0))
            claims[i] = replace(c, funded=False, cost_s=cost, why=why)
    return plan.replace(claims=tuple(claims))


def _why(c: ClaimPlan, stage: str, cost: float, left: float | None = None) -> str:
    """Why the claim gets its seeds; left: the budget's seconds left when it was not funded."""
    minutes = cost / 60
    if stage == "pilot":
        base = f"pilot of {len(c.pilot)} seeds {list(c.pilot)}"
    else:
        s0 = ", ".join(f"{s:.4f}" for s in c.s0)
        base = f"{PROCEDURE}: pilot sd {s0} -> n={c.n}"
    if left is not None:
        if (c.n or 0) > MAX_PAIRS:
            return f"{base}; not run: more than {MAX_PAIRS} seeds"
        return f"{base}; not funded: needs {minutes:.1f} min, the budget has {left / 60:.1f} left"
    return f"{base}; {minutes:.1f} min of trials" if cost else f"{base}; already run"


def _marginal(
    c: ClaimPlan, rows: list[TrialRecord], paid: set[Point], seconds: dict[str, float]
) -> float:
    return sum(
        seconds.get(params_key(a), 60.0)
        for a, s in lacking(c, rows)
        if (params_key(a), s) not in paid
    )


def _committed_cost(plan: DecidePlan, rows: list[TrialRecord]) -> float:
    """Projected seconds of funded trials not yet run (shared ones once)."""
    points = {(params_key(a), s): a for c in plan.claims if c.funded for a, s in lacking(c, rows)}
    return sum(plan.seconds_per_trial.get(k, 60.0) for k, _ in points)


def decide_seconds(rows: list[TrialRecord]) -> float:
    """Recorded trial seconds of the decide phase: what --budget-min counts."""
    return sum(r.seconds or 0.0 for r in rows if r.phase == "decide")


def pilot_complete(p: ClaimPlan, rows: list[TrialRecord]) -> bool:
    done = completed_points(rows)
    return all((params_key(a), s) in done for s in p.pilot for a in p.arms.values())


def plan_second_stage(plan: DecidePlan, rows: list[TrialRecord]) -> DecidePlan:
    """Step 2 for every funded claim whose pilot is now complete and has no n yet, then
    step 3: fund them within what is left."""
    claims = list(plan.claims)
    planned = []
    for i, c in enumerate(claims):
        if c.planned or not c.funded or not pilot_complete(c, rows):
            continue
        arms = arm_rows(c, rows)
        s0 = []
        for k in contrasts(c):
            values = k.values(arms, list(c.pilot))
            mean = sum(values) / len(values)
            s0.append(math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)))
        ns = [
            planned_pairs(s, len(c.pilot), k.min_effect, c.level)
            for s, k in zip(s0, c.contrasts, strict=True)
        ]
        if any(not s > 0 for s in s0):  # no spread: the procedure has no n to give
            n = len(c.pilot)
        else:
            n = int(max(ns))
        extra = tuple(range(max(c.pilot) + 1, max(c.pilot) + 1 + n - len(c.pilot)))
        claims[i] = replace(c, s0=tuple(s0), n=n, seeds=c.pilot + extra, funded=False)
        planned.append(i)
    plan = plan.replace(claims=tuple(claims))
    return fund(plan, rows, planned, "stein") if planned else plan


def with_budget(plan: DecidePlan, rows: list[TrialRecord], budget_s: float) -> DecidePlan:
    """A resume with another --budget-min: the new budget, and the claims it did not fund
    funded again where it now can (funding reads costs only, never a claim's mean)."""
    plan = plan.replace(budget_s=budget_s)
    unplanned = [i for i, c in enumerate(plan.claims) if not c.funded and not c.planned]
    plan = fund(plan, rows, unplanned, "pilot") if unplanned else plan
    planned = [i for i, c in enumerate(plan.claims) if not c.funded and c.planned]
    return fund(plan, rows, planned, "stein") if planned else plan


def n0_for(seeds: int) -> int:
    return max(MIN_PAIRS, seeds)
