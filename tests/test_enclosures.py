"""Activation enclosures (verification.certificates.interval) against mpmath.

Reference: every derivative written in the plain textbook form in ``t = tanh(a)`` or
``p = sigmoid(a)`` (``1 - t**2``, ``p (1 - p)``, ...: the forms that cancel in float64) and
evaluated by mpmath with enough digits that the cancellation leaves 50 (``|a|`` up to 800 needs
~750); the forms are themselves checked against mpmath's numerical differentiation. The
supremum (infimum) over an interval is the largest (smallest) value at its ends and at the
critical points of the derivative inside it, found by mpmath (scan and ``findroot``).
An enclosure must contain the reference: compared exactly, in mpmath.
"""

from __future__ import annotations

import functools

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import expit

from verification.certificates import interval

KINDS = interval.KINDS
#: Digits kept by the reference after the cancellation of the textbook forms.
DIGITS = 50
#: d1, d2, d3 are exact suprema up to the outward widening of the interval (relative 1e-12 of
#: |a| <= 800 moves exp(-2|a|) by a relative ~2e-9) and the rounding (relative 1e-12).
TIGHT_RTOL = 1e-8
#: Values below this are all "underflowed" for the tightness check (the enclosure's floor).
TIGHT_ATOL = 1e-299
#: Near a zero of an affine factor (``1 - 6 w``, ...) the enclosure is loose by the outward
#: widening of the range of ``w = phi'`` (relative 1e-12) times the factor's terms: absolute,
#: relative to ``sup w`` (which is as small as the derivative itself at saturation).
TERM_ATOL = 1e-11
#: A derivative at a point with |a| >= 5 is known to FN_REL (64 U ~ 7e-15) times its terms,
#: which are within 1.2x of its value there: 1e-13 relative (not the absolute 1e-12 before).
SAT_RTOL = 1e-13
#: The grid of the brief: zero, small, around the float cancellation (|a| ~ 19 for tanh, ~37
#: for the sigmoid), the exp underflow (~372 and ~745) and deep saturation.
GRID_A = sorted({s * v for s in (1, -1) for v in (0.0, 1e-8, 0.3, 0.658, 1.317, 2.0, 5.0, 10.0,
                                                    18.5, 20.0, 37.0, 40.0, 100.0, 354.0,
                                                    372.0, 400.0, 745.0, 800.0)})
GRID_R = (0.0, 1e-9, 0.1, 1.0, 10.0)


def _dps(*xs) -> int:
    """Digits so the textbook forms keep DIGITS at every x: ``1 - t**2`` and ``p (1 - p)`` cancel
    like ``exp(-2|x|) ~ 10**(-0.87 |x|)`` at large |x|, ``1 - 2 p`` like ``|x|`` near 0."""
    ax = [abs(mp.mpf(x)) for x in xs]
    tiny = min((x for x in ax if x > 0), default=mp.mpf(1))
    return DIGITS + 10 + int(0.87 * float(max(ax))) + max(0, int(-mp.log10(tiny)))


def ref(kind: str, k: int, x) -> mp.mpf:
    """``phi^(k)(x)`` in the textbook form (in the current mpmath precision)."""
    if kind == "tanh":
        t = mp.tanh(x)
        return [t, 1 - t**2, -2 * t * (1 - t**2), -2 * (1 - t**2) * (1 - 3 * t**2),
                8 * t * (1 - t**2) * (2 - 3 * t**2)][k]
    p = 1 / (1 + mp.exp(-x))
    return [p, p * (1 - p), p * (1 - p) * (1 - 2 * p), p * (1 - p) * (1 - 6 * p + 6 * p**2),
            p * (1 - p) * (1 - 2 * p) * (1 - 12 * p + 12 * p**2)][k]


@functools.cache
def critical_points(kind: str, k: int) -> tuple:
    """Interior extrema of ``phi^(k)`` (all within |a| < 8): local extrema of a scan, refined
    as roots of mpmath's derivative."""
    with mp.workdps(40):
        xs = [mp.mpf(i) / 100 for i in range(-800, 801)]
        v = [ref(kind, k, x) for x in xs]
        out = []
        for i in range(1, len(xs) - 1):
            if (v[i] - v[i - 1]) * (v[i + 1] - v[i]) <= 0 and v[i] != v[i - 1]:
                out.append(mp.findroot(lambda x: mp.diff(lambda y: ref(kind, k, y), x), xs[i]))
        return tuple(out)


def ref_range(kind: str, k: int, a: float, r: float) -> tuple:
    """``(inf, sup)`` of ``phi^(k)`` and ``sup |phi^(k)|`` over ``[a - r, a + r]`` (exact ends)."""
    with mp.workdps(_dps(a, r) + 340):  # exact a - r for doubles down to 1e-300
        lo, hi = mp.mpf(a) - mp.mpf(r), mp.mpf(a) + mp.mpf(r)
        with mp.workdps(_dps(lo, hi)):
            pts = [lo, hi] + [c for c in critical_points(kind, k) if lo < c < hi]
            vals = [ref(kind, k, x) for x in pts]
            return min(vals), max(vals), max(abs(x) for x in vals)


def test_reference_forms_are_the_derivatives():
    with mp.workdps(40):
        for kind in KINDS:
            f = mp.tanh if kind == "tanh" else (lambda x: 1 / (1 + mp.exp(-x)))
            for x in (mp.mpf("-2.3"), mp.mpf("0.1"), mp.mpf("1.7")):
                for k in range(5):
                    assert abs(ref(kind, k, x) - mp.diff(f, x, k)) < mp.mpf(10) ** -30


def _check_range(kind: str, a: float, r: float) -> None:
    d = {1: interval.d1, 2: interval.d2, 3: interval.d3, 4: interval.d4}
    inf, sup_w, _ = ref_range(kind, 1, a, r)
    for k, fn in d.items():
        _, _, sup = ref_range(kind, k, a, r)
        got = mp.mpf(float(fn(kind, np.array([a]), np.array([r]))[0]))
        assert got >= sup, (kind, k, a, r, got, sup)
        if k < 4:  # exact suprema; d4 is a product of suprema
            assert got <= sup * (1 + TIGHT_RTOL) + TERM_ATOL * sup_w + TIGHT_ATOL, (
                kind, k, a, r, got, sup)
    sup = sup_w
    lo, hi = (mp.mpf(float(x[0])) for x in interval.slope_range(kind, np.array([a]),
                                                                   np.array([r])))
    assert lo <= inf and hi >= sup
    assert lo >= inf * (1 - TIGHT_RTOL) - TIGHT_ATOL


def _check_points(kind: str, a: float) -> None:
    vals, errs = interval.derivatives(kind, np.array([a]), 4)
    with mp.workdps(_dps(a)):
        for k in range(5):
            exact = ref(kind, k, mp.mpf(a))
            assert abs(mp.mpf(float(vals[k][0])) - exact) <= mp.mpf(float(errs[k][0])), (k, a)
            if abs(a) >= 5:  # saturating, no factor near a zero: the bound is relative
                assert float(errs[k][0]) <= SAT_RTOL * abs(float(exact)) + TIGHT_ATOL, (k, a)


@pytest.mark.parametrize("kind", KINDS)
def test_enclosures_contain_mpmath_on_the_saturation_grid(kind):
    for a in GRID_A:
        _check_points(kind, a)
        for r in GRID_R:
            _check_range(kind, a, r)


def test_the_reported_cancellations_are_gone():
    """``1 - tanh(20)**2`` and ``p (1 - p)`` at 40 are 0 in float64 (the sups are 1.7e-17 and
    4.2e-18); the enclosures hold them to 1e-8."""
    p = expit(40.0)
    assert 1.0 - np.tanh(20.0) ** 2 == 0.0 and p * (1.0 - p) == 0.0
    for kind, a in (("tanh", 20.0), ("sigmoid", 40.0)):
        got = mp.mpf(float(interval.d1(kind, np.array([a]), np.array([0.0]))[0]))
        with mp.workdps(_dps(a)):
            exact = ref(kind, 1, mp.mpf(a))
        assert exact <= got <= exact * (1 + TIGHT_RTOL)


intervals = st.tuples(
    st.one_of(st.floats(-800, 800), st.floats(-40, 40), st.sampled_from(GRID_A)),
    st.one_of(st.just(0.0), st.floats(0, 1e-6), st.floats(0, 5), st.floats(0, 300)))


@given(st.sampled_from(KINDS), intervals)
def test_enclosures_contain_mpmath_on_drawn_intervals(kind, ar):
    a, r = ar
    _check_range(kind, a, r)
    _check_points(kind, a)


def test_library_functions_meet_the_assumed_accuracy():
    """The one platform assumption of interval.py: exp, expm1, tanh, expit to FN_ULPS ulps."""
    rng = np.random.default_rng(0)
    x = np.concatenate([np.geomspace(1e-12, 800, 400), rng.uniform(-50, 50, 200)])
    x = np.concatenate([x, -x])
    ulp = 2 * interval.U
    cases = {"tanh": (np.tanh, mp.tanh), "expit": (expit, lambda y: 1 / (1 + mp.exp(-y))),
             "exp": (np.exp, mp.exp), "expm1": (np.expm1, mp.expm1)}
    for name, (f, g) in cases.items():
        y = x if name not in ("exp", "expm1") else -np.abs(x)  # the arguments interval.py uses
        got = f(y)
        with mp.workdps(60):
            for yi, gi in zip(y, got, strict=True):
                exact = g(mp.mpf(yi))
                if abs(exact) < 1e-300:
                    continue
                assert abs(mp.mpf(float(gi)) - exact) <= interval.FN_ULPS * ulp * abs(exact), name


def test_gamma_is_highams():
    assert interval.gamma(1) >= interval.U
    assert interval.gamma(10) == pytest.approx(10 * interval.U / (1 - 10 * interval.U),
                                               rel=1e-11)
