"""The model interface of every cell (Elman, LSTM, GRU): state-space form, Jacobians, storage.

References are independent of the code under test: Jacobians against central finite differences
of ``step``; ``simulate`` against the definition of the cell written out here per gate in scalar
loops; storage against the original arrays.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import systems
from systems import GRU, LSTM, ElmanRNN, load_model
from systems.cells import model_class

JAC_STEP = 1e-6  # central differences of a smooth map: error O(h^2) + O(eps / h) ~ 1e-10
JAC_ATOL = 1e-8
SIM_ATOL = 1e-12  # the same arithmetic in another order: a few ulps per step


def _random(cell: str, rng: np.random.Generator, n_x=2, n_h=3, n_y=2, scale=0.7):
    cls = model_class(cell)
    theta = scale * rng.normal(size=cls.n_params(n_x, n_h, n_y))
    return cls.from_theta(theta, n_x=n_x, n_h=n_h, n_y=n_y)


CELLS = ["elman", "lstm", "gru"]


@pytest.mark.parametrize("cell", CELLS)
def test_interface_sizes_and_theta_round_trip(cell):
    rng = np.random.default_rng(0)
    m = _random(cell, rng)
    assert m.cell == cell and (m.n_x, m.n_h, m.n_y) == (2, 3, 2)
    assert m.n_z == (6 if cell == "lstm" else 3)
    m2 = type(m).from_theta(m.theta, n_x=2, n_h=3, n_y=2, **m.options)
    np.testing.assert_array_equal(m2.theta, m.theta)  # a copy of the same numbers
    assert m.with_theta(m.theta + 1).theta[0] == m.theta[0] + 1
    assert m.output_matrix.shape == (2, m.n_z)
    np.testing.assert_array_equal(m.output_matrix[:, :3], m.W_hy)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_parameter_names_and_shapes(cell):
    m = _random(cell, np.random.default_rng(1), n_x=2, n_h=3, n_y=1)
    G = 4 if cell == "lstm" else 3
    shapes = {"W_ih": (G * 3, 2), "W_hh": (G * 3, 3), "b_ih": (G * 3,), "b_hh": (G * 3,),
              "W_hy": (1, 3), "b_y": (1,)}
    assert {k: getattr(m, k).shape for k in shapes} == shapes


@pytest.mark.parametrize("cell", CELLS)
def test_jacobian_matches_finite_differences(cell):
    rng = np.random.default_rng(2)
    m = _random(cell, rng, scale=1.0)
    z, x = rng.normal(size=(5, m.n_z)), rng.normal(size=(5, m.n_x))
    J = m.jacobian(z, x)
    assert J.shape == (5, m.n_z, m.n_z)
    E = np.eye(m.n_z)
    J_fd = np.stack([(m.step(z + JAC_STEP * e, x) - m.step(z - JAC_STEP * e, x))
                     / (2 * JAC_STEP) for e in E], axis=2)
    np.testing.assert_allclose(J, J_fd, atol=JAC_ATOL)


def _sig(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


def _lstm_by_hand(m: LSTM, x: np.ndarray) -> np.ndarray:
    """torch's nn.LSTM equations, unit by unit, in Python floats."""
    n = m.n_h
    h, c, ys = [0.0] * n, [0.0] * n, []
    for xt in x:
        a = [float(m.W_ih[k] @ xt + m.b_ih[k] + m.W_hh[k] @ np.array(h) + m.b_hh[k])
             for k in range(4 * n)]
        c = [_sig(a[n + k]) * c[k] + _sig(a[k]) * math.tanh(a[2 * n + k]) for k in range(n)]
        h = [_sig(a[3 * n + k]) * math.tanh(c[k]) for k in range(n)]
        ys.append(m.W_hy @ np.array(h) + m.b_y)
    return np.array(ys)


def _gru_by_hand(m: GRU, x: np.ndarray) -> np.ndarray:
    """torch's nn.GRU equations, unit by unit, in Python floats."""
    n = m.n_h
    h, ys = [0.0] * n, []
    for xt in x:
        gi = [float(m.W_ih[k] @ xt + m.b_ih[k]) for k in range(3 * n)]
        gh = [float(m.W_hh[k] @ np.array(h) + m.b_hh[k]) for k in range(3 * n)]
        r = [_sig(gi[k] + gh[k]) for k in range(n)]
        u = [_sig(gi[n + k] + gh[n + k]) for k in range(n)]
        nn = [math.tanh(gi[2 * n + k] + r[k] * gh[2 * n + k]) for k in range(n)]
        h = [(1 - u[k]) * nn[k] + u[k] * h[k] for k in range(n)]
        ys.append(m.W_hy @ np.array(h) + m.b_y)
    return np.array(ys)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_simulate_matches_the_gate_equations(cell):
    rng = np.random.default_rng(3)
    m = _random(cell, rng)
    x = rng.normal(size=(12, m.n_x))
    _, y = m.simulate(x)
    ref = _lstm_by_hand(m, x) if cell == "lstm" else _gru_by_hand(m, x)
    np.testing.assert_allclose(y, ref, atol=SIM_ATOL)


@pytest.mark.parametrize("cell", CELLS)
def test_simulate_is_step_and_output_batched(cell):
    rng = np.random.default_rng(4)
    m = _random(cell, rng)
    X, z0 = rng.normal(size=(4, 6, m.n_x)), rng.normal(size=(4, m.n_z))
    z, y = m.simulate(X, z0)
    assert z.shape == (4, 7, m.n_z) and y.shape == (4, 6, m.n_y)
    np.testing.assert_array_equal(z[:, 0], z0)
    zt = z0
    for t in range(6):
        zt = m.step(zt, X[:, t])
        np.testing.assert_allclose(z[:, t + 1], zt, atol=SIM_ATOL)
        np.testing.assert_allclose(y[:, t], m.output(zt), atol=SIM_ATOL)
    # one sequence, zero initial state by default
    z1, y1 = m.simulate(X[0])
    assert z1.shape == (7, m.n_z) and not z1[0].any()
    with pytest.raises(ValueError, match="z0"):
        m.simulate(X, np.zeros((3, m.n_z)))
    with pytest.raises(ValueError, match="x must have shape"):
        m.simulate(np.zeros((5, m.n_x + 1)))


def test_elman_keeps_positional_and_h0_initial_state():
    rng = np.random.default_rng(5)
    m = _random("elman", rng)
    x, h0 = rng.normal(size=(5, 2)), rng.normal(size=3)
    np.testing.assert_array_equal(m.simulate(x, h0)[1], m.simulate(x, h0=h0)[1])
    np.testing.assert_array_equal(m.simulate(x, h0)[1], m.simulate(x, z0=h0)[1])


@pytest.mark.parametrize("cell", CELLS)
def test_save_and_load_model_round_trip(cell, tmp_path):
    m = _random(cell, np.random.default_rng(6))
    path = m.save(tmp_path / f"{cell}.npz")
    for loaded in (type(m).load(path), load_model(path)):
        assert type(loaded) is type(m)
        np.testing.assert_array_equal(loaded.theta, m.theta)
    others = [c for c in CELLS if c != cell]
    with pytest.raises(ValueError, match="load_model"):
        model_class(others[0]).load(path)


def test_old_elman_files_without_cell_load(tmp_path):
    m = _random("elman", np.random.default_rng(7))
    np.savez(tmp_path / "old.npz", W_hh=m.W_hh, W_xh=m.W_xh, b_h=m.b_h, W_hy=m.W_hy,
             b_y=m.b_y, activation=np.array("tanh"))
    assert isinstance(load_model(tmp_path / "old.npz"), ElmanRNN)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bad_input_is_named(cell):
    cls = model_class(cell)
    G = cls.n_gates
    with pytest.raises(ValueError, match="W_hh"):
        cls(np.zeros((G * 2, 1)), np.zeros((G * 2 + 1, 2)), None, None, np.zeros((1, 2)), None)
    with pytest.raises(ValueError, match="b_ih"):
        cls(np.zeros((G * 2, 1)), np.zeros((G * 2, 2)), np.zeros(3), None, np.zeros((1, 2)), None)
    with pytest.raises(ValueError, match="theta"):
        cls.from_theta(np.zeros(3), n_x=1, n_h=2, n_y=1)
    with pytest.raises(ValueError, match="NaN"):
        cls(np.full((G * 2, 1), np.nan), np.zeros((G * 2, 2)), None, None, np.zeros((1, 2)), None)


def test_package_exports():
    assert systems.CELLS == {"elman": ElmanRNN, "lstm": LSTM, "gru": GRU}
    with pytest.raises(ValueError, match="cell must be one of"):
        model_class("transformer")
