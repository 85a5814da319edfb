"""The relaxed problem solved from a trained model: descent, feasibility, soundness of T1.

References: the objective's definition by window-by-window simulation, central finite
differences of it (the scaled gradient), and ``V* <= V(theta^inf; 0)`` checked directly.
"""

from __future__ import annotations

import numpy as np
import pytest
from tolerances import FD_ATOL, FD_RTOL, SUM_RTOL

from systems.cells import model_class
from systems.data import paper_lti
from verification.experiment.best_states import best_states, state_box
from verification.experiment.relaxed_fit import _Scaled, relaxed_row, solve_relaxed
from verification.experiment.window_set import select_windows


def _model(cell: str, seed: int, n_h: int = 2, scale: float = 0.6):
    rng = np.random.default_rng(seed)
    cls = model_class(cell)
    return cls.from_theta(scale * rng.standard_normal(cls.n_params(1, n_h, 1)), n_x=1,
                          n_h=n_h, n_y=1)


def _setup(cell: str, m: int):
    model = _model(cell, 21)
    data = paper_lti("train", T=40)
    w = select_windows(data, 10, stride=2)
    box = state_box(model.simulate(data.x)[0])
    phi = w.states_from(model.simulate(data.x)[0])
    z = best_states(model, w.X, w.Y, m, [phi, 0 * phi], box=box).z
    return model, w, box, z


def _V(model, w, m, z):
    """``V(theta; z)`` by simulating each window alone."""
    y = np.stack([model.simulate(w.X[i], z[i])[1] for i in range(w.S)])
    return float(np.sum((y - w.Y)[:, m:] ** 2) / w.K(m))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_relaxed_point_descends_stays_feasible_and_t1_holds(cell):
    m = 2
    model, w, box, z = _setup(cell, m)
    row, fit = relaxed_row(model, w, m, z, box=box, maxiter=60)
    assert fit.V_inf <= fit.V_start * (1 + SUM_RTOL)
    assert fit.V_inf < fit.V_start  # theta moved: the joint problem has more freedom
    assert np.all((fit.z >= box[0]) & (fit.z <= box[1]))
    np.testing.assert_allclose(fit.V_inf, _V(fit.model, w, m, fit.z), rtol=SUM_RTOL)
    V_star_up = min(_V(model, w, m, 0 * z), _V(fit.model, w, m, 0 * z))
    np.testing.assert_allclose(row["gap"], V_star_up - fit.V_inf, rtol=SUM_RTOL)
    np.testing.assert_allclose(row["V_zero_star"], _V(model, w, m, 0 * z), rtol=SUM_RTOL)
    assert row["sound_env"] and row["sound_fit"], row
    assert row["T1_env"] <= row["T1_fit"] * (1 + SUM_RTOL)


def test_scaled_objective_gradient_matches_finite_differences():
    m = 3
    model, w, box, z = _setup("lstm", m)
    obj = _Scaled(model, w.X, w.Y, m, z)
    x = obj.join(model.theta, z)
    _, grad = obj(x)
    rng = np.random.default_rng(0)
    h = 1e-6
    for k in rng.choice(x.size, 12, replace=False):
        dx = np.zeros_like(x)
        dx[k] = h
        fd = (obj(x + dx)[0] - obj(x - dx)[0]) / (2 * h)
        np.testing.assert_allclose(grad[k], fd, rtol=FD_RTOL, atol=FD_ATOL)
    theta, zz = obj.split(x)
    np.testing.assert_allclose(theta, model.theta, rtol=SUM_RTOL)
    np.testing.assert_allclose(zz, z, rtol=SUM_RTOL, atol=1e-300)


def test_time_limit_keeps_the_point_reached():
    m = 1
    model, w, box, z = _setup("lstm", m)
    fit = solve_relaxed(model, w.X, w.Y, m, z, box=box, maxiter=10_000, time_limit=0.0,
                        polish_iter=0)
    assert fit.message == "time limit"
    assert fit.V_inf <= fit.V_start * (1 + SUM_RTOL)
