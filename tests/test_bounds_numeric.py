"""bounds.numeric against the definitions of docs/theory.md §3-§6.

References are the finite sums evaluated term by term with ``math.fsum`` and brute-force
evaluations of the quantities the theorems bound (synthetic windows satisfying A1
exactly; a scalar linear RNN for T2a), never stored numbers.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tolerances import (
    CONDITIONED_RTOL,
    FORMULA_RTOL,
    SUM_RTOL,
    ULPS,
    UNDERFLOW_ATOL,
    UPPER_ATOL,
    UPPER_RTOL,
)

from bounds import numeric as nu
from bounds.checks import HypothesisError

RTOL_SUM = RTOL_FORMULA = FORMULA_RTOL  # closed forms vs fsum; statements vs typed-out formulas
RTOL_BOUND = UPPER_RTOL  # "measured <= bound * (1 + RTOL_BOUND)" for upper bounds

LAM_NEAR_ONE = [1 - 1e-13, 1 - 1e-12, float(np.nextafter(1.0, 0.0))]
lams = st.one_of(
    st.floats(1e-3, 0.999), st.floats(0.999, 1 - 1e-12), st.sampled_from(LAM_NEAR_ONE)
)


@st.composite
def windows(draw, n_max=200):
    N = draw(st.integers(1, n_max))
    m = draw(st.integers(0, N - 1))
    return m, N


def fsum_powers(lam: float, p: int, m: int, N: int) -> float:
    return math.fsum(lam ** (p * j) for j in range(m + 1, N + 1))


def root_gamma_ratio(lam: float, m: int, N: int) -> float:
    """``sqrt(Gamma_m / (N - m))`` in 40-digit arithmetic.

    ``Gamma_m`` itself can fall below float64's normal range (``lam**(2j) < 2**-1022``) while
    its root is an ordinary number (~1e-159): a float reference ``sqrt(fsum(...) / (N - m))``
    would then carry the subnormal's lost digits (relative ~1e-5) into the comparison.
    """
    with mpmath.workdps(40):
        g = mpmath.fsum(mpmath.mpf(lam) ** (2 * j) for j in range(m + 1, N + 1))
        return float(mpmath.sqrt(g / (N - m)))


# --------------------------------------------------------------------------------------
# Gamma_m, Lambda_m (docs/theory.md §3)
# --------------------------------------------------------------------------------------


@given(lam=lams, mN=windows())
def test_gamma_and_lambda_equal_their_sums(lam, mN):
    m, N = mN
    # below 2**-1022 (small lam, long windows) both sides are subnormals with fewer digits
    assert nu.gamma(lam, m, N) == pytest.approx(fsum_powers(lam, 2, m, N), rel=RTOL_SUM,
                                                abs=UNDERFLOW_ATOL)
    assert nu.Lambda(lam, m, N) == pytest.approx(fsum_powers(lam, 1, m, N), rel=RTOL_SUM,
                                                 abs=UNDERFLOW_ATOL)


@settings(max_examples=10)
@given(lam=st.sampled_from(LAM_NEAR_ONE + [0.9999, 0.5]), N=st.integers(50_000, 100_000),
       frac=st.floats(0, 1))
def test_gamma_long_windows_near_one(lam, N, frac):
    m = int(frac * (N - 1))
    ref = fsum_powers(lam, 2, m, N)
    got = nu.gamma(lam, m, N)
    # where every term underflows the reference is 0 and the closed form may keep a subnormal
    assert got == pytest.approx(ref, rel=RTOL_SUM, abs=UNDERFLOW_ATOL)


def test_limit_at_one_is_the_number_of_terms():
    k = np.arange(0, 50)
    # exact equality is the property: at lam = 1 the sum of k ones is the integer k, and the
    # closed form must return that limit exactly, not expm1(0)/expm1(0) = nan or a rounded k
    assert np.array_equal(nu._stable_geom(1.0, 2, k), k.astype(float))
    assert np.array_equal(nu._stable_geom(1.0, 1, k), k.astype(float))
    lam = float(np.nextafter(1.0, 0.0))
    ms = np.arange(0, 100)
    assert np.allclose(nu.gamma(lam, ms, 100), 100 - ms, rtol=RTOL_SUM, atol=0)
    assert np.allclose(nu.Lambda(lam, ms, 100), 100 - ms, rtol=RTOL_SUM, atol=0)


def test_underflow_gives_zero_not_nan():
    with np.errstate(all="raise"):  # no NaN/inf/overflow; underflow to 0 is correct
        g = nu.gamma(1e-3, np.array([0, 200, 99_999]), 100_000)
    assert np.isfinite(g).all()
    assert g[0] == pytest.approx(1e-6 / (1 - 1e-6), rel=RTOL_SUM)
    assert g[1] == 0.0 and g[2] == 0.0  # exact: lam**400 underflows to 0 (the property)


def test_vectorised_over_m_matches_scalar_calls():
    ms = np.arange(0, 30)
    vec = nu.gamma(0.9, ms, 30)
    assert vec.shape == (30,)
    # not bit for bit: NumPy's SIMD exp/log/expm1 (e.g. AVX-512) may differ from the scalar
    # path by an ulp; the property is that broadcasting over m computes the same numbers
    np.testing.assert_allclose(vec, [nu.gamma(0.9, int(m), 30) for m in ms], rtol=ULPS, atol=0)
    assert np.all(np.diff(vec) < 0)  # Gamma_m decreasing in m


def test_scalar_in_scalar_out():
    assert np.ndim(nu.gamma(0.5, 0, 3)) == 0
    assert np.ndim(nu.training_regret(1.0, 0.5, 1, 3, 0.1, 0.2)) == 0


# --------------------------------------------------------------------------------------
# T1 (docs/theory.md §5): formula vs definition
# --------------------------------------------------------------------------------------

consts = st.floats(0.0, 10.0)


@given(lam=lams, mN=windows(), C=st.floats(0.01, 10.0), V_inf=consts, D0=consts,
       ratio=st.floats(0.0, 1.0), rho=consts)
def test_t1_formulas_equal_their_definitions(lam, mN, C, V_inf, D0, ratio, rho):
    m, N = mN
    D01 = ratio * D0
    gam, lmb = fsum_powers(lam, 2, m, N), fsum_powers(lam, 1, m, N)
    c = C * D0 * root_gamma_ratio(lam, m, N)
    # T1a: the definition (sqrt(V) + c)**2 - V, evaluated without cancellation
    assert nu.t1a(C, lam, m, N, V_inf, D0) == pytest.approx(
        2 * math.sqrt(V_inf) * c + c * c, rel=RTOL_FORMULA, abs=UNDERFLOW_ATOL)
    t1b = (2 * rho * C * D01 * lmb + C**2 * D0**2 * gam) / (N - m)
    assert nu.t1b(C, lam, m, N, rho, D0, D01) == pytest.approx(t1b, rel=RTOL_FORMULA,
                                                               abs=UNDERFLOW_ATOL)
    if lam < 0.999:  # C2 has 1/(1 - lam): keep the reference's own rounding small
        c2 = lam * (2 * rho * C * D01 / (1 - lam) + C**2 * D0**2 * lam / (1 - lam**2))
        assert nu.C2(C, lam, rho, D0, D01) == pytest.approx(c2, rel=CONDITIONED_RTOL)
        assert nu.t1b_paper(C, lam, m, N, rho, D0, D01) == pytest.approx(
            c2 * lam**m / (N - m), rel=CONDITIONED_RTOL)
    # T1 = min(T1a, T1b), against the references above (not against t1a/t1b themselves)
    both = nu.training_regret(C, lam, m, N, V_inf, D0, Delta_01=D01, rho=rho)
    assert both == pytest.approx(min(2 * math.sqrt(V_inf) * c + c * c, t1b),
                                 rel=RTOL_FORMULA, abs=UNDERFLOW_ATOL)
    assert nu.training_regret(C, lam, m, N, V_inf, D0) == pytest.approx(
        2 * math.sqrt(V_inf) * c + c * c, rel=RTOL_FORMULA, abs=UNDERFLOW_ATOL)


def test_t1a_no_cancellation_for_large_loss():
    # (sqrt(V) + c)**2 - V with V = 1e8, c = 1e-9: naive float gives 0, true value 2e-5
    C, lam, m, N = 1.0, 0.5, 0, 1
    c = C * 1.0 * math.sqrt(lam**2)  # Gamma_0 = lam**2 for N = 1; Delta_0 = 1
    D0 = 1e-9 / c
    got = nu.t1a(C, lam, m, N, 1e8, D0)
    assert got == pytest.approx(2 * 1e4 * 1e-9 + 1e-18, rel=RTOL_FORMULA)


@given(lam=lams, mN=windows(), rho=consts, D0=consts, ratio=st.floats(0, 1))
def test_t1b_below_paper_form(lam, mN, rho, D0, ratio):
    m, N = mN
    args = (1.7, lam, m, N, rho, D0, ratio * D0)
    assert nu.t1b(*args) <= nu.t1b_paper(*args) * (1 + RTOL_BOUND)


def test_t1_vectorised_over_m():
    ms = np.arange(0, 21)
    tr = nu.training_regret(C=1.3, lam=0.8, m=ms, N=21, V_inf=0.02, Delta_0=0.5,
                            Delta_01=0.3, rho=0.05)
    assert tr.shape == (21,)
    ref = [float(nu.training_regret(1.3, 0.8, int(m), 21, 0.02, 0.5, 0.3, 0.05)) for m in ms]
    # one call over the array of m against one call per m: the same formula, but NumPy's SIMD
    # exp/log (e.g. on AVX-512 CPUs) and the scalar path may differ by an ulp, so not bit for bit
    np.testing.assert_allclose(tr, ref, rtol=ULPS, atol=0)


@given(lam=st.floats(0.05, 0.95), mN=windows(n_max=15), S=st.integers(1, 5),
       n_h=st.integers(1, 3), n_y=st.integers(1, 2), seed=st.integers(0, 2**32 - 1),
       aligned=st.booleans())
def test_t1_bounds_hold_for_synthetic_windows_satisfying_a1(lam, mN, S, n_h, n_y, seed,
                                                             aligned):
    """V(theta^inf; 0) - V^inf <= T1a, T1b when residuals satisfy A1 exactly (L1's proof).

    r_ij(z) = u_ij + W_ij z with ||W_ij||_2 <= C lam**j, so
    ||r_ij(0) - r_ij(z^inf_i)|| <= C lam**j ||z^inf_i||.
    """
    m, N = mN
    rng = np.random.default_rng(seed)
    C = 1.5
    z = rng.normal(size=(S, n_h))
    u = rng.normal(size=(S, N, n_y))
    W = rng.normal(size=(S, N, n_y, n_h))
    W /= np.linalg.norm(W, ord=2, axis=(2, 3))[..., None, None]
    W *= (C * lam ** np.arange(1, N + 1))[None, :, None, None]
    e = np.einsum("sjyh,sh->sjy", W, z)  # r(z^inf) - r(0)
    if aligned:  # worst case for the cross term: residual parallel to the perturbation
        u = -3.0 * e
    r_inf, r_0 = u[:, m:], (u - e)[:, m:]
    K = S * (N - m)
    V_inf, V_0 = np.sum(r_inf**2) / K, np.sum(r_0**2) / K
    zn = np.linalg.norm(z, axis=1)
    D0, D01 = math.sqrt(np.mean(zn**2)), float(np.mean(zn))
    rho = float(np.linalg.norm(r_inf, axis=-1).max())
    gap = V_0 - V_inf
    assert gap <= nu.t1a(C, lam, m, N, V_inf, D0) * (1 + RTOL_BOUND) + UPPER_ATOL
    assert gap <= nu.t1b(C, lam, m, N, rho, D0, D01) * (1 + RTOL_BOUND) + UPPER_ATOL
    assert gap <= nu.t1b_paper(C, lam, m, N, rho, D0, D01) * (1 + RTOL_BOUND) + UPPER_ATOL
    # L1: |sqrt(V(z)) - sqrt(V(z'))| <= C Delta sqrt(Gamma_m / (N - m))
    l1 = C * D0 * math.sqrt(nu.gamma(lam, m, N) / (N - m))
    assert abs(math.sqrt(V_0) - math.sqrt(V_inf)) <= l1 * (1 + RTOL_BOUND) + UPPER_ATOL
    # T1d: with (C_eps) the accuracy is bounded by eps/(eps-1) times the T1 bound
    Y0, Yinf = -r_0, -r_inf  # Y - Y_d = r, same Y_d
    acc, cross = np.sum((Y0 - Yinf) ** 2), 2 * np.sum(r_inf * (Y0 - Yinf))
    # (C_eps) holds for 1 < eps <= acc / (-cross); the largest such eps is the sharpest
    eps = min(acc / -cross, 1e6) if cross < 0 else 1e6
    if acc > 0 and eps > 1 + 1e-9:
        bound = nu.accuracy_bound(eps, C, lam, m, N, V_inf, D0, D01, rho)
        assert acc / K <= bound * (1 + RTOL_BOUND) + UPPER_ATOL


def test_benchmark_regret_is_min_of_t1c_and_t1b_form():
    C, lam, N, V_inf, Db, Db1, rho = 1.2, 0.7, 10, 0.05, 0.4, 0.3, 0.2
    ms = np.arange(0, N)
    gam = np.array([fsum_powers(lam, 2, m, N) for m in ms])
    lmb = np.array([fsum_powers(lam, 1, m, N) for m in ms])
    c = C * Db * np.sqrt(gam / (N - ms))
    t1c_ref = 2 * math.sqrt(V_inf) * c + c * c  # (sqrt(V_inf) + c)**2 - V_inf, T1c
    np.testing.assert_allclose(nu.benchmark_regret(C, lam, ms, N, V_inf, Db), t1c_ref,
                               rtol=RTOL_FORMULA, atol=0)
    t1b_form = (2 * rho * C * Db1 * lmb + C**2 * Db**2 * gam) / (N - ms)
    both = nu.benchmark_regret(C, lam, ms, N, V_inf, Db, Delta_b1=Db1, rho=rho)
    np.testing.assert_allclose(both, np.minimum(t1c_ref, t1b_form), rtol=RTOL_FORMULA, atol=0)
    conservative = nu.benchmark_regret(C, lam, ms, N, V_inf, Db, rho=rho)  # Delta_b1 = Delta_b
    assert np.all(conservative >= both)


def test_accuracy_bound_factor():
    """T1d: eps/(eps - 1) times the T1 bound, against T1 from the fsum references."""
    C, lam, N, V_inf, D0, D01, rho = 1.0, 0.6, 8, 0.1, 0.3, 0.2, 0.5
    ms = np.arange(0, N)
    gam = np.array([fsum_powers(lam, 2, m, N) for m in ms])
    lmb = np.array([fsum_powers(lam, 1, m, N) for m in ms])
    c = C * D0 * np.sqrt(gam / (N - ms))
    t1 = np.minimum(2 * math.sqrt(V_inf) * c + c * c,
                    (2 * rho * C * D01 * lmb + C**2 * D0**2 * gam) / (N - ms))
    acc = nu.accuracy_bound(2.0, C=C, lam=lam, m=ms, N=N, V_inf=V_inf, Delta_0=D0,
                            Delta_01=D01, rho=rho)
    np.testing.assert_allclose(acc, 2.0 * t1, rtol=RTOL_FORMULA, atol=0)  # eps/(eps-1) = 2
    np.testing.assert_allclose(nu.accuracy_bound(3.0, bound=t1), 1.5 * t1, rtol=RTOL_FORMULA)


# --------------------------------------------------------------------------------------
# T2 (docs/theory.md §6)
# --------------------------------------------------------------------------------------


def _free_run(lam: float, c: float, x: np.ndarray, h0: float) -> tuple[np.ndarray, np.ndarray]:
    """Scalar linear RNN h_t = lam h_{t-1} + x_t, y_t = c h_t; returns h_0..h_T, y_1..y_T."""
    h = np.empty(len(x) + 1)
    h[0] = h0
    for t, xt in enumerate(x, start=1):
        h[t] = lam * h[t - 1] + xt
    return h, c * h[1:]


@given(lam_s=st.floats(0.1, 0.95), c_s=st.floats(0.2, 2.0), lam_b=st.floats(0.0, 0.95),
       c_b=st.floats(-2.0, 2.0), h0_b=st.floats(-2.0, 2.0), N=st.integers(2, 10),
       stride=st.integers(1, 4), S=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       data=st.data())
def test_t2a_holds_for_scalar_linear_rnn(lam_s, c_s, lam_b, c_b, h0_b, N, stride, S, seed,
                                         data):
    """T2a for any theta*, theta^b, h_0^b: A1 holds for theta* with (C*, lam*) = (c, lam)."""
    stride = min(stride, N)
    m = data.draw(st.integers(0, N - stride if S > 1 else N - 1), label="m")
    T = (S - 1) * stride + N
    rng = np.random.default_rng(seed)
    x, y_d = rng.normal(size=T), rng.normal(size=T)
    starts = stride * np.arange(S)
    h_star, y_free = _free_run(lam_s, c_s, x, 0.0)  # free run of theta* from 0
    _, y_bench = _free_run(lam_b, c_b, x, h0_b)  # benchmark free run
    P_star = np.mean((y_free[m:] - y_d[m:]) ** 2)
    P_b = np.mean((y_bench[m:] - y_d[m:]) ** 2)
    A_J, overlaps = 0.0, []
    for i, s in enumerate(starts):
        _, y_win = _free_run(lam_s, c_s, x[s:s + N], 0.0)  # TBPTT window, zero init
        first = m if i == 0 else N - stride  # block J_i: positions first+1..N
        if i > 0:
            overlaps.append(N - stride)
        A_J += np.sum((y_win[first:] - y_bench[s + first:s + N]) ** 2)
    B = nu.B_term(c_s, lam_s, np.abs(h_star[starts[1:]]), np.array(overlaps, int), N)
    assert P_star - P_b <= nu.performance_regret(P_b, A_J, B, T, m) * (1 + RTOL_BOUND) + UPPER_ATOL
    assert math.sqrt(P_star) <= nu.performance_regret_root(P_b, A_J, B, T, m) * (1 + RTOL_BOUND)


def test_b_term_equals_its_definition():
    phis, ovs, N = np.array([0.5, 2.0, 1.0]), np.array([3, 4, 2]), 6
    ref = 0.8**2 * sum(p**2 * fsum_powers(0.7, 2, o, N) for p, o in zip(phis, ovs, strict=True))
    assert nu.B_term(0.8, 0.7, phis, ovs, N) == pytest.approx(ref, rel=RTOL_FORMULA)
    assert nu.B_term(0.8, 0.7, np.zeros(0), np.zeros(0, int), N) == 0.0


def test_performance_regret_definition_and_shapes():
    ms = np.arange(0, 5)
    A_J = np.linspace(0.1, 0.5, 5)
    a = nu.performance_a(A_J, 0.2, 30, ms)
    assert np.allclose(a, (np.sqrt(A_J) + np.sqrt(0.2)) / np.sqrt(30 - ms), rtol=RTOL_FORMULA)
    reg = nu.performance_regret(0.3, A_J, 0.2, 30, ms)
    assert np.allclose(reg, 2 * a * np.sqrt(0.3) + a**2, rtol=RTOL_FORMULA)
    root = nu.performance_regret_root(0.3, A_J, 0.2, 30, ms)
    assert np.allclose(root**2 - 0.3, reg, rtol=SUM_RTOL)  # squaring a root: cancellation


APRIORI = dict(eps=2.0, C=1.3, lam=0.8, rho=0.4, Delta_0=0.6, Delta_01=0.5, Delta_b=0.3,
               C_star=1.1, lam_star=0.85, H=1.2)


def test_apriori_constants_definitions():
    k = nu.apriori_constants(**APRIORI)
    p = APRIORI
    c2 = nu.C2(p["C"], p["lam"], p["rho"], p["Delta_0"], p["Delta_01"])
    c2b = nu.C2(p["C"], p["lam"], p["rho"], p["Delta_b"], p["Delta_b"])
    K_A = 2 * p["eps"] / (p["eps"] - 1) * (c2 + c2b)
    K_B = p["C_star"] ** 2 * p["H"] ** 2 * p["lam_star"] ** 2 / (1 - p["lam_star"] ** 2)
    assert k["C2"] == pytest.approx(c2, rel=RTOL_FORMULA)
    assert k["C2b"] == pytest.approx(c2b, rel=RTOL_FORMULA)
    assert k["K_A"] == pytest.approx(K_A, rel=RTOL_FORMULA)
    assert k["K_B"] == pytest.approx(K_B, rel=RTOL_FORMULA)
    assert k["E"] == pytest.approx(math.sqrt(2 * max(K_A, K_B)), rel=RTOL_FORMULA)


def test_apriori_single_window_accepts_o_min_equal_n():
    # systems.windows uses o_min = N for S = 1; the (S - 1) term vanishes
    a = nu.performance_a_apriori(**APRIORI, S=1, T=10, N=10, m=np.arange(10), o_min=10)
    E = nu.apriori_constants(**APRIORI)["E"]
    lb = max(APRIORI["lam"], APRIORI["lam_star"])
    assert np.allclose(a, E * np.sqrt(lb ** np.arange(10) / (10 - np.arange(10))),
                       rtol=RTOL_FORMULA)


def test_apriori_a_formula_and_regret():
    S, N, stride = 8, 12, 2
    T, o_min = (S - 1) * stride + N, N - stride
    ms = np.arange(0, o_min + 1)
    a = nu.performance_a_apriori(**APRIORI, S=S, T=T, N=N, m=ms, o_min=o_min)
    E = nu.apriori_constants(**APRIORI)["E"]
    lb = max(APRIORI["lam"], APRIORI["lam_star"])
    ref = E * np.sqrt(((S - 1) * lb ** (2 * o_min) + S * lb**ms) / (T - ms))
    assert a.shape == ms.shape
    assert np.allclose(a, ref, rtol=RTOL_FORMULA)
    reg = nu.performance_regret_apriori(0.05, **APRIORI, S=S, T=T, N=N, m=ms, o_min=o_min)
    assert np.allclose(reg, 2 * a * np.sqrt(0.05) + a**2, rtol=RTOL_FORMULA)


# --------------------------------------------------------------------------------------
# Invalid arguments name the hypothesis
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: nu.gamma(1.2, 0, 5), r"lam = 1\.2 violates A1: need 0 < lam < 1"),
        (lambda: nu.gamma(0.0, 0, 5), r"lam = 0 violates A1"),
        (lambda: nu.gamma(1.0, 0, 5), r"lam = 1 violates A1"),
        (lambda: nu.gamma(0.5, 21, 21), r"m = 21 must satisfy 0 <= m < N = 21"),
        (lambda: nu.gamma(0.5, np.arange(0, 23), 21), r"m = 21 must satisfy 0 <= m < N = 21"),
        (lambda: nu.gamma(0.5, -1, 21), r"m = -1 must satisfy 0 <= m < N = 21"),
        (lambda: nu.gamma(0.5, 2.5, 21), r"m = 2\.5 must be an integer"),
        (lambda: nu.gamma(0.5, 0, 7.5), r"N = 7\.5 must be an integer"),
        # issue 12 #9: N = 2**63 wrapped around to a negative int64
        (lambda: nu.training_regret(1.0, 0.5, 0, 2**63, 0.1, 0.2),
         r"N = 9223372036854775808 must be an integer below 2\*\*63"),
        (lambda: nu.gamma(0.5, -(2**63), 5), r"m = -9223372036854775808 must be an integer below"),
        (lambda: nu.gamma(np.nan, 0, 5), r"lam = nan must be finite"),
        (lambda: nu.t1a(-1.0, 0.5, 0, 5, 0.1, 0.1), r"C = -1 must be > 0 \(A1 constant\)"),
        (lambda: nu.t1a(1.0, 0.5, 0, 5, -0.1, 0.1), r"V_inf = -0\.1 must be >= 0"),
        (lambda: nu.t1a(1.0, 0.5, 0, 5, np.inf, 0.1), r"V_inf = inf must be finite"),
        (lambda: nu.t1b(1.0, 0.5, 0, 5, -1.0, 0.1, 0.1), r"rho = -1 must be >= 0"),
        (lambda: nu.t1b(1.0, 0.5, 0, 5, 1.0, 0.1, 0.2),
         r"Delta_01 = 0\.2 > Delta_0 = 0\.1: .*Cauchy-Schwarz"),
        (lambda: nu.training_regret(1.0, 0.5, 0, 5, 0.1, 0.1, rho=1.0),
         r"T1b needs both Delta_01 and rho"),
        (lambda: nu.accuracy_bound(1.0, bound=0.1), r"eps = 1 violates \(C_eps\) for T1d"),
        (lambda: nu.accuracy_bound(2.0), r"needs bound= or all of"),
        (lambda: nu.performance_regret(0.1, 0.1, 0.1, 10, 10), r"m = 10 must satisfy"),
        (lambda: nu.performance_regret(-0.1, 0.1, 0.1, 10, 1), r"P_b = -0\.1 must be >= 0"),
        (lambda: nu.B_term(1.0, 1.5, [1.0], [1], 4), r"lam_star = 1\.5 violates A1 for theta\*"),
        (lambda: nu.B_term(1.0, 0.5, [1.0], [4], 4), r"overlaps = 4 must satisfy"),
        (lambda: nu.performance_a_apriori(**APRIORI, S=5, T=20, N=8, m=4, o_min=3),
         r"T2 needs every overlap o_i >= m: o_min = 3 < m = 4"),
        (lambda: nu.performance_a_apriori(**APRIORI, S=5, T=20, N=8, m=2, o_min=-1),
         r"T2 needs every overlap o_i >= m: o_min = -1 < m = 2"),
        (lambda: nu.performance_a_apriori(**APRIORI, S=5, T=20, N=8, m=2, o_min=8),
         r"o_min = 8 must satisfy o_min < N = 8 when S > 1"),
        (lambda: nu.performance_a_apriori(**APRIORI, S=5, T=40, N=8, m=2, o_min=5),
         r"T2 needs the windows to cover the sequence"),
        (lambda: nu.performance_a_apriori(**APRIORI, S=5, T=9, N=8, m=2, o_min=5),
         r"T = 9 < N \+ S - 1 = 12"),
        (lambda: nu.performance_a_apriori(**{**APRIORI, "eps": 0.5}, S=1, T=8, N=8, m=2,
                                          o_min=5), r"eps = 0\.5 violates \(C_eps\) for T2b"),
    ],
)
def test_invalid_arguments_name_the_hypothesis(call, match):
    with pytest.raises(HypothesisError, match=match):
        call()


def test_hypothesis_error_is_caught_as_a_value_error():
    """Callers (the CLI's exit code 2) catch ValueError; a violated hypothesis is one."""
    with pytest.raises(ValueError, match="violates A1"):
        nu.gamma(2.0, 0, 3)
