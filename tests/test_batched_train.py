"""The batched trainer (``systems/batched_train.py``): K models trained together by Adam.

The reference is each model trained alone from the study's initialisation
(:func:`systems.batched_train.init_theta`) by the single-model trainers:
:func:`systems.adam.train_adam` for the stateless and bptt kinds,
:func:`systems.adam.train_stateful` for the stateful kind; resuming and selecting are checked
against an uninterrupted run.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from systems.adam import train_adam, train_stateful
from systems.batched_train import BatchedTrainer, init_theta
from systems.cells import CELLS
from systems.data import Sequence
from systems.errors import InputError
from systems.windows import WindowedData

#: Batched against alone after 20 Adam steps (float64): the same arithmetic up to the order
#: of a few sums (stacked vs single products, exp vs tanh routes), ~1e-16 per step, carried
#: through Adam's normalised steps of size ``lr``.
ALONE_ATOL = 1e-10
#: Two exact float64 computations of one quantity (different summation order).
REF_RTOL = 1e-12

VARIANTS = [("lstm", "tanh"), ("gru", "tanh"), ("elman", "tanh"), ("elman", "linear")]
LR = 1e-2


def _seq(T: int = 300) -> Sequence:
    rng = np.random.default_rng(5)
    t = np.arange(float(T))
    return Sequence(np.c_[np.sin(0.1 * t), 0.3 * rng.normal(size=T)],
                    np.c_[np.sin(0.1 * t - 0.5), np.cos(0.07 * t)])


def _alone_model(cell, activation, seed, seq, n_h=3):
    """The study's initial model (``init_theta``), with the Elman activation asked for."""
    options = {"activation": activation} if cell == "elman" else {}
    return CELLS[cell].from_theta(init_theta(cell, seq.n_x, n_h, seq.n_y, seed), n_x=seq.n_x,
                                  n_h=n_h, n_y=seq.n_y, **options)


@pytest.mark.parametrize(("cell", "activation"), VARIANTS)
def test_stateless_batched_equals_alone(cell, activation):
    """Three models (burn-ins 0, 3, 7; seeds 0, 1, 1), 2 epochs of 10 minibatches = 20 Adam
    steps: each equals ``train_adam`` from the study's initialisation and shuffle seed."""
    seq, ms, seeds = _seq(), [0, 3, 7], [0, 1, 1]
    tr = BatchedTrainer(cell, 3, seq, N=12, ms=ms, seeds=seeds, lr=LR, batch_size=28,
                        dtype="float64", activation=activation).run(2)
    assert tr._adam.k.tolist() == [20, 20, 20]
    for k, (m, s) in enumerate(zip(ms, seeds, strict=True)):
        model, hist = train_adam(_alone_model(cell, activation, s, seq),
                                 WindowedData(seq, 12, m), epochs=2, lr=LR, batch_size=28,
                                 seed=np.random.default_rng([s, 1]))
        np.testing.assert_allclose(tr.theta[k], model.theta, rtol=0, atol=ALONE_ATOL)
        np.testing.assert_allclose(tr.losses[:, k], hist.loss, rtol=REF_RTOL * 1e2)


@pytest.mark.parametrize(("cell", "activation"), VARIANTS)
def test_stateful_batched_equals_alone(cell, activation):
    """Three seeds, 100 windows of 15 steps in 20 minibatches of 5 streams = 20 Adam steps
    (states carried 3 minibatches on): each equals :func:`systems.adam.train_stateful`."""
    seq = _seq(114)
    tr = BatchedTrainer(cell, 3, seq, N=15, seeds=[0, 1, 2], lr=LR, kind="stateful",
                        batch_size=5, dtype="float64", activation=activation).run(1)
    assert tr._adam.k.tolist() == [20, 20, 20]
    for k, s in enumerate([0, 1, 2]):
        model, hist = train_stateful(_alone_model(cell, activation, s, seq), seq, 15,
                                     epochs=1, lr=LR, batch_size=5)
        np.testing.assert_allclose(tr.theta[k], model.theta, rtol=0, atol=ALONE_ATOL)
        np.testing.assert_allclose(tr.losses[:, k], hist.loss, rtol=REF_RTOL * 1e2)


@pytest.mark.parametrize(("cell", "activation"), VARIANTS)
def test_bptt_batched_equals_alone(cell, activation):
    """Two seeds, 20 epochs of one window over the whole sequence (one Adam step each)."""
    seq = _seq(120)
    tr = BatchedTrainer(cell, 3, seq, seeds=[0, 1], lr=LR, kind="bptt", dtype="float64",
                        activation=activation).run(20)
    for k, s in enumerate([0, 1]):
        model, hist = train_adam(_alone_model(cell, activation, s, seq),
                                 WindowedData(seq, seq.T), epochs=20, lr=LR, batch_size=1)
        np.testing.assert_allclose(tr.theta[k], model.theta, rtol=0, atol=ALONE_ATOL)
        np.testing.assert_allclose(tr.losses[:, k], hist.loss, rtol=REF_RTOL * 1e2)


@pytest.mark.parametrize("kind", ["stateless", "stateful"])
def test_resume_is_bit_identical(kind):
    """3 epochs, save (through pickle), restore, 2 more = 5 epochs straight (float64)."""
    seq = _seq()
    opts = dict(N=12, seeds=[0, 1, 1], lr=LR, kind=kind, dtype="float64",
                batch_size=28 if kind == "stateless" else 6,
                ms=[0, 3, 7] if kind == "stateless" else None)
    straight = BatchedTrainer("lstm", 3, seq, **opts).run(5)
    first = BatchedTrainer("lstm", 3, seq, **opts).run(3)
    resumed = BatchedTrainer.from_state(pickle.loads(pickle.dumps(first.state())), seq).run(2)
    np.testing.assert_array_equal(resumed.theta, straight.theta)
    np.testing.assert_array_equal(resumed.losses, straight.losses)
    a, b = resumed.state()["adam"], straight.state()["adam"]
    for key in ("mu", "nu", "k"):
        np.testing.assert_array_equal(a[key], b[key])
    assert resumed.epoch == 5


def test_select_continues_the_survivors():
    """Keeping models 2 and 0 after 2 epochs and training 2 more is what those two models do
    in the full batch (float32: the kernel computes each model independently of the others)."""
    seq = _seq()
    opts = dict(N=12, ms=[0, 3, 7], seeds=[0, 1, 1], lr=LR, batch_size=28, dtype="float32")
    full = BatchedTrainer("gru", 3, seq, **opts).run(2)
    kept = full.select([2, 0])
    full.run(2)
    kept.run(2)
    assert kept.K == 2 and kept.ms.tolist() == [7, 0] and kept.seeds.tolist() == [1, 0]
    np.testing.assert_allclose(kept.theta, full.theta[[2, 0]], rtol=0, atol=1e-6)
    np.testing.assert_allclose(kept.losses, full.losses[:, [2, 0]], rtol=1e-5)
    assert kept.losses.shape == (4, 2)


def test_divergence_stops_one_model_only():
    """A model whose loss overflows stops at its parameters and is reported; the others train
    as they would without it."""
    seq = _seq()
    theta = np.stack([init_theta("lstm", 2, 3, 2, s) for s in (0, 1, 2)])
    theta[1, -8:] = 1e200  # readout weights: y^2 overflows, V = inf
    opts = dict(N=12, ms=[0, 3, 7], seeds=[0, 1, 2], lr=LR, batch_size=28, dtype="float64")
    tr = BatchedTrainer("lstm", 3, seq, init=theta, **opts).run(2)
    assert tr.diverged.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(tr.theta[1], theta[1])
    assert not np.isfinite(tr.losses[0, 1]) and np.isnan(tr.losses[1, 1])
    ok = BatchedTrainer("lstm", 3, seq, init=theta[[0, 2]],
                        **{**opts, "ms": [0, 7], "seeds": [0, 2]}).run(2)
    np.testing.assert_allclose(tr.theta[[0, 2]], ok.theta, rtol=0, atol=ALONE_ATOL)


def test_progress_reports_every_epoch():
    seq, seen = _seq(), []
    tr = BatchedTrainer("elman", 3, seq, N=12, ms=[0, 5], seeds=[0, 0], lr=LR, batch_size=50)
    tr.run(2, progress=seen.append)
    tr.run(1, progress=seen.append)
    assert [(r.epoch, r.last) for r in seen] == [(1, 2), (2, 2), (3, 3)]
    np.testing.assert_array_equal(seen[1].losses, tr.losses[1])
    assert all(r.elapsed >= 0 and r.eta >= 0 for r in seen) and seen[-1].eta == 0.0


def test_models_and_evaluate():
    """``models()`` are float64 model objects with the trained parameters; ``evaluate`` is the
    free-run error of each (the formula of ``systems.benchmarks.free_run_error``)."""
    seq = _seq()
    tr = BatchedTrainer("lstm", 3, seq, N=12, ms=[0, 6], seeds=[3, 4], lr=LR, batch_size=50,
                        dtype="float32").run(1)
    models = tr.models()
    assert [type(m).__name__ for m in models] == ["LSTM", "LSTM"]
    assert all(m.theta.dtype == np.float64 for m in models)
    np.testing.assert_array_equal(models[1].theta, tr.theta[1])
    val = Sequence(seq.x[:100], seq.y[:100])
    mse = tr.evaluate({"train": seq, "val": val})
    for k, model in enumerate(models):
        for name, q in (("train", seq), ("val", val)):
            ref = np.mean((model.simulate(q.x)[1] - q.y) ** 2)
            assert abs(mse[name][k] - ref) <= REF_RTOL * ref


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"cell": "rnn"}, "cell"), ({"kind": "online"}, "kind"), ({"ms": [0]}, "one entry"),
     ({"ms": [0, 12]}, "0 <= m < N"), ({"kind": "stateful"}, "m = 0"),
     ({"batch_size": 10_000}, "batch_size"), ({"lr": 0.0}, "lr"), ({"dtype": "float16"}, "dtype"),
     ({"N": 1000}, "N"), ({"kind": "bptt", "ms": None, "N": 12}, "leave N out"),
     ({"init": np.zeros((2, 3))}, "init"), ({"seeds": []}, "seeds"), ({"n_h": 0}, "n_h")],
)
def test_bad_input_is_named(kwargs, match):
    opts = dict(cell="gru", n_h=2, data=_seq(), N=12, ms=[0, 3], seeds=[0, 1], lr=LR) | kwargs
    cell, n_h, data = opts.pop("cell"), opts.pop("n_h"), opts.pop("data")
    with pytest.raises(InputError, match=match):
        BatchedTrainer(cell, n_h, data, **opts)


def test_bad_runs_and_states_are_named():
    seq = _seq()
    tr = BatchedTrainer("gru", 2, seq, N=12, ms=[0, 3], seeds=[0, 1], lr=LR)
    with pytest.raises(InputError, match="epochs"):
        tr.run(0)
    with pytest.raises(InputError, match="indices"):
        tr.select([2])
    with pytest.raises(InputError, match="not the sequence"):
        BatchedTrainer.from_state(tr.state(), Sequence(seq.x[:-1], seq.y[:-1]))
