"""Intervals over seeds: the mean with a 95% t interval, paired differences with P(A > B), and
how many seeds would likely decide a comparison. numpy only.

P(A > B) is a bootstrap over paired seeds: the share of 10,000 resamples (with replacement, a
fixed generator) of the per-seed differences whose mean is above 0, ties counted half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# t quantiles at 0.975 for 1..30 degrees of freedom (beyond: a Cornish-Fisher expansion)
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)
BOOTSTRAP = 10_000
MAX_SEEDS = 100  # seeds_needed gives up beyond this


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom."""
    if df < 1:
        return math.nan
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


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


def mean_interval(values: list[float]) -> Interval:
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, 1, math.nan)
    std = float(x.std(ddof=1))
    half = t975(n - 1) * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, std)


@dataclass(frozen=True)
class Paired:
    """A − B over the seeds both have: the mean difference, its interval, P(A > B)."""

    interval: Interval
    p_better: float
    seeds: tuple[int, ...]


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Paired:
    """a, b: seed -> score. Only seeds present in both count (paired)."""
    seeds = tuple(sorted(set(a) & set(b)))
    diffs = np.asarray([a[s] - b[s] for s in seeds], dtype=np.float64)
    return Paired(mean_interval(list(diffs)), p_better(diffs), seeds)


def p_better(diffs: np.ndarray) -> float:
    """Bootstrap P(mean difference > 0) over the given per-seed differences."""
    diffs = np.asarray(diffs, dtype=np.float64)
    if len(diffs) == 0:
        return math.nan
    rng = np.random.default_rng(0)
    means = diffs[rng.integers(0, len(diffs), (BOOTSTRAP, len(diffs)))].mean(axis=1)
    return float(np.mean(means > 0) + 0.5 * np.mean(means == 0))


def seeds_needed(interval: Interval, margin: float = 0.0) -> int | None:
    """Seeds likely to decide the comparison if its mean and spread stay as they are: the
    smallest n whose 95% half-width is below |mean| - margin (a directional claim: margin 0)
    or below margin - |mean| (a 'no difference' claim: margin 0.01, pass margin=-0.01).
    None when no n up to MAX_SEEDS would."""
    if interval.n < 2 or not math.isfinite(interval.std):
        return None
    room = abs(interval.mean) - margin if margin >= 0 else -margin - abs(interval.mean)
    if room <= 0:
        return None
    if interval.std == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        if t975(n - 1) * interval.std / math.sqrt(n) < room:
            return n
    return None


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
