"""The verdict of each claim that `run --decide` planned (decide.json), from Stein's intervals
over exactly the seeds the plan fixed (reports/stein.py), in this order of precedence:

    no practical difference   the interval lies within ±E (an A ≥ B claim then holds)
    holds / reversed          the interval lies above / below 0 (differs, for "no difference")
    undecided within the budget   the budget could not pay for its seeds, and the interval
                              over its pilot decides nothing: what it still needs (a pilot
                              interval that does decide gives the verdicts above)
    pending                   its seeds are still running (or the phase was interrupted)
    undecided                 its n ran and the interval still spans 0 and E, or its pilot had
                              no spread, or its trials kept failing
"""

from __future__ import annotations

import dataclasses
import math

from reports.findings.claims import Contrast
from reports.findings.verdicts import VERDICTS, Finding, combine, read_interval, reading_p
from reports.loading import StudyData
from reports.stein import PROCEDURE, interval, one_sided_p
from study.records import TrialRecord
from study.records.decisions import ClaimPlan, DecidePlan
from study.tuning.reruns import params_key

MAX_TRIES = 3
"""A trial of the decide phase that errors runs again at the same seed, at most this many
times in all (study/decide/phase.py)."""


def decided_findings(plan: DecidePlan, rows: list[TrialRecord], running: bool) -> list[Finding]:
    """One Finding per claim of the plan, in its order. running: the study holds its folder."""
    return [judge_planned(c, plan, rows, running) for c in plan.claims]


def arm_rows(c: ClaimPlan, rows: list[TrialRecord]) -> dict[str, dict[int, TrialRecord]]:
    """arm -> seed -> its completed row (the first by trial id where a seed ran twice)."""
    out: dict[str, dict[int, TrialRecord]] = {}
    for arm, params in c.arms.items():
        key = params_key(params)
        matches = sorted(
            (r for r in rows if r.completed and params_key(r.params) == key),
            key=lambda r: str(r.trial_id),
        )
        out[arm] = {}
        for r in matches:
            out[arm].setdefault(r.seed_value, r)
    return out


def tries(plan: DecidePlan, params: dict, seed: int) -> int:
    """Passes of the decide phase that included this trial."""
    key = params_key(params)
    return sum(
        1
        for p in plan.passes
        for point in p.points
        if point.get("seed") == seed and params_key(point) == key
    )


def _accounting(c: ClaimPlan, arms: dict[str, dict[int, TrialRecord]]) -> tuple[int, int, float]:
    """(seeds it started with, seeds the decide phase gave it, minutes those trials took)."""
    seeds = [s for s in c.seeds if all(s in arms[a] for a in c.arms)]
    given = [s for s in seeds if any(arms[a][s].phase == "decide" for a in c.arms)]
    seconds = sum(
        arms[a][s].seconds or 0.0 for s in given for a in c.arms if arms[a][s].phase == "decide"
    )
    return len(seeds) - len(given), len(given), seconds / 60


def judge_planned(
    c: ClaimPlan, plan: DecidePlan, rows: list[TrialRecord], running: bool
) -> Finding:
    arms = arm_rows(c, rows)
    started, given, minutes = _accounting(c, arms)
    base = Finding(
        claim=c.claim,
        source=c.source,
        study=c.study,
        verdict="pending",
        effect="; ".join(k.effect for k in c.contrasts),
        n=started + given,
        min_effect=c.contrasts[0].min_effect if c.contrasts else plan.min_effect,
        started_with=started,
        given=given,
        why=c.why,
        minutes=minutes,
        note=f"seeds {started} + {given}: {c.why}" if c.why else "",
    )
    lacking = [(p, s) for s in c.seeds for a, p in c.arms.items() if s not in arms[a]]
    if not c.planned or lacking:
        unfinished = _unfinished(base, c, plan, lacking, running)
        if c.planned and unfinished.verdict == "undecided within the budget":
            return _judge(unfinished, c, arms, c.pilot, unfunded=True)
        return unfinished
    return _judge(base, c, arms, c.seeds, unfunded=False)


def _judge(
    base: Finding,
    c: ClaimPlan,
    arms: dict[str, dict[int, TrialRecord]],
    seeds: tuple[int, ...],
    unfunded: bool,
) -> Finding:
    """The verdict over these seeds: all of the plan's, or, for a claim the budget could not
    fund (base is then its "undecided within the budget" finding), its pilot's.

    An unfunded claim's n is n0, a function of the pilots' sds and the budget alone, never of
    a mean; for normal differences a pilot's mean is independent of every pilot's sd, so the
    interval covers 95% as at Stein's n (tests/reports/test_stein.py simulates a budget too).
    The budget denies power, not validity: a pilot interval that decides is a finding.
    """
    if any(not s > 0 for s in c.s0) or any(s not in arms[a] for a in c.arms for s in seeds):
        if unfunded:
            return base
        words = "the pilot's differences have no spread: the procedure gives no interval"
        return dataclasses.replace(base, verdict="undecided", to_decide=words)
    found = _read(base, c, arms, seeds)
    if found.verdict == "inconclusive":
        if unfunded:
            return dataclasses.replace(
                found, verdict="undecided within the budget", to_decide=base.to_decide
            )
        words = f"the planned n={c.n} ran and the interval still spans 0 and E"
        return dataclasses.replace(found, verdict="undecided", to_decide=words)
    if unfunded:
        note = (
            f"read at its pilot's {len(c.pilot)} seeds: the budget did not fund n={c.n} "
            "(80% power against E)"
        )
        return dataclasses.replace(found, note=f"{note}. {found.note}".strip(), to_decide="")
    return found


def _read(
    base: Finding, c: ClaimPlan, arms: dict[str, dict[int, TrialRecord]], seeds: tuple[int, ...]
) -> Finding:
    """The claim's verdict from Stein's intervals over these seeds (all of them run)."""
    started, given, minutes = base.started_with, base.given, base.minutes
    parts = [
        _stein_part(base, c, k, s0, arms, seeds) for k, s0 in zip(contrasts(c), c.s0, strict=True)
    ]
    trials = tuple(str(arms[a][s].trial_id) for a in c.arms for s in seeds)
    note = f"seeds {started} + {given}: {c.why}" if c.why else f"{PROCEDURE}, n={c.n}"
    if len(parts) == 1:
        found = parts[0]
    elif c.rule == "orders":
        found = _orders(base, parts)
    else:
        found = combine(c.claim, c.source, c.study, parts)
        found = dataclasses.replace(
            found,
            verdict=found.verdict if found.verdict != "inconclusive" else _mixed(parts),
            started_with=started,
            given=given,
            why=c.why,
            minutes=minutes,
        )
    return dataclasses.replace(found, trials=trials, note=f"{note}. {found.note}".strip())


def contrasts(c: ClaimPlan) -> list[Contrast]:
    """The plan's contrasts as the claims module's Contrast (values per seed)."""
    return [Contrast(k.effect, k.kind, k.weights, k.min_effect) for k in c.contrasts]


def _stein_part(
    base: Finding, c: ClaimPlan, k: Contrast, s0: float, arms: dict, seeds: tuple[int, ...]
) -> Finding:
    values = k.values(arms, list(seeds))
    n, n0 = len(values), len(c.pilot)
    mean = sum(values) / n
    low, high = interval(mean, s0, n0, n, c.level)
    reading = read_interval(low, high, k.min_effect)
    verdict = VERDICTS[k.kind][reading]
    p = reading_p(
        k.kind,
        reading,
        lambda shift: one_sided_p(mean, s0, n0, n, shift),
        lambda shift: one_sided_p(-mean, s0, n0, n, -shift),
        k.min_effect,
    )
    return dataclasses.replace(
        base,
        verdict=verdict,
        reading=reading,
        effect=k.effect,
        mean=mean,
        low=float(low),
        high=float(high),
        n=n,
        p_one_sided=one_sided_p(mean, s0, n0, n),
        p_verdict=p if verdict != "inconclusive" else math.nan,
        min_effect=k.min_effect,
    )


def _orders(base: Finding, parts: list[Finding]) -> Finding:
    """Every pair within ±E: holds; a pair entirely outside: differs; else undecided."""
    largest = max(parts, key=lambda f: abs(f.mean))
    if all(f.reading == "within ±E" for f in parts):
        verdict = "holds"
        p = max(f.p_verdict for f in parts) * len(parts)  # Bonferroni's family p
    elif any(f.reading in ("above E", "below -E") for f in parts):
        verdict = "differs"
        p = min(f.p_verdict for f in parts if f.verdict == "differs") * len(parts)
    else:
        verdict, p = "inconclusive", math.nan
    return dataclasses.replace(
        base,
        verdict=verdict,
        reading=largest.reading,
        effect=f"largest pair: {largest.effect}",
        mean=largest.mean,
        low=largest.low,
        high=largest.high,
        n=largest.n,
        p_verdict=min(p, 1.0) if math.isfinite(p) else p,
    )


def _mixed(parts: list[Finding]) -> str:
    verdicts = {f.verdict for f in parts}
    return verdicts.pop() if len(verdicts) == 1 else "inconclusive"


def _unfinished(
    base: Finding, c: ClaimPlan, plan: DecidePlan, lacking: list, running: bool
) -> Finding:
    seconds = sum(plan.seconds_per_trial.get(params_key(p), 60.0) for p, _ in lacking)
    cost = f"{len(lacking)} trials, about {seconds / 60:.0f} min at the measured seconds per trial"
    still = len({s for _, s in lacking})
    if c.planned:
        words = f"{still} more seeds to n={c.n} ({cost})"
    else:
        words = f"{still} more pilot seeds ({cost}); its n is known once the pilot is complete"
    if running:
        return dataclasses.replace(base, verdict="pending", to_decide=words)
    if not c.funded:
        return dataclasses.replace(base, verdict="undecided within the budget", to_decide=words)
    failed = [(p, s) for p, s in lacking if tries(plan, p, s) >= MAX_TRIES]
    if failed:
        words = f"{len(failed)} of its trials failed {MAX_TRIES} times; {words}"
        return dataclasses.replace(base, verdict="undecided", to_decide=words)
    words = f"interrupted: `run --decide --resume` continues it; {words}"
    return dataclasses.replace(base, verdict="pending", to_decide=words)


def with_decisions(found: list[Finding], data: StudyData) -> list[Finding]:
    """The paper's findings with each claim a decide plan holds judged by that plan instead,
    then the plan's other claims (a study's best against its next configurations)."""
    rows = data.rows
    decided: dict[str, Finding] = {}
    for source in data.sources:
        if source.decide is not None:
            for f in decided_findings(source.decide, rows, source.running):
                decided.setdefault(f.claim, f)
    out = [decided.pop(f.claim, f) for f in found]
    return out + list(decided.values())
