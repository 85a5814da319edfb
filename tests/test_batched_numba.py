"""The numba-compiled LSTM kernel (``systems/batched_lstm_numba.py``, ``--kernel numba``).

References: ``np.tanh`` in float64 for its ``tanh``; the float64 NumPy kernel for its loss and
gradient (``tests/test_batched.py``, the float32 tolerance); the NumPy trainer for training;
an uninterrupted run for a resumed one. Skipped where numba is absent (failed under ``CI``,
whose test extra installs it).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from cli_checks import assert_one_line_input_error

from systems.batched_lstm_numba import check_kernel
from systems.batched_train import BatchedTrainer
from systems.data import Sequence
from systems.errors import InputError
from verification.experiment.study_plan import Budget, budget_settings

EPS32 = float(np.finfo(np.float32).eps)
#: tanh32 against the exact tanh, measured over the 4.3 million inputs of the test: at most
#: 4.25 float32 units of the result (at |x| = 5.1) and 2.2 eps32 absolutely.
TANH_ULPS, TANH_ABS = 6.0, 3 * EPS32
#: Short trainings (lr 1e-2) of three LSTMs, float32 numba against float64 NumPy: the gradients
#: agree to ~1e-6 relatively; Adam's normalised steps carry that into the parameters
#: (measured: at most 5.1e-7 over the three kinds).
TRAIN_ATOL = 1e-5


def _seq(T: int = 300) -> Sequence:
    rng = np.random.default_rng(5)
    t = np.arange(float(T))
    return Sequence(np.c_[np.sin(0.1 * t), 0.3 * rng.normal(size=T)],
                    np.c_[np.sin(0.1 * t - 0.5), np.cos(0.07 * t)])


def test_tanh32_against_exact(numba_kernel):
    """Every 512th float32 in (-10, 10): within ``TANH_ULPS`` units of the result and
    ``TANH_ABS`` absolutely; +-1 beyond, NaN stays NaN (a diverging model is not clamped)."""
    from systems.batched_lstm_numba import tanh32_array

    bits = np.arange(0, np.float32(10.0).view(np.uint32), 512, dtype=np.uint32)
    x = np.concatenate([bits.view(np.float32), -bits.view(np.float32)])
    exact = np.tanh(x.astype(np.float64))
    err = np.abs(tanh32_array(x) - exact)
    unit = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert (err / unit).max() <= TANH_ULPS
    assert err.max() <= TANH_ABS
    special = tanh32_array(np.array([np.nan, np.inf, -np.inf, 50.0, -50.0, 0.0], np.float32))
    assert np.isnan(special[0])
    np.testing.assert_array_equal(special[1:], [1.0, -1.0, 1.0, -1.0, 0.0])


@pytest.mark.parametrize("kind", ["stateless", "stateful", "bptt"])
def test_training_against_float64(numba_kernel, kind):
    """Three LSTMs, 2 epochs (stateless: 20 Adam steps; stateful: 96, one per window) or 20
    (bptt: one step per epoch), end within ``TRAIN_ATOL`` of the float64 NumPy trainer's."""
    seq = _seq()
    epochs = 20 if kind == "bptt" else 2
    opts = dict(N=None if kind == "bptt" else 12, seeds=[0, 1, 1], lr=1e-2, kind=kind,
                batch_size=28 if kind == "stateless" else (6 if kind == "stateful" else 100),
                ms=[0, 3, 7] if kind == "stateless" else None)
    ref = BatchedTrainer("lstm", 3, seq, dtype="float64", **opts).run(epochs)
    fast = BatchedTrainer("lstm", 3, seq, dtype="float32", kernel=numba_kernel, **opts)
    fast.run(epochs)
    assert fast._adam.k.tolist() == ref._adam.k.tolist()
    np.testing.assert_allclose(fast.theta, ref.theta, rtol=0, atol=TRAIN_ATOL)
    assert np.all(np.isfinite(fast.losses))


def test_resume_is_bit_identical(numba_kernel):
    """3 epochs, save (through pickle), restore, 2 more = 5 epochs straight: the kernel is
    part of the state, and the compiled passes are deterministic."""
    seq = _seq()
    opts = dict(N=12, ms=[0, 3, 7], seeds=[0, 1, 1], lr=1e-2, batch_size=28, dtype="float32",
                kernel=numba_kernel)
    straight = BatchedTrainer("lstm", 3, seq, **opts).run(5)
    first = BatchedTrainer("lstm", 3, seq, **opts).run(3)
    state = pickle.loads(pickle.dumps(first.state()))
    assert state["kernel"] == "numba"
    resumed = BatchedTrainer.from_state(state, seq).run(2)
    np.testing.assert_array_equal(resumed.theta, straight.theta)
    np.testing.assert_array_equal(resumed.losses, straight.losses)


def test_states_from_before_kernels_had_a_name_resume_on_numpy():
    """A state without ``kernel`` (written before the option existed) resumes on NumPy's."""
    seq = _seq()
    tr = BatchedTrainer("lstm", 3, seq, N=12, ms=[0], seeds=[0], lr=1e-2, batch_size=28).run(1)
    state = tr.state()
    del state["kernel"]
    again = BatchedTrainer.from_state(state, seq)
    assert again.state()["kernel"] == "numpy"
    again.run(1)


def test_study_keys_keep_numpy_results_apart_from_numba():
    """NumPy-trained results keep the keys they had before kernels had a name (no ``kernel``
    in the keyed budget); a numba-trained budget is keyed differently."""
    numpy_b, numba_b = Budget("paper", 400, 1e-4), Budget("paper", 400, 1e-4, kernel="numba")
    assert "kernel" not in budget_settings(numpy_b)
    assert budget_settings(numba_b)["kernel"] == "numba"
    assert budget_settings(numpy_b) != budget_settings(numba_b)
    assert "numba kernel" in str(numba_b) and "kernel" not in str(numpy_b)


@pytest.mark.parametrize(("cell", "dtype", "match"), [
    ("gru", "float32", "trains LSTMs in float32, not gru"),
    ("lstm", "float64", "not lstm in float64"),
])
def test_what_the_kernel_cannot_train_is_named(cell, dtype, match):
    with pytest.raises(ValueError, match=match):
        check_kernel("numba", cell, dtype)
    with pytest.raises(InputError, match=match):
        BatchedTrainer(cell, 3, _seq(), N=12, ms=[0], seeds=[0], lr=1e-2, dtype=dtype,
                       kernel="numba")
    with pytest.raises(ValueError, match="kernel must be one of"):
        check_kernel("cuda", "lstm", "float32")


@pytest.mark.parametrize("command", ["study", "tune"])
def test_cli_names_a_kernel_it_cannot_use(command, capsys):
    """``--kernel numba`` with a GRU or float64: one line, exit 2, before any work."""
    assert_one_line_input_error([command, "silverbox", "--N", "50", "--cell", "gru",
                                 "--kernel", "numba"], "trains LSTMs in float32", capsys)
    assert_one_line_input_error([command, "silverbox", "--N", "50", "--dtype", "float64",
                                 "--kernel", "numba"], "not lstm in float64", capsys)
