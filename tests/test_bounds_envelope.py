"""T1e (T1 from the certified envelope) against its definitions, T1a/T1b and brute force.

References: the sums term by term (``math.fsum``), T1a/T1b of ``bounds.numeric`` for a geometric
envelope, and the quantity T1e bounds computed from synthetic windows whose output differences
satisfy (A1-D) by construction; never stored numbers.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from matplotlib import mathtext
from tolerances import SUM_RTOL, UPPER_ATOL, UPPER_RTOL

from bounds import numeric as nu
from bounds import symbolic as sy
from bounds.checks import HypothesisError

#: An envelope's suffix sums (numpy cumsum) against the closed forms of Gamma_m, Lambda_m
#: (expm1) and against fsum: summation-order round-off over up to ~100 terms.
RTOL_SUMS = SUM_RTOL

envelopes = st.integers(1, 60).flatmap(
    lambda N: st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 10.0)), min_size=N, max_size=N))


@given(G=envelopes, data=st.data())
def test_envelope_sums_equal_their_definitions(G, data):
    m = data.draw(st.integers(0, len(G) - 1))
    g2, g1 = nu.envelope_sums(np.array(G), m)
    assert g2 == pytest.approx(math.fsum(g * g for g in G[m:]), rel=RTOL_SUMS, abs=1e-300)
    assert g1 == pytest.approx(math.fsum(G[m:]), rel=RTOL_SUMS, abs=1e-300)


@given(lam=st.floats(0.05, 0.995), C=st.floats(0.01, 10.0), N=st.integers(1, 120),
       data=st.data())
def test_geometric_envelope_gives_t1a_and_t1b(lam, C, N, data):
    m = data.draw(st.integers(0, N - 1))
    V, D0 = data.draw(st.floats(0, 2)), data.draw(st.floats(0, 3))
    D01, rho = D0 * data.draw(st.floats(0, 1)), data.draw(st.floats(0, 2))
    G = C * lam ** np.arange(1, N + 1)
    assert nu.t1e(G, m, V, D0) == pytest.approx(
        nu.t1a(C=C, lam=lam, m=m, N=N, V_inf=V, Delta_0=D0), rel=RTOL_SUMS, abs=1e-300)
    assert nu.t1e_cross(G, m, rho, D0, D01) == pytest.approx(
        nu.t1b(C=C, lam=lam, m=m, N=N, rho=rho, Delta_0=D0, Delta_01=D01), rel=RTOL_SUMS,
        abs=1e-300)


@given(G=envelopes, data=st.data())
def test_envelope_form_never_looser_than_any_fit(G, data):
    """Any ``(lam, C)`` with ``C lam**j >= G_j`` (here: a random lam and its smallest C, and the
    certificate's own fit rule) gives a T1a/T1b no smaller than T1e's forms."""
    from verification.certificates.sampled import fit_envelope

    G = np.array(G)
    N = G.size
    m = data.draw(st.integers(0, N - 1))
    V, D0 = data.draw(st.floats(0, 2)), data.draw(st.floats(1e-3, 3))
    D01, rho = D0 * data.draw(st.floats(0, 1)), data.draw(st.floats(0, 2))
    j = np.arange(1, N + 1)
    fits = [data.draw(st.floats(0.05, 0.999))]
    if N >= 2 and G.min() > 0:
        lam_fit, _ = fit_envelope(G, "loglinear")
        if 0 < lam_fit < 1:
            fits.append(lam_fit)
    env = nu.training_regret_envelope(G, m, V, D0, D01, rho)
    for lam in fits:
        C = float(np.max(G / lam**j))
        if C == 0:
            continue
        C *= 1 + 4 * np.finfo(float).eps  # C lam**j >= G_j after rounding
        assert nu.t1e(G, m, V, D0) <= nu.t1a(C=C, lam=lam, m=m, N=N, V_inf=V,
                                             Delta_0=D0) * (1 + RTOL_SUMS)
        assert nu.t1e_cross(G, m, rho, D0, D01) <= nu.t1b(
            C=C, lam=lam, m=m, N=N, rho=rho, Delta_0=D0, Delta_01=D01) * (1 + RTOL_SUMS)
        assert env <= nu.training_regret(C=C, lam=lam, m=m, N=N, V_inf=V, Delta_0=D0,
                                          Delta_01=D01, rho=rho) * (1 + RTOL_SUMS)


@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 30), S=st.integers(1, 8),
       n_y=st.integers(1, 3), data=st.data())
def test_t1e_bounds_the_gap_of_windows_satisfying_the_envelope(seed, N, S, n_y, data):
    """Brute force: residuals ``r_ij`` at ``z``, differences ``||e_ij|| <= G_j ||z_i||``; then
    ``V(0) - V(z) = mean ||r + e||**2 - mean ||r||**2 <= T1e`` (both forms)."""
    rng = np.random.default_rng(seed)
    m = data.draw(st.integers(0, N - 1))
    G = rng.uniform(0, 2, N) * rng.uniform(0.5, 1) ** np.arange(N)
    z_norm = rng.uniform(0, 3, S)
    r = rng.normal(size=(S, N, n_y)) * rng.uniform(0, 1)
    e = rng.normal(size=(S, N, n_y))
    e *= (G[None, :] * z_norm[:, None] * rng.uniform(0, 1, (S, N)))[..., None] / np.maximum(
        np.linalg.norm(e, axis=2, keepdims=True), 1e-300)
    if data.draw(st.booleans()):  # the worst case: e aligned with r, at the envelope
        e = r / np.maximum(np.linalg.norm(r, axis=2, keepdims=True), 1e-300) * (
            G[None, :] * z_norm[:, None])[..., None]
    K = S * (N - m)
    V_z = float(np.sum(r[:, m:] ** 2) / K)
    V_0 = float(np.sum((r + e)[:, m:] ** 2) / K)
    D0, D01 = float(np.sqrt(np.mean(z_norm**2))), float(np.mean(z_norm))
    rho = float(np.max(np.linalg.norm(r[:, m:], axis=2)))
    assert V_0 - V_z <= nu.t1e(G, m, V_z, D0) * (1 + UPPER_RTOL) + UPPER_ATOL
    assert V_0 - V_z <= nu.t1e_cross(G, m, rho, D0, D01) * (1 + UPPER_RTOL) + UPPER_ATOL


def test_symbolic_t1e_with_a_geometric_envelope_is_t1a_and_t1b():
    """Substituting ``G_j = C lam**j`` into the statements gives T1a and T1b (exact rationals)."""
    vals = {sy.C: sp.Rational(13, 10), sy.lam: sp.Rational(4, 5), sy.m: 3, sy.N: 9,
            sy.V_inf: sp.Rational(1, 50), sy.Delta_0: sp.Rational(1, 2),
            sy.Delta_01: sp.Rational(2, 5), sy.rho: sp.Rational(3, 10)}
    geo = {sy.G_env[sy.j]: sy.C * sy.lam**sy.j}
    t1e = sy.T1E.explicit().xreplace(geo).subs(vals).doit()
    t1a = sy.STATEMENTS["T1a"].explicit().subs(vals).doit()
    assert sp.simplify(t1e - t1a) == 0
    cross = sy.T1E_CROSS.explicit().xreplace(geo).subs(vals).doit()
    t1b = sy.STATEMENTS["T1b"].explicit(sy.STATEMENTS["T1b"].chain[0]).subs(vals).doit()
    assert sp.simplify(cross - t1b) == 0


@pytest.mark.parametrize("stmt", sy.T1E_STATEMENTS, ids=lambda s: s.title)
def test_t1e_statements_are_upper_bounds_that_render(stmt):
    assert stmt.tag == "T1e" and stmt.kind == "upper bound"
    assert sp.Lt(sy.m, sy.N) in stmt.relations
    assert not (stmt.explicit().free_symbols & {sy.Gamma_G, sy.Lambda_G})
    buf = io.BytesIO()
    mathtext.math_to_image(f"${stmt.latex()}$", buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


@pytest.mark.parametrize("G, m, match", [
    ([0.5, -0.1], 0, "G"),
    ([0.5, 0.2], 2, "m = 2"),
    ([[0.5, 0.2]], 0, "one envelope"),
])
def test_bad_envelope_arguments_name_the_hypothesis(G, m, match):
    with pytest.raises(HypothesisError, match=match):
        nu.t1e(G, m, 0.1, 1.0)
