"""The price of the zero state: the batched best-state solve, the gap and its T1 bound.

Independent references: finite differences of plain simulations (the Gauss-Newton terms), a
per-window ``scipy.optimize.least_squares`` from several starts, each window alone (the batched
solve), the closed-form least squares of a linear RNN, window-by-window ``model.simulate`` (the
gap, and the certificate's pairs re-simulated against its envelope).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import least_squares
from tolerances import EPS, FD_ATOL, FD_RTOL, ROUND_ATOL, SUM_RTOL, UPPER_ATOL, UPPER_RTOL

from systems.cells import model_class
from systems.data import Sequence, paper_lti
from systems.rnn import ElmanRNN
from verification.experiment.best_states import (
    best_states,
    gauss_newton_terms,
    state_box,
    window_gradients,
    window_losses,
)
from verification.experiment.window_set import select_windows
from verification.experiment.zero_state import (
    LEAVES_COLUMNS,
    leaves_rows,
    price_of_zero_state,
)

CELLS = ("elman", "lstm", "gru")
#: Two solvers of the same small smooth problem (Levenberg-Marquardt here, trust-region
#: reflective in scipy), both to their tolerances: the per-window minima agree to this.
SOLVE_RTOL, SOLVE_ATOL = 1e-5, 1e-12
#: The adjoint and the forward-mode gradient: the same sum in a different order.
GRAD_RTOL = 1e-9


def _model(cell: str, seed: int, n_h: int = 2, scale: float = 0.8):
    rng = np.random.default_rng(seed)
    cls = model_class(cell)
    theta = scale * rng.standard_normal(cls.n_params(1, n_h, 1))
    if cell == "elman":
        return ElmanRNN.from_theta(theta, n_x=1, n_h=n_h, n_y=1, activation="tanh")
    return cls.from_theta(theta, n_x=1, n_h=n_h, n_y=1)


def _windows(seed: int, S: int = 4, N: int = 8):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (S, N, 1)), rng.uniform(-1, 1, (S, N, 1))


def _outputs(model, X, z):
    """Window outputs by ``model.simulate``, each window alone (independent of WindowBatch)."""
    return np.stack([model.simulate(X[i], z[i])[1] for i in range(X.shape[0])])


@pytest.mark.parametrize("cell", CELLS)
def test_gauss_newton_terms_match_finite_differences(cell):
    model = _model(cell, 1)
    X, Y = _windows(2, S=3, N=6)
    m, h = 2, 1e-6
    z = np.random.default_rng(3).uniform(-0.5, 0.5, (3, model.n_z))
    g, H = gauss_newton_terms(model, X, Y, z, m)
    A = np.empty((3, 6 - m, model.n_z))
    for k in range(model.n_z):
        dz = np.zeros(model.n_z)
        dz[k] = h
        A[:, :, k] = ((_outputs(model, X, z + dz) - _outputs(model, X, z - dz))[:, m:, 0]
                      / (2 * h))
    r = (_outputs(model, X, z) - Y)[:, m:, 0]
    np.testing.assert_allclose(H, np.einsum("sjk,sjl->skl", A, A), rtol=FD_RTOL, atol=FD_ATOL)
    np.testing.assert_allclose(g, np.einsum("sjk,sj->sk", A, r), rtol=FD_RTOL, atol=FD_ATOL)
    np.testing.assert_allclose(window_gradients(model, X, Y, m, z), g, rtol=GRAD_RTOL,
                               atol=FD_ATOL * EPS)


def _per_window_least_squares(model, X, Y, m, box, guesses):
    """``min L_i`` for each window alone: scipy's bounded least squares from every guess."""
    best = []
    for i in range(X.shape[0]):
        def res(zi, i=i):
            return (model.simulate(X[i], zi)[1] - Y[i])[m:, 0]
        runs = [least_squares(res, np.clip(g[i], *box), bounds=box, xtol=1e-15, ftol=1e-15,
                              gtol=1e-15, max_nfev=2000) for g in guesses]
        best.append(min(2 * r.cost for r in runs))  # cost = L_i / 2
    return np.array(best)


@pytest.mark.parametrize("cell, n_h, m", [("elman", 2, 0), ("lstm", 1, 0), ("lstm", 2, 3),
                                          ("gru", 2, 3)])
def test_batched_states_match_per_window_solves(cell, n_h, m):
    """Targets from the model itself, started at states inside the box, plus noise: every
    window has a well-defined best state, which both solvers must find."""
    model = _model(cell, 4, n_h=n_h)
    rng = np.random.default_rng(6)
    X = rng.uniform(-1, 1, (5, 8, 1))
    box = state_box(model.simulate(rng.uniform(-1, 1, (200, 1)))[0])
    mid, half = (box[0] + box[1]) / 2, (box[1] - box[0]) / 2
    z_true = mid + half * rng.uniform(-0.7, 0.7, (5, model.n_z))
    Y = _outputs(model, X, z_true) + 0.05 * rng.standard_normal((5, 8, 1))
    guesses = [np.zeros((5, model.n_z)), np.broadcast_to(mid, (5, model.n_z))]
    fit = best_states(model, X, Y, m, guesses, box=box, max_iter=200)
    brute = _per_window_least_squares(model, X, Y, m, box, guesses)
    np.testing.assert_allclose(fit.loss, brute, rtol=SOLVE_RTOL, atol=SOLVE_ATOL)
    assert np.all((fit.z >= box[0]) & (fit.z <= box[1]))
    np.testing.assert_allclose(fit.loss, window_losses(model, X, Y, m, fit.z), rtol=SUM_RTOL)


def test_linear_rnn_states_are_the_least_squares_solution():
    """Unconstrained: ``y_j(z) = W_hy W_hh**j z + y_j(0)``, so ``z*`` is a linear least-squares
    solution, computed here from the Markov parameters."""
    W_hh = np.array([[0.6, 0.3], [-0.2, 0.5]])
    model = ElmanRNN(W_hh, [[1.0], [0.5]], None, [[1.0, -0.7]], None, activation="linear")
    X, Y = _windows(7, S=3, N=10)
    m = 4
    fit = best_states(model, X, Y, m, [np.zeros((3, 2))], box=None, max_iter=100)
    A = np.stack([model.W_hy @ np.linalg.matrix_power(W_hh, j) for j in range(m + 1, 11)])[:, 0]
    for i in range(3):
        c = (_outputs(model, X[i:i + 1], np.zeros((1, 2)))[0] - Y[i])[m:, 0]
        z_ls = np.linalg.lstsq(A, -c, rcond=None)[0]
        np.testing.assert_allclose(fit.z[i], z_ls, rtol=SOLVE_RTOL, atol=1e-9)


def _brute_V(model, X, Y, m, z):
    r = (_outputs(model, X, z) - Y)[:, m:]
    return float(np.sum(r**2) / (X.shape[0] * (X.shape[1] - m)))


@pytest.mark.parametrize("cell", CELLS)
def test_price_rows_are_sound_and_match_simulation(cell):
    model = _model(cell, 11, n_h=2, scale=0.6)
    data = paper_lti("train", T=50)
    price = price_of_zero_state(model, data, N=12, ms=[0, 4, 9], stride=3)
    w = select_windows(data, 12, stride=3)
    assert price.windows["label"] == w.label and price.windows["S"] == w.S == 13
    for r in price.rows:
        m, z = r["m"], price.states[r["m"]]
        assert r["sound_env"] and r["sound_fit"], r
        assert r["T1_env"] <= r["T1_fit"] * (1 + SUM_RTOL)
        assert r["T1_witness"] <= r["T1_env"] * (1 + UPPER_RTOL)
        V0 = _brute_V(model, w.X, w.Y, m, np.zeros_like(z))
        Vz = _brute_V(model, w.X, w.Y, m, z)
        np.testing.assert_allclose([r["V_zero"], r["V_point"]], [V0, Vz], rtol=SUM_RTOL)
        np.testing.assert_allclose(r["gap"], r["square_measured"] + r["cross_measured"],
                                   rtol=SUM_RTOL, atol=UPPER_ATOL)
        assert r["gap"] >= 0  # z = 0 is one of the starts: z* is never worse
        # the certificate covers exactly the pairs T1 sums over: re-simulated, window by window
        dy = np.linalg.norm(_outputs(model, w.X, z) - _outputs(model, w.X, 0 * z), axis=2)
        G = price.envelopes[m]["G"]
        assert np.all(dy <= G[None, :] * np.linalg.norm(z, axis=1)[:, None] * (1 + UPPER_RTOL)
                      + ROUND_ATOL)


def test_leaves_rows_have_the_table_columns():
    price = price_of_zero_state(_model("gru", 12), paper_lti("train", T=30), N=10, ms=[0, 5])
    rows = leaves_rows(price)
    assert [r["m"] for r in rows] == [0, 5]
    assert all(set(r) == {k for k, _ in LEAVES_COLUMNS} for r in rows)
    assert all(r["sound"] is True for r in rows)
    assert leaves_rows(price.to_dict()) == rows


def test_measured_price_alone_without_certificate():
    price = price_of_zero_state(_model("lstm", 13, n_h=1), paper_lti("train", T=30), N=10,
                                ms=[2], certify=False, box=None)
    r = price.rows[0]
    assert r["gap"] >= 0 and np.isnan(r["T1_env"]) and r["sound_env"] is None
    assert price.box is None and price.envelopes == {}


def test_bad_input_is_refused():
    model = _model("gru", 14)
    data = Sequence(np.zeros((20, 2)), np.zeros(20))
    with pytest.raises(ValueError, match="n_x=2"):
        price_of_zero_state(model, data, N=5, ms=[0])
    with pytest.raises(ValueError, match="box"):
        price_of_zero_state(model, paper_lti("train", T=20), N=5, ms=[0], box="everything")
    with pytest.raises(ValueError, match="m = 5"):
        price_of_zero_state(model, paper_lti("train", T=20), N=5, ms=[5])


def test_authors_model_smoke(shared_data, shared_models):
    """One of the authors' LSTMs on 12 windows spread over the Silverbox training split."""
    from systems.benchmarks import load_benchmark
    from systems.cells import load_model

    model = load_model(shared_models / "authors_lstm/silverbox/model_h8_N100_m94_stateless.pt")
    seq = load_benchmark("silverbox", shared_data / "benchmarks").scaled["train"]
    price = price_of_zero_state(model, seq, N=100, ms=[94], n_windows=12, max_iter=10)
    r = price.rows[0]
    assert "12 of the 19901 windows" in price.windows["label"]
    assert r["sound_env"] and r["sound_fit"] and r["gap"] > 0
    assert r["T1_env"] <= r["T1_fit"] * (1 + SUM_RTOL)


def test_free_run_price_against_a_scalar_search():
    """A scalar linear RNN: ``P(h_0)`` is a quadratic in ``h_0``; the best one by a dense grid."""
    from verification.experiment.zero_state import free_run_price

    model = ElmanRNN([[0.9]], [[1.0]], None, [[0.5]], None, activation="linear")
    data = paper_lti("train", T=60)
    got = free_run_price(model, data, m=3, box=None)
    grid = np.linspace(-20, 20, 40001)
    _, y = model.simulate(np.broadcast_to(data.x, (grid.size, 60, 1)), grid[:, None])
    P = np.sum((y[:, 3:] - data.y[3:]) ** 2, axis=(1, 2)) / 57
    k = int(np.argmin(P))
    assert got["P_best"] <= P[k] * (1 + SUM_RTOL)
    assert abs(got["h0"][0] - grid[k]) <= grid[1] - grid[0]
    np.testing.assert_allclose(got["P_zero"], P[20000], rtol=SUM_RTOL)
    assert got["gain"] == got["P_zero"] - got["P_best"] and got["mse_best"] == got["P_best"]


@settings(max_examples=8, deadline=None)
@given(cell=st.sampled_from(CELLS), seed=st.integers(0, 2**16), scale=st.sampled_from([0.3, 1.0,
       2.0]), m=st.integers(0, 7))
def test_soundness_on_random_small_models(cell, seed, scale, m):
    """Every row sound, both forms, on random cells (saturating ones included), any burn-in."""
    model = _model(cell, seed, n_h=2, scale=scale)
    data = paper_lti("train", T=30)
    price = price_of_zero_state(model, data, N=8, ms=[m], stride=2, max_iter=10)
    r = price.rows[0]
    assert r["sound_env"] is not False and r["sound_fit"] is not False, r
    assert r["envelope_certified"] and r["sound_env"]


def test_window_sets_say_which_windows():
    data = paper_lti("train", T=30)
    every = select_windows(data, 10)
    assert every.S == every.S_all == 21 and "all 21 windows" in every.label
    third = select_windows(data, 10, stride=3)
    assert third.starts.tolist() == list(range(0, 21, 3)) and "every 3rd window" in third.label
    spread = select_windows(data, 10, n_windows=4)
    assert spread.starts.tolist() == [0, 7, 13, 20] and "4 of the 21" in spread.label
    np.testing.assert_array_equal(spread.X[:, :, 0], data.x[spread.starts[:, None]
                                                             + np.arange(10), 0])
    z = np.arange(31.0)[:, None]
    assert spread.states_from(z)[:, 0].tolist() == [0.0, 7.0, 13.0, 20.0]
    for bad in ({"N": 31}, {"N": 10, "stride": 0}, {"N": 10, "n_windows": 0}):
        with pytest.raises(ValueError):
            select_windows(data, **bad)


def test_free_run_transient_splits_the_error():
    """The zero-state run's MSE is the step-weighted mean of its transient and the rest."""
    from verification.experiment.zero_state import free_run_price

    model = ElmanRNN([[0.8]], [[1.0]], None, [[0.5]], None, activation="tanh")
    data = paper_lti("test", T=80)
    got = free_run_price(model, data, box=None, tol=1e-6)
    k = got["transient"]
    assert 0 < k < 80
    np.testing.assert_allclose(got["mse_zero"], (k * got["mse_zero_transient"]
                                                 + (80 - k) * got["mse_after"]) / 80,
                               rtol=SUM_RTOL)
    _, y0 = model.simulate(data.x)
    _, y1 = model.simulate(data.x, got["h0"])
    assert np.all(np.abs(y0 - y1)[k:] <= 1e-6) and np.abs(y0 - y1)[k - 1, 0] > 1e-6
