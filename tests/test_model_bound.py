"""The bounds for a user's model (``burnin bound``): soundness, and the cases that are no error."""

from __future__ import annotations

import numpy as np
import pytest

from systems.data import Sequence, paper_lti
from systems.rnn import ElmanRNN
from verification.experiment.model_bound import bound_for_model


def _model(W_hh, W_hy, activation="linear"):
    n = len(W_hh)
    return ElmanRNN(W_hh, np.ones((n, 1)), None, W_hy, None, activation=activation)


def _brute_V(model, data, N, m, z=None):
    """``V(theta; z)`` by simulating every window on its own (independent of WindowBatch)."""
    S = data.T - N + 1
    r = [model.simulate(data.x[i:i + N], None if z is None else z[i])[1][m:] - data.y[i + m:i + N]
         for i in range(S)]
    return float(np.mean(np.sum(np.stack(r) ** 2, axis=2)))


def test_rows_sound_and_V_zero_by_simulation():
    data = paper_lti("train", T=60)
    res = bound_for_model(_model([[0.8]], [[0.5]]), data, N=12, ms=[0, 5, 11])
    for r in res.rows:
        assert r["sound_T1"] and r["sound_T2"], r
        np.testing.assert_allclose(r["V_zero"], _brute_V(_model([[0.8]], [[0.5]]), data, 12,
                                                         r["m"]), rtol=1e-12)


@pytest.mark.parametrize("W_hh, W_hy, activation", [
    ([[0.5]], [[0.0]], "linear"),  # W_hy = 0: the certificate has C = 0
    ([[0.5, 0.1], [0.0, 0.3]], [[0.0, 0.0]], "tanh"),
])
def test_memoryless_model_gets_the_trivial_bound(W_hh, W_hy, activation):
    """Outputs that never depend on the initial state: zero regret, bound 0 (issue 12 #6)."""
    res = bound_for_model(_model(W_hh, W_hy, activation), paper_lti("train", T=60), N=12,
                          ms=[0, 6])
    assert res.certificate.verified and res.certificate.C == 0
    for r in res.rows:
        assert r["gap_T1"] == 0 and r["T1_bound"] == 0 and r["T2a_bound"] == 0
        assert r["sound_T1"] and r["sound_T2"]
    assert res.recommendation.training.m == 0


def test_data_fitted_exactly_is_a_case():
    """``loss_level = 0`` (the model generated the data): a recommendation, no error (#7)."""
    model = _model([[0.7]], [[0.5]])
    x = paper_lti("train", T=40).x
    data = Sequence(x, model.simulate(x)[1], name="the model's own outputs")
    res = bound_for_model(model, data, N=40, ms=[39])
    assert res.rows[0]["V_zero"] == 0.0
    assert res.recommendation is not None and res.recommendation.training.best_m == 39
