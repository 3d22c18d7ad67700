"""Statistics checked against hand computations and scipy's own functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hpscout.analysis import bonferroni, holm, kendall, mean_ci, pooled_sd, spearman, welch_test


def test_mean_ci_matches_t_interval() -> None:
    values = [0.5, 0.52, 0.49, 0.51]
    r = mean_ci(values)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert r.n == 4
    assert r.mean == pytest.approx(np.mean(values))
    assert (r.ci_low, r.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert r.half_width == pytest.approx((hi - lo) / 2)


def test_mean_ci_small_samples_have_no_interval() -> None:
    assert mean_ci([]).mean is None
    one = mean_ci([3.0])
    assert one.mean == 3.0 and one.ci_low is None and one.sd is None and one.half_width is None


def test_mean_ci_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        mean_ci([1.0, math.nan])


def test_welch_matches_scipy() -> None:
    a, b = [1.0, 1.2, 0.9, 1.1], [1.5, 1.9, 1.4]
    p, note = welch_test(a, b)
    assert note is None
    assert p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_welch_needs_two_per_side() -> None:
    p, note = welch_test([1.0], [1.0, 2.0])
    assert p is None and "n=1" in note


def test_welch_zero_variance() -> None:
    assert welch_test([1.0, 1.0], [1.0, 1.0])[0] == 1.0
    p, note = welch_test([1.0, 1.0], [2.0, 2.0])
    assert p == 0.0 and "zero variance" in note


def test_holm_and_bonferroni() -> None:
    assert holm([0.01, 0.04, None, 0.03]) == [0.03, 0.06, None, 0.06]
    assert holm([]) == []
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert bonferroni([0.01, None, 0.2]) == [0.02, None, 0.4]


def test_rank_correlations() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    x, y = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert kendall(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # constant side: undefined, not NaN
    assert kendall([1], [2]) is None
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2], [1, 2, 3])


def test_pooled_sd() -> None:
    assert pooled_sd([[1.0, 3.0], [5.0, 7.0], [9.0]]) == pytest.approx(math.sqrt(2.0))
    assert pooled_sd([[1.0], [2.0]]) is None
