"""The plan of `run --decide` on synthetic trials whose every number is known: the claims and
their pilot, Stein's n from the pilot's sd alone, cheapest claims first within the budget, and
the verdicts that read the plan."""

from __future__ import annotations

import math

import pytest

from reports.findings.decided import decided_findings
from reports.stein import planned_pairs
from search_spaces import load_study
from study.decide.allocate import (
    new_plan,
    plan_second_stage,
    study_claims,
    with_budget,
)
from study.records import TrialRecord
from study.records.decisions import read_decide_plan, write_decide_plan
from tests.reports.synthetic import record

PINNED = list(load_study("lora_sweep").points_to_evaluate)
LR = 3e-4
# per configuration (method, r, targets, bias): dev overall per seed 0, 1, 2
PAPER = {
    ("lora", 2, "qkv", "none"): (0.700, 0.702, 0.699),
    ("lora", 4, "qkv", "none"): (0.710, 0.711, 0.708),
    ("lora", 16, "qkv", "none"): (0.720, 0.722, 0.719),
    ("lora", 64, "qkv", "none"): (0.730, 0.733, 0.729),
    ("dora", 64, "qkv", "none"): (0.731, 0.733, 0.730),
    ("lora", 64, "all_linear", "none"): (0.750, 0.752, 0.749),
    ("lora", 64, "all_linear", "all"): (0.751, 0.752, 0.750),
    ("lora", 128, "all_linear", "all"): (0.745, 0.760, 0.748),  # a wide spread: a large n
}


def _row(key: tuple, seed: int, score: float, phase: str = "search", seconds: float = 60.0):
    method, r, targets, bias = key
    params = {"method": method, "r": r, "targets": targets, "bias": bias, "lr": LR}
    if seed:
        params["seed"] = seed
    cfg = {k: v for k, v in params.items() if k != "seed"}
    name = f"{method}{r}{targets}{bias}_s{seed}_{phase}"
    return record(name, seed, score, params=params, phase=phase, seconds=seconds, **cfg)


def _paper_rows(scores: dict = PAPER) -> list[TrialRecord]:
    return [_row(k, s, v) for k, values in scores.items() for s, v in enumerate(values)]


def _plan(rows: list[TrialRecord], budget_s: float | None = None):  # noqa: ANN202
    claims = study_claims(rows, "lora_sweep", PINNED, top_k=2, effect=0.005)
    return new_plan(claims, rows, base_seed=0, n0=3, effect=0.005, budget_s=budget_s)


def test_the_paper_claims_of_the_study_get_their_pinned_seeds_as_the_pilot():
    plan = _plan(_paper_rows())
    names = [c.claim for c in plan.claims]
    assert len(names) == 5 and names[1] == "DoRA ≥ LoRA at r=64 on q/k/v"  # Table 2's only
    assert all(c.pilot == (0, 1, 2) and c.funded and c.cost_s == 0 for c in plan.claims)
    rank = plan.claims[0]
    assert len(rank.arms) == 4 and rank.contrasts[0].min_effect == pytest.approx(0.001)


def test_n_comes_from_the_pilot_sd_alone_and_the_seeds_follow_the_pilot():
    rows = _paper_rows()
    staged = plan_second_stage(_plan(rows), rows)
    r128 = next(c for c in staged.claims if c.claim.startswith("r=128"))
    diffs = [
        a - b
        for a, b in zip(
            PAPER[("lora", 128, "all_linear", "all")],
            PAPER[("lora", 64, "all_linear", "all")],
            strict=True,
        )
    ]
    mean = sum(diffs) / 3
    s0 = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    assert r128.s0[0] == pytest.approx(s0)
    assert r128.n == int(planned_pairs(s0, 3, 0.005)) and r128.n > 3
    assert r128.seeds == tuple(range(r128.n))
    # the same spread around another mean plans the same n: the mean is never read
    shifted = dict(PAPER)
    shifted[("lora", 128, "all_linear", "all")] = tuple(
        v + 0.02 for v in PAPER[("lora", 128, "all_linear", "all")]
    )
    rows2 = _paper_rows(shifted)
    again = plan_second_stage(_plan(rows2), rows2)
    assert next(c for c in again.claims if c.claim.startswith("r=128")).n == r128.n


def test_the_budget_funds_the_cheapest_claims_first_and_a_new_budget_funds_more():
    rows = _paper_rows()
    staged = plan_second_stage(_plan(rows, budget_s=60.0), rows)  # 1 minute: one trial
    by = {c.claim: c for c in staged.claims}
    r128 = by["r=128 ≥ r=64 on all linear layers"]
    assert not r128.funded and "not funded" in r128.why
    assert r128.cost_s == pytest.approx(2 * (r128.n - 3) * 60.0)
    small = [c for c in staged.claims if c.n == 3]
    assert small and all(c.funded and c.cost_s == 0 for c in small)  # nothing lacking
    found = {f.claim: f for f in decided_findings(staged, rows, running=False)}
    assert found[r128.claim].verdict == "undecided within the budget"
    assert f"to n={r128.n}" in found[r128.claim].to_decide
    assert found["DoRA ≥ LoRA at r=64 on q/k/v"].verdict == "holds"  # within ±E, n = 3
    assert found["DoRA ≥ LoRA at r=64 on q/k/v"].reading == "within ±E"
    assert found[r128.claim].started_with == 3 and found[r128.claim].given == 0
    richer = with_budget(staged, rows, r128.cost_s)
    assert next(c for c in richer.claims if c.claim == r128.claim).funded


def test_a_claim_the_budget_cannot_fund_is_read_at_its_pilot_and_decides_when_it_does():
    """r=128 lifted by 0.02: pilot differences 0.014, 0.028, 0.018 (mean 0.020, s0 0.00721).
    Stein's n = ceil(((4.303 + 1.061) * 0.00721 / 0.005)^2) = 60, far above a one-trial budget.
    Its n is then the pilot's 3, fixed by s0 and the budget, never the mean: the interval
    0.020 ± 4.303 * 0.00721 / sqrt(3) = [0.0021, 0.0379] lies above 0, so it holds."""
    from scipy import stats

    lifted = dict(PAPER)
    lifted[("lora", 128, "all_linear", "all")] = (0.765, 0.780, 0.768)
    rows = _paper_rows(lifted)
    staged = plan_second_stage(_plan(rows, budget_s=60.0), rows)
    r128 = next(c for c in staged.claims if c.claim.startswith("r=128"))
    diffs = (0.765 - 0.751, 0.780 - 0.752, 0.768 - 0.750)
    mean = sum(diffs) / 3
    s0 = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    half = stats.t.ppf(0.975, 2) * s0 / math.sqrt(3)
    assert not r128.funded and r128.n == 60 and s0 == pytest.approx(0.0072111, rel=1e-4)
    found = {f.claim: f for f in decided_findings(staged, rows, running=False)}
    got = found[r128.claim]
    assert got.verdict == "holds" and got.reading == "above 0" and got.to_decide == ""
    assert got.n == 3 and got.mean == pytest.approx(mean)
    assert (got.low, got.high) == (pytest.approx(mean - half), pytest.approx(mean + half))
    assert got.low == pytest.approx(0.0021, abs=1e-4) and "read at its pilot" in got.note
    # the unlifted r=128 pilot spans 0 and E: still "undecided within the budget"
    plain = plan_second_stage(_plan(_paper_rows(), budget_s=60.0), _paper_rows())
    left = {f.claim: f for f in decided_findings(plain, _paper_rows(), running=False)}
    assert left[r128.claim].verdict == "undecided within the budget"
    assert left[r128.claim].low < 0 < left[r128.claim].high


def test_a_running_study_reads_pending_and_the_plan_survives_a_round_trip(tmp_path):
    rows = _paper_rows()
    staged = plan_second_stage(_plan(rows), rows)
    write_decide_plan(tmp_path, staged)
    assert read_decide_plan(tmp_path) == staged
    found = {f.claim: f for f in decided_findings(staged, rows, running=True)}
    assert found["r=128 ≥ r=64 on all linear layers"].verdict == "pending"
    # its seeds arrive in the decide phase: the claim is then judged on exactly n seeds
    r128 = next(c for c in staged.claims if c.claim.startswith("r=128"))
    extra = []
    for seed in r128.seeds[3:]:
        extra.append(_row(("lora", 128, "all_linear", "all"), seed, 0.752, "decide", 50.0))
        extra.append(_row(("lora", 64, "all_linear", "all"), seed, 0.751, "decide", 70.0))
    done = {f.claim: f for f in decided_findings(staged, rows + extra, running=False)}
    got = done[r128.claim]
    assert got.n == r128.n and got.started_with == 3 and got.given == r128.n - 3
    assert got.minutes == pytest.approx((r128.n - 3) * 120.0 / 60)
    assert got.verdict in ("holds", "reversed", "undecided")


def test_a_study_without_paper_claims_decides_its_best_against_the_next_top_k():
    rows = []
    for i, (r, score) in enumerate(((4, 0.70), (8, 0.69), (2, 0.65))):
        for seed in (0, 1, 2, 3):
            params = {"r": r, "lr": 1e-3} | ({"seed": seed} if seed else {})
            phase = "search" if seed == 0 else "rerun"
            rows.append(
                record(
                    f"c{i}s{seed}",
                    seed,
                    score + 0.001 * seed,
                    params=params,
                    phase=phase,
                    r=r,
                    lr=1e-3,
                )
            )
    claims = study_claims(rows, "peft_methods", [], top_k=2, effect=0.005)
    assert [c.claim for c in claims] == [
        "the best (lr=0.001 r=4) > #2 (lr=0.001 r=8)",
        "the best (lr=0.001 r=4) > #3 (lr=0.001 r=2)",
    ]
    plan = new_plan(claims, rows, base_seed=0, n0=3, effect=0.005, budget_s=None)
    # chosen by the search on validation: the search run (seed 0) is not a pilot seed
    assert all(c.pilot == (1, 2, 3) for c in plan.claims)


def test_the_findings_page_shows_the_seeds_before_and_after_and_their_minutes(tmp_path):
    from pathlib import Path

    from reports.findings.claims import findings
    from reports.findings.decided import with_decisions
    from reports.findings.page import cell_texts
    from reports.loading import Source, StudyData

    rows = _paper_rows()
    staged = plan_second_stage(_plan(rows), rows)
    r128 = next(c for c in staged.claims if c.claim.startswith("r=128"))
    extra = []
    for seed in r128.seeds[3:]:
        extra.append(_row(("lora", 128, "all_linear", "all"), seed, 0.752, "decide", 60.0))
        extra.append(_row(("lora", 64, "all_linear", "all"), seed, 0.751, "decide", 60.0))
    source = Source("lora_sweep", Path(tmp_path), None, rows + extra, "", decide=staged)
    data = StudyData("lora_sweep", Path(tmp_path), [source])
    found = {f.claim: f for f in with_decisions(findings(data.rows), data)}
    assert len(found) == 8  # the paper's 8 claims, 5 of them decided by the plan
    cells = cell_texts(found[r128.claim])
    given = r128.n - 3
    assert cells[-1].replace("\n", " ").startswith(f"3 + {given} seeds, {2 * given} min")
    assert found["head design 3 > designs 1 and 2"].verdict == "not run"  # not this study's
    dora = cell_texts(found["DoRA ≥ LoRA at r=64 on q/k/v"])
    assert dora[2].replace("\n", " ") == "holds (no practical difference)"
