"""Stein's two-stage procedure (Stein 1945): an interval whose 95% coverage holds although the
number of seeds depends on the data. `run --decide` plans with it and the findings page reads
its intervals; the simulation test (tests/reports/test_stein.py) drives these same functions.

1. The pilot: n0 paired differences per claim (the seeds every claim already has). Only their
   standard deviation s0 is used; their mean is never looked at to plan.
2. The second stage: n = max(n0, ceil(((t.975 + t.8) * s0 / E)^2)) pairs in all, t at the
   pilot's n0 - 1 degrees of freedom: 80% power against a true effect of E.
3. The interval: the mean of all n differences ± t.975 * s0 / sqrt(n), still with the pilot's
   s0 and degrees of freedom.

Why it covers: for normal differences the pilot's mean and sd are independent, and n is a
function of s0 alone. Given s0, the mean of the n differences is N(mu, sigma^2 / n), so
(mean - mu) * sqrt(n) / s0 is Student's t with n0 - 1 degrees of freedom whatever n came out.
Stopping as soon as an interval excludes 0 has no such property (the test shows it leaking).

The functions take numpy arrays as well as floats, so that the simulation runs 20,000 claims per
case through them at once.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import stats

from reports.stats import LEVEL, POWER

PROCEDURE = "Stein's two-stage procedure"


@lru_cache(maxsize=256)
def _t(q: float, df: int) -> float:
    return float(stats.t.ppf(q, df))


def level_quantile(df: int, level: float = LEVEL) -> float:
    """t at (1 + level) / 2 with df degrees of freedom: the interval's multiplier."""
    return _t(1 - (1 - level) / 2, df)


def planned_pairs(s0, n0: int, effect: float, level: float = LEVEL):  # noqa: ANN001, ANN201
    """n: the pairs a claim needs in all, from its pilot's sd s0 over n0 pairs (step 2).
    At least n0; NaN where s0 is not finite (a float for a float, an array for an array)."""
    df = n0 - 1
    z = level_quantile(df, level) + _t(POWER, df)
    s0 = np.asarray(s0, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        n = np.maximum(n0, np.ceil((z * s0 / effect) ** 2))
    n = np.where(np.isfinite(s0), n, np.nan)
    return float(n) if n.ndim == 0 else n


def interval(mean, s0, n0: int, n, level: float = LEVEL):  # noqa: ANN001, ANN201
    """(low, high): the mean of the n differences ± t * s0 / sqrt(n) (step 3)."""
    half = level_quantile(n0 - 1, level) * np.asarray(s0) / np.sqrt(np.asarray(n, dtype=float))
    return mean - half, mean + half


def one_sided_p(mean: float, s0: float, n0: int, n: int, shift: float = 0.0) -> float:
    """p of H1: mu > shift from the procedure's t statistic (mean - shift) * sqrt(n) / s0;
    the p that Holm's correction reads. NaN without spread."""
    if not s0 > 0:
        return math.nan
    return float(stats.t.sf((mean - shift) * math.sqrt(n) / s0, n0 - 1))
