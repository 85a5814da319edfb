"""One function for a model's constants on its windows, T1 over m and the recommended burn-in.

References: ``Delta_0`` and the loss level recomputed from a plain simulation of exactly the
windows used; the gaps against window-by-window simulation; soundness of every certified form.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tolerances import SUM_RTOL

from systems.cells import model_class
from systems.data import paper_lti
from systems.rnn import ElmanRNN
from verification.experiment.model_constants import _recommend, model_constants
from verification.experiment.window_set import select_windows


def _lstm(seed: int = 31):
    rng = np.random.default_rng(seed)
    cls = model_class("lstm")
    return cls.from_theta(0.6 * rng.standard_normal(cls.n_params(1, 2, 1)), n_x=1, n_h=2, n_y=1)


def _brute(model, w, m):
    """``(Delta_0, V(theta; z))`` on the windows ``w`` with ``z_i`` the free-run states."""
    z = model.simulate(w.sequence.x)[0][w.starts]
    y = np.stack([model.simulate(w.X[i], z[i])[1] for i in range(w.S)])
    V = float(np.sum((y - w.Y)[:, m:] ** 2) / w.K(m))
    return float(np.sqrt(np.mean(np.sum(z**2, axis=1)))), V


@pytest.mark.parametrize("model", [
    ElmanRNN([[0.7, 0.2], [-0.1, 0.5]], [[1.0], [0.4]], [0.1, -0.2], [[0.8, -0.5]], [0.05]),
    _lstm(),
], ids=["elman", "lstm"])
def test_constants_bounds_and_recommendation_on_exactly_the_windows(model):
    data = paper_lti("train", T=60)
    mc = model_constants(model, data, N=15, ms=[0, 5, 10, 14], stride=4, tol=0.5)
    w = select_windows(data, 15, stride=4)
    assert mc.windows["label"] == w.label and mc.windows["S"] == w.S
    D0, V0 = _brute(model, w, 0)
    np.testing.assert_allclose([mc.Delta_0, mc.loss_level], [D0, V0], rtol=SUM_RTOL)
    assert mc.on_data["verified"] and mc.sampled["certified"] is False
    for r in mc.rows:
        np.testing.assert_allclose(r["V_point"], _brute(model, w, r["m"])[1], rtol=SUM_RTOL)
        assert r["sound_env"] and r["sound_fit"], r
        assert r["T1_env"] <= r["T1_fit"] * (1 + SUM_RTOL)
        assert r["T1"] == np.fmin(np.fmin(r["T1_env"], r["T1_fit"]), r["T1_global"])
        if math.isfinite(r["T1_global"]):
            assert r["gap"] <= r["T1_global"] * (1 + SUM_RTOL)
    assert mc.certified and mc.recommendation is not None
    assert "certified T1" in mc.recommendation.reason
    json.dumps(mc.to_dict())


def test_spread_windows_and_a_growing_model():
    """An unstable linear RNN: no decaying fit, no global certificate, yet the certified
    envelope is finite on these windows, so T1e still bounds the gap."""
    model = ElmanRNN([[1.1]], [[1.0]], None, [[0.5]], None, activation="linear")
    mc = model_constants(model, paper_lti("train", T=40), N=8, ms=[0, 4], n_windows=5)
    assert mc.windows["S"] == 5 and "5 of the 33 windows" in mc.windows["label"]
    assert not mc.on_data["verified"] and not mc.global_["verified"]
    for r in mc.rows:
        assert math.isnan(r["T1_fit"]) and math.isfinite(r["T1_env"]) and r["sound_env"]


def test_constants_only_and_the_sampled_fallback():
    mc = model_constants(_lstm(), paper_lti("train", T=40), N=10, ms=[], with_global=False)
    assert mc.rows == [] and mc.recommendation is None and mc.global_ is None
    rows = [{"m": m, "T1": math.nan, "T1_sampled": b} for m, b in ((0, 1.0), (3, 0.01))]
    rec, used, certified = _recommend([0, 3], rows, level=1.0, tol=0.1)
    assert rec.m == 3 and not certified and "SAMPLED" in used and "SAMPLED" in rec.reason


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="tol"):
        model_constants(_lstm(), paper_lti("train", T=40), N=10, tol=0)
    with pytest.raises(ValueError, match="stride"):
        model_constants(_lstm(), paper_lti("train", T=40), N=10, stride=2, n_windows=3)
