"""The bounds for one trained model on its data (``burnin bound``), docs/theory.md §4-§6.

A user who brings one trained model ``theta`` (and no solutions of the other two problems)
gets the parts of docs/theory.md that hold for *any* parameters, with the theorem inputs of
:mod:`.inputs`:

* L1 at ``theta``: the loss with zero initial states ``V(theta; 0)`` against the loss with the
  best initial state per window ``V(theta; z)`` (``z`` fitted with ``theta`` fixed). T1a/T1b
  at the relaxed-feasible point ``(theta, z)`` bound ``V(theta; 0) - V(theta; z)``: the price
  of the zero initial state at ``theta``.
* the first line of T2a with ``theta* = theta^b = theta`` and ``h_0^b`` fitted: the price, on the
  full sequence, of starting the free run from ``0`` instead of from the best ``h_0``.

Each is reported beside the measured value, for every ``m``, with certified constants. A model
whose outputs do not depend on the initial state (``W_hy = 0``: the certificate has ``C = 0``)
gets the trivial bounds 0.

This module is the Elman RNN's, with the global LMI-C curve. For every cell (Elman, LSTM, GRU)
the same T1 part runs on the on-data certificate of exactly the pairs it sums over:
:func:`.zero_state.price_of_zero_state` (the best states ``z*`` per ``m``, T1 fitted and from
the certified envelope, T1e), and :func:`.model_constants.model_constants` (the pairs of the
free run, constants and a recommended burn-in).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from bounds.recommend import BurnInRecommendation, Recommendation, recommend_training
from systems.bptt import WindowBatch
from systems.data import Sequence
from systems.problems import performance
from systems.rnn import ElmanRNN
from systems.windows import WindowedData, check_burn_in
from verification.certificates import (
    Certificate,
    Empirical,
    Gain,
    OneStep,
    certify,
    certify_gain,
    curve,
    empirical_constants,
    one_step,
)

from .inputs import (
    best_on_curve,
    performance_inputs,
    relaxed_point,
    run_windows,
)


@dataclass
class ModelBoundRow:
    """The bounds for one burn-in ``m`` at the user's parameters ``theta``.

    Attributes
    ----------
    m : burn-in
    V_zero : ``V(theta; 0)``, the TBPTT loss from zero initial states
    V_free : ``V(theta; z)`` with the best initial state ``z_i`` of every window
    gap_T1 : ``V_zero - V_free``;  T1_bound : its bound (T1a/T1b at ``(theta, z)``, certified)
    T1_bound_emp : the same with sampled constants (not a certificate)
    T1b_paper : T1b's paper form ``C2 lam**m / (N - m)`` at the point T1 used
    P_zero, P_h0 : performance of the free run from 0 and from the best ``h_0``
    gap_T2 : ``P_zero - P_h0``;  T2a_bound : its bound (T2a's first line, certified)
    T2_applicable : the windows cover the sequence with every overlap ``>= m``
    Delta_0, rho : T1's inputs at ``(theta, z)``
    sound_T1, sound_T2 : ``gap <= bound`` (None when the bound is n/a)
    """

    m: int
    V_zero: float
    V_free: float
    gap_T1: float
    T1_bound: float
    T1_bound_emp: float
    T1b_paper: float
    P_zero: float
    P_h0: float
    gap_T2: float
    T2a_bound: float
    T2_applicable: bool
    Delta_0: float
    rho: float
    sound_T1: bool | None = field(init=False, default=None)
    sound_T2: bool | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        from .rows import sound

        self.sound_T1 = sound(self.gap_T1, self.T1_bound)
        self.sound_T2 = sound(self.gap_T2, self.T2a_bound)


@dataclass
class ModelBound:
    """Everything ``burnin bound`` reports; ``rows`` has one dict per ``m``
    (fields of :class:`ModelBoundRow`)."""

    certificate: Certificate
    gain: Gain
    one_step: OneStep
    empirical: Empirical
    rows: list[dict[str, Any]] = field(default_factory=list)
    recommendation: BurnInRecommendation | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain values: settings, certificate, Lipschitz constants (LMI-L gain and one-step
        constants), sampled constants, rows, recommendation."""
        return {
            "settings": self.settings,
            "certificate": self.certificate.to_dict(),
            "lipschitz": {**self.gain.to_dict(), **self.one_step.to_dict()},
            "empirical": self.empirical.to_dict(),
            "rows": self.rows,
            "recommendation": None if self.recommendation is None
            else dataclasses.asdict(self.recommendation),
        }


def fit_states(batch: WindowBatch, theta: np.ndarray, z0: np.ndarray) -> np.ndarray:
    """The initial states ``z : z0.shape`` minimising ``V(theta; z)`` with ``theta`` fixed."""

    def f(zf: np.ndarray) -> tuple[float, np.ndarray]:
        V, _, dz = batch.loss_grad(theta, zf.reshape(z0.shape))
        return V, dz.ravel()

    res = minimize(f, z0.ravel(), jac=True, method="L-BFGS-B",
                   options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12})
    return res.x.reshape(z0.shape)


def model_row(model: ElmanRNN, data: WindowedData, points: list[Certificate],
              emp: Empirical) -> ModelBoundRow:
    """The row for the burn-in ``data.m`` (``points``: the verified LMI-C curve)."""
    theta, m, seq = model.theta, data.m, data.sequence
    batch = WindowBatch.for_model(model, data.X, data.Y, data.m)
    z = fit_states(batch, theta, model.simulate(seq.x)[0][data.starts])
    point = relaxed_point("fitted states", model, z, data)
    T1, point_T1 = best_on_curve(points, point.T1)  # point_T1: the curve point T1 used
    # T2a, first line, with theta* = theta^b = theta and h_0^b fitted on the sequence.
    h0b = fit_states(WindowBatch.one_pass(model, data), theta, np.zeros((1, model.n_h)))[0]
    P_zero, P_h0 = performance(model, seq, m), performance(model, seq, m, h0=h0b)
    inputs = performance_inputs(model, batch.outputs(theta, None),
                                run_windows(model, data, h0b), P_h0, data)
    return ModelBoundRow(
        m=m, V_zero=point.V_zero, V_free=point.V_relaxed, gap_T1=point.V_zero - point.V_relaxed,
        T1_bound=T1, T1_bound_emp=point.T1(emp.C, emp.lam) if emp.contracting else math.nan,
        T1b_paper=point.T1b_paper(point_T1.C, point_T1.lam) if point_T1 is not None else math.nan,
        P_zero=P_zero, P_h0=P_h0, gap_T2=P_zero - P_h0,
        T2a_bound=best_on_curve(points, inputs.T2a)[0] if inputs.covered else math.nan,
        T2_applicable=inputs.covered, Delta_0=point.Delta_0, rho=point.rho,
    )


def recommend(rows: list[ModelBoundRow], tol: float) -> BurnInRecommendation | None:
    """Training rule of :mod:`bounds.recommend` against the user's own loss ``min_m V(theta; 0)``;
    performance: the ``m`` minimising the T2a bound. None without any finite T1 bound."""
    ms = np.array([r.m for r in rows])
    t1 = np.array([r.T1_bound for r in rows])
    if not np.isfinite(t1).any():
        return None
    level = float(np.nanmin([r.V_zero for r in rows]))
    training = recommend_training(ms, t1, loss_level=level, tol=tol)
    perf = np.array([r.T2a_bound for r in rows])
    if not np.isfinite(perf).any():
        return BurnInRecommendation(training=training, performance=None)
    k = int(np.nanargmin(perf))
    performance_rec = Recommendation(
        m=int(ms[k]), bound=float(perf[k]), best_m=int(ms[k]),
        reason=f"m = {ms[k]} minimises the T2a bound on P(0, theta) - P(h0, theta) "
        f"(zero vs best initial state of the free run, at these parameters) over "
        f"m = {ms.min()}..{ms.max()}: {perf[k]:.4g}",
    )
    return BurnInRecommendation(training=training, performance=performance_rec)


def bound_for_model(
    model: ElmanRNN,
    data: Sequence,
    N: int,
    ms: list[int] | None = None,
    *,
    stride: int = 1,
    tol: float = 0.05,
    seed: int = 0,
) -> ModelBound:
    """Certificate, Lipschitz constants and the T1/T2 curves over ``m`` for ``model`` on ``data``.

    Parameters
    ----------
    model : ElmanRNN (the trained ``theta``)
    data : Sequence, shape-compatible with the model
    N : window length; ms : burn-ins (default ``0..N-1``); stride : window stride
    tol : tolerance of the burn-in recommendation (training-regret bound relative to the loss)

    Returns
    -------
    ModelBound; when the model has no certificate the bounds are NaN and marked not
    applicable, and the empirical constants are still reported.
    """
    if data.n_x != model.n_x or data.n_y != model.n_y:
        raise ValueError(
            f"the data has n_x={data.n_x}, n_y={data.n_y} but the model expects "
            f"n_x={model.n_x}, n_y={model.n_y}"
        )
    windowed = WindowedData(data, N, 0, stride)
    ms = list(range(N)) if ms is None else sorted({check_burn_in(m, N) for m in ms})
    cert = certify(model)
    points = [c for c in (curve(model) if cert.verified else [cert]) if c.verified]
    emp = empirical_constants(model, windowed.X, seed=seed)
    rows = [model_row(model, windowed.with_m(m), points, emp) for m in ms]
    return ModelBound(
        cert, certify_gain(model), one_step(model, certificate=cert), emp,
        [dataclasses.asdict(r) for r in rows], recommend(rows, tol),
        {"N": N, "stride": stride, "T": data.T, "tol": tol, "data": data.name},
    )
