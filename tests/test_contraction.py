"""LMI-C certificates (docs/theory.md §7) against independent references.

* soundness: brute-force simulated pairs never exceed the A1 envelope ``C lam**j ||dz||``;
* closed forms: scalar linear ``lam = |w_hh|``, ``C = |w_hy|``; symmetric ``W_hh``:
  ``lam = spectral radius``, ``kappa = 1``;
* both sides of the bisection (python-control style): fails at ``lam - 10 tol``, passes at ``lam``;
* the float64 re-check, not the solver, decides ``verified``.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tolerances import ROUND_ATOL, UPPER_RTOL

from systems.rnn import ElmanRNN
from verification.certificates import lmi_c as cc
from verification.certificates import rate
from verification.certificates.lmi_c import certify, check_lmi_c, curve, minimise_over_curve

TOL = cc.TOL


def random_model(seed: int, n_h: int, activation: str, norm: float = 0.9, n_x: int = 2,
                 n_y: int = 2) -> ElmanRNN:
    """W_hh scaled to spectral norm ``norm``; biases random (they do not affect LMI-C)."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_h, n_h))
    W *= norm / np.linalg.norm(W, 2)
    return ElmanRNN(W, rng.standard_normal((n_h, n_x)), rng.standard_normal(n_h),
                    rng.standard_normal((n_y, n_h)), rng.standard_normal(n_y),
                    activation=activation)


def assert_a1_holds(model: ElmanRNN, cert: cc.Certificate, seed: int, S: int = 200,
                    N: int = 30) -> None:
    """Simulate S pairs from random initial states under random inputs; check (A1)."""
    rng = np.random.default_rng(seed)
    x = 2.0 * rng.standard_normal((S, N, model.n_x))
    z = 3.0 * rng.standard_normal((S, model.n_h))
    z2 = z + rng.standard_normal((S, model.n_h)) * rng.uniform(1e-3, 3.0, (S, 1))
    _, y = model.simulate(x, z)
    _, y2 = model.simulate(x, z2)
    dy = np.linalg.norm(y - y2, axis=-1)  # (S, N)
    scale = np.maximum(np.abs(y), np.abs(y2)).max(axis=-1)
    bound = cert.bound(np.arange(1, N + 1))[None, :] * np.linalg.norm(z - z2, axis=1)[:, None]
    assert np.all(dy <= bound * (1 + UPPER_RTOL) + ROUND_ATOL * scale), np.max(dy / bound)


# ------------------------------------------------------------------------- soundness (A1)
@settings(max_examples=20)
@given(seed=st.integers(0, 2**31 - 1), n_h=st.integers(1, 6),
       activation=st.sampled_from(["linear", "tanh"]),
       norm=st.floats(0.05, 0.95, allow_nan=False))
def test_certificate_is_sound_by_simulation(seed, n_h, activation, norm):
    model = random_model(seed, n_h, activation, norm)
    cert = certify(model)
    # ||W_hh||_2 < 1 makes P = I, Lambda = I feasible at lam = ||W_hh||: must be certified
    assert cert.verified, cert.reason
    assert 0 < cert.lam <= norm + TOL and cert.C >= np.linalg.norm(model.W_hy, 2) - 1e-12
    assert cert.lam >= cc.spectral_radius(model.W_hh) * (1 - 1e-12)
    assert check_lmi_c(model.W_hh, cert.lam, cert.P, cert.multiplier).passed
    assert_a1_holds(model, cert, seed)


# ------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("w", [1e-6, 0.3, -0.7, 0.95])
@pytest.mark.parametrize("fast_path", [True, False])
def test_linear_scalar_closed_form(w, fast_path):
    model = ElmanRNN([[w]], [[1.0]], None, [[-2.5]], None, activation="linear")
    cert = certify(model, fast_path=fast_path)
    assert cert.verified, cert.reason
    assert abs(cert.lam - max(abs(w), TOL)) <= TOL
    assert cert.lam >= abs(w)
    assert cert.C == pytest.approx(2.5, rel=1e-6)  # P = 1: kappa = 1
    assert cert.solver == ("closed form" if fast_path else "CLARABEL")


def test_linear_symmetric_is_spectral_radius_with_kappa_one():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4))
    W = A + A.T
    W *= 0.8 / np.max(np.abs(np.linalg.eigvalsh(W)))
    model = ElmanRNN(W, np.ones((4, 1)), None, np.eye(4), None, activation="linear")
    cert = certify(model)
    assert cert.verified
    assert 0.8 <= cert.lam <= 0.8 + TOL
    assert cert.kappa == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_nonnormal_lam_at_least_spectral_radius(seed):
    model = random_model(seed, 4, "linear", 0.9)
    rho = cc.spectral_radius(model.W_hh)
    cert = certify(model)
    assert cert.verified and rho <= cert.lam <= rho + 2 * TOL
    # lam_min = rho for a linear model: only kappa pays for non-normality
    assert cert.kappa > 1.0


# ------------------------------------------------------------------------- both sides
@pytest.mark.parametrize("activation", ["linear", "tanh"])
@pytest.mark.parametrize("seed", [4, 5])
def test_bisection_both_sides(activation, seed):
    model = random_model(seed, 3, activation, 0.9)
    cert = certify(model)
    assert cert.verified
    below = cert.lam - 10 * TOL
    # at lam - 10 tol: infeasible, or the solver's P fails the float64 check there
    low = certify(model, below)
    assert not low.verified or low.lam > below + 9 * TOL  # a pass only after a large nudge
    again = certify(model, cert.lam)
    assert again.verified and again.lam <= cert.lam * (1 + 1e-6)


# ------------------------------------------------------------------------- no certificate
@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_unstable_model_is_not_certified(activation):
    W = np.array([[1.3, 0.2], [0.0, 0.5]])
    model = ElmanRNN(W, np.ones((2, 1)), None, np.ones((1, 2)), None, activation=activation)
    cert = certify(model)
    assert not cert.verified
    assert np.isnan(cert.lam) and np.isnan(cert.C) and cert.P is None
    assert "infeasible" in cert.reason and "1.3" in cert.reason
    assert not certify(model, 0.9).verified


def test_given_lam_below_spectral_radius_is_not_certified():
    model = random_model(0, 3, "tanh", 0.9)
    rho = cc.spectral_radius(model.W_hh)
    cert = certify(model, 0.5 * rho)
    assert not cert.verified and "spectral radius" in cert.reason


def test_lam_outside_unit_interval_is_an_error():
    model = random_model(0, 2, "tanh")
    with pytest.raises(ValueError, match="lam"):
        certify(model, 1.0)


def test_solver_failure_is_not_a_number(monkeypatch):
    def fail(self, lam, solver):
        return "failure", None, None, "CLARABEL: boom; SCS: boom"

    monkeypatch.setattr(cc._ContractionSDP, "solve", fail)
    model = random_model(1, 3, "tanh")
    cert = certify(model, method="bisection")
    assert not cert.verified and np.isnan(cert.lam) and "solver failure" in cert.reason
    # the eigenvalue path certifies with its interior metric alone, checked in float64 ...
    cert = certify(model)
    assert cert.verified and cert.solver.startswith("eigenvalues (SDP: CLARABEL: boom")
    assert check_lmi_c(model.W_hh, cert.lam, cert.P, cert.multiplier).passed
    # ... and without one, a solver failure is no number there either
    monkeypatch.setattr(cc, "_interior_metric", lambda *a: None)
    cert = certify(model)
    assert not cert.verified and np.isnan(cert.lam) and "solver failure" in cert.reason


# ------------------------------------------------------------------------- float64 check
def test_float64_check_decides(monkeypatch):
    """A solver that returns a wrong P (P = I for a nilpotent W with ||W|| = 2) is rejected."""
    W = np.array([[0.0, 2.0], [0.0, 0.0]])  # correct metric: P = diag(1, 5), lam^2 >= 0.8
    model = ElmanRNN(W, np.ones((2, 1)), None, np.ones((1, 2)), None, activation="linear")
    good = certify(model, 0.95)
    assert good.verified
    assert not check_lmi_c(W, 0.95, np.eye(2), None).passed

    def wrong(self, lam, solver):
        return "ok", np.eye(2), None, "CLARABEL"

    monkeypatch.setattr(cc._ContractionSDP, "solve", wrong)
    bad = certify(model, 0.95)
    assert not bad.verified and "float64 check failed" in bad.reason


def test_check_rejects_perturbed_P():
    model = random_model(7, 4, "tanh", 0.9)
    cert = certify(model)
    P, mu = cert.P, cert.multiplier
    assert check_lmi_c(model.W_hh, cert.lam, P, mu).passed
    ev, V = np.linalg.eigh(cc.lmi_c_matrix(model.W_hh, cert.lam, P, mu))
    v = V[: model.n_h, 0]  # P-part of the weakest direction of the LMI
    P_bad = P - 1e-2 * np.linalg.norm(P, 2) * np.outer(v, v) / (v @ v)
    assert not check_lmi_c(model.W_hh, cert.lam, P_bad, mu).passed
    assert not check_lmi_c(model.W_hh, cert.lam, P, -np.abs(mu) - 1.0).passed  # mu < 0


def test_nudge_is_reported():
    """Asked at exactly |w|, the Lyapunov LMI is singular (M = 0): the check nudges lam up."""
    model = ElmanRNN([[0.6]], [[1.0]], None, [[1.0]], None, activation="linear")
    cert = certify(model, 0.6)
    assert cert.verified and 0 < cert.margin < 1e-9 and 0.6 < cert.lam < 0.6 + 1e-9


# ------------------------------------------------------------------------- curve
def test_curve_is_a_tradeoff_and_minimises_a_bound():
    model = random_model(11, 3, "tanh", 0.9)
    certs = curve(model, n=5)
    assert all(c.verified for c in certs)
    lam = np.array([c.lam for c in certs])
    C = np.array([c.C for c in certs])
    assert np.all(np.diff(lam) > 0)
    assert np.all(np.diff(C) <= 1e-6 * C[:-1])  # kappa(P) minimal at each lam
    for c in certs:
        assert_a1_holds(model, c, seed=1, S=50, N=20)
    m = 8
    best = minimise_over_curve(certs, lambda C_, l: C_ * l**m)
    assert best.C * best.lam**m == min(c.C * c.lam**m for c in certs)


def test_minimise_over_curve_needs_a_verified_point():
    bad = certify(ElmanRNN([[1.5]], [[1.0]], None, [[1.0]], None, activation="linear"))
    with pytest.raises(ValueError, match="no verified"):
        minimise_over_curve([bad], lambda C, l: C)


# ------------------------------------------------------------------------- input errors, memoryless
@pytest.mark.parametrize("name", ["W_hh", "W_xh", "W_hy"])
@pytest.mark.parametrize("value", [1e160, 1e308, -1e101])
def test_overflowing_weights_are_an_input_error(name, value, monkeypatch):
    """Weights whose squares overflow are rejected before any solver (no warning, no C = inf)."""
    weights = {"W_hh": [[0.5]], "W_xh": [[1.0]], "W_hy": [[1.0]]}
    weights[name] = [[value]]

    def no_solver(*args, **kwargs):
        raise AssertionError("the solver was reached")

    monkeypatch.setattr(cc.sdp, "solve", no_solver)
    model = ElmanRNN(weights["W_hh"], weights["W_xh"], None, weights["W_hy"], None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail here
        with pytest.raises(ValueError, match=name):
            certify(model)


def test_no_hidden_state_is_an_input_error():
    model = ElmanRNN(np.zeros((0, 0)), np.zeros((0, 1)), None, np.zeros((1, 0)), None)
    with pytest.raises(ValueError, match="n_h"):
        certify(model)


@pytest.mark.parametrize("activation", ["linear", "tanh"])
@pytest.mark.parametrize("zero", ["W_hh", "W_hy"])
def test_memoryless_model_has_C_zero(activation, zero):
    """``W_hh = 0`` or ``W_hy = 0``: the outputs forget the initial state at once, C = 0 is
    exact (checked by simulation: ``dy_j = 0`` for every ``j >= 1``)."""
    rng = np.random.default_rng(0)
    W = {"W_hh": 1.5 * rng.standard_normal((3, 3)), "W_hy": rng.standard_normal((2, 3))}
    W[zero] = np.zeros_like(W[zero])
    model = ElmanRNN(W["W_hh"], rng.standard_normal((3, 2)), rng.standard_normal(3), W["W_hy"],
                     None, activation=activation)
    cert = certify(model)
    assert cert.verified and cert.memoryless and cert.C == 0.0, cert.reason
    assert "memoryless" in cert.reason and [c.memoryless for c in curve(model)] == [True]
    x = rng.standard_normal((20, 10, 2))
    z = 5.0 * rng.standard_normal((20, 3))
    _, y = model.simulate(x, z)
    _, y2 = model.simulate(x, -z)
    np.testing.assert_array_equal(y, y2)  # exactly: both runs compute the same numbers
    assert not certify(ElmanRNN([[0.5]], [[1.0]], None, [[1.0]], None)).memoryless


def test_to_dict_is_json_ready():
    cert = certify(random_model(0, 3, "tanh"))
    d = json.loads(json.dumps(cert.to_dict()))
    assert d["verified"] is True and d["memoryless"] is False and d["reason"] == cert.reason
    np.testing.assert_array_equal(np.array(d["P"]), cert.P)  # float64 survives JSON exactly
    assert d["lam"] == cert.lam and d["C"] == cert.C
    bad = certify(ElmanRNN([[1.5]], [[1.0]], None, [[1.0]], None)).to_dict()
    assert bad["P"] is None and bad["verified"] is False and math.isnan(bad["lam"])


# ------------------------------------------------------------------------- rate from eigenvalues
def test_numerical_radius_closed_forms():
    """w(A) = rho(A) for symmetric A; w([[0, 1], [0, 0]]) = 1/2; w(a I) = |a|."""
    rng = np.random.default_rng(0)
    B = rng.standard_normal((5, 5))
    S = B + B.T
    np.testing.assert_allclose(rate.numerical_radius(S)[0], np.max(np.abs(np.linalg.eigvalsh(S))),
                               rtol=1e-12)
    np.testing.assert_allclose(rate.numerical_radius(np.array([[0.0, 1.0], [0.0, 0.0]]))[0], 0.5,
                               rtol=1e-12)
    np.testing.assert_allclose(rate.numerical_radius(-0.3 * np.eye(3))[0], 0.3, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eigenvalue_rate_is_the_LMI_C_boundary(seed):
    """The rate of rate.best_rate against the SDP (independent): LMI-C is infeasible 1e-3 below
    it (the solver finds no metric at all there) and certified just above it."""
    model = random_model(seed, 4, "tanh", 0.9)
    lam, mu = rate.best_rate(model.W_hh)
    assert rate.rate_for_multiplier(model.W_hh, mu) <= lam * (1 + 1e-12)
    above = certify(model, lam + 1e-4)
    assert above.verified and above.lam <= lam + 1e-4 + 1e-6
    below = certify(model, lam - 1e-3)
    assert not below.verified or below.lam >= lam  # only after a nudge back above the rate


def test_eigen_and_bisection_agree():
    """method="eigen" is no worse than the bisection to within its tolerance (both certified)."""
    model = random_model(3, 5, "tanh", 0.9)
    new, old = certify(model), certify(model, method="bisection")
    assert new.verified and old.verified
    assert new.lam <= old.lam + TOL


@pytest.mark.parametrize("seed", [0, 1])
def test_interior_metric_against_the_kappa_optimal_SDP(seed):
    """rate.metric_for_multiplier (minimal solution of the dual equation, no SDP) is feasible
    in float64 just above the rate, and its kappa is bounded below by the SDP's minimum kappa
    at the same rate (independent: Clarabel) and not far above it."""
    model = random_model(seed, 6, "tanh", 0.9)
    lam, mu = rate.best_rate(model.W_hh)
    lam_c = lam + 1e-4
    P = rate.metric_for_multiplier(model.W_hh, mu, lam_c)
    assert P is not None and check_lmi_c(model.W_hh, lam_c, P, mu).passed
    ev = np.linalg.eigvalsh(P)
    kappa = ev[-1] / ev[0]
    sdp_cert = certify(model, lam_c, solver="CLARABEL")
    assert sdp_cert.verified
    # the SDP minimises kappa over (P, mu) (solver accuracy ~1e-7 relative)
    assert kappa >= sdp_cert.kappa * (1.0 - 1e-6)
    assert kappa <= 3.0 * sdp_cert.kappa  # kappa ratio measured 1.36 and 1.41 here


def test_certificate_without_sdp_above_the_sdp_size():
    """Above METRIC_SDP_MAX_DIM the eigenvalue path uses no SDP; the certificate is still the
    float64-checked one, within tol of the eigenvalue rate, and sampled pairs obey it."""
    n_h = cc.METRIC_SDP_MAX_DIM // 2 + 1
    model = random_model(4, n_h, "tanh", 0.9)
    cert = certify(model)
    lam, _ = rate.best_rate(model.W_hh)
    assert cert.verified and cert.n_solves == 0 and cert.solver.startswith("eigenvalues")
    assert check_lmi_c(model.W_hh, cert.lam, cert.P, cert.multiplier).passed
    assert lam <= cert.lam <= lam + TOL
    assert_a1_holds(model, cert, seed=4, S=50)
