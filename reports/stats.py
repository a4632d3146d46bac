"""The statistics of the report, each a textbook procedure on scipy's distributions.

- mean_interval: the mean over the seeds of one configuration, with its 95% t interval.
- paired_difference / one_sided_p: A - B over paired seeds; the p-value of the one-sided
  paired t-test (H1: A > B), given only with at least MIN_PAIRS pairs and a non-zero spread.
- seeds_to_decide: the n of a paired t-test with 80% power at the 95% level against the
  smallest effect worth knowing, MIN_EFFECT (not against the observed effect, which the
  winner's curse inflates): n = ((t.975 + t.8) * s / E)^2 at the pilot's degrees of freedom.
- tukey_intervals: all pairwise differences of k treatments measured on the same b seeds
  (a two-way model, treatment x seed, no interaction), with Tukey's simultaneous 95% intervals
  from the studentized range.
- holm: Holm's step-down adjustment of several p-values.
- expected_max: Dodge et al. (2019)'s expected best of n draws.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
POWER = 0.80
MIN_EFFECT = 0.005
"""E: the smallest difference in dev overall worth knowing. It is the 'no difference' band
(±E) and the effect seeds_to_decide plans for."""
MIN_PAIRS = 3
"""Fewer pairs than this decide nothing: 2 points give one degree of freedom, and a sign test
or a resample of 3 points has too few distinct outcomes."""


def t_quantile(q: float, df: int) -> float:
    """The q quantile of Student's t with `df` degrees of freedom (NaN for df < 1)."""
    return float(stats.t.ppf(q, df)) if df >= 1 else math.nan


@dataclass(frozen=True)
class Interval:
    """A mean over n values with its 95% t interval (low, high: NaN when n < 2)."""

    mean: float
    low: float
    high: float
    n: int
    std: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_interval(values: Sequence[float | None]) -> Interval:
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, 1, math.nan)
    std = float(x.std(ddof=1))
    half = t_quantile(1 - (1 - LEVEL) / 2, n - 1) * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, std)


@dataclass(frozen=True)
class Paired:
    """A - B over the seeds both have: the differences in seed order and their interval."""

    seeds: tuple[int, ...]
    diffs: tuple[float, ...]
    interval: Interval


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Paired:
    """a, b: seed -> score. Only seeds present in both count (paired)."""
    seeds = tuple(sorted(set(a) & set(b)))
    diffs = tuple(float(a[s] - b[s]) for s in seeds)
    return Paired(seeds, diffs, mean_interval(diffs))


def one_sided_p(diffs: Sequence[float], shift: float = 0.0) -> float:
    """p of the one-sided t-test of H1: mean(diffs) > shift; NaN with fewer than MIN_PAIRS
    values or no spread (the t statistic is then undefined or infinite)."""
    x = np.asarray(diffs, dtype=np.float64)
    if len(x) < MIN_PAIRS or float(x.std(ddof=1)) == 0.0:
        return math.nan
    return float(stats.ttest_1samp(x - shift, 0.0, alternative="greater").pvalue)


def seeds_to_decide(std: float, pilot_n: int, effect: float = MIN_EFFECT) -> int | None:
    """Pairs a paired t-test needs for 80% power at the 95% level against `effect`, with the
    pilot's spread `std` and its n - 1 degrees of freedom; None below 2 pilot pairs (no spread
    to plan with). At least MIN_PAIRS."""
    if pilot_n < 2 or not math.isfinite(std):
        return None
    df = pilot_n - 1
    z = t_quantile(1 - (1 - LEVEL) / 2, df) + t_quantile(POWER, df)
    return max(MIN_PAIRS, math.ceil((z * std / effect) ** 2))


@dataclass(frozen=True)
class PairInterval:
    """One pair of treatments: mean A - B over the seeds, with Tukey's simultaneous interval."""

    a: str
    b: str
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Tukey:
    """Tukey's simultaneous intervals of a treatment x seed table (tukey_intervals)."""

    names: tuple[str, ...]
    """The k treatments."""
    pairs: tuple[PairInterval, ...]
    seeds: tuple[int, ...]
    df: int
    """Residual degrees of freedom, (k - 1)(b - 1)."""
    mse: float
    """Residual mean square of the two-way model."""
    q: float
    """The studentized range's 95% quantile for k treatments at df."""


def tukey_intervals(table: dict[str, dict[int, float]]) -> Tukey | None:
    """table: treatment -> seed -> score. Uses the seeds every treatment has; None with fewer
    than 2 treatments or 2 such seeds.

    The model: y[i, j] = mu + treatment_i + seed_j + e[i, j]. With b seeds, the residual mean
    square MSE has (k - 1)(b - 1) degrees of freedom, and every difference of treatment means
    has the interval d ± q(0.95; k, df) * sqrt(MSE / b) (Tukey-Kramer, equal n)."""
    names = sorted(table)
    if len(names) < 2:
        return None
    seeds = tuple(sorted(set.intersection(*(set(table[n]) for n in names))))
    k, b = len(names), len(seeds)
    if b < 2:
        return None
    y = np.asarray([[table[n][s] for s in seeds] for n in names], dtype=np.float64)  # (k, b)
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
    df = (k - 1) * (b - 1)
    mse = float((resid**2).sum() / df)
    q = float(stats.studentized_range.ppf(LEVEL, k, df))
    half = q * math.sqrt(mse / b)
    means = y.mean(axis=1)
    pairs = []
    for i, j in itertools.combinations(range(k), 2):
        d = float(means[i] - means[j])
        pairs.append(PairInterval(names[i], names[j], d, d - half, d + half))
    return Tukey(tuple(names), tuple(pairs), seeds, df, mse, q)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order (NaN stays NaN and counts as a
    test that rejects nothing)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: (math.isnan(pvalues[i]), pvalues[i]))
    adjusted = [math.nan] * m
    running = 0.0
    for rank, i in enumerate(order):
        if math.isnan(pvalues[i]):
            continue
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def expected_max(values: list[float], n_max: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Expected best of n draws (with replacement) from the empirical distribution of
    `values`, and its standard deviation, for n = 1..n_max (Dodge et al. 2019, Eq. 1)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    count = len(v)
    n_max = n_max or count
    ranks = np.arange(1, count + 1) / count
    means, stds = [], []
    for n in range(1, n_max + 1):
        weight = ranks**n - (ranks - 1 / count) ** n  # P(the best of n is the i-th smallest)
        mean = float(np.sum(weight * v))
        means.append(mean)
        stds.append(math.sqrt(max(float(np.sum(weight * v**2)) - mean**2, 0.0)))
    return np.asarray(means), np.asarray(stds)
