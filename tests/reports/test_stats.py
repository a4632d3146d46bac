"""reports/stats.py against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reports.stats import (
    expected_max,
    mean_interval,
    p_better,
    paired_difference,
    seeds_needed,
    t975,
)


def test_the_interval_is_the_hand_computed_t_interval():
    values = [0.70, 0.72, 0.74]  # mean 0.72, sample std 0.02, t(2) = 4.303
    iv = mean_interval(values)
    half = 4.303 * 0.02 / math.sqrt(3)  # 0.049687...
    assert iv.n == 3 and iv.mean == pytest.approx(0.72)
    assert iv.std == pytest.approx(0.02)
    assert iv.low == pytest.approx(0.72 - half) and iv.high == pytest.approx(0.72 + half)
    assert iv.half_width == pytest.approx(0.0496868, abs=1e-6)


def test_one_value_has_no_interval_and_t_matches_its_table():
    one = mean_interval([0.5])
    assert one.mean == 0.5 and math.isnan(one.low) and one.n == 1
    assert t975(1) == 12.706 and t975(30) == 2.042
    assert t975(60) == pytest.approx(2.000, abs=2e-3) and t975(1000) == pytest.approx(
        1.962, abs=1e-3
    )


def test_paired_difference_uses_only_common_seeds():
    a = {0: 0.80, 1: 0.82, 2: 0.81, 7: 0.99}
    b = {0: 0.78, 1: 0.79, 2: 0.80}
    pair = paired_difference(a, b)
    assert pair.seeds == (0, 1, 2)
    assert pair.interval.mean == pytest.approx((0.02 + 0.03 + 0.01) / 3)
    assert pair.p_better == 1.0  # every resample of positive differences is positive


def test_p_better_counts_ties_half_and_sides():
    assert p_better(np.array([0.0, 0.0])) == 0.5
    assert p_better(np.array([-0.01, -0.02])) == 0.0
    mixed = p_better(np.array([0.03, -0.01, 0.02]))
    assert 0.5 < mixed < 1.0


def test_seeds_needed_shrinks_the_interval_below_the_effect():
    iv = mean_interval([0.01, 0.03, -0.005])  # mean 0.0117, std 0.0176: not decided at n = 3
    n = seeds_needed(iv)
    assert n is not None and n > 3
    assert t975(n - 1) * iv.std / math.sqrt(n) < abs(iv.mean)
    assert t975(n - 2) * iv.std / math.sqrt(n - 1) >= abs(iv.mean)
    # "no difference": the interval must fit in ±0.01 around a mean of 0.012 -> never
    assert seeds_needed(mean_interval([0.011, 0.013, 0.012]), margin=-0.01) is None
    assert seeds_needed(mean_interval([0.001, 0.004, -0.002]), margin=-0.01) is not None


def test_expected_max_by_hand():
    values = [0.1, 0.2, 0.3]
    mean, std = expected_max(values)
    assert mean[0] == pytest.approx(0.2)  # one draw: the mean
    # two draws from three: P(max = 0.1) = 1/9, 0.2: 3/9, 0.3: 5/9
    assert mean[1] == pytest.approx((0.1 * 1 + 0.2 * 3 + 0.3 * 5) / 9)
    assert mean[2] > mean[1] > mean[0] and std[0] == pytest.approx(np.std(values))
