"""On-data A1 certificates (verification.certificates.ondata, tube, taylor).

References are independent of the code under test (the activation enclosures against mpmath
are in ``test_enclosures.py``, the float error of a step in ``test_step_error.py``): Jacobians
of perturbed states from the model's own ``jacobian``; pair and segment ratios by plain
simulation with ``model.simulate`` from both initial states; for linear Elman cells the closed
form ``||W_hy W_hh**j u||``.
Upper bounds are asserted as upper bounds: ``measured <= bound * (1 + UPPER_RTOL)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from systems.cells import model_class
from systems.errors import InputError
from systems.rnn import ElmanRNN
from tests.tolerances import EPS, UPPER_RTOL
from verification.certificates.ondata import (
    certify_on_data,
    cover_C,
    fewest_steps_fit,
    pair_bounds,
    segment_bounds,
    segment_parts,
    separations,
    steps_to,
)
from verification.certificates.taylor import TM, second_derivative, tangent_model
from verification.certificates.tube import JAC_REL, jacobian_deviation

CELLS = ("elman", "lstm", "gru")
#: Float error of a simulated output in ulps of its size (N <= 12 steps of a few dozen
#: operations each, errors damped or amplified by at most a few per step: 1e4 is generous).
SIM_ULPS = 1e4
#: The pair certificate is the traced pair plus a float-error enclosure: it may exceed the
#: simulated ratio only by rounding-sized amounts (the float error of a step, ~1e-15 of its
#: terms, N <= 12 steps, amplified by the transient gain of the Jacobian products, up to ~1e3
#: for these weights).
PAIR_TIGHT = 1e-7
#: Central differences of D^2 f (step 1e-5) against the Taylor model's coefficients: truncation
#: O(h^2) ~ 1e-10, cancellation O(eps / h) ~ 1e-11 times the entries' scale (<= 1e2 here).
FD2_RTOL, FD2_ATOL = 1e-6, 1e-7
#: Linear cells: the bound is the closed form plus the float-error enclosure (gamma_k of the
#: terms per step, propagated over 15 steps through a non-normal W_hh): 1e-7 relative.
LINEAR_TIGHT = 1e-7


def _model(cell: str, seed: int, n_h: int, scale: float, n_x: int = 1, n_y: int = 1):
    rng = np.random.default_rng(seed)
    cls = model_class(cell)
    theta = scale * rng.standard_normal(cls.n_params(n_x, n_h, n_y))
    return cls.from_theta(theta, n_x=n_x, n_h=n_h, n_y=n_y)


def _simulated_ratio(model, X, za, zb, with_slack=False):
    """``||y_j(za) - y_j(zb)|| / ||za - zb||`` by two plain simulations: (S, N).

    With ``with_slack``, also the float error of that ratio itself: the outputs are computed to
    a few ulps of their size, so the difference of two close trajectories carries an error of
    about ``eps (|y_a| + |y_b|) / ||za - zb||`` in the ratio (large for near pairs).
    """
    _, ya = model.simulate(X, za)
    _, yb = model.simulate(X, zb)
    d = np.linalg.norm(za - zb, axis=1)[:, None]
    ratio = np.linalg.norm(ya - yb, axis=-1) / d
    if not with_slack:
        return ratio
    scale = np.linalg.norm(ya, axis=-1) + np.linalg.norm(yb, axis=-1) + 1.0
    return ratio, SIM_ULPS * EPS * scale / d


def _windows(case, salt):
    """The model, windows ``X (S, N, 1)`` and states ``z0 (S, n_z)`` of a drawn case."""
    cell, seed, n_h, scale, S, N, size = case
    model = _model(cell, seed, n_h, scale)
    rng = np.random.default_rng(seed + salt)
    return model, rng.standard_normal((S, N, 1)), size * rng.standard_normal((S, model.n_z)), rng


def _states(case, salt, B):
    """The model of a drawn case, a generator, ``B`` states ``z`` and inputs ``x``."""
    cell, seed, n_h, scale, _, _, size = case
    model = _model(cell, seed, n_h, scale)
    rng = np.random.default_rng(seed + salt)
    z, x = size * rng.standard_normal((B, model.n_z)), rng.standard_normal((B, 1))
    if cell == "lstm":  # h of an LSTM is in (-1, 1) on every trajectory; c is free
        z[:, :n_h] = np.tanh(z[:, :n_h])
    return model, rng, z, x


cases = st.tuples(st.sampled_from(CELLS), st.integers(0, 10_000), st.integers(1, 3),
                  st.sampled_from([0.3, 0.8, 1.5]), st.integers(1, 4), st.integers(1, 12),
                  st.sampled_from([0.01, 0.5, 2.0]))


# ---------------------------------------------------------------------------- taylor
def _tangent(model, z, x, w):
    return np.einsum("bij,bj->bi", model.jacobian(z, x), w)


@settings(max_examples=30)
@given(cases)
def test_second_and_third_derivatives_match_finite_differences(case):
    B, h = 10, 1e-5
    model, rng, z, x = _states(case, 4, B)
    n = model.n_z
    v, w = rng.standard_normal((B, n)), rng.standard_normal((B, n))
    D2, D3 = second_derivative(model, z, x, v, w)
    fd2 = (_tangent(model, z + h * v, x, w) - _tangent(model, z - h * v, x, w)) / (2 * h)
    np.testing.assert_allclose(D2, fd2, rtol=FD2_RTOL, atol=FD2_ATOL * (1 + np.abs(fd2).max()))
    D2p, _ = second_derivative(model, z + h * v, x, v, w)
    D2m, _ = second_derivative(model, z - h * v, x, v, w)
    fd3 = (D2p - D2m) / (2 * h)
    np.testing.assert_allclose(D3, fd3, rtol=FD2_RTOL, atol=FD2_ATOL * (1 + np.abs(fd3).max()))
    # the value at s = 0 is the model's own Jacobian-vector product
    zero = np.zeros_like(v)
    T = tangent_model(model, x, TM((z, v), zero), np.zeros(B), TM((w, zero), zero))
    np.testing.assert_allclose(T.c, _tangent(model, z, x, w), rtol=1e-12,
                               atol=1e-12 * (1 + np.abs(T.c).max()))


@settings(max_examples=30)
@given(cases, st.sampled_from([1, 2]))
def test_taylor_model_encloses_every_sampled_point(case, degree):
    size, B = case[-1], 20
    model, rng, z, x = _states(case, 5, B)
    n = model.n_z
    Za = (z,) + tuple(0.1 * size * rng.standard_normal((B, n)) for _ in range(degree))
    Va = tuple(rng.standard_normal((B, n)) * 0.3**k for k in range(degree + 1))
    Ze = 0.02 * size * rng.uniform(size=(B, n))
    rho = 0.02 * size * rng.uniform(size=B)
    T = tangent_model(model, x, TM(Za, Ze), rho, TM(Va, np.zeros((B, n))))
    jac_scale = (1 + np.abs(z).max() + 0.5 * size) * np.abs(model.W_hh).sum(axis=1).max()
    for _ in range(20):
        s = rng.uniform(-1, 1, size=(B, 1))
        b = rng.standard_normal((B, n))
        b *= (rho * rng.uniform(size=B) ** (1 / n) / np.linalg.norm(b, axis=1))[:, None]
        zs = sum(a * s**k for k, a in enumerate(Za)) + Ze * rng.uniform(-1, 1, (B, n)) + b
        vs = sum(a * s**k for k, a in enumerate(Va))
        P = sum(a * s**k for k, a in enumerate(T.a))
        # the sampled point's own Jacobian carries a float error of JAC_REL at most
        err = np.abs(_tangent(model, zs, x, vs) - P)
        slack = JAC_REL * jac_scale * np.abs(vs).sum(axis=1, keepdims=True)
        assert np.all(err <= T.e * (1 + UPPER_RTOL) + slack)


# ---------------------------------------------------------------------------------- tube
@settings(max_examples=30)
@given(cases)
def test_jacobian_deviation_bounds_every_sampled_point(case):
    size, B = case[-1], 20
    model, rng, z, x = _states(case, 1, B)
    n = model.n_z
    p, rho = 0.1 * size * rng.standard_normal((B, n)), 0.05 * size * rng.uniform(size=B)
    # the crude enclosure (slopes at their global suprema) must cover everything the fine one does
    Dev = jacobian_deviation(model, z, x, p, rho)
    assert np.all(Dev <= jacobian_deviation(model, z, x, p, rho, crude=True) * (1 + UPPER_RTOL))
    J0 = model.jacobian(z, x)
    jac_scale = (1 + np.abs(z).max()) * np.abs(model.W_hh).sum(axis=1).max()
    for _ in range(20):
        s = rng.uniform(-1, 1, size=(B, 1))
        b = rng.standard_normal((B, n))
        b *= (rho * rng.uniform(size=B) ** (1 / n) / np.linalg.norm(b, axis=1))[:, None]
        dJ = np.abs(model.jacobian(z + s * p + b, x) - J0)
        # Dev covers the float error of J0; the sampled point's own Jacobian carries one of
        # the same size (JAC_REL at the largest factors)
        assert np.all(dJ <= Dev * (1 + UPPER_RTOL) + JAC_REL * jac_scale)


# ---------------------------------------------------------------------------------- pair
@settings(max_examples=30)
@given(cases)
def test_pair_bound_is_never_beaten_and_is_the_pair_up_to_rounding(case):
    model, X, z0, _ = _windows(case, 2)
    bound, _ = pair_bounds(model, X, z0)
    sim = _simulated_ratio(model, X, z0, np.zeros_like(z0))
    assert np.all(sim <= bound * (1 + UPPER_RTOL))
    # the float-error enclosure is absolute (~1e-15 of the step's terms): relative to the
    # pair's distance it grows like 1 / ||z0||
    slack = sim.max() + 1.0 / np.linalg.norm(z0, axis=1).min()
    np.testing.assert_allclose(bound, sim, rtol=PAIR_TIGHT, atol=PAIR_TIGHT * slack)


# ------------------------------------------------------------------------------- segment
@settings(max_examples=25)
@given(cases, st.sampled_from([1, 2]))
def test_segment_bound_is_never_beaten_by_pairs_on_the_segment(case, degree):
    model, X, z0, rng = _windows(case, 3)
    S = X.shape[0]
    bound, _ = segment_bounds(model, X, z0, K=8, degree=degree)
    for _ in range(6):
        s1, s2 = rng.uniform(size=(S, 1)), rng.uniform(size=(S, 1))
        near = rng.uniform() < 0.5
        if near:
            s2 = np.clip(s1 + 1e-5, 0, 1)
        keep = (np.abs(s1 - s2) > 0)[:, 0]
        sim, slack = _simulated_ratio(model, X[keep], (s1 * z0)[keep], (s2 * z0)[keep],
                                      with_slack=True)
        assert np.all(sim <= bound[keep] * (1 + UPPER_RTOL) + slack)


@pytest.mark.parametrize("degree", [1, 2])
def test_segment_remainder_falls_with_the_taylor_order(degree):
    model = _model("lstm", 3, 3, 0.5)
    rng = np.random.default_rng(0)
    X, z0 = rng.standard_normal((4, 20, 1)), 2.0 * rng.standard_normal((4, 6))
    b4, c4, p4 = segment_parts(model, X, z0, K=4, degree=degree)
    b32, c32, p32 = segment_parts(model, X, z0, K=32, degree=degree)
    assert np.all(b32 <= b4 * (1 + UPPER_RTOL))
    assert np.all(c32 <= p32) and np.all(p32 <= b32)
    # the spread over a piece is first order in its width: 8x narrower, ~8x smaller
    assert np.max(p32 - c32) < np.max(p4 - c4) / 4
    # the enclosed remainder is of order width**(degree + 1): 8**2 = 64 or 8**3 = 512
    assert np.max(b32 - p32) < np.max(b4 - p4) / (16 if degree == 1 else 128)


@pytest.mark.parametrize("pairs", ["pair", "segment"])
def test_linear_elman_is_tight(pairs):
    rng = np.random.default_rng(4)
    W = rng.standard_normal((3, 3))
    W *= 0.9 / np.max(np.abs(np.linalg.eigvals(W)))
    m = ElmanRNN(W, rng.standard_normal((3, 1)), rng.standard_normal(3),
                 rng.standard_normal((1, 3)), None, activation="linear")
    X, z0 = rng.standard_normal((5, 15, 1)), rng.standard_normal((5, 3))
    cert = certify_on_data(m, X, z0, pairs=pairs)
    u = z0 / np.linalg.norm(z0, axis=1, keepdims=True)
    truth = np.array([np.max(np.abs(u @ np.linalg.matrix_power(W, j).T @ m.W_hy.T))
                      for j in range(1, 16)])
    assert np.all(truth <= cert.envelope * (1 + UPPER_RTOL))
    np.testing.assert_allclose(cert.envelope, truth, rtol=LINEAR_TIGHT)


# ------------------------------------------------------------------------- certify_on_data
def test_certificate_covers_its_envelope_and_states_its_region():
    model = _model("gru", 5, 3, 0.5)
    rng = np.random.default_rng(5)
    X, z0 = rng.standard_normal((6, 25, 1)), rng.uniform(-1, 1, (6, 3))
    cert = certify_on_data(model, X, z0, pairs="segment", pieces=2, max_pieces=64, tol=0.05)
    assert cert.kind == "on-data" and cert.verified and cert.cell == "gru"
    assert "segment" in cert.region and "6 windows" in cert.region
    j = np.arange(1, 26)
    assert np.all(cert.envelope <= cert.C * cert.lam**j * (1 + UPPER_RTOL))
    assert np.all(cert.lower <= cert.envelope * (1 + UPPER_RTOL))
    assert cert.steps_to_level == steps_to(cert.lam, cert.C)


def test_steps_to_level():
    assert steps_to(0.5, 1.0) == 7  # 0.5**7 = 0.0078 <= 0.01 < 0.5**6
    assert steps_to(1.0, 1.0) == np.inf


# ------------------------------------------------------------- degenerate pairs and fits
def _unverified(cert, why):
    assert not cert.verified and np.isnan(cert.lam) and np.isnan(cert.C), cert
    assert cert.steps_to_level == np.inf and why in cert.reason, cert.reason


@pytest.mark.parametrize("pairs", ["pair", "segment"])
def test_pairs_without_separation_certify_nothing(pairs):
    """z_i = 0 in every window (window 0 of a free run, or S = 1 at the start): both sides of
    A1 are 0 for every (lam, C); the certificate says so instead of lam = 1e-6, C = 1e-300."""
    model = _model("lstm", 0, 2, 0.5)
    X = np.random.default_rng(0).standard_normal((3, 10, 1))
    cert = certify_on_data(model, X, np.zeros((3, model.n_z)), pairs=pairs)
    _unverified(cert, "no pair has a separation")
    assert np.all(cert.envelope == 0) and np.all(cert.pieces == 0)
    assert cert.extra["pairs_separated"] == 0


@pytest.mark.parametrize("pairs", ["pair", "segment"])
def test_windows_without_separation_do_not_drive_the_certificate(pairs):
    """Windows with z_i = 0 are left out: the certificate equals the one on the others alone;
    fewer separated windows than min_pairs: not verified, with the count."""
    model = _model("gru", 1, 2, 0.5)
    rng = np.random.default_rng(1)
    X, z0 = rng.standard_normal((5, 12, 1)), rng.uniform(-1, 1, (5, 2))
    z0[[0, 3]] = 0.0
    keep = [1, 2, 4]
    cert = certify_on_data(model, X, z0, pairs=pairs)
    ref = certify_on_data(model, X[keep], z0[keep], pairs=pairs)
    assert cert.verified and ref.verified
    np.testing.assert_array_equal(cert.envelope, ref.envelope)  # same windows, same code
    assert (cert.lam, cert.C) == (ref.lam, ref.C)
    assert cert.pieces[0] == cert.pieces[3] == 0 and np.all(cert.pieces[keep] >= 1)
    assert "3 windows X_i with z_i != 0 among the 5" in cert.region
    _unverified(certify_on_data(model, X, z0, pairs=pairs, min_pairs=4), "fewer than min_pairs")
    with pytest.raises(InputError, match="min_pairs"):
        certify_on_data(model, X, z0, min_pairs=0)


def test_tiny_separations_are_separations():
    """||z|| below ~1e-154 underflows in np.linalg.norm; such a pair is not (0, 0): it is
    traced (its float error then dwarfs it: honest, not verified) and never dropped."""
    np.testing.assert_allclose(separations(np.array([[1e-200, 0.0], [3e-170, 4e-170]])),
                               [1e-200, 5e-170], rtol=1e-15)
    m = ElmanRNN([[0.5]], [[1.0]], None, [[2.0]], None)
    cert = certify_on_data(m, np.ones((1, 4, 1)), np.array([[1e-200]]))
    assert cert.extra["pairs_separated"] == 1 and np.all(cert.envelope > 1e100)
    assert not cert.verified


def test_one_step_has_no_rate():
    model = _model("elman", 2, 2, 0.5)
    rng = np.random.default_rng(2)
    cert = certify_on_data(model, rng.standard_normal((4, 1, 1)), rng.standard_normal((4, 2)))
    _unverified(cert, "N = 1")
    assert cert.envelope.shape == (1,) and cert.envelope[0] > 0  # the envelope is still there


def test_two_steps_are_enough_and_covered():
    rng = np.random.default_rng(3)
    m = ElmanRNN([[0.6]], [[1.0]], None, [[1.5]], None, activation="linear")
    cert = certify_on_data(m, rng.standard_normal((2, 2, 1)), rng.standard_normal((2, 1)))
    assert cert.verified
    assert np.all(cert.envelope <= cert.C * cert.lam ** np.arange(1, 3) * (1 + UPPER_RTOL))
    np.testing.assert_allclose([cert.lam, cert.C], [0.6, 1.5], rtol=1e-9)  # |y_j| = 1.5 0.6**j


def test_unverified_certificates_have_nan_constants():
    """A non-contracting cell (W_hh = 1.1): the fitted lam >= 1 is in the reason, not in lam."""
    rng = np.random.default_rng(4)
    m = ElmanRNN([[1.1]], [[1.0]], None, [[1.0]], None, activation="linear")
    cert = certify_on_data(m, rng.standard_normal((3, 8, 1)), rng.standard_normal((3, 1)))
    _unverified(cert, "does not decay")
    assert "1.1" in cert.reason and np.isfinite(cert.envelope).all()


@pytest.mark.parametrize("G", [np.zeros(5), np.array([1.0, np.inf, 0.5]),
                               np.array([1.0, np.nan, 0.5]), np.array([0.3]),
                               np.array([0.5, 0.5]), np.array([0.5, 0.6]), np.array([1.0, 0.0]),
                               np.array([1.0, -0.5, 0.5]), np.ones((2, 2))])
def test_fewest_steps_fit_refuses_envelopes_without_a_rate(G):
    with pytest.raises(InputError, match="0 < G_N < G_1"):
        fewest_steps_fit(G)


def test_fewest_steps_fit_on_two_steps_and_cover_C_without_underflow():
    lam, C = fewest_steps_fit(np.array([1.0, 0.5]))
    assert 0.5 <= lam < 1 and np.all(C * lam ** np.arange(1, 3) >= [1.0, 0.5])
    assert cover_C(np.zeros(4), 0.5) == 0.0
    # lam**j underflows to 0 for j = 200, lam = 1e-6: C is an honest inf, not G / 0 = nan
    with np.errstate(all="raise"):
        assert cover_C(np.full(200, 1e-3), 1e-6) == np.inf
        assert cover_C(np.array([2.0, 1.0]), 0.5) == pytest.approx(4.0, rel=1e-11)


def test_bad_input_is_refused_before_any_work():
    model = _model("lstm", 0, 2, 0.5)
    X, z0 = np.zeros((2, 5, 1)), np.zeros((2, 4))
    with pytest.raises(ValueError, match="pairs must be one of"):
        certify_on_data(model, X, z0, pairs="ball")
    with pytest.raises(ValueError, match="z0 must have shape"):
        certify_on_data(model, X, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="X must have shape"):
        certify_on_data(model, np.zeros((2, 5)), z0)
    with pytest.raises(ValueError, match="pieces"):
        certify_on_data(model, X, z0, pieces=0)


def test_authors_silverbox_model_segment_certificate(shared_models):
    """Where the first-order enclosure diverged at 128 pieces, the second-order one holds at 64."""
    from systems.benchmarks import load_benchmark
    from systems.cells import load_model

    model = load_model(shared_models / "authors_lstm/silverbox/model_h8_N100_m0_stateless.pt")
    u = load_benchmark("silverbox").scaled["train"].x
    z, _ = model.simulate(u[:1200])
    starts = np.array([300, 700, 1100])
    X, z0 = np.stack([u[s:s + 100] for s in starts]), z[starts]
    cert = certify_on_data(model, X, z0, pairs="segment", pieces=64, max_pieces=64)
    assert cert.verified and cert.lam < 1
    rng = np.random.default_rng(6)
    for _ in range(3):
        s1, s2 = rng.uniform(size=(3, 1)), rng.uniform(size=(3, 1))
        sim, slack = _simulated_ratio(model, X, s1 * z0, s2 * z0, with_slack=True)
        assert np.all(sim <= cert.envelope * (1 + UPPER_RTOL) + slack)
    assert np.all(cert.envelope <= 1.5 * cert.lower)  # within 50% of the centre tangents


def test_authors_silverbox_model_pair_certificate(shared_models):
    from systems.benchmarks import load_benchmark
    from systems.cells import load_model

    model = load_model(shared_models / "authors_lstm/silverbox/model_h8_N100_m0_stateless.pt")
    u = load_benchmark("silverbox").scaled["train"].x
    z, _ = model.simulate(u[:1200])
    starts = np.arange(50, 1100, 50)  # z_0 = 0 would be no pair
    X = np.stack([u[s:s + 100] for s in starts])
    cert = certify_on_data(model, X, z[starts], pairs="pair")
    sim = _simulated_ratio(model, X, z[starts], np.zeros((starts.size, model.n_z)))
    assert cert.verified and cert.lam < 1
    assert np.all(sim.max(axis=0) <= cert.envelope * (1 + UPPER_RTOL))


@settings(max_examples=40, deadline=None)
@given(r=st.floats(0.5, 0.99), c=st.floats(0.1, 50.0), floor=st.floats(1e-12, 1e-6),
       N=st.integers(20, 1500))
def test_fewest_steps_fit_covers_and_beats_a_grid(r, c, floor, N):
    """The fallback fit covers every G_j, stays in [lam_net, 1), and no lam on a brute-force
    grid of that range needs fewer steps to 1 % (C recomputed from the definition)."""
    j = np.arange(1, N + 1)
    G = np.maximum(c * r**j, floor * (1 + j / N))  # decay, then a slowly rising floor
    lam, C = fewest_steps_fit(G)
    lam_net = (G[-1] / G[0]) ** (1 / (N - 1))
    assert lam_net * (1 - 1e-12) <= lam < 1
    assert np.all(C * lam**j >= G)
    grid = np.linspace(lam_net, 1 - 1e-9, 4001)
    best = min(steps_to(g, float(np.max(G / g**j))) for g in grid)
    assert steps_to(lam, C) <= best


def test_fewest_steps_fit_is_exact_on_a_geometric_envelope():
    j = np.arange(1, 101)
    lam, C = fewest_steps_fit(2.0 * 0.95**j)
    np.testing.assert_allclose([lam, C], [0.95, 2.0], rtol=1e-9)


def test_authors_wiener_hammerstein_n1000_certified_through_its_float_floor(shared_models):
    """N = 1000: the envelope reaches its float-error floor (~1e-8) within ~250 steps, the
    log-linear fit follows it to lam >= 1; the fallback certifies lam < 1, and the simulated
    pairs never exceed C lam**j."""
    from systems.benchmarks import load_benchmark
    from systems.cells import load_model

    model = load_model(shared_models / "authors_lstm/wienerhammerstein/"
                       "model_h8_N1000_m0_stateless.pt")
    u = load_benchmark("wiener_hammerstein").scaled["train"].x
    z, _ = model.simulate(u[:4000])
    starts = np.array([500, 1700, 2900])
    X = np.stack([u[s:s + 1000] for s in starts])
    cert = certify_on_data(model, X, z[starts], pairs="pair")
    assert cert.verified and cert.lam < 1 and "fewest steps" in cert.reason
    sim = _simulated_ratio(model, X, z[starts], np.zeros((starts.size, model.n_z)))
    j = np.arange(1, 1001)
    assert np.all(sim <= cert.C * cert.lam**j * (1 + UPPER_RTOL))
