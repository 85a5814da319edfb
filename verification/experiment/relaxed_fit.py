r"""The relaxed problem at scale (parameters and window states jointly), and the theorem's gap.

docs/theory.md §2: ``V^inf = min_{theta, z_1..z_S} V(theta; z)``. For thousands of windows the
variables are ``n_theta + S n_z`` (LSTM, ``n_h = 8``, 4000 windows: 361 + 64 000); the
windows are coupled only through ``theta``. :func:`solve_relaxed`:

1. starts from a trained model ``theta*`` and its best window states ``z*`` (:mod:`.best_states`),
   a relaxed-feasible point with ``V = V(theta*; z*)``;
2. runs L-BFGS-B on ``(theta, z)`` jointly with the exact gradient (one adjoint pass of
   :class:`~systems.bptt.WindowBatch` per evaluation), the box as bounds on ``z``, with
   ``theta = sigma x`` and ``sigma**-2`` the curvature of ``V`` along its ``theta``-gradient at
   the start (one extra gradient). Measured on the authors' Silverbox ``m = 0`` model, 996
   windows, 300 iterations: ``V`` from 1.13e-3 to 1.19e-4 with ``sigma``, 1.77e-4 without; a
   per-coordinate scaling of ``z`` by the Gauss-Newton curvature was worse (4.9e-4: it lets
   the flat, saturated directions take the steps);
3. re-solves the window states at the final ``theta`` (:func:`~.best_states.best_states`, warm),
   which can only lower ``V``.

Every accepted point is relaxed-feasible and ``V`` never rises, so the result is a point
``(theta^inf, z^inf)`` with ``V^inf <= V(theta*; z*)``, not necessarily the global optimum: T1
holds at any relaxed-feasible point (docs/theory.md §8). :func:`relaxed_row` then measures the
theorem's own gap with ``V*``'s upper estimate ``min(V(theta*; 0), V(theta^inf; 0))`` and bounds
it with T1 from the on-data certificate of ``theta^inf`` on its pairs ``(z^inf_i, 0)``.

``systems.problems.fit("relaxed", ...)`` solves the same problem for small ``S`` (multi-start,
one scalar state scale for all windows); this module is the warm-started, per-window-scaled
solver for a trained model on thousands of windows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from systems.bptt import WindowBatch
from verification.certificates.ondata import certify_on_data

from .best_states import best_states
from .t1_point import t1_row
from .window_set import WindowSet

__all__ = ["RelaxedFit", "solve_relaxed", "relaxed_row"]


@dataclass(frozen=True, eq=False)
class RelaxedFit:
    """A relaxed-feasible point found from ``(theta*, z*)``.

    Attributes
    ----------
    model : the cell at ``theta^inf``
    z : (S, n_z) ``z^inf``
    V_inf : ``V(theta^inf; z^inf)``
    V_start : ``V(theta*; z*)``, the start
    history : ``V`` after each L-BFGS-B iteration
    iterations, evaluations : L-BFGS-B iterations and objective evaluations
    message : the optimiser's message (or ``"time limit"``)
    seconds : wall-clock time
    """

    model: object
    z: np.ndarray
    V_inf: float
    V_start: float
    history: list[float] = field(default_factory=list)
    iterations: int = 0
    evaluations: int = 0
    message: str = ""
    seconds: float = 0.0


class _Scaled:
    """``x = (theta / sigma, z) -> (V, dV/dx)`` for L-BFGS-B (module docstring, step 2)."""

    def __init__(self, model: object, X: np.ndarray, Y: np.ndarray, m: int, z: np.ndarray):
        self.batch = WindowBatch(X, Y, m, n_h=model.n_h, cell=model.cell, **model.options)
        self.n_theta, self.shape = model.theta.size, z.shape
        self.sigma = self._theta_scale(model.theta, z)
        self.evaluations = 0

    def _theta_scale(self, theta: np.ndarray, z: np.ndarray) -> float:
        _, g, _ = self.batch.loss_grad(theta, z)
        norm = float(np.linalg.norm(g))
        if not norm > 0:
            return 1.0
        h = 1e-6 * max(1.0, float(np.linalg.norm(theta))) / norm
        _, g2, _ = self.batch.loss_grad(theta + h * g, z)
        curv = float(np.vdot(g2 - g, g)) / (h * norm**2)
        return float(np.clip(1.0 / math.sqrt(curv), 1e-3, 1e3)) if curv > 0 else 1.0

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.sigma * x[: self.n_theta], x[self.n_theta:].reshape(self.shape)

    def join(self, theta: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.concatenate([theta / self.sigma, np.ravel(z)])

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        theta, z = self.split(x)
        V, dtheta, dz = self.batch.loss_grad(theta, z)
        return V, np.concatenate([self.sigma * dtheta, dz.ravel()])

    def bounds(self, box: tuple[np.ndarray, np.ndarray] | None) -> list | None:
        if box is None:
            return None
        lo = np.concatenate([np.full(self.n_theta, -np.inf), np.tile(box[0], self.shape[0])])
        hi = np.concatenate([np.full(self.n_theta, np.inf), np.tile(box[1], self.shape[0])])
        return list(zip(np.where(np.isinf(lo), None, lo).tolist(),
                        np.where(np.isinf(hi), None, hi).tolist(), strict=True))


def solve_relaxed(model: object, X: np.ndarray, Y: np.ndarray, m: int, z: np.ndarray, *,
                  box: tuple[np.ndarray, np.ndarray] | None = None, maxiter: int = 300,
                  time_limit: float | None = None, polish_iter: int = 20,
                  progress: Callable[[str], None] | None = None) -> RelaxedFit:
    """A relaxed-feasible point from the warm start ``(model.theta, z)`` (module docstring).

    Parameters
    ----------
    model : the trained cell ``theta*``
    X : (S, N, n_x), Y : (S, N, n_y) the windows;  m : burn-in
    z : (S, n_z) the warm start's states (``z*`` of :func:`~.best_states.best_states`)
    box : ``(lo, hi)`` bounds of the states (each ``(n_z,)``), or None
    maxiter : L-BFGS-B iterations;  time_limit : seconds after which it stops (the point
        reached is kept)
    polish_iter : Levenberg-Marquardt iterations of the final state solve (0: none)
    progress : optional callable receiving status strings

    Returns
    -------
    RelaxedFit
    """
    t0 = time.perf_counter()
    z = np.array(z, dtype=np.float64)
    obj = _Scaled(model, X, Y, m, z)
    x0 = obj.join(model.theta, z)
    V_start = float(obj(x0)[0])
    history: list[float] = []
    stopped: list[bool] = []

    def callback(intermediate_result: Any) -> None:
        history.append(float(intermediate_result.fun))
        if progress is not None and len(history) % 25 == 0:
            progress(f"relaxed m = {m}: iteration {len(history)}, V = {history[-1]:.6g}")
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            stopped.append(True)
            raise StopIteration

    res = minimize(obj, x0, jac=True, method="L-BFGS-B", bounds=obj.bounds(box),
                   callback=callback,
                   options={"maxiter": maxiter, "maxcor": 20, "ftol": 1e-13, "gtol": 1e-12})
    x = res.x if res.fun <= V_start else x0  # never above the start
    theta, z = obj.split(x)
    model_inf = model.with_theta(theta)
    if polish_iter > 0:
        z = best_states(model_inf, X, Y, m, [z], box=box, max_iter=polish_iter).z
    V_inf = float(WindowBatch(X, Y, m, n_h=model.n_h, cell=model.cell,
                              **model.options).loss(theta, z))
    message = "time limit" if stopped else str(res.message)
    return RelaxedFit(model_inf, z, V_inf, V_start, history, int(res.nit), obj.evaluations,
                      message, time.perf_counter() - t0)


def relaxed_row(model_star: object, w: WindowSet, m: int, z_star: np.ndarray, *,
                box: tuple[np.ndarray, np.ndarray] | None = None, certify: bool = True,
                maxiter: int = 300, time_limit: float | None = None,
                progress: Callable[[str], None] | None = None
                ) -> tuple[dict[str, Any], RelaxedFit]:
    """The theorem's gap ``V* - V^inf`` at burn-in ``m`` and its T1 bound, on the windows ``w``.

    ``V*`` is estimated from above by ``min(V(theta*; 0), V(theta^inf; 0))`` (the trained model,
    and the relaxed point's own zero-state loss: ``V* <= V(theta^inf; 0)`` is all T1's upper
    bound needs); ``V^inf`` is the value at the point :func:`solve_relaxed` found, and T1 uses
    the on-data certificate of ``theta^inf`` on its pairs ``(z^inf_i, 0)``.

    Returns ``(row, fit)``: the :class:`~.t1_point.T1Row` dict at ``(theta^inf, z^inf)`` with
    ``V_star_up`` and ``gap`` as above, plus ``V_zero_star = V(theta*; 0)``,
    ``V_start = V(theta*; z*)``, ``V_inf``, the solver's iterations, message and seconds.
    """
    fit = solve_relaxed(model_star, w.X, w.Y, m, z_star, box=box, maxiter=maxiter,
                        time_limit=time_limit, progress=progress)
    V_zero_star = float(WindowBatch(w.X, w.Y, m, n_h=model_star.n_h, cell=model_star.cell,
                                    **model_star.options).loss(model_star.theta, None))
    cert = None
    if certify:
        with np.errstate(over="ignore", invalid="ignore"):
            cert = certify_on_data(fit.model, w.X, fit.z, pairs="pair")
    row = t1_row(fit.model, w.X, w.Y, m, fit.z, cert, V_star_up=V_zero_star).to_dict()
    row.update(V_zero_star=V_zero_star, V_start=fit.V_start, V_inf=fit.V_inf,
               relaxed_iterations=fit.iterations, relaxed_message=fit.message,
               relaxed_seconds=fit.seconds,
               cert_reason=getattr(cert, "reason", "not certified (certify=False)"),
               cert_seconds=float(getattr(cert, "seconds", np.nan)))
    return row, fit
