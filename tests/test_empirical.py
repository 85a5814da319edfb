"""Sampled A1 constants (docs/theory.md §7): a lower estimate that certified constants must
dominate."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tolerances import UPPER_RTOL

from systems.rnn import ElmanRNN
from verification.certificates.lmi_c import certify
from verification.certificates.sampled import Empirical, empirical_constants, fit_envelope


def random_model(seed: int, n_h: int, activation: str, norm: float = 0.9) -> ElmanRNN:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_h, n_h))
    W *= norm / np.linalg.norm(W, 2)
    return ElmanRNN(W, rng.standard_normal((n_h, 2)), None, rng.standard_normal((1, n_h)), None,
                    activation=activation)


@pytest.mark.parametrize("fit", ["loglinear", "energy", "tail", "touch"])
def test_fit_recovers_a_geometric_sequence(fit):
    j = np.arange(1, 41)
    lam, C = fit_envelope(0.42 * 0.8**j, fit)
    assert lam == pytest.approx(0.8, rel=1e-6) and C == pytest.approx(0.42, rel=1e-5)


@pytest.mark.parametrize("fit", ["loglinear", "energy", "tail", "touch"])
def test_fit_is_an_envelope(fit):
    rng = np.random.default_rng(0)
    rho = np.exp(np.cumsum(rng.uniform(-0.6, 0.1, 30)))
    lam, C = fit_envelope(rho, fit)
    assert np.all(C * lam ** np.arange(1, 31) >= rho * (1 - UPPER_RTOL))


def test_scalar_linear_matches_closed_form():
    """rho_j = |w_hy| |w|^j exactly (every pair), so lam = |w| and C = |w_hy|."""
    model = ElmanRNN([[-0.7]], [[1.0]], None, [[2.0]], None, activation="linear")
    X = np.random.default_rng(1).standard_normal((8, 30, 1))
    e = empirical_constants(model, X, n_pairs=100, seed=3)
    assert e.lam == pytest.approx(0.7, rel=1e-6) and e.C == pytest.approx(2.0, rel=1e-5)
    assert e.contracting and not e.certified and e.n_pairs == 100 and e.seed == 3
    assert e.rho.shape == (30,)


@pytest.mark.parametrize("activation", ["linear", "tanh"])
@pytest.mark.parametrize("seed", [0, 1])
def test_certified_envelope_dominates_samples(activation, seed):
    model = random_model(seed, 4, activation)
    X = np.random.default_rng(seed).standard_normal((16, 25, 2))
    e = empirical_constants(model, X, n_pairs=500, seed=seed)
    cert = certify(model)
    assert cert.verified
    # every sampled ratio is a witness: a certificate must lie above it
    assert np.all(e.rho <= cert.bound(np.arange(1, 26)) * (1 + 1e-7))


def test_seeded_and_sequence_input():
    model = random_model(2, 3, "tanh")
    x = np.random.default_rng(0).standard_normal((60, 2))
    a = empirical_constants(model, x, 20, n_pairs=200, seed=5)
    b = empirical_constants(model, x, 20, n_pairs=200, seed=5)
    c = empirical_constants(model, x, 20, n_pairs=200, seed=6)
    assert isinstance(a, Empirical) and a.rho.shape == (20,)
    assert np.array_equal(a.rho, b.rho) and not np.array_equal(a.rho, c.rho)
    with pytest.raises(ValueError, match="N"):
        empirical_constants(model, x)


@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_unstable_model_is_reported_not_contracting(activation):
    model = ElmanRNN(1.3 * np.eye(2), 0.01 * np.ones((2, 1)), None, np.ones((1, 2)), None,
                     activation=activation)
    X = 0.01 * np.random.default_rng(0).standard_normal((4, 30, 1))
    e = empirical_constants(model, X, n_pairs=200, seed=0)
    assert not e.contracting and e.lam >= 1.0
    assert not certify(model).verified  # and there is no certificate either
    if activation == "linear":
        assert e.lam == pytest.approx(1.3, rel=1e-6)


def test_C_at_gives_the_tradeoff():
    model = random_model(4, 3, "linear")
    e = empirical_constants(model, np.zeros((2, 15, 2)), n_pairs=100, seed=0)
    lams = np.array([0.5, 0.7, 0.9])
    C = e.C_at(lams)
    assert np.all(np.diff(C) <= 0)
    for lam_, C_ in zip(lams, C, strict=True):
        assert np.all(C_ * lam_ ** np.arange(1, 16) >= e.rho * (1 - UPPER_RTOL))


def test_to_dict_is_json_ready():
    model = random_model(4, 3, "tanh")
    e = empirical_constants(model, np.zeros((2, 15, 2)), n_pairs=50, seed=0)
    d = json.loads(json.dumps(e.to_dict()))
    np.testing.assert_array_equal(np.array(d["rho"]), e.rho)
    assert d["certified"] is False and d["n_pairs"] == e.n_pairs and d["fit"] == e.fit


def test_no_hidden_state_is_an_input_error():
    model = ElmanRNN(np.zeros((0, 0)), np.zeros((0, 1)), None, np.zeros((1, 0)), None)
    with pytest.raises(ValueError, match="n_h"):
        empirical_constants(model, np.zeros((2, 5, 1)))
