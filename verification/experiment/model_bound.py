"""Bounds for a user's trained model: certificate, Lipschitz constants, T1/T2 curves over ``m``.

A user who brings one trained model ``theta`` (and no solutions of the other two problems)
gets the parts of THEORY.md that hold for *any* parameters:

* L1 at ``theta``: the loss with zero initial states ``V(theta; 0)`` against the loss with the
  best initial state per window ``V(theta; z)`` (``z`` fitted with ``theta`` fixed). T1a/T1b
  evaluated with ``V^inf := V(theta; z)`` and ``Delta_0``, ``Delta_01``, ``rho`` at that ``z``
  bound ``V(theta; 0) - V(theta; z)``: this is the price of the zero initial state at ``theta``.
* the first line of T2a with ``theta* = theta^b = theta`` and ``h_0^b`` fitted: the price, on the
  full sequence, of starting the free run from ``0`` instead of from the best ``h_0``.

Each is reported beside the measured value, for every ``m``, with certified constants.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from bounds import numeric as bn
from bounds.recommend import BurnInRecommendation, Recommendation, recommend_training
from systems.bptt import WindowBatch
from systems.data import Sequence
from systems.problems import performance
from systems.rnn import ElmanRNN
from systems.windows import Windows, check_burn_in
from verification.certificates import lmi_c, lmi_l, sampled


@dataclass
class ModelBound:
    """Everything ``burnin bound`` reports; ``rows`` has one dict per ``m``."""

    certificate: lmi_c.Certificate
    gain: Any
    one_step: Any
    empirical: Any
    rows: list[dict[str, Any]] = field(default_factory=list)
    recommendation: Any = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        c = self.certificate
        return {
            "settings": self.settings,
            "certificate": {
                "verified": c.verified, "lam": c.lam, "C": c.C, "kappa": c.kappa,
                "margin": c.margin, "reason": c.reason, "solver": c.solver,
            },
            "lipschitz": {
                "gamma": getattr(self.gain, "gamma", math.nan),
                "verified": getattr(self.gain, "verified", False),
                **{k: v for k, v in vars(self.one_step).items() if not k.startswith("_")},
            },
            "empirical": {"lam": self.empirical.lam, "C": self.empirical.C,
                          "n_pairs": self.empirical.n_pairs,
                          "contracting": self.empirical.contracting},
            "rows": self.rows,
            "recommendation": _rec_dict(self.recommendation),
        }


def _rec_dict(rec: Any) -> Any:
    return None if rec is None else dataclasses.asdict(rec)


def _fit_z(batch: WindowBatch, theta: np.ndarray, z0: np.ndarray) -> tuple[float, np.ndarray]:
    """Minimise ``V(theta; z)`` over the initial states ``z : (S, n_h)``, ``theta`` fixed."""

    def f(zf: np.ndarray) -> tuple[float, np.ndarray]:
        V, _, dz = batch.loss_grad(theta, zf.reshape(z0.shape))
        return V, dz.ravel()

    res = minimize(f, z0.ravel(), jac=True, method="L-BFGS-B",
                   options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12})
    z = res.x.reshape(z0.shape)
    return float(batch.loss(theta, z)), z


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
    win = Windows(data.T, N, stride)
    ms = list(range(N)) if ms is None else sorted({check_burn_in(m, N) for m in ms})
    X, Y = win.stack(data.x), win.stack(data.y)
    cert = lmi_c.certify(model)
    certs = lmi_c.curve(model) if cert.verified else [cert]
    points = [c for c in certs if c.verified]
    gain = lmi_l.certify_gain(model)
    one = lmi_l.one_step(model, certificate=cert)
    emp = sampled.empirical_constants(model, X, seed=seed)
    theta = model.theta
    h_free = model.simulate(data.x)[0]
    phi = h_free[win.starts[1:]]
    phi_norms = np.linalg.norm(phi, axis=1)

    rows = []
    for m in ms:
        batch = WindowBatch(X, Y, m, n_h=model.n_h, activation=model.activation)
        V0 = batch.loss(theta, None)
        Vz, z = _fit_z(batch, theta, h_free[win.starts])
        z_norm = np.linalg.norm(z, axis=1)
        Delta_0, Delta_01 = float(np.sqrt(np.mean(z_norm**2))), float(np.mean(z_norm))
        Yz = batch.outputs(theta, z)
        rho = float(np.max(np.linalg.norm(Yz[:, m:] - Y[:, m:], axis=2)))

        def t1(C: float, lam: float, m: int = m, Vz: float = Vz, D0: float = Delta_0,
               D01: float = Delta_01, rho: float = rho) -> float:
            return float(bn.training_regret(C=C, lam=lam, m=m, N=N, V_inf=Vz, Delta_0=D0,
                                            Delta_01=D01, rho=rho))

        T1 = t1(*_best(points, t1)) if points else math.nan
        T1_emp = t1(emp.C, emp.lam) if emp.contracting else math.nan
        T1_paper = math.nan
        if points:
            c = lmi_c.minimise_over_curve(points, t1)
            T1_paper = float(bn.t1b_paper(C=c.C, lam=c.lam, m=m, N=N, rho=rho,
                                          Delta_0=Delta_0, Delta_01=Delta_01))
        # T2a, first line, with theta* = theta^b = theta and h_0^b fitted on the sequence.
        one_pass = WindowBatch(data.x[None], data.y[None], 0, win.weights(m)[None],
                               n_h=model.n_h, activation=model.activation,
                               normalizer=win.S * (N - m))
        _, h0b = _fit_z(one_pass, theta, np.zeros((1, model.n_h)))
        h0b = h0b[0]
        P0, Pb = performance(model, data, m), performance(model, data, m, h0=h0b)
        covers = win.covers(m) and win.o_min >= m
        T2a = math.nan
        if covers and points:
            Yb = model.simulate(X, model.simulate(data.x, h0b)[0][win.starts])[1]
            Y0 = batch.outputs(theta, None)
            A_J = float(sum(np.sum((Y0[i, J - 1] - Yb[i, J - 1]) ** 2)
                            for i, J in enumerate(win.blocks(m))))

            def t2(C: float, lam: float, A_J: float = A_J, Pb: float = Pb, m: int = m) -> float:
                B = bn.B_term(C_star=C, lam_star=lam, phi_norms=phi_norms,
                              overlaps=win.overlaps, N=N)
                return float(bn.performance_regret(P_b=Pb, A_J=A_J, B=B, T=data.T, m=m))

            T2a = t2(*_best(points, t2))
        rows.append({
            "m": m, "V_zero": V0, "V_free": Vz, "gap_T1": V0 - Vz, "T1_bound": T1,
            "T1_bound_emp": T1_emp, "T1b_paper": T1_paper,
            "P_zero": P0, "P_h0": Pb, "gap_T2": P0 - Pb, "T2a_bound": T2a,
            "T2_applicable": covers, "Delta_0": Delta_0, "rho": rho,
        })
    ms_arr = np.array([r["m"] for r in rows])
    rec = None
    bounds_T1 = np.array([r["T1_bound"] for r in rows])
    if np.isfinite(bounds_T1).any():
        # Training rule of bounds.recommend; the loss level is the user's own loss V(theta; 0).
        level = float(np.nanmin([r["V_zero"] for r in rows]))
        training = recommend_training(ms_arr, bounds_T1, loss_level=level, tol=tol)
        perf = np.array([r["T2a_bound"] for r in rows])
        performance_rec = None
        if np.isfinite(perf).any():
            k = int(np.nanargmin(perf))
            performance_rec = Recommendation(
                m=int(ms_arr[k]), bound=float(perf[k]), best_m=int(ms_arr[k]),
                reason=f"m = {ms_arr[k]} minimises the T2a bound on P(0, theta) - P(h0, theta) "
                f"(zero vs best initial state of the free run, at these parameters) over "
                f"m = {ms_arr.min()}..{ms_arr.max()}: {perf[k]:.4g}",
            )
        rec = BurnInRecommendation(training=training, performance=performance_rec)
    return ModelBound(cert, gain, one, emp, rows, rec,
                      {"N": N, "stride": stride, "T": data.T, "tol": tol, "data": data.name})


def _best(points: list, f: Any) -> tuple[float, float]:
    c = lmi_c.minimise_over_curve(points, f)
    return c.C, c.lam
