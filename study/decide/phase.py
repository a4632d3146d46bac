"""`run --decide`: after the search and its reruns, seeds for the study's claims until each is
decided or the budget is spent (allocate.py plans; reports/findings/decided.py judges).

The loop reads only the study folder (trials.jsonl and decide.json), so that a resume after a
crash or `kill -9` continues the same plan: an interrupted pass is restored through Tune (its
recorded trials report their rows again, nothing is trained twice); a trial that errored is run
again at the same seed in the next pass, at most MAX_TRIES times in all.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from reports.findings.decided import MAX_TRIES, decided_findings, tries
from reports.findings.verdicts import interval_text, verdict_words
from study.decide.allocate import (
    lacking,
    n0_for,
    new_plan,
    plan_second_stage,
    study_claims,
    with_budget,
)
from study.records import read_records
from study.records.decisions import DecidePass, DecidePlan, read_decide_plan, write_decide_plan
from study.tuning.reruns import SEED, params_key

if TYPE_CHECKING:
    from study.plan import StudyPlan

DECIDE_PHASE = "decide"


def decide_phase(plan: StudyPlan, stage1: dict[str, Any] | None) -> None:
    """The decide phase of `plan` (its Ray session is up; study/tuning/execute.py calls this)."""
    from study.tuning.execute import run_points, stage1_for

    folder = plan.study_dir
    dplan = read_decide_plan(folder)
    if dplan is None:
        rows = read_records(folder)
        claims = study_claims(
            rows, plan.spec.name, list(plan.spec.points_to_evaluate), plan.top_k, plan.min_effect
        )
        if not claims:
            print(f"{plan.spec.name} --decide: no claim to decide", file=sys.stderr)
            return
        dplan = new_plan(
            claims, rows, plan.base.seed, n0_for(plan.seeds), plan.min_effect, plan.budget_s
        )
        write_decide_plan(folder, dplan)  # before its first trial runs
        _say(plan, dplan, "pilot")
    elif plan.budget_s is not None and plan.budget_s != dplan.budget_s:
        dplan = with_budget(dplan, read_records(folder), plan.budget_s)
        write_decide_plan(folder, dplan)
        _say(plan, dplan, "budget")
    restored = False
    while True:
        rows = read_records(folder)
        last = dplan.passes[-1] if dplan.passes else None
        if last is not None and not restored:  # an interrupted pass: Tune continues it
            restored = True
            if any(_unrecorded(point, rows) for point in last.points):
                run_points(plan, list(last.points), last.experiment, DECIDE_PHASE, (), stage1)
                continue
        staged = plan_second_stage(dplan, rows)
        if staged != dplan:
            dplan = staged
            write_decide_plan(folder, dplan)
            _say(plan, dplan, "stein")
        todo = _todo(dplan, rows)
        if not todo:
            break
        name = f"{plan.spec.name}-decide{len(dplan.passes) + 1}"
        dplan = dplan.replace(passes=(*dplan.passes, DecidePass(name, tuple(todo))))
        write_decide_plan(folder, dplan)  # the pass is named before it runs: resume finds it
        print(f"{plan.spec.name} --decide: pass {name}, {len(todo)} trials", file=sys.stderr)
        if plan.spec.kind == "merge":  # the stage-1 adapters of every seed the pass reads
            stage1 = stage1_for(plan, max(p[SEED] for p in todo) - plan.base.seed + 1)
        run_points(plan, todo, name, DECIDE_PHASE, (), stage1)
    print_verdicts(dplan, read_records(folder))


def _unrecorded(point: dict[str, Any], rows: list) -> bool:
    key, seed = params_key(point), point.get(SEED)
    return not any(
        r.phase == DECIDE_PHASE and r.seed_value == seed and params_key(r.params) == key
        for r in rows
    )


def _todo(dplan: DecidePlan, rows: list) -> list[dict[str, Any]]:
    """The funded claims' missing trials, each once, claim by claim in the plan's funding
    order (cheapest first), leaving out those already tried MAX_TRIES times."""
    out: dict[tuple, dict[str, Any]] = {}
    funded = sorted((c for c in dplan.claims if c.funded), key=lambda c: c.cost_s)
    for c in funded:
        for params, seed in lacking(c, rows):
            if tries(dplan, params, seed) >= MAX_TRIES:
                continue
            point = {**params, SEED: seed}
            out.setdefault(tuple(sorted((k, str(v)) for k, v in point.items())), point)
    return list(out.values())


def _say(plan: StudyPlan, dplan: DecidePlan, stage: str) -> None:
    """One line per claim: the seeds it gets and why (decide.json has the same)."""
    budget = "no budget" if dplan.budget_s is None else f"budget {dplan.budget_s / 60:g} min"
    head = {"pilot": "the pilot", "stein": "Stein's n", "budget": "a new budget"}[stage]
    print(
        f"{plan.spec.name} --decide ({dplan.procedure}, E={dplan.min_effect:g}, {budget}): {head}",
        file=sys.stderr,
    )
    for c in dplan.claims:
        print(f"  {c.claim}: seeds {seed_range(c.seeds)} ({c.why})", file=sys.stderr)


def seed_range(seeds: tuple[int, ...]) -> str:
    """'1-201' for consecutive seeds, else the list."""
    consecutive = seeds and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds)))
    if consecutive and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]} ({len(seeds)})"
    return str(list(seeds))


def print_verdicts(dplan: DecidePlan, rows: list) -> None:
    print(f"decided with {dplan.procedure} (E={dplan.min_effect:g}):")
    for f in decided_findings(dplan, rows, running=False):
        verdict = verdict_words(f)
        if verdict == "holds" and f.reading:
            verdict = f"holds ({f.reading})"
        if f.min_effect != dplan.min_effect:  # a claim on its own scale (the rank slope)
            verdict = f"{verdict} with E={f.min_effect:g}"
        words = f"; {f.to_decide}" if f.to_decide else ""
        c = dplan.claim(f.claim)
        if c is not None and c.n and not c.funded and f.to_decide == "" and f.n < c.n:
            words = f"; read at its pilot: the budget did not fund n={c.n}"
        seeds = f"{f.started_with} + {f.given} seeds, {f.minutes or 0:.1f} min"
        shown = f": {interval_text(f)}" if interval_text(f) != "–" else ""
        print(f"  {f.claim}: {verdict}{shown} ({seeds}{words})")
