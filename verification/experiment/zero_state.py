r"""The price of the zero initial state at a fixed model: measured, and bounded by T1.

For a trained model ``theta`` (any cell) on its windows, and every burn-in ``m`` asked for:

1. the best state of every window, ``z*_i = argmin_z L_i(z)`` (:mod:`.best_states`; within the
   box of states the model visits, see there), started from the better of the model's free-run
   state at the window start and ``0`` -- and, for every ``m`` after the first, of the previous
   ``m``'s ``z*`` (``z*`` depends on ``m``: positions ``1..m`` are not scored);
2. the measured price ``V(theta; 0) - V(theta; z*)``: what a perfect initial-state estimator
   would gain on these windows at this burn-in;
3. the on-data certificate of A1 on exactly the pairs ``(z*_i, 0)`` under the same windows
   (:func:`~verification.certificates.ondata.certify_on_data`, ``pairs="pair"``), and T1 at
   ``(theta, z*)`` in both forms, fitted ``(lam, C)`` and the certified envelope
   (:mod:`.t1_point`).

The gap, ``V``, the constants and T1 are all over one :class:`~.window_set.WindowSet`, whose
``label`` every result carries. :func:`leaves_rows` turns a result into the rows of the table
"what the burn-in leaves" (:data:`LEAVES_COLUMNS`).

Example
-------
>>> import numpy as np
>>> from systems.data import paper_lti
>>> from systems.rnn import ElmanRNN
>>> model = ElmanRNN([[0.8]], [[1.0]], None, [[0.5]], None, activation="tanh")
>>> price = price_of_zero_state(model, paper_lti("train", T=40), N=10, ms=[0, 5])
>>> [r["sound_env"] for r in price.rows], price.windows["label"]
([True, True], 'all 31 windows of length N = 10 (stride 1)')
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from systems.data import Sequence as Series
from systems.errors import InputError
from systems.windows import check_burn_in
from verification.certificates.ondata import certify_on_data

from .best_states import best_states, state_box
from .t1_point import t1_row
from .window_set import WindowSet, check_model_data, select_windows

__all__ = ["ZeroStatePrice", "price_of_zero_state", "price_row", "free_run_price",
           "leaves_rows", "LEAVES_COLUMNS"]


@dataclass
class ZeroStatePrice:
    """The price of the zero state of one model over ``m`` (module docstring).

    Attributes
    ----------
    cell, n_h, n_z : the model
    windows : :meth:`WindowSet.to_dict` of the windows everything is over (``label`` says which)
    box : ``{"lo": ..., "hi": ...}`` the states ``z*`` may take (None: unconstrained)
    rows : one :class:`~.t1_point.T1Row` dict per ``m`` (with ``solver`` fields: iterations,
        ``V`` settled to ``V_change_last`` relative over the last 5 iterations, converged
        fraction, seconds; and the certificate's ``cert_reason``, ``cert_seconds``)
    envelopes : ``m -> {"G": (N,), "witness": (N,)}`` certified envelope and simulated ratios
    states : ``m -> (S, n_z)`` the states ``z*`` (not in :meth:`to_dict`)
    seconds : total wall-clock time
    """

    cell: str
    n_h: int
    n_z: int
    windows: dict[str, Any]
    box: dict[str, list[float]] | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    envelopes: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    states: dict[int, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def n_sound(self) -> tuple[int, int, int]:
        """``(rows sound with T1_fit, rows sound with T1_env, rows with a bound)``."""
        fit = sum(r["sound_fit"] is True for r in self.rows)
        env = sum(r["sound_env"] is True for r in self.rows)
        return fit, env, sum(r["sound_env"] is not None for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (envelopes as lists); the states are left out (they are large)."""
        return {"cell": self.cell, "n_h": self.n_h, "n_z": self.n_z, "windows": self.windows,
                "box": self.box, "rows": self.rows, "seconds": self.seconds,
                "envelopes": {int(m): {k: np.asarray(v).tolist() for k, v in e.items()}
                              for m, e in self.envelopes.items()}}


def _settled(history: list[float], last: int = 5) -> float:
    """Relative fall of ``V`` over the last ``last`` iterations (0: settled)."""
    if len(history) <= 1:
        return 0.0
    a = history[max(0, len(history) - 1 - last)]
    return float((a - history[-1]) / a) if a > 0 else 0.0


def price_row(model: object, w: WindowSet, m: int, starts: Sequence[np.ndarray], *,
              box: tuple[np.ndarray, np.ndarray] | None, certify: bool = True,
              max_iter: int = 20, V_star_up: float | None = None,
              progress: Callable[[str], None] | None = None
              ) -> tuple[dict[str, Any], np.ndarray, object | None]:
    """One ``m``: ``z*`` from ``starts``, the certificate on ``(z*_i, 0)``, T1 beside the gap.

    Returns ``(row, z*, certificate)``; the row is a :class:`~.t1_point.T1Row` dict plus the
    solver and certificate fields of :class:`ZeroStatePrice`.
    """
    fit = best_states(model, w.X, w.Y, m, starts, box=box, max_iter=max_iter, progress=progress)
    cert = None
    if certify:
        with np.errstate(over="ignore", invalid="ignore"):
            cert = certify_on_data(model, w.X, fit.z, pairs="pair")
    row = t1_row(model, w.X, w.Y, m, fit.z, cert, V_star_up=V_star_up).to_dict()
    row.update(iterations=int(sum(fit.iterations)), V_change_last=_settled(fit.history),
               converged_fraction=float(np.mean(fit.converged)),
               sensitivity_passes=fit.sensitivity_passes / w.S, solve_seconds=fit.seconds,
               cert_reason=getattr(cert, "reason", "not certified (certify=False)"),
               cert_seconds=float(getattr(cert, "seconds", np.nan)))
    return row, fit.z, cert


def _box(box: object, model: object, data: Series) -> tuple[np.ndarray, np.ndarray] | None:
    if box is None:
        return None
    if isinstance(box, str):
        if box != "visited":
            raise InputError(f"box = {box!r}: use 'visited', None or (lo, hi)")
        with np.errstate(over="ignore", invalid="ignore"):
            z, _ = model.simulate(data.x)
        return state_box(z)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in box)  # type: ignore[misc]
    if lo.shape != (model.n_z,) or hi.shape != (model.n_z,) or np.any(lo > hi):
        raise InputError(f"box must be (lo, hi) with lo <= hi, each of shape (n_z,) = "
                         f"({model.n_z},)")
    return lo, hi


def price_of_zero_state(model: object, data: Series, N: int, ms: Sequence[int], *,
                        stride: int = 1, n_windows: int | None = None,
                        windows: WindowSet | None = None, box: object = "visited",
                        chain: bool = True, certify: bool = True, max_iter: int = 20,
                        progress: Callable[[str], None] | None = None) -> ZeroStatePrice:
    """The price of the zero state and its T1 bound over ``ms`` (module docstring).

    Parameters
    ----------
    model : a trained cell (Elman, LSTM, GRU; float64)
    data : the sequence the model was trained on (scaled as in training)
    N : window length;  ms : burn-ins, ``0 <= m < N``
    stride, n_windows : which windows (:func:`~.window_set.select_windows`), unless
        ``windows`` is given
    box : ``"visited"`` (:func:`~.best_states.state_box` of the free run over ``data``), None
        (unconstrained), or ``(lo, hi)``
    chain : warm-start each ``m`` from the previous ``m``'s ``z*`` as well
    certify : compute the on-data certificate and T1 (False: the measured price alone)
    max_iter : Levenberg-Marquardt iterations per ``m``
    progress : optional callable receiving status strings

    Returns
    -------
    ZeroStatePrice
    """
    t0 = time.perf_counter()
    check_model_data(model, data)
    w = windows if windows is not None else select_windows(data, N, stride=stride,
                                                           n_windows=n_windows)
    ms = sorted({check_burn_in(m, w.N) for m in ms})
    b = _box(box, model, data)
    with np.errstate(over="ignore", invalid="ignore"):
        phi = w.states_from(model.simulate(data.x)[0])  # free run from 0, at window starts
    zero = np.zeros_like(phi)
    out = ZeroStatePrice(model.cell, model.n_h, model.n_z, w.to_dict(),
                         None if b is None else {"lo": b[0].tolist(), "hi": b[1].tolist()})
    previous = None
    for m in ms:
        starts = [phi, zero] + ([previous] if chain and previous is not None else [])
        row, z, cert = price_row(model, w, m, starts, box=b, certify=certify,
                                 max_iter=max_iter, progress=progress)
        out.rows.append(row)
        out.states[m] = z
        if cert is not None:
            out.envelopes[m] = {"G": np.asarray(cert.envelope), "witness": np.asarray(cert.lower)}
        previous = z
        if progress is not None:
            progress(f"m = {m}: gap {row['gap']:.4g}, T1 env {row['T1_env']:.4g}, "
                     f"fit {row['T1_fit']:.4g} ({row['solve_seconds']:.1f} s + "
                     f"{row['cert_seconds']:.1f} s)")
    out.seconds = time.perf_counter() - t0
    return out


def free_run_price(model: object, data: Series, *, m: int = 0, box: object = "visited",
                   visited: Series | None = None, max_iter: int = 30,
                   tol: float = 1e-3) -> dict[str, Any]:
    """The price of the zero state on one free run over the whole sequence.

    ``P(0, theta) - P(h_0*, theta)`` with ``P(h_0, theta) = 1/(T - m) sum_{t>m} ||psi_t(h_0) -
    y_t||^2`` (docs/theory.md §2) and ``h_0* = argmin P`` (the best initial state of the run,
    within the box; one window of length ``T``, :func:`~.best_states.best_states`): what a
    perfect initial-state estimator gains on the authors' free-run evaluation.

    Parameters
    ----------
    model, data : the cell and the sequence (e.g. a test split, scaled)
    m : steps not scored at the start of the run
    box : as in :func:`price_of_zero_state`; ``"visited"`` uses the free run over ``visited``
        (default: ``data``)
    max_iter : Levenberg-Marquardt iterations
    tol : the two runs count as one once their outputs differ by at most ``tol`` for good

    Returns
    -------
    dict with ``P_zero``, ``P_best``, ``gain = P_zero - P_best``, ``h0`` (``(n_z,)`` list),
    ``mse_zero``, ``mse_best`` (divided by ``n_y``: the authors' mean over steps and outputs),
    ``transient`` (the number of steps after which ``||psi_t(0) - psi_t(h_0*)|| <= tol`` for
    every later ``t``), ``mse_zero_transient`` (the zero-state run's MSE over those first steps)
    and ``mse_after`` (the zero-state run's MSE after them; the two runs agree there to ``tol``)
    """
    T = data.T
    if not 0 <= m < T:
        raise InputError(f"m = {m} must satisfy 0 <= m < T = {T}")
    b = _box(box, model, data if visited is None else visited)
    X, Y = data.x[None], data.y[None]
    fit = best_states(model, X, Y, m, [np.zeros((1, model.n_z))], box=b, max_iter=max_iter)
    with np.errstate(over="ignore", invalid="ignore"):
        y0, y1 = model.simulate(data.x)[1][m:], model.simulate(data.x, fit.z[0])[1][m:]
    r0 = y0 - data.y[m:]
    P_zero, P_best = float(np.sum(r0**2) / (T - m)), float(fit.loss[0] / (T - m))
    apart = np.flatnonzero(np.linalg.norm(y0 - y1, axis=1) > tol)
    k = int(apart[-1]) + 1 if apart.size else 0
    e = np.sum(r0**2, axis=1) / data.n_y
    return {"P_zero": P_zero, "P_best": P_best, "gain": P_zero - P_best,
            "mse_zero": P_zero / data.n_y, "mse_best": P_best / data.n_y,
            "h0": fit.z[0].tolist(), "transient": k,
            "mse_zero_transient": float(np.mean(e[:k])) if k else float("nan"),
            "mse_after": float(np.mean(e[k:])) if k < e.size else float("nan")}


#: Columns of the table "what the burn-in leaves": (row key, heading).
LEAVES_COLUMNS = [
    ("m", "m"), ("V_zero", "V(theta; 0)"), ("V_point", "V(theta; z*)"),
    ("gap", "price of z = 0"), ("T1_env", "T1 envelope"), ("T1_fit", "T1 fitted"),
    ("ratio_env", "env/gap"), ("ratio_fit", "fit/gap"), ("sound", "sound"),
    ("dominant", "loose term"),
]


def leaves_rows(price: ZeroStatePrice | dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of "what the burn-in leaves" (:data:`LEAVES_COLUMNS`), one per ``m``.

    ``sound`` is True when both forms hold (``gap <= bound``), None without any bound.
    """
    rows = price.rows if isinstance(price, ZeroStatePrice) else price["rows"]
    out = []
    for r in rows:
        checks = [r[k] for k in ("sound_env", "sound_fit") if r[k] is not None]
        out.append({k: r.get(k) for k, _ in LEAVES_COLUMNS if k != "sound"}
                   | {"sound": all(checks) if checks else None})
    return out
