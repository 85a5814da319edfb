"""Global delta-ISS certificates of LSTM/GRU cells, cell-generic sampled constants, and the
burn-in recommended from one model (verification.certificates.gated_global, sampled_cells,
burn_in).

References: simulation of pairs inside the certified region (a certificate must never be
beaten), the authors' Wiener-Hammerstein models with a second attractor (must never be globally
certified), ``sampled.empirical_constants`` itself for Elman cells, and a brute-force scan of
the T1 bound for the recommendation.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bounds.numeric import training_regret
from systems.cells import model_class
from tests.tolerances import UPPER_RTOL
from verification.certificates.burn_in import recommend_m
from verification.certificates.gated_global import certify_global
from verification.certificates.ondata import certify_on_data, simulate_pairs
from verification.certificates.sampled import empirical_constants
from verification.certificates.sampled_cells import sampled_constants, sampled_on_pairs


def _model(cell, seed, scale, n_h=3, n_x=1, n_y=1):
    rng = np.random.default_rng(seed)
    cls = model_class(cell)
    return cls.from_theta(scale * rng.standard_normal(cls.n_params(n_x, n_h, n_y)),
                          n_x=n_x, n_h=n_h, n_y=n_y)


@settings(max_examples=30)
@given(st.sampled_from(["lstm", "gru"]), st.integers(0, 10_000), st.sampled_from([0.05, 0.15]),
       st.sampled_from([0.5, 1.0, 3.0]))
def test_global_certificate_is_never_beaten_inside_its_region(cell, seed, scale, x_bar):
    model = _model(cell, seed, scale)
    cert = certify_global(model, x_bar)
    if not cert.verified:  # small weights usually pass; when not, the reason names the value
        assert cert.value >= 1 and "violated" in cert.reason
        return
    rng = np.random.default_rng(seed)
    P, T = 40, 15
    bounds = np.repeat(cert.state_bounds, model.n_h)  # (h_bar,) or (h_bar, c_bar) per entry
    za = rng.uniform(-1, 1, (P, model.n_z)) * bounds
    zb = rng.uniform(-1, 1, (P, model.n_z)) * bounds
    X = rng.uniform(-x_bar, x_bar, (P, T, 1))
    _, ya = model.simulate(X, za)
    _, yb = model.simulate(X, zb)
    ratio = np.linalg.norm(ya - yb, axis=-1) / np.linalg.norm(za - zb, axis=1)[:, None]
    j = np.arange(1, T + 1)
    assert np.all(ratio <= cert.C * cert.lam**j * (1 + UPPER_RTOL))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_small_weights_are_globally_certified(cell):
    cert = certify_global(_model(cell, 0, 0.05), 1.0)
    assert cert.verified and 0 < cert.lam < 1 and cert.C > 0


def test_global_refuses_elman_and_bad_input_bound():
    with pytest.raises(ValueError, match="lmi_c"):
        certify_global(_model("elman", 0, 0.1), 1.0)
    with pytest.raises(ValueError, match="x_bar"):
        certify_global(_model("lstm", 0, 0.1), -1.0)


def test_a_large_forget_gate_bias_is_not_certified():
    m = _model("lstm", 1, 0.1)
    b = m.b_ih.copy()
    b[m.n_h:2 * m.n_h] = 50.0  # f = 1: the cell state integrates, nothing forgets
    m2 = type(m)(m.W_ih, m.W_hh, b, m.b_hh, m.W_hy, m.b_y)
    cert = certify_global(m2, 1.0)
    assert not cert.verified and np.isnan(cert.lam)


@pytest.mark.parametrize("m", [5, 10])
def test_multistable_authors_models_are_never_globally_certified(shared_models, m):
    from systems.benchmarks import load_benchmark
    from systems.cells import load_model

    model = load_model(shared_models / f"authors_lstm/wienerhammerstein/model_h8_N100_m{m}"
                                       "_stateless.pt")
    u = load_benchmark("wiener_hammerstein").scaled["train"].x
    cert = certify_global(model, float(np.max(np.abs(u))))
    assert not cert.verified and cert.value > 1 and cert.kind == "global"


# ---------------------------------------------------------------------------------- sampled
def test_sampled_constants_of_an_elman_cell_are_those_of_sampled_py():
    model = _model("elman", 2, 0.5)
    X = np.random.default_rng(0).standard_normal((4, 12, 1))
    a = sampled_constants(model, X, n_pairs=50, seed=3)
    b = empirical_constants(model, X, n_pairs=50, seed=3)
    assert not a.certified
    np.testing.assert_array_equal(a.rho, b.rho)  # the same code path: identity is the property


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sampled_constants_of_gated_cells_sample_the_full_state(cell):
    model = _model(cell, 4, 0.5)
    X = np.random.default_rng(1).standard_normal((5, 10, 1))
    e = sampled_constants(model, X, n_pairs=60, seed=0)
    assert not e.certified and e.rho.shape == (10,) and np.all(e.rho >= 0)


@pytest.mark.parametrize("pairs", ["pair", "segment"])
def test_sampled_on_pairs_is_below_the_certificate_of_the_same_pairs(pairs):
    model = _model("lstm", 6, 0.4)
    rng = np.random.default_rng(2)
    X, z0 = rng.standard_normal((6, 15, 1)), rng.uniform(-1, 1, (6, model.n_z))
    e = sampled_on_pairs(model, X, z0, pairs=pairs)
    cert = certify_on_data(model, X, z0, pairs=pairs, pieces=4, max_pieces=64)
    assert not e.certified and cert.verified
    assert np.all(e.rho <= cert.envelope * (1 + UPPER_RTOL) + 1e-9)
    if pairs == "pair":
        np.testing.assert_array_equal(e.rho, simulate_pairs(model, X, z0).max(axis=0))


@pytest.mark.parametrize("pairs", ["pair", "segment"])
def test_sampled_on_pairs_without_separation_is_no_estimate(pairs):
    """z_i = 0 everywhere: no pair is a witness; not lam = 1e-6, C = 0, contracting."""
    model = _model("lstm", 7, 0.4)
    X = np.random.default_rng(3).standard_normal((3, 10, 1))
    e = sampled_on_pairs(model, X, np.zeros((3, model.n_z)), pairs=pairs)
    assert e.n_pairs == 0 and np.isnan(e.lam) and np.isnan(e.C) and not e.contracting
    z0 = np.zeros((3, model.n_z))
    z0[1] = 0.5
    assert sampled_on_pairs(model, X, z0).n_pairs == 1
    one = sampled_on_pairs(model, X[:, :1], z0)  # N = 1: no rate from one step
    assert np.isnan(one.lam) and not one.contracting


# ---------------------------------------------------------------------------------- burn-in
def test_recommended_m_is_the_smallest_within_tolerance():
    ms = np.arange(0, 100, 5)
    adv = recommend_m(0.8, 2.0, True, 100, V_inf=0.02, Delta_0=1.5, ms=ms, tol=0.1)
    brute = [m for m in ms
             if training_regret(C=2.0, lam=0.8, m=m, N=100, V_inf=0.02, Delta_0=1.5) <= 0.002]
    assert adv.m == brute[0] > 0 and "certified" in adv.reason
    with pytest.raises(ValueError, match="lam"):
        recommend_m(1.0, 2.0, True, 100, V_inf=0.02, Delta_0=1.5)
