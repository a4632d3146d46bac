"""reports/stats.py against hand computations and printed tables, and seeds_to_decide's power
by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reports.stats import (
    MIN_EFFECT,
    expected_max,
    holm,
    mean_interval,
    one_sided_p,
    paired_difference,
    seeds_to_decide,
    t_quantile,
    tukey_intervals,
)


def test_the_interval_is_the_hand_computed_t_interval():
    values = [0.70, 0.72, 0.74]  # mean 0.72, sample std 0.02, t(2) = 4.303 (printed tables)
    iv = mean_interval(values)
    half = 4.303 * 0.02 / math.sqrt(3)  # 0.049687...
    assert iv.n == 3 and iv.mean == pytest.approx(0.72)
    assert iv.std == pytest.approx(0.02)
    assert iv.low == pytest.approx(0.72 - half, abs=1e-5)
    assert iv.half_width == pytest.approx(0.0496868, abs=1e-5)


def test_one_value_has_no_interval_and_t_matches_the_printed_table():
    one = mean_interval([0.5])
    assert one.mean == 0.5 and math.isnan(one.low) and one.n == 1
    assert t_quantile(0.975, 1) == pytest.approx(12.706, abs=1e-3)
    assert t_quantile(0.975, 30) == pytest.approx(2.042, abs=1e-3)
    assert t_quantile(0.8, 2) == pytest.approx(1.061, abs=1e-3)
    assert math.isnan(t_quantile(0.975, 0))


def test_paired_difference_uses_only_common_seeds():
    a = {0: 0.80, 1: 0.82, 2: 0.81, 7: 0.99}
    b = {0: 0.78, 1: 0.79, 2: 0.80}
    pair = paired_difference(a, b)
    assert pair.seeds == (0, 1, 2)
    assert pair.diffs == pytest.approx((0.02, 0.03, 0.01))
    assert pair.interval.mean == pytest.approx(0.02)


def test_the_one_sided_p_is_the_t_distributions_tail_by_hand():
    # mean 0.02, sd 0.01, n 3: t = 0.02 / (0.01 / sqrt 3) = 2 sqrt 3; with 2 degrees of
    # freedom the t CDF is 1/2 + t / (2 sqrt(2 + t^2)), so p = 1/2 - t / (2 sqrt 14)
    t = 2 * math.sqrt(3)
    assert one_sided_p([0.01, 0.02, 0.03]) == pytest.approx(0.5 - t / (2 * math.sqrt(14)))
    assert one_sided_p([-0.01, -0.02, -0.03]) == pytest.approx(0.5 + t / (2 * math.sqrt(14)))
    # against a shift: mean - shift 0.01 -> t = sqrt 3: p = 1/2 - sqrt 3 / (2 sqrt 5)
    assert one_sided_p([0.01, 0.02, 0.03], 0.01) == pytest.approx(
        0.5 - math.sqrt(3) / (2 * math.sqrt(5))
    )
    # two pairs, or three of one value, mean nothing: a bootstrap share would print 1.00
    assert math.isnan(one_sided_p([0.01, 0.02]))
    assert math.isnan(one_sided_p([0.01, 0.01, 0.01]))


def test_seeds_to_decide_is_the_power_formula_at_the_pilots_degrees_of_freedom():
    # ((t.975(2) + t.8(2)) * 0.006 / 0.005)^2 = ((4.3027 + 1.0607) * 1.2)^2 = 41.42 -> 42
    assert seeds_to_decide(0.006, 3, 0.005) == 42
    # a pilot of 30: t.975(29) = 2.0452, t.8(29) = 0.8542 -> (2.8994 * 1.2)^2 = 12.1 -> 13
    assert seeds_to_decide(0.006, 30, 0.005) == 13
    assert seeds_to_decide(0.0001, 3, 0.005) == 3  # never fewer than 3
    assert seeds_to_decide(0.006, 1, 0.005) is None  # no spread to plan with: "unknown"


def test_planned_seeds_give_at_least_80_percent_power_by_simulation():
    """A true effect of E with sd 0.006: a 3-pair pilot plans n, a fresh run of n pairs is
    decided (the 95% interval above 0) in at least 80% of 2000 simulated studies. The
    observed-effect rule this replaced decided such a study about half the time."""
    rng = np.random.default_rng(0)
    sd, decided, runs = 0.006, 0, 2000
    for _ in range(runs):
        pilot = rng.normal(MIN_EFFECT, sd, 3)
        n = min(seeds_to_decide(float(pilot.std(ddof=1)), 3), 1000)
        iv = mean_interval(list(rng.normal(MIN_EFFECT, sd, n)))
        decided += iv.low > 0
    assert decided / runs >= 0.8, decided / runs


def test_tukey_intervals_by_hand():
    table = {
        "a": {0: 0.700, 1: 0.710, 2: 0.690},
        "b": {0: 0.703, 1: 0.711, 2: 0.692},
        "c": {0: 0.701, 1: 0.709, 2: 0.693, 3: 0.5},  # seed 3 is not shared: left out
    }
    got = tukey_intervals(table)
    assert got is not None and got.seeds == (0, 1, 2) and got.df == 4
    y = [[table[t][s] for s in (0, 1, 2)] for t in "abc"]
    grand = sum(map(sum, y)) / 9
    rows = [sum(r) / 3 for r in y]
    cols = [sum(y[i][j] for i in range(3)) / 3 for j in range(3)]
    sse = sum((y[i][j] - rows[i] - cols[j] + grand) ** 2 for i in range(3) for j in range(3))
    assert got.mse == pytest.approx(sse / 4)
    assert got.q == pytest.approx(5.04, abs=0.01)  # q(0.05; 3, 4) in printed tables
    half = got.q * math.sqrt(sse / 4 / 3)
    ab = next(p for p in got.pairs if (p.a, p.b) == ("a", "b"))
    assert ab.mean == pytest.approx(rows[0] - rows[1])
    assert ab.low == pytest.approx(ab.mean - half) and ab.high == pytest.approx(ab.mean + half)
    assert len(got.pairs) == 3
    assert tukey_intervals({"a": {0: 1.0}}) is None


def test_holm_by_hand():
    # sorted: 0.01 x 4 = 0.04; 0.03 x 3 = 0.09; 0.04 x 2 = 0.08 -> kept monotone at 0.09
    got = holm([0.01, 0.04, 0.03, math.nan])
    assert got[:3] == pytest.approx([0.04, 0.09, 0.09]) and math.isnan(got[3])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_expected_max_by_hand():
    values = [0.1, 0.2, 0.3]
    mean, std = expected_max(values)
    assert mean[0] == pytest.approx(0.2)  # one draw: the mean
    # two draws from three: P(max = 0.1) = 1/9, 0.2: 3/9, 0.3: 5/9
    assert mean[1] == pytest.approx((0.1 * 1 + 0.2 * 3 + 0.3 * 5) / 9)
    assert mean[2] > mean[1] > mean[0] and std[0] == pytest.approx(np.std(values))
