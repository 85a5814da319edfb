"""LMI-L incremental l2 gain and one-step Lipschitz constants of the Elman RNN (docs/theory.md §7).

Incremental dynamics of ``h_t = sigma(W_hh h_{t-1} + W_xh x_t + b_h)``, ``y_t = W_hy h_t + b_y``
for two runs with inputs ``x, x'`` and initial states ``h_0, h_0'``: ``dh_t = D_t (W_hh dh_{t-1}
+ W_xh dx_t)``, ``dy_t = W_hy dh_t``, ``D_t = diag(d)``, ``d in [0, 1]``. Note that ``y_t`` is
read from the *new* state, so the storage inequality per step is, with ``w = dh_t``,

    ||w||_P**2 - ||dh_{t-1}||_P**2 + ||W_hy w||**2 - gamma**2 ||dx_t||**2 <= 0.

For tanh the S-procedure with ``Lambda = diag(mu) >= 0`` on ``w_i (v_i - w_i) >= 0``
(``v = W_hh dh_{t-1} + W_xh dx_t``) turns it into (LipSDP style)

    [[ -P,            0,               W_hh^T Lambda               ],
     [ 0,             -gamma**2 I,     W_xh^T Lambda               ],
     [ Lambda W_hh,   Lambda W_xh,     P + W_hy^T W_hy - 2 Lambda  ]]  <= 0,   P >= 0   (LMI-L)

and for the identity activation (``w = v`` exactly) into the bounded-real LMI

    [W_hh, W_xh]^T (P + W_hy^T W_hy) [W_hh, W_xh] - blkdiag(P, gamma**2 I) <= 0,   P >= 0.

Summing the storage inequality over ``t = 1..T`` and dropping ``||dh_T||_P**2 >= 0`` gives

    sum_{t=1..T} ||dy_t||**2 <= gamma**2 sum_{t=1..T} ||dx_t||**2 + ||dh_0||_P**2.     (LMI-L)

As in :mod:`verification.certificates.lmi_c`, the solver proposes ``(P, mu, gamma)`` and the
float64 check of :mod:`verification.certificates.sdp` decides; ``gamma`` is nudged up (reported
as ``margin``) if needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from systems.rnn import ElmanRNN
from verification.certificates import sdp
from verification.certificates.lmi_c import Certificate, certify, check_lmi_c
from verification.certificates.sdp import Check, check_lmi, check_model, nudge, solver_order

#: Strictness margin of the SDP: ``LMI <= -eps I`` and ``P >= eps I``.
EPS_STRICT = 1e-9
#: Largest relative nudge of ``gamma`` tried by the float64 check.
MAX_NUDGE = 1e-2
#: Relative increases of ``gamma**2`` at which the back-off SDP looks for an interior point
#: when the optimum fails the float64 check (tried in order).
BACK_OFF = (1e-6, 1e-4)
#: Cap of the back-off SDP's storage: ``P <= P_CAP max(1, ||P_opt||) I`` (keeps it bounded).
P_CAP = 10.0


@dataclass(frozen=True, eq=False)
class Gain:
    """Incremental l2 gain certificate from LMI-L (docs/theory.md §7).

    ``sum_t ||dy_t||**2 <= gamma**2 sum_t ||dx_t||**2 + dh_0^T P dh_0`` for every horizon,
    every pair of input sequences and of initial states.

    Attributes
    ----------
    gamma : float
        Certified gain (``nan`` if not verified).
    P : (n_h, n_h) ndarray or None
        Storage matrix, ``P >= 0`` (checked in float64).
    verified : bool
        True only if the float64 eigenvalue check of LMI-L and of ``P`` passed at ``gamma``.
    reason : str
        ``"certified"`` or why not.
    margin : float
        ``gamma - gamma_solver``: the nudge needed to pass the float64 check.
    multiplier : (n_h,) ndarray or None
        Sector multiplier ``mu`` (None for a linear model).
    min_eig : float
        Smallest eigenvalue of ``-M`` (``M`` the LMI-L matrix) at ``gamma``.
    solver, seconds, activation
    """

    gamma: float
    P: np.ndarray | None
    verified: bool
    reason: str
    margin: float = float("nan")
    multiplier: np.ndarray | None = None
    min_eig: float = float("nan")
    solver: str = ""
    seconds: float = 0.0
    activation: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; ``P`` and ``multiplier`` as nested lists (or None)."""
        return {
            "verified": bool(self.verified), "gamma": float(self.gamma), "reason": self.reason,
            "margin": float(self.margin), "min_eig": float(self.min_eig), "solver": self.solver,
            "seconds": float(self.seconds), "activation": self.activation,
            "P": sdp.plain(self.P), "multiplier": sdp.plain(self.multiplier),
        }


@dataclass(frozen=True)
class OneStep:
    """One-step Lipschitz constants of ``f`` and ``g`` (docs/theory.md §7).

    Attributes
    ----------
    L_f : float
        Euclidean Lipschitz constant of ``h -> f(h, x)``: ``||W_hh||_2``. (The smallest ``lam``
        with LMI-C feasible at ``P = I`` equals it, because ``D = I`` lies in the sector and
        ``Lambda = I`` is feasible at ``lam = ||W_hh||_2``.)
    L_f_lmi : float
        That smallest ``lam`` computed by the SDP ``min lam**2`` s.t. LMI-C at ``P = I``
        (float64 checked; ``nan`` if the check failed). Equal to ``L_f`` up to solver accuracy.
    L_f_P : float
        Lipschitz constant of ``f`` in the metric ``P`` of the A1 certificate: its ``lam``.
    W_xh_norm : float
        ``||W_xh||_2``, the Lipschitz constant of ``x -> f(h, x)`` (slopes in ``[0, 1]``).
    L_g : float
        ``||W_hy||_2``, the Lipschitz constant of ``h -> g(h, x)``.
    """

    L_f: float
    L_f_lmi: float
    L_f_P: float
    W_xh_norm: float
    L_g: float

    def to_dict(self) -> dict[str, float]:
        """Plain JSON-ready dict of the five constants."""
        return {"L_f": float(self.L_f), "L_f_lmi": float(self.L_f_lmi),
                "L_f_P": float(self.L_f_P), "W_xh_norm": float(self.W_xh_norm),
                "L_g": float(self.L_g)}


# --------------------------------------------------------------------------- float64 check
def lmi_l_matrix(
    model: ElmanRNN, gamma: float, P: np.ndarray, mu: np.ndarray | None
) -> np.ndarray:
    """Assemble the LMI-L matrix ``M`` in float64 (a certificate needs ``M <= 0``).

    Returns
    -------
    M : (2 n_h + n_x, 2 n_h + n_x) for ``mu`` given (tanh), else (n_h + n_x, n_h + n_x).
    """
    W, U, V = model.W_hh, model.W_xh, model.W_hy
    n, nx = model.n_h, model.n_x
    P = 0.5 * (P + P.T)
    if mu is None:
        B = np.hstack([W, U])
        M = B.T @ (P + V.T @ V) @ B
        M[:n, :n] -= P
        M[n:, n:] -= gamma**2 * np.eye(nx)
    else:
        LW, LU = mu[:, None] * W, mu[:, None] * U
        Z = np.zeros((n, nx))
        M = np.block([
            [-P, Z, LW.T],
            [Z.T, -(gamma**2) * np.eye(nx), LU.T],
            [LW, LU, P + V.T @ V - 2.0 * np.diag(mu)],
        ])
    return 0.5 * (M + M.T)


def check_lmi_l(
    model: ElmanRNN, gamma: float, P: np.ndarray, mu: np.ndarray | None
) -> Check:
    """Float64 check of LMI-L at ``gamma``: ``-M > 0``, ``P > 0``, ``mu >= 0`` (beyond rounding).

    :func:`verification.certificates.sdp.check_lmi` on ``-M`` with the rounding scale of the
    summed terms: ``||B||**2 (||P|| + ||W_hy||**2) + ||P|| + gamma**2`` (linear,
    ``B = [W_hh, W_xh]``) or ``2 ||P|| + ||W_hy||**2 + 2 max mu + ||Lambda B|| + gamma**2``
    (tanh).
    """
    M = lmi_l_matrix(model, gamma, P, mu)
    B = np.hstack([model.W_hh, model.W_xh])
    nP = float(np.linalg.norm(P, 2)) if np.all(np.isfinite(P)) else float("inf")
    nV2 = float(np.linalg.norm(model.W_hy, 2)) ** 2
    if mu is None:
        scale = float(np.linalg.norm(B, 2)) ** 2 * (nP + nV2) + nP + gamma**2
    else:
        mu = np.asarray(mu, dtype=np.float64)
        LB = mu[:, None] * B
        LB_norm = float(np.linalg.norm(LB, 2)) if np.all(np.isfinite(LB)) else float("inf")
        scale = 2.0 * nP + nV2 + 2.0 * float(np.max(np.abs(mu), initial=0.0)) + LB_norm
        scale += gamma**2
    return check_lmi(-M, scale, P, mu)


class _GainSDP:
    """LMI-L in ``(P, mu, g2 = gamma**2)`` for a model with a unit-size readout.

    ``minimise()``: ``min g2`` s.t. ``M <= -eps I``, ``P >= eps I``. ``back_off(g2)``: at the
    fixed ``g2``, ``max s`` s.t. ``M <= -s I``, ``eps I <= P``, ``P <= p_cap I``: the most
    interior point, whose margin survives the solver's inaccuracy.
    """

    def __init__(self, model: ElmanRNN) -> None:
        W, U, V = model.W_hh, model.W_xh, model.W_hy
        n, nx = model.n_h, model.n_x
        self.P = cp.Variable((n, n), symmetric=True)
        self.g2 = cp.Variable(nonneg=True)
        self.s = cp.Variable()
        if model.activation == "linear":
            self.mu = None
            B = np.hstack([W, U])
            E_h = np.vstack([np.eye(n), np.zeros((nx, n))])  # embeds the h block
            E_x = np.vstack([np.zeros((n, nx)), np.eye(nx)])  # embeds the x block
            M = B.T @ (self.P + V.T @ V) @ B - E_h @ self.P @ E_h.T - self.g2 * (E_x @ E_x.T)
        else:
            self.mu = cp.Variable(n, nonneg=True)
            L = cp.diag(self.mu)
            Z = np.zeros((n, nx))
            M = cp.bmat([
                [-self.P, Z, W.T @ L],
                [Z.T, -self.g2 * np.eye(nx), U.T @ L],
                [L @ W, L @ U, self.P + V.T @ V - 2 * L],
            ])
        self.M = 0.5 * (M + M.T)
        self.dim = self.M.shape[0]
        self.n = n

    def _values(self) -> tuple[np.ndarray, np.ndarray | None, float]:
        P = 0.5 * (self.P.value + self.P.value.T)
        mu = None if self.mu is None else np.maximum(self.mu.value, 0.0)
        return P, mu, float(max(self.g2.value, 0.0))

    def minimise(self, solvers: tuple[str, ...]) -> tuple[sdp.Solve, tuple | None]:
        I_d, I_n = np.eye(self.dim), np.eye(self.n)
        problem = cp.Problem(cp.Minimize(self.g2), [
            self.M << -EPS_STRICT * I_d, self.P >> EPS_STRICT * I_n])
        out = sdp.solve(problem, solvers)
        return out, (self._values() if out.status == "ok" else None)

    def back_off(self, g2: float, p_cap: float,
                 solvers: tuple[str, ...]) -> tuple[sdp.Solve, tuple | None]:
        I_d, I_n = np.eye(self.dim), np.eye(self.n)
        problem = cp.Problem(cp.Maximize(self.s), [
            self.g2 == g2, self.M << -self.s * I_d, self.P >> EPS_STRICT * I_n,
            self.P << p_cap * I_n])
        out = sdp.solve(problem, solvers)
        return out, (self._values() if out.status == "ok" else None)


def _readout_scale(W_hy: np.ndarray) -> float:
    """The power of two nearest ``||W_hy||_2``: dividing by it is exact in float64."""
    return float(2.0 ** np.round(np.log2(float(np.linalg.norm(W_hy, 2)))))


# --------------------------------------------------------------------------- LMI-L
def certify_gain(model: ElmanRNN, *, solver: str | None = None) -> Gain:
    """Minimise ``gamma**2`` subject to LMI-L (docs/theory.md §7) and re-verify in float64.

    Parameters
    ----------
    model : ElmanRNN
        ``tanh``: the sector (LipSDP) form with ``Lambda = diag(mu)``; ``linear``: the exact
        bounded-real LMI.
    solver : str, optional
        A cvxpy solver; default Clarabel then SCS (SCS first for large LMIs).

    Returns
    -------
    Gain
        ``verified=True`` with ``(gamma, P)`` such that for all ``T``, inputs and initial
        states ``sum_{t<=T} ||dy_t||**2 <= gamma**2 sum_{t<=T} ||dx_t||**2 + dh_0^T P dh_0``;
        otherwise ``gamma = nan`` and a ``reason``.

    Raises
    ------
    ValueError
        For a model that cannot be certified as given (``n_h = 0``, weights beyond
        ``sdp.WEIGHT_MAX``), before any solver: :func:`~verification.certificates.sdp.check_model`.

    Notes
    -----
    LMI-L is homogeneous in the readout: ``W_hy -> W_hy / c`` scales ``gamma`` by ``1/c`` and
    ``(P, mu)`` by ``1/c**2``. The SDP and the float64 check run on the model with readout
    ``W_hy / c``, ``c`` the power of two nearest ``||W_hy||``, so the scaling is exact and the
    certificate of the scaled model is, multiplied back, the certificate of the model. If the
    solver's optimum fails the check even after the nudge (it sits on the boundary, within
    the solver's accuracy), a second SDP backs off: at ``gamma**2`` raised by
    ``BACK_OFF`` (relative) it maximises the margin ``s`` in ``M <= -s I``.
    """
    t0 = time.perf_counter()
    check_model(model)
    act = model.activation
    if not np.any(model.W_hy):
        n = model.n_h
        return Gain(0.0, np.zeros((n, n)), True, "certified (zero readout: dy = 0)",
                    margin=0.0, seconds=time.perf_counter() - t0, activation=act)
    c = _readout_scale(model.W_hy)
    unit = ElmanRNN(model.W_hh, model.W_xh, None, model.W_hy / c, None, activation=act)
    problem = _GainSDP(unit)
    solvers = (solver,) if solver else solver_order(problem.dim)
    out, sol = problem.minimise(solvers)
    if sol is None:
        reason = (
            f"LMI-L infeasible (solver {out.info}): no finite incremental gain certified"
            if out.status == "infeasible" else f"solver failure: {out.info}"
        )
        return Gain(float("nan"), None, False, reason, seconds=time.perf_counter() - t0,
                    activation=act)
    P, mu, g2 = sol
    gamma0 = float(np.sqrt(g2))
    gamma = _nudged_gain(unit, gamma0, P, mu)
    if gamma is None:
        for back_off in BACK_OFF:
            cap = P_CAP * max(1.0, float(np.linalg.norm(P, 2)))
            out2, sol2 = problem.back_off(g2 * (1.0 + back_off), cap, solvers)
            if sol2 is not None:
                P, mu, _ = sol2
                gamma = _nudged_gain(unit, gamma0, P, mu)
            if gamma is not None:
                break
    if gamma is None:
        chk = check_lmi_l(unit, gamma0 * (1.0 + MAX_NUDGE) + 1e-6, P, mu)
        return Gain(float("nan"), None, False,
                    f"float64 check failed (min eig of -LMI-L {chk.min_eig:.3g} < "
                    f"{chk.threshold:.3g}, or P not positive definite; solver {out.info})",
                    seconds=time.perf_counter() - t0, activation=act, solver=out.info)
    chk = check_lmi_l(unit, gamma, P, mu)
    return Gain(c * gamma, c * c * P, True, "certified", margin=c * (gamma - gamma0),
                multiplier=None if mu is None else c * c * mu, min_eig=c * c * chk.min_eig,
                solver=out.info, seconds=time.perf_counter() - t0, activation=act)


def _nudged_gain(model: ElmanRNN, gamma0: float, P: np.ndarray,
                 mu: np.ndarray | None) -> float | None:
    """Smallest ``gamma`` in ``[gamma0, gamma0 (1 + MAX_NUDGE) + 1e-6]`` passing the check."""
    return nudge(lambda g: check_lmi_l(model, g, P, mu).passed, gamma0,
                 gamma0 * (1.0 + MAX_NUDGE) + 1e-6)


def euclidean_rate(model: ElmanRNN, *, solver: str | None = None) -> float:
    """Smallest ``lam`` with LMI-C feasible at ``P = I`` (float64 checked), else ``nan``.

    At ``P = I`` LMI-C is linear in ``(lam**2, mu)``, so this is one SDP (no bisection).
    For a linear model it is ``||W_hh||_2`` exactly.
    """
    W = model.W_hh
    if model.activation == "linear":
        return float(np.linalg.norm(W, 2))
    n = model.n_h
    lam2 = cp.Variable(nonneg=True)
    mu = cp.Variable(n, nonneg=True)
    L = cp.diag(mu)
    M = cp.bmat([[lam2 * np.eye(n), -W.T @ L], [-L @ W, 2 * L - np.eye(n)]])
    M = 0.5 * (M + M.T)
    problem = cp.Problem(cp.Minimize(lam2), [M >> 0])
    out = sdp.solve(problem, (solver,) if solver else solver_order(2 * n))
    if out.status != "ok":
        return float("nan")
    I, mu_val = np.eye(n), np.maximum(mu.value, 0.0)
    lam0 = float(np.sqrt(max(lam2.value, 0.0)))
    hi = 2.0 * lam0 + 1.0
    lam = nudge(lambda l: check_lmi_c(W, l, I, mu_val).passed, lam0, hi)
    return float("nan") if lam is None else float(lam)


def one_step(
    model: ElmanRNN, certificate: Certificate | None = None, *, solver: str | None = None
) -> OneStep:
    """One-step constants ``L_f`` (Euclidean and in the A1 metric), ``||W_xh||``, ``L_g``.

    Parameters
    ----------
    model : ElmanRNN
    certificate : Certificate, optional
        The A1 certificate whose ``lam`` is ``L_f_P``; computed with ``certify`` if omitted.

    Raises
    ------
    ValueError
        For a model that cannot be certified as given
        (:func:`~verification.certificates.sdp.check_model`).
    """
    check_model(model)
    cert = certificate if certificate is not None else certify(model, solver=solver)
    return OneStep(
        L_f=float(np.linalg.norm(model.W_hh, 2)),
        L_f_lmi=euclidean_rate(model, solver=solver),
        L_f_P=float(cert.lam),
        W_xh_norm=float(np.linalg.norm(model.W_xh, 2)),
        L_g=float(np.linalg.norm(model.W_hy, 2)),
    )
