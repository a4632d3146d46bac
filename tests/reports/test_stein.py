"""Stein's two-stage procedure, simulated through the functions `run --decide` and the findings
page use (reports/stein.py: planned_pairs, interval; verdicts.py: read_interval, VERDICTS):
20,000 synthetic claims per case, paired differences drawn from known normal distributions.

A claim's trials are simulated by their sufficient statistics: the pilot's n0 draws in full
(its sd plans n), then the mean of the n - n0 further draws, N(mu, sd^2 / (n - n0)), which is
what the study's mean over the n seeds combines. test_the_vector_path_is_the_studys_path checks
that the findings page's own per-claim path gives the same interval.

Printed with `pytest -s`: each case's mean seed count, power and coverage (RESULTS.md).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from reports.findings.decided import judge_planned
from reports.findings.verdicts import VERDICTS, read_interval
from reports.stats import MIN_EFFECT
from reports.stein import interval, planned_pairs
from study.records.decisions import ClaimPlan, ContrastPlan, DecidePlan
from tests.reports.synthetic import record

CLAIMS = 20_000
N0 = 3
E = MIN_EFFECT
SDS = (0.0007, 0.0036, 0.006)  # the spreads of paired differences at the cpu scale
EFFECTS = (0.0, E, 3 * E)
SE_MISS = math.sqrt(0.05 * 0.95 / CLAIMS)  # the standard error of a 5% share


def simulate(
    mu: float, sd: float, rng: np.random.Generator, funds: float = math.inf
) -> dict[str, np.ndarray]:
    """funds: the most pairs a budget pays for; a claim that needs more stays at its pilot
    (run --decide reads an unfunded claim over its pilot's seeds)."""
    pilot = rng.normal(mu, sd, (CLAIMS, N0))
    s0 = pilot.std(axis=1, ddof=1)
    n = planned_pairs(s0, N0, E)  # from the pilot's sd alone
    n = np.where(n <= funds, n, N0)  # the budget reads s0 (through n), never the mean
    extra = n - N0
    rest = rng.normal(mu, sd / np.sqrt(np.maximum(extra, 1)))
    mean = (pilot.sum(axis=1) + np.where(extra > 0, rest * extra, 0.0)) / n
    low, high = interval(mean, s0, N0, n)
    verdict = np.vectorize(VERDICTS["greater"].get)(read_interval(low, high, E))
    return {"n": n, "low": low, "high": high, "verdict": verdict}


def naive(mu: float, sd: float, rng: np.random.Generator, n_max: int = 50) -> np.ndarray:
    """The rule the procedure replaces: add a seed until the t interval excludes 0."""
    from scipy import stats

    x = rng.normal(mu, sd, (CLAIMS, n_max))
    found = np.zeros(CLAIMS, dtype=bool)
    for n in range(N0, n_max + 1):
        m, s = x[:, :n].mean(axis=1), x[:, :n].std(axis=1, ddof=1)
        half = stats.t.ppf(0.975, n - 1) * s / math.sqrt(n)
        found |= (m - half > 0) | (m + half < 0)
    return found


@pytest.mark.parametrize("sd", SDS)
@pytest.mark.parametrize("mu", EFFECTS)
def test_stein_covers_and_keeps_false_findings_at_five_percent(mu, sd):
    rng = np.random.default_rng(int(1e6 * (mu + sd)))
    out = simulate(mu, sd, rng)
    covered = float(((out["low"] <= mu) & (mu <= out["high"])).mean())
    verdict = out["verdict"]
    share = {str(v): float((verdict == v).mean()) for v in np.unique(verdict)}
    power = share.get("no practical difference" if mu == 0 else "holds", 0.0)
    print(
        f"\nmu={mu:.4f} sd={sd:.4f}: mean seeds {out['n'].mean():.1f} (max {out['n'].max():.0f})"
        f", coverage {covered:.4f}, power {power:.3f}, verdicts {share}"
    )
    assert covered >= 0.95 - 3 * SE_MISS
    if mu == 0:
        false = share.get("holds", 0.0) + share.get("reversed", 0.0)
        assert false <= 0.05 + 3 * SE_MISS
    if mu >= E:  # 80% power against E by design; the t.8 margin makes it at least that
        assert power >= 0.80 - 3 * math.sqrt(0.8 * 0.2 / CLAIMS)


@pytest.mark.parametrize("mu", (0.0, E))
def test_a_budget_that_leaves_claims_at_their_pilot_keeps_the_coverage(mu):
    """At sd 0.0036 Stein's n is above 10 for about 70% of the claims: a budget of 10 pairs
    leaves those at their pilot of 3, read there. n still depends on s0 alone, so coverage and
    the false findings hold; power is what the budget costs."""
    rng = np.random.default_rng(11 + int(1e4 * mu))
    out = simulate(mu, 0.0036, rng, funds=10)
    covered = float(((out["low"] <= mu) & (mu <= out["high"])).mean())
    at_pilot = float((out["n"] == N0).mean())
    verdict = out["verdict"]
    false = float(np.isin(verdict, ("holds", "reversed")).mean()) if mu == 0 else math.nan
    print(
        f"\nbudget of 10 pairs, mu={mu}: {at_pilot:.2f} at the pilot, coverage {covered:.4f}, "
        f"false findings {false:.3f}"
    )
    assert 0.3 < at_pilot < 0.9  # the budget binds
    assert covered >= 0.95 - 3 * SE_MISS
    if mu == 0:
        assert false <= 0.05 + 3 * SE_MISS


def test_adding_seeds_until_the_interval_excludes_zero_fails_the_same_bound():
    found = naive(0.0, 0.0036, np.random.default_rng(7))
    print(f"\nnaive rule, mu=0: false findings {found.mean():.3f}")
    assert found.mean() > 0.05 + 3 * SE_MISS  # the bound above can fail


def test_the_vector_path_is_the_studys_path():
    """judge_planned (the page) over synthetic trials equals the vectorized interval."""
    rng = np.random.default_rng(3)
    diffs = rng.normal(0.008, 0.003, 12)
    s0 = float(np.std(diffs[:N0], ddof=1))
    n = int(planned_pairs(s0, N0, E))
    seeds = tuple(range(n))
    rows = []
    for s in seeds:
        rows.append(record(f"a{s}", s, 0.7 + diffs[s % 12], r=16, params={"r": 16, "seed": s}))
        rows.append(record(f"b{s}", s, 0.7, r=8, params={"r": 8, "seed": s}))
    claim = ClaimPlan(
        claim="A ≥ B",
        source="test",
        study="synthetic",
        contrasts=(ContrastPlan("A - B", "at_least", (("A", 1.0), ("B", -1.0)), E),),
        arms={"A": {"r": 16}, "B": {"r": 8}},
        rule="all",
        pilot=seeds[:N0],
        level=0.95,
        s0=(s0,),
        n=n,
        seeds=seeds,
        funded=True,
    )
    plan = DecidePlan(1, "Stein", E, None, N0, {}, (claim,))
    found = judge_planned(claim, plan, rows, running=False)
    values = [diffs[s % 12] for s in seeds]
    low, high = interval(float(np.mean(values)), s0, N0, n)
    assert found.low == pytest.approx(low) and found.high == pytest.approx(high)
    assert found.n == n and found.verdict == VERDICTS["at_least"][read_interval(low, high, E)]
    assert found.verdict == "holds" and found.started_with == n and found.given == 0
