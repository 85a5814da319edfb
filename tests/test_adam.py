"""The Adam trainers: first step in closed form, seeding, bad input; stateful TBPTT against
the authors' protocol written out with the reference kernel.

Agreement with ``torch.optim.Adam`` over shuffled minibatches is in test_torch_reference.
"""

from __future__ import annotations

import numpy as np
import pytest

from systems import GRU, LSTM, ElmanRNN
from systems.adam import Adam, train_adam, train_stateful
from systems.bptt import WindowBatch
from systems.bptt_reference import loss_grad
from systems.data import Sequence
from systems.errors import InputError
from systems.windows import WindowedData

#: The tuned kernel against the reference kernel and simulation: the same quantities computed
#: in another order, carried through 24 Adam steps.
STATEFUL_RTOL = 1e-10


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


def _streams_reference(model, seq, N, B, epochs, lr):
    """The authors' stateful protocol written out with the reference kernel and simulation:
    minibatch ``b`` holds the stride-1 windows ``bB .. bB + B - 1``; window ``i`` starts from
    the state where window ``i - N`` ended (simulated under the parameters of that window's own
    step), from zero when ``i < N``."""
    windows = WindowedData(seq, N, 0)
    theta = model.theta.copy()
    adam, losses = Adam(theta.size, lr), []
    for _ in range(epochs):
        ends, total = {}, 0.0  # window index -> its final state
        n_batches = windows.S // B
        for b in range(n_batches):
            idx = np.arange(b * B, (b + 1) * B)
            z0 = np.stack([ends.get(i - N, np.zeros(model.n_z)) for i in idx])
            now = model.with_theta(theta)
            V, g, _ = loss_grad(now, windows.X[idx], windows.Y[idx], 0, z0)
            for k, i in enumerate(idx):
                ends[i] = now.simulate(windows.X[i], z0[k])[0][-1]
            total += V
            adam.step(theta, g)
        losses.append(total / n_batches)
    return theta, losses


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_stateful_is_the_authors_streams_of_back_to_back_windows(cell):
    """B = 3 streams of windows of N = 6 (two state slots), 25 windows in 8 minibatches."""
    rng = np.random.default_rng(6)
    seq = _data().sequence  # T = 30: S = 25 stride-1 windows of 6
    cls = {"elman": ElmanRNN, "lstm": LSTM, "gru": GRU}[cell]
    model = cls.from_theta(0.4 * rng.normal(size=cls.n_params(1, 3, 1)), n_x=1, n_h=3, n_y=1)
    theta_ref, losses_ref = _streams_reference(model, seq, 6, 3, epochs=3, lr=0.02)
    trained, hist = train_stateful(model, seq, 6, epochs=3, lr=0.02, batch_size=3)
    assert hist.steps == 3 * 8 and len(hist.loss) == 3
    np.testing.assert_allclose(hist.loss, losses_ref, rtol=STATEFUL_RTOL)
    np.testing.assert_allclose(trained.theta, theta_ref, rtol=STATEFUL_RTOL, atol=1e-14)
    assert np.abs(trained.theta - model.theta).max() > 1e-3  # it did move


def test_stateful_batch_must_divide_the_window():
    with pytest.raises(InputError, match="dividing N = 6 .* got 4 \\(e.g. 6\\)"):
        train_stateful(_gru(), _data().sequence, 6, epochs=1, lr=0.01, batch_size=4)
