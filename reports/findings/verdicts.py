"""A Finding and the rules that give it its verdict (dev overall of paired trials).

Rules, with E = MIN_EFFECT (a claim on another scale, the rank slope, states its own E), in
this order of precedence (VERDICTS):
    no practical difference  the 95% interval of A - B lies within ±E, even if it also excludes
                     0: an "A > B" claim reads so; "A ≥ B" and "no difference" hold.
    A > B, A ≥ B     hold when the interval lies above 0, are reversed when it lies below 0.
    no difference    differs when the interval lies entirely outside ±E.
    every pair ~     (task order) holds when every Tukey interval lies within ±E, differs when
                     one lies entirely outside ±E.
    Fewer than MIN_PAIRS pairs, or no spread at all, is inconclusive, as is anything else.
With --decide the intervals are Stein's (reports/stein.py) and an undecided claim says why.

Each verdict has p_verdict: the smallest alpha at which the same interval, at level 1 - alpha,
still gives it (for a t interval, twice the one-sided p of its test). Holm's step-down over the
claims a page tests is applied to these (with_holm): a verdict whose adjusted p is not below
0.05 is inconclusive once the family is accounted for.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from reports.stats import (
    LEVEL,
    MIN_EFFECT,
    MIN_PAIRS,
    POWER,
    Tukey,
    holm,
    mean_interval,
    one_sided_p,
    seeds_to_decide,
    t_quantile,
)

ALPHA = 1 - LEVEL
MAX_PLANNED = 1000  # seeds_to_decide beyond this reads "more than 1000"


@dataclass(frozen=True)
class Finding:
    """One claim's verdict with the numbers it rests on."""

    claim: str
    source: str
    study: str
    verdict: str
    """holds | reversed | differs | no practical difference | inconclusive | not run; with
    --decide also undecided | undecided within the budget | pending."""
    reading: str = ""
    """Where the interval lies (a READINGS entry): says which way an A ≥ B claim holds."""
    effect: str = ""
    """What the numbers are, e.g. "DoRA - LoRA, dev overall"."""
    mean: float = math.nan
    low: float = math.nan
    high: float = math.nan
    """The mean difference and its 95% interval (Tukey's, for the task order)."""
    n: int = 0
    """Pairs the difference is over: seeds (stage-1 seeds for the ensembles)."""
    p_one_sided: float = math.nan
    """The one-sided paired t-test's p (H1: A > B; a 'no difference' claim: the larger of the
    two one-sided p's against ±E). NaN below MIN_PAIRS pairs or with no spread."""
    p_verdict: float = math.nan
    """The alpha at which the verdict's interval just gives it (Holm's input); NaN when
    inconclusive."""
    min_effect: float = MIN_EFFECT
    """E: the band of a 'no difference' claim and the effect seeds_to_decide plans for."""
    seeds_to_decide: int | None = None
    """Pairs for 80% power at the 95% level against E (an inconclusive verdict only)."""
    to_decide: str = ""
    """What would decide it, in words ("" once decided)."""
    trials: tuple[str, ...] = ()
    """The trial ids of the paired rows only."""
    note: str = ""
    holm_p: float = math.nan
    holm_verdict: str = ""
    """The verdict once Holm's correction over the page's claims is applied."""
    started_with: int | None = None
    """--decide: the seeds the claim had before the decide phase."""
    given: int | None = None
    """--decide: the seeds the decide phase gave it."""
    why: str = ""
    """--decide: why it got those seeds (its pilot, Stein's n, the budget)."""
    minutes: float | None = None
    """--decide: the recorded minutes of the trials the decide phase ran for it (a trial two
    claims share counts for both)."""


def not_run(claim: str, source: str, study: str, why: str = "") -> Finding:
    command = f"python -m study run {study}"
    note = f"{why}; run it with: {command}" if why else f"run it with: {command}"
    return Finding(claim, source, study, "not run", effect=why, note=note, to_decide=command)


READINGS = ("within ±E", "above E", "above 0", "below -E", "below 0", "spans 0")
"""Where a 95% interval lies, first match wins: within ±E is read first, even when it also
excludes 0 (an effect smaller than E is no practical difference)."""
VERDICTS = {
    "greater": dict(
        zip(
            READINGS,
            ("no practical difference", "holds", "holds", "reversed", "reversed", "inconclusive"),
            strict=True,
        )
    ),
    "at_least": dict(
        zip(
            READINGS,
            ("holds", "holds", "holds", "reversed", "reversed", "inconclusive"),
            strict=True,
        )
    ),
    "same": dict(
        zip(
            READINGS,
            ("holds", "differs", "inconclusive", "differs", "inconclusive", "inconclusive"),
            strict=True,
        )
    ),
}
"""kind -> reading -> verdict. greater: A > B. at_least: A ≥ B, which holds as "greater" or
as "no practical difference" (Finding.reading says which). same: no difference."""
KINDS = tuple(VERDICTS)


def verdict_words(f: Finding) -> str:
    """The verdict as the page and `run` print it: a claim that holds because its interval lies
    within ±E (A ≥ B, or "no difference") says so."""
    if f.verdict == "holds" and f.reading == "within ±E":
        return "holds (no practical difference)"
    return f.verdict


def read_interval(low, high, effect: float):  # noqa: ANN001, ANN201
    """The READINGS entry of each interval (floats or numpy arrays of them)."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    conditions = [
        (-effect <= low) & (high <= effect),
        low > effect,
        low > 0,
        high < -effect,
        high < 0,
    ]
    out = np.select(conditions, READINGS[:-1], default=READINGS[-1])
    return str(out) if out.ndim == 0 else out


def reading_p(kind: str, reading: str, above, below, effect: float) -> float:  # noqa: ANN001
    """The alpha at which the same kind of interval, at level 1 - alpha, still gives the verdict
    `reading` gives: twice the one-sided p of its test. above(shift) / below(shift): the
    one-sided p of H1: mu > shift / mu < shift. A > B and A ≥ B test against 0, no difference
    against ±E. NaN for "spans 0"."""
    if reading == "within ±E":
        return 2 * max(above(-effect), below(effect))  # two one-sided tests (TOST)
    if reading == READINGS[-1]:
        return math.nan
    bound = effect if kind == "same" else 0.0
    return 2 * (above(bound) if reading.startswith("above") else below(-bound))


def judge(
    claim: str,
    source: str,
    study: str,
    kind: str,
    effect: str,
    diffs: Sequence[float],
    trials: Sequence[str],
    note: str = "",
    min_effect: float = MIN_EFFECT,
) -> Finding:
    """kind: a VERDICTS key, over paired differences A - B and their 95% t interval."""
    d = np.asarray(diffs, dtype=np.float64)
    iv = mean_interval(list(d))
    decidable = iv.n >= MIN_PAIRS and iv.std > 0
    reading = read_interval(iv.low, iv.high, min_effect) if decidable else READINGS[-1]
    verdict = VERDICTS[kind][reading]
    p = math.nan
    if verdict != "inconclusive":
        p = reading_p(
            kind,
            reading,
            lambda shift: one_sided_p(d, shift),
            lambda shift: one_sided_p(-d, -shift),
            min_effect,
        )
    if kind == "same":
        p_show = max(one_sided_p(d, -min_effect), one_sided_p(-d, -min_effect))  # TOST
    else:
        p_show = one_sided_p(d)
    needed, words = None, ""
    if verdict == "inconclusive":
        needed, words = plan_seeds(iv.n, iv.std, min_effect)
    return Finding(
        claim=claim,
        source=source,
        study=study,
        verdict=verdict,
        reading=reading if decidable else "",
        effect=effect,
        mean=iv.mean,
        low=iv.low,
        high=iv.high,
        n=iv.n,
        p_one_sided=p_show,
        p_verdict=p,
        min_effect=min_effect,
        seeds_to_decide=needed,
        to_decide=words,
        trials=tuple(trials),
        note=note,
    )


def plan_seeds(n: int, std: float, effect: float) -> tuple[int | None, str]:
    """(pairs to plan for, the words the page shows) for an inconclusive comparison."""
    if n < 2:
        return None, f"unknown ({n} pair): run {MIN_PAIRS} seeds"
    if std == 0:
        return None, f"unknown (no spread): run {MIN_PAIRS} distinct seeds"
    needed = seeds_to_decide(std, n, effect)
    if needed > MAX_PLANNED:
        return None, f"more than {MAX_PLANNED} seeds: the spread is large against E"
    if needed <= n:
        return needed, f"{needed} (already run: the effect is likely below E={effect:g})"
    return needed, f"{needed} seeds"


def judge_tukey(
    claim: str,
    source: str,
    study: str,
    effect: str,
    tukey: Tukey | None,
    trials: Sequence[str],
    min_effect: float = MIN_EFFECT,
) -> Finding:
    """Every pair of treatments within ±E (Tukey's simultaneous intervals): one claim."""
    if tukey is None or len(tukey.seeds) < MIN_PAIRS or tukey.mse == 0:
        n = 0 if tukey is None else len(tukey.seeds)
        needed, words = plan_seeds(n, math.sqrt(tukey.mse) if tukey else math.nan, min_effect)
        return Finding(
            claim,
            source,
            study,
            "inconclusive",
            effect,
            n=n,
            min_effect=min_effect,
            seeds_to_decide=needed,
            to_decide=words,
            trials=tuple(trials),
        )
    k = len(tukey.names)
    se = math.sqrt(tukey.mse / len(tukey.seeds))
    largest = max(tukey.pairs, key=lambda p: abs(p.mean))
    inside = all(-min_effect <= p.low and p.high <= min_effect for p in tukey.pairs)
    outside = [p for p in tukey.pairs if p.low > min_effect or p.high < -min_effect]
    verdict, p = "inconclusive", math.nan
    if inside:
        verdict = "holds"
        p = float(stats.studentized_range.sf((min_effect - abs(largest.mean)) / se, k, tukey.df))
    elif outside:
        verdict = "differs"
        x = max((abs(q.mean) - min_effect) / se for q in outside)
        p = float(stats.studentized_range.sf(x, k, tukey.df))
    needed, words = None, ""
    if verdict == "inconclusive":
        needed = _tukey_seeds(k, tukey.mse, min_effect)
        words = f"{needed} seeds per order" if needed else f"more than {MAX_PLANNED} seeds"
    return Finding(
        claim=claim,
        source=source,
        study=study,
        verdict=verdict,
        effect=f"{effect}; largest pair: {largest.a} - {largest.b}",
        mean=largest.mean,
        low=largest.low,
        high=largest.high,
        n=len(tukey.seeds),
        p_verdict=p,
        min_effect=min_effect,
        seeds_to_decide=needed,
        to_decide=words,
        trials=tuple(trials),
        note=(
            f"{len(tukey.pairs)} pairs of {k} orders over seeds {list(tukey.seeds)}; "
            f"Tukey's 95% half-width {tukey.q * se:.4f} (q={tukey.q:.3f}, df={tukey.df})"
        ),
    )


def _tukey_seeds(k: int, mse: float, effect: float) -> int | None:
    """Seeds per treatment for which Tukey's half-width plus the t.8 margin fits within E when
    no pair truly differs (the same 80%-power plan as seeds_to_decide)."""
    for b in range(MIN_PAIRS, MAX_PLANNED + 1):
        df = (k - 1) * (b - 1)
        q = float(stats.studentized_range.ppf(LEVEL, k, df))
        if (q + t_quantile(POWER, df)) * math.sqrt(mse / b) <= effect:
            return b
    return None


def combine(claim: str, source: str, study: str, parts: list[Finding]) -> Finding:
    """A claim that is the AND of directional parts ("3 > 1 and 3 > 2"): it holds when every
    part holds (an intersection-union test: p is the largest part's, no correction needed),
    is reversed when one part is, and is shown at its weakest part."""
    verdicts = [f.verdict for f in parts]
    if all(v == "holds" for v in verdicts):
        verdict, p = "holds", max(f.p_verdict for f in parts)
    elif "reversed" in verdicts:
        verdict = "reversed"
        p = min(f.p_verdict for f in parts if f.verdict == "reversed")
    else:
        verdict, p = "inconclusive", math.nan
    weakest = min(parts, key=lambda f: f.low if math.isfinite(f.low) else -math.inf)
    undecided = [f for f in parts if f.verdict == "inconclusive"]
    # what decides the claim: the most any undecided part needs (an unknown one first)
    unknown = [f for f in undecided if f.seeds_to_decide is None]
    needed = None if unknown else max((f.seeds_to_decide for f in undecided), default=None)
    words = unknown[0].to_decide if unknown else (f"{needed} seeds" if needed else "")
    return dataclasses.replace(
        weakest,
        claim=claim,
        source=source,
        study=study,
        verdict=verdict,
        p_verdict=p,
        seeds_to_decide=needed,
        to_decide=words,
        trials=tuple(dict.fromkeys(t for f in parts for t in f.trials)),
        note="; ".join(f"{f.effect}: {interval_text(f)}, n={f.n}, {f.verdict}" for f in parts),
    )


def interval_text(f: Finding) -> str:
    """'+0.0123 [+0.0050, +0.0196]', the mean alone without an interval, '–' without either."""
    if not math.isfinite(f.mean):
        return "–"
    if not math.isfinite(f.low):
        return f"{f.mean:+.4f}"
    return f"{f.mean:+.4f} [{f.low:+.4f}, {f.high:+.4f}]"


def with_holm(findings: list[Finding]) -> list[Finding]:
    """Holm's step-down over the findings that were tested (not 'not run'): each keeps its
    verdict only when its adjusted p_verdict is below ALPHA."""
    tested = [i for i, f in enumerate(findings) if f.verdict != "not run"]
    adjusted = holm([findings[i].p_verdict for i in tested])
    out = list(findings)
    for i, p in zip(tested, adjusted, strict=True):
        f = findings[i]
        kept = f.verdict if math.isfinite(p) and p < ALPHA else "inconclusive"
        out[i] = dataclasses.replace(f, holm_p=p, holm_verdict=kept)
    return out
