"""LMI-L incremental gain and one-step constants (docs/theory.md §7) against independent references.

* soundness by simulation: ``sum ||dy||^2 <= gamma^2 sum ||dx||^2 + dh0^T P dh0`` for pairs with
  ``dh0 = 0`` and ``dh0 != 0``, under random inputs (tanh and linear);
* linear: ``gamma`` equals the H-infinity norm ``max_w ||W_hy (e^{iw} I - W_hh)^{-1} W_xh||``
  computed on a frequency grid (an independent formula), from above and tightly;
* the Euclidean one-step rate from LMI-C at ``P = I`` equals ``||W_hh||_2``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tolerances import ROUND_ATOL, UPPER_RTOL

from systems.rnn import ElmanRNN
from verification.certificates.lmi_c import certify
from verification.certificates.lmi_l import certify_gain, check_lmi_l, one_step


def random_model(seed: int, n_h: int, activation: str, norm: float = 0.9) -> ElmanRNN:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_h, n_h))
    W *= norm / np.linalg.norm(W, 2)
    return ElmanRNN(W, rng.standard_normal((n_h, 2)), rng.standard_normal(n_h),
                    rng.standard_normal((2, n_h)), rng.standard_normal(2), activation=activation)


def hinf_norm(model: ElmanRNN, n_freq: int = 20001) -> float:
    """``max_w sigma_max(W_hy e^{iw} (e^{iw} I - W_hh)^{-1} W_xh)`` on a grid (y_t reads h_t)."""
    w = np.linspace(0.0, np.pi, n_freq)
    z = np.exp(1j * w)
    I = np.eye(model.n_h)
    G = np.stack([model.W_hy @ np.linalg.solve(zk * I - model.W_hh, model.W_xh) for zk in z])
    return float(np.max(np.linalg.norm(G, ord=2, axis=(1, 2))))


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31 - 1), n_h=st.integers(1, 6),
       activation=st.sampled_from(["linear", "tanh"]),
       norm=st.floats(0.05, 0.95, allow_nan=False), same_h0=st.booleans())
def test_gain_is_sound_by_simulation(seed, n_h, activation, norm, same_h0):
    model = random_model(seed, n_h, activation, norm)
    g = certify_gain(model)
    assert g.verified, g.reason
    assert check_lmi_l(model, g.gamma, g.P, g.multiplier).passed
    rng = np.random.default_rng(seed)
    S, T = 200, 40
    x = 2.0 * rng.standard_normal((S, T, 2))
    x2 = x + rng.standard_normal((S, T, 2)) * rng.uniform(0.0, 2.0, (S, 1, 1))
    h0 = 2.0 * rng.standard_normal((S, n_h))
    h02 = h0 if same_h0 else h0 + rng.standard_normal((S, n_h))
    _, y = model.simulate(x, h0)
    _, y2 = model.simulate(x2, h02)
    lhs = ((y - y2) ** 2).sum(axis=(1, 2))
    dh = h0 - h02
    rhs = g.gamma**2 * ((x - x2) ** 2).sum(axis=(1, 2)) + np.einsum("si,ij,sj->s", dh, g.P, dh)
    scale = (np.maximum(np.abs(y), np.abs(y2)) ** 2).sum(axis=(1, 2))
    assert np.all(lhs <= rhs * (1 + UPPER_RTOL) + ROUND_ATOL * scale), np.max(lhs / rhs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_gain_is_the_hinf_norm(seed):
    model = random_model(seed, 3, "linear", 0.8)
    g = certify_gain(model)
    ref = hinf_norm(model)
    assert g.verified
    assert g.gamma >= ref * (1 - 1e-8)  # an upper bound of the grid maximum ...
    assert g.gamma <= ref * (1 + 1e-4)  # ... and tight: the bounded-real LMI is exact


def test_linear_scalar_gain_closed_form():
    # h+ = a h + b x, y = c h: |G(e^{iw})| = |c b| / |1 - a e^{-iw}| <= |c b| / (1 - |a|)
    a, b, c = 0.5, 2.0, -1.5
    model = ElmanRNN([[a]], [[b]], None, [[c]], None, activation="linear")
    g = certify_gain(model)
    assert g.gamma == pytest.approx(abs(c * b) / (1 - abs(a)), rel=1e-5)


def test_tanh_gain_at_least_linearisation_at_zero():
    """tanh'(0) = 1: small signals around h = 0 (zero bias) see the linear system."""
    m = random_model(5, 3, "tanh", 0.8)
    lin = ElmanRNN(m.W_hh, m.W_xh, None, m.W_hy, None, activation="linear")
    assert certify_gain(m).gamma >= hinf_norm(lin) * (1 - 1e-6)


def test_unstable_linear_has_no_gain():
    model = ElmanRNN([[1.2]], [[1.0]], None, [[1.0]], None, activation="linear")
    g = certify_gain(model)
    assert not g.verified and np.isnan(g.gamma) and g.reason


def test_float64_check_rejects_wrong_gain():
    model = random_model(3, 3, "tanh", 0.8)
    g = certify_gain(model)
    assert check_lmi_l(model, g.gamma, g.P, g.multiplier).passed
    assert not check_lmi_l(model, 0.5 * g.gamma, g.P, g.multiplier).passed
    assert not check_lmi_l(model, g.gamma, -g.P, g.multiplier).passed


@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_one_step_constants(activation):
    model = random_model(8, 4, activation, 0.85)
    cert = certify(model)
    os_ = one_step(model, cert)
    assert os_.L_f == pytest.approx(0.85, rel=1e-12)
    assert os_.L_f_lmi == pytest.approx(os_.L_f, rel=1e-6)  # LMI-C at P = I is ||W_hh||_2
    assert os_.L_f_lmi >= os_.L_f * (1 - 1e-12)  # and never below it (D = I is in the sector)
    assert os_.L_f_P <= os_.L_f + 1e-4  # the A1 metric's rate never exceeds ||W_hh||_2


@pytest.mark.parametrize("W_hy", [[[1e160]], [[1e308]]])
def test_overflowing_readout_is_an_input_error(W_hy):
    """Issue 12 #5: gamma**2 and ||W_hy||**2 would overflow; a one-line ValueError instead."""
    model = ElmanRNN([[0.5]], [[1.0]], None, W_hy, None, activation="tanh")
    for f in (certify_gain, one_step):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match="W_hy"):
                f(model)


def test_to_dict_is_json_ready():
    model = random_model(1, 3, "tanh", 0.8)
    g = certify_gain(model)
    d = json.loads(json.dumps(g.to_dict()))
    assert d["verified"] is True and d["gamma"] == g.gamma
    np.testing.assert_array_equal(np.array(d["multiplier"]), g.multiplier)
    o = one_step(model).to_dict()
    assert set(o) == {"L_f", "L_f_lmi", "L_f_P", "W_xh_norm", "L_g"}
    assert all(isinstance(v, float) for v in json.loads(json.dumps(o)).values())


def test_no_hidden_state_is_an_input_error():
    model = ElmanRNN(np.zeros((0, 0)), np.zeros((0, 1)), None, np.zeros((1, 0)), None)
    with pytest.raises(ValueError, match="n_h"):
        certify_gain(model)
