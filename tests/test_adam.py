"""The Adam trainers: first step in closed form, seeding, bad input; stateful TBPTT against
the two-pass loop it replaced.

Agreement with ``torch.optim.Adam`` over shuffled minibatches is in test_torch_reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from systems import GRU, LSTM, ElmanRNN
from systems.adam import Adam, train_adam, train_stateful
from systems.bptt import WindowBatch
from systems.data import Sequence
from systems.windows import WindowedData

#: The same arithmetic on the same numbers (one forward pass instead of two): equal to the
#: last bits; the tolerance only allows for BLAS choosing another kernel between calls.
STATEFUL_RTOL = 1e-12


def _data(m: int = 1) -> WindowedData:
    t = np.arange(30.0)
    return WindowedData(Sequence(np.sin(0.4 * t), np.cos(0.3 * t)), N=6, m=m, stride=2)


def _gru(seed: int = 0) -> GRU:
    rng = np.random.default_rng(seed)
    return GRU.from_theta(0.5 * rng.normal(size=GRU.n_params(1, 2, 1)), n_x=1, n_h=2, n_y=1)


def test_first_full_batch_step_is_lr_times_the_gradient_sign():
    """Adam's first step is ``lr g / (|g| + eps)``: with one full batch and one epoch, theta
    moves by ``-lr sign(g)`` wherever ``|g| >> eps``."""
    data, model, lr = _data(), _gru(), 0.01
    _, g, _ = WindowBatch.for_model(model, data.X, data.Y, data.m).loss_grad(model.theta)
    trained, hist = train_adam(model, data, epochs=1, lr=lr, batch_size=data.S, seed=0)
    assert hist.steps == 1
    big = np.abs(g) > 1e-4
    np.testing.assert_allclose(trained.theta - model.theta, -lr * g / (np.abs(g) + 1e-8),
                               rtol=1e-10, atol=1e-15)
    assert big.sum() > 10


def test_seeded_and_reproducible():
    data, model = _data(), _gru()
    a = train_adam(model, data, epochs=3, lr=0.01, batch_size=3, seed=1)[0].theta
    b = train_adam(model, data, epochs=3, lr=0.01, batch_size=3, seed=1)[0].theta
    c = train_adam(model, data, epochs=3, lr=0.01, batch_size=3, seed=2)[0].theta
    np.testing.assert_array_equal(a, b)  # same code, same seed: bit-identical is the property
    assert np.abs(a - c).max() > 1e-6  # another shuffle, another path


def test_elman_trains_and_partial_batch_is_dropped():
    data = _data(m=0)
    model = ElmanRNN(np.zeros((2, 2)), np.ones((2, 1)), None, np.ones((1, 2)), None)
    losses = []
    _, hist = train_adam(model, data, epochs=4, lr=0.05, batch_size=4, seed=0,
                         progress=lambda e, v: losses.append(v))
    assert hist.steps == 4 * (data.S // 4) and data.S % 4 != 0
    assert losses == hist.loss and losses[-1] < losses[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"), ({"lr": np.nan}, "lr"),
     ({"batch_size": 0}, "batch_size"), ({"batch_size": 10_000}, "batch_size"),
     ({"betas": (1.0, 0.9)}, "betas"), ({"eps": 0.0}, "eps")],
)
def test_bad_input_is_named(kwargs, match):
    opts = dict(epochs=1, lr=0.01, batch_size=2) | kwargs
    with pytest.raises(ValueError, match=match):
        train_adam(_gru(), _data(), **opts)
    with pytest.raises(TypeError, match="WindowedData"):
        train_adam(_gru(), _data().sequence, epochs=1, lr=0.01)


def _two_pass_stateful(model, seq, N, epochs, lr):
    """Stateful TBPTT as it was first written: the carried state from a second forward pass
    of each window (``forward`` after ``loss_grad``, the same parameters)."""
    n_windows = seq.T // N
    X = seq.x[: n_windows * N].reshape(n_windows, 1, N, seq.n_x)
    Y = seq.y[: n_windows * N].reshape(n_windows, 1, N, seq.n_y)
    batch = WindowBatch.for_model(model, X[0], Y[0], 0)
    theta = model.theta.copy()
    adam, losses = Adam(theta.size, lr), []
    for _ in range(epochs):
        z, total = None, 0.0
        for k in range(n_windows):
            batch.set_windows(X[k], Y[k])
            V, g, _ = batch.loss_grad(theta, z)
            z = batch.forward(theta, z)[-1].copy()  # (1, n_z): the next window's start
            total += V
            adam.step(theta, g)
        losses.append(total / n_windows)
    return theta, losses


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_stateful_carries_the_state_of_its_one_pass(cell):
    """One forward pass per window gives the parameters of the two-pass loop."""
    rng = np.random.default_rng(6)
    seq = _data().sequence  # T = 30: 4 windows of 7, the last 2 steps unused
    cls = {"elman": ElmanRNN, "lstm": LSTM, "gru": GRU}[cell]
    model = cls.from_theta(0.4 * rng.normal(size=cls.n_params(1, 3, 1)), n_x=1, n_h=3, n_y=1)
    theta_ref, losses_ref = _two_pass_stateful(model, seq, 7, epochs=3, lr=0.02)
    trained, hist = train_stateful(model, seq, 7, epochs=3, lr=0.02)
    assert hist.steps == 3 * 4 and len(hist.loss) == 3
    np.testing.assert_allclose(hist.loss, losses_ref, rtol=STATEFUL_RTOL)
    np.testing.assert_allclose(trained.theta, theta_ref, rtol=STATEFUL_RTOL, atol=0)
    assert np.abs(trained.theta - model.theta).max() > 1e-3  # it did move
