"""bounds.recommend: burn-in recommendations from bound curves (docs/theory.md §5 T1, §6 T2b)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bounds import (
    HypothesisError,
    Recommendation,
    performance_regret_apriori,
    recommend_burn_in,
    recommend_performance,
    recommend_training,
    training_regret,
)


def test_smallest_m_within_tolerance():
    # worked by hand: tol * loss = 0.2; bounds 1.0, 0.3, 0.15, 0.1 -> m = 2
    rec = recommend_training([0, 1, 2, 3], [1.0, 0.3, 0.15, 0.1], loss_level=1.0, tol=0.2)
    assert isinstance(rec, Recommendation)
    assert (rec.m, rec.bound, rec.best_m) == (2, 0.15, 3)
    assert "m = 2" in rec.reason and "0.2" in rec.reason and "T1" in rec.reason


def test_non_monotone_curve_takes_smallest_m():
    rec = recommend_training([0, 1, 2, 3], [0.5, 0.05, 0.3, 0.01], loss_level=1.0, tol=0.1)
    assert rec.m == 1 and rec.best_m == 3


def test_no_m_meets_the_tolerance_says_so():
    rec = recommend_training([0, 1, 2], [1.0, 0.5, 0.4], loss_level=1.0, tol=0.1)
    assert rec.m is None
    assert rec.best_m == 2 and rec.bound == 0.4
    assert "no burn-in" in rec.reason and "best available m" in rec.reason


def test_performance_minimiser_ignores_nan_and_breaks_ties_low():
    rec = recommend_performance([0, 1, 2, 3], [np.nan, 0.2, 0.1, 0.1])
    assert (rec.m, rec.bound) == (2, 0.1)
    assert "T2b" in rec.reason and "minimises" in rec.reason


def test_recommend_burn_in_on_real_bound_curves():
    N, stride, S = 21, 1, 80
    T, o_min = (S - 1) * stride + N, N - stride
    ms = np.arange(0, o_min + 1)
    tb = training_regret(C=1.3, lam=0.8, m=ms, N=N, V_inf=0.02, Delta_0=0.5,
                         Delta_01=0.4, rho=0.3)
    pb = performance_regret_apriori(
        P_b=0.05, eps=2.0, C=1.3, lam=0.8, rho=0.3, Delta_0=0.5, Delta_01=0.4,
        Delta_b=0.2, C_star=1.2, lam_star=0.75, H=1.0, S=S, T=T, N=N, m=ms, o_min=o_min,
    )
    rec = recommend_burn_in(ms, tb, loss_level=0.02, tol=0.25, performance_bound=pb)
    target = 0.25 * 0.02
    assert tb[rec.training.m] <= target
    assert np.all(tb[: rec.training.m] > target)
    assert rec.performance.m == int(ms[np.argmin(pb)])
    assert rec.performance.bound == pytest.approx(pb.min())
    assert "training:" in str(rec) and "performance:" in str(rec)
    assert recommend_burn_in(ms, tb, 0.02, 0.25).performance is None


@given(bounds=st.lists(st.floats(0, 10), min_size=1, max_size=30), tol=st.floats(1e-3, 2))
def test_training_rule_properties(bounds, tol):
    ms = np.arange(len(bounds))
    rec = recommend_training(ms, bounds, loss_level=1.0, tol=tol)
    b = np.array(bounds)
    if rec.m is None:
        assert np.all(b > tol)
    else:
        assert b[rec.m] <= tol and np.all(b[: rec.m] > tol)
    assert b[rec.best_m] == b.min()


def test_loss_level_zero_is_a_case():
    """Data the model fits exactly (issue 12 #7): the rule asks for a bound of 0."""
    rec = recommend_training([0, 1, 2, 3], [0.3, 0.0, 0.0, 0.1], loss_level=0.0, tol=0.5)
    assert (rec.m, rec.bound, rec.best_m) == (1, 0.0, 1)
    none = recommend_training([0, 1], [0.3, 0.1], loss_level=0.0, tol=0.5)
    assert none.m is None and none.best_m == 1 and "no burn-in" in none.reason


@pytest.mark.parametrize(
    "args, match",
    [
        (([0, 1], [0.1], 1.0, 0.1), r"training_bound has 1 values but ms has 2"),
        (([0, 1], [0.1, -0.1], 1.0, 0.1), r"training_bound must be >= 0"),
        (([0, 1], [0.1, 0.1], -1.0, 0.1), r"loss_level = -1 must be >= 0"),
        (([0, 1], [0.1, 0.1], 1.0, -1.0), r"tol = -1 must be > 0"),
        (([0, 1.5], [0.1, 0.1], 1.0, 0.1), r"ms = 1\.5 must be an integer"),
        (([0, 1], [np.nan, np.inf], 1.0, 0.1), r"training_bound has no finite value"),
    ],
)
def test_invalid_input(args, match):
    with pytest.raises(HypothesisError, match=match):
        recommend_training(*args)
