"""The batched kernel (``systems/batched*.py``): K models' loss and gradient at once.

References: the single-model :class:`systems.bptt.WindowBatch` model by model (the readable
reference), central finite differences, the float64 kernel for the float32 one, and
``model.simulate`` for the batched free run.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from systems.batched import burn_in_weights, check_dtype, make_kernel
from systems.batched_eval import free_run_mse
from systems.bptt import WindowBatch
from systems.cells import CELLS
from systems.data import Sequence
from systems.errors import InputError

#: Two exact float64 computations of the same loss/gradient (different operation order:
#: ``exp`` vs ``tanh`` routes, stacked vs single products): normwise relative difference.
REF_RTOL = 1e-12
#: Central differences with step ``FD_H`` of a smooth float64 loss: truncation ``O(h^2)``
#: ~1e-12 relative, cancellation ``O(eps / h)`` ~1e-10 relative.
FD_H, FD_RTOL = 1e-6, 1e-6
EPS32 = float(np.finfo(np.float32).eps)
#: float32 against float64 loss and gradient (relative; the gradient normwise), for models at
#: torch's initial scale (weights ``|w| <= 1/sqrt(n_h)``). Rounding moves every stored number by
#: ~``eps32`` relatively and every residual ``r = y - y^d`` by ~``eps32 (|y| + |y^d|)`` (outputs
#: and targets are rounded), and a contracting recurrence carries the ``N`` steps' errors along,
#: where they add up: error ``<= F32_C (N + F32_N0) eps32 rho`` with
#: ``rho = sum w (|y| + |y^d|) |r| / sum w r^2 >= 1``, the residuals' cancellation (a nearly
#: fitted output is known to fewer digits than the output). Constants measured: worst
#: ``0.85 (N + 10) eps32 rho`` over 4000 random draws (cells, sizes, ``N <= 100``, burn-ins),
#: with a ~10x margin. Expanding models (larger weights) amplify rounding exponentially in
#: ``N``: no such bound (a draw at 2.4x the scale reached ``4000 N eps32``).
F32_C, F32_N0 = 8.0, 10

VARIANTS = [("lstm", "tanh"), ("gru", "tanh"), ("elman", "tanh"), ("elman", "linear")]


def _case(cell, activation, n_x, n_h, n_y, K, B, N, ms, seed, dtype="float64", scale=0.5,
          z0=False, kernel="numpy"):
    """A kernel loaded with random data, parameters, burn-ins ``ms`` and initial states."""
    rng = np.random.default_rng(seed)
    P = CELLS[cell].n_params(n_x, n_h, n_y)
    Theta = rng.uniform(-scale, scale, size=(K, P))
    X, Y = rng.normal(size=(K, B, N, n_x)), rng.normal(size=(K, B, N, n_y))
    n_z = n_h * (2 if cell == "lstm" else 1)
    Z0 = rng.normal(size=(K, B, n_z)) * 0.5 if z0 else None
    ker = make_kernel(cell, n_x, n_h, n_y, K, B, N, dtype, activation, kernel)
    ker.x[...] = X.transpose(2, 3, 0, 1)
    ker.y[...] = Y.transpose(2, 3, 0, 1)
    ker.set_weights(burn_in_weights(N, B, np.asarray(ms)))
    ker.set_params(Theta)
    ker.set_initial(None if Z0 is None else Z0.transpose(2, 0, 1))
    return ker, Theta, X, Y, Z0


sizes = st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(1, 2), st.integers(1, 4),
                  st.integers(1, 6), st.integers(1, 12))


@pytest.mark.parametrize(("cell", "activation"), VARIANTS)
@given(dims=sizes, data=st.data())
def test_loss_and_gradient_equal_window_batch_per_model(cell, activation, dims, data):
    """Model ``k`` of the stack is the single-model reference on its own windows, burn-in and
    initial states (float64; random sizes, burn-ins ``0 <= m_k < N``)."""
    n_x, n_h, n_y, K, B, N = dims
    ms = data.draw(st.lists(st.integers(0, N - 1), min_size=K, max_size=K))
    z0 = data.draw(st.booleans())
    ker, Theta, X, Y, Z0 = _case(cell, activation, n_x, n_h, n_y, K, B, N, ms, sum(dims),
                                 z0=z0)
    V, G = ker.loss_grad()
    for k in range(K):
        ref = WindowBatch(X[k], Y[k], ms[k], n_h=n_h, cell=cell, activation=activation)
        v, g, _ = ref.loss_grad(Theta[k], None if Z0 is None else Z0[k])
        assert abs(V[k] - v) <= REF_RTOL * abs(v)
        assert np.linalg.norm(G[k] - g) <= REF_RTOL * np.linalg.norm(g)


@pytest.mark.parametrize(("cell", "activation"), VARIANTS)
def test_gradient_against_central_differences(cell, activation):
    """``dV_k/dtheta_k`` along a random direction per model (tiny case, float64)."""
    ker, Theta, *_ = _case(cell, activation, 2, 3, 2, 3, 4, 6, [0, 2, 5], 7, z0=True)
    _, G = ker.loss_grad()
    D = np.random.default_rng(8).normal(size=Theta.shape)
    ker.set_params(Theta + FD_H * D)
    up = ker.loss()
    ker.set_params(Theta - FD_H * D)
    down = ker.loss()
    fd = (up - down) / (2 * FD_H)
    np.testing.assert_allclose(np.einsum("kp,kp->k", G, D), fd, rtol=FD_RTOL)


@pytest.mark.parametrize(("cell", "activation"), VARIANTS)
@given(dims=sizes, N=st.integers(2, 100), data=st.data())
def test_float32_gradient_against_float64(cell, activation, dims, N, data):
    """The float32 kernel's loss and gradient are the float64 ones to
    ``F32_C (N + F32_N0) eps32 rho`` (models at torch's initial scale, see ``F32_C``)."""
    _check_float32(cell, activation, dims, N, data, "numpy")


@given(dims=sizes, N=st.integers(2, 100), data=st.data())
def test_numba_kernel_against_float64(numba_kernel, dims, N, data):
    """The numba-compiled LSTM kernel (float32, its own ``tanh``) meets the float32 kernel's
    tolerance against the float64 NumPy kernel."""
    _check_float32("lstm", "tanh", dims, N, data, numba_kernel)


def _check_float32(cell, activation, dims, N, data, kernel):
    n_x, n_h, n_y, K, B, _ = dims
    ms = data.draw(st.lists(st.integers(0, N - 1), min_size=K, max_size=K))
    args = (cell, activation, n_x, n_h, n_y, K, B, N, ms, N + sum(dims))
    scale = 1.0 / np.sqrt(n_h)
    ker64 = _case(*args, scale=scale)[0]
    ker32 = _case(*args, dtype="float32", scale=scale, kernel=kernel)[0]
    ker64.forward()
    y, yd = ker64.outputs().copy(), ker64.y  # (N, n_y, K, B)
    w = burn_in_weights(N, B, np.asarray(ms))[:, None, :, None]
    r = y - yd
    rho = (w * (np.abs(y) + np.abs(yd)) * np.abs(r)).sum(axis=(0, 1, 3)) / (
        w * r * r).sum(axis=(0, 1, 3))
    tol = F32_C * (N + F32_N0) * EPS32 * rho  # (K,)
    V64, G64 = ker64.loss_grad()
    V32, G32 = ker32.loss_grad()
    assert G32.dtype == np.float32
    err = np.linalg.norm(G32 - G64, axis=1) / np.linalg.norm(G64, axis=1)
    assert np.all(err <= tol), (err / tol).max()
    assert np.all(np.abs(V32 - V64) <= tol * V64), (np.abs(V32 - V64) / (tol * V64)).max()


def test_final_state_is_the_simulated_state():
    """``final_state`` is ``z_N`` of ``model.simulate`` from the given initial states."""
    for cell in ("lstm", "gru"):
        ker, Theta, X, _, Z0 = _case(cell, "tanh", 2, 3, 1, 2, 3, 5, [0, 0], 3, z0=True)
        ker.forward()
        zN = ker.final_state()  # (n_z, K, B)
        for k in range(2):
            model = CELLS[cell].from_theta(Theta[k], n_x=2, n_h=3, n_y=1)
            z, _ = model.simulate(X[k], Z0[k])
            np.testing.assert_allclose(zN[:, k].T, z[:, -1], rtol=REF_RTOL, atol=REF_RTOL)


@pytest.mark.parametrize(("cell", "activation"), VARIANTS)
def test_free_run_mse_against_simulate(cell, activation):
    """Batched free runs over sequences of different lengths, in slices with the state
    carried, against each model's own ``simulate`` over the whole sequence."""
    rng = np.random.default_rng(4)
    seqs = {"a": Sequence(rng.normal(size=(53, 2)), rng.normal(size=(53, 2))),
            "b": Sequence(rng.normal(size=(20, 2)), rng.normal(size=(20, 2)))}
    Theta = rng.uniform(-0.6, 0.6, size=(3, CELLS[cell].n_params(2, 3, 2)))
    opts = {"activation": activation} if cell == "elman" else {}
    mse = free_run_mse(cell, 3, Theta, seqs, steps=16, **opts)
    for k in range(3):
        model = CELLS[cell].from_theta(Theta[k], n_x=2, n_h=3, n_y=2, **opts)
        for name, q in seqs.items():
            ref = np.mean((model.simulate(q.x)[1] - q.y) ** 2)
            assert abs(mse[name][k] - ref) <= REF_RTOL * ref


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="dtype"):
        check_dtype("float16")
    with pytest.raises(ValueError, match="Theta"):
        make_kernel("gru", 1, 2, 1, 3, 2, 4).set_params(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="cell"):
        make_kernel("rnn", 1, 2, 1, 3, 2, 4)
    q = Sequence(np.zeros((5, 1)), np.zeros((5, 1)))
    with pytest.raises(InputError, match="parameters per model"):
        free_run_mse("lstm", 2, np.zeros((1, 3)), {"a": q})
    with pytest.raises(InputError, match="n_x and n_y"):
        free_run_mse("lstm", 2, np.zeros((1, 3)), {"a": q, "b": Sequence(np.zeros((5, 2)),
                                                                           np.zeros(5))})
