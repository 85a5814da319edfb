"""LMI-L incremental l2 gain and one-step Lipschitz constants of the Elman RNN (THEORY.md §7).

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

As in :mod:`verification.certificates.lmi_c`, the solver proposes ``(P, mu, gamma)`` and our float64
eigenvalue check decides; ``gamma`` is nudged up (reported as ``margin``) if needed.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from systems.rnn import ElmanRNN
from verification.certificates import lmi_c as _c

#: Strictness margin of the SDP: ``LMI <= -eps I`` and ``P >= eps I``.
EPS_STRICT = 1e-9
#: Largest relative nudge of ``gamma`` tried by the float64 check.
MAX_NUDGE = 1e-2


@dataclass(frozen=True, eq=False)
class Gain:
    """Incremental l2 gain certificate from LMI-L (THEORY.md §7).

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


@dataclass(frozen=True)
class OneStep:
    """One-step Lipschitz constants of ``f`` and ``g`` (THEORY.md §7).

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
) -> tuple[bool, float]:
    """Float64 check of LMI-L: ``min eig(-M)`` above the rounding bound, ``P >= 0``, ``mu >= 0``.

    Returns ``(passed, min eig(-M))``.
    """
    ev = np.linalg.eigvalsh(-lmi_l_matrix(model, gamma, P, mu))
    thr = _c.ROUNDOFF * ev.size * np.finfo(np.float64).eps * max(abs(ev[0]), abs(ev[-1]))
    ev_P = np.linalg.eigvalsh(0.5 * (P + P.T))
    mu_ok = mu is None or bool(np.all(mu >= 0))
    return bool(ev[0] >= thr and ev_P[0] >= 0 and mu_ok), float(ev[0])


def _solve(problem: cp.Problem, solvers: tuple[str, ...]) -> tuple[str, str]:
    """Solve with the first solver that returns a solution: ``(status, solver or messages)``."""
    messages = []
    for name in solvers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                problem.solve(solver=name, **(_c.SCS_OPTIONS if name == "SCS" else {}))
        except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
            messages.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if problem.status in _c.OK_STATUS:
            return "ok", name
        if problem.status in ("infeasible", "infeasible_inaccurate"):
            return "infeasible", name
        messages.append(f"{name}: status {problem.status}")
    return "failure", "; ".join(messages)


# --------------------------------------------------------------------------- LMI-L
def certify_gain(model: ElmanRNN, *, solver: str | None = None) -> Gain:
    """Minimise ``gamma**2`` subject to LMI-L (THEORY.md §7) and re-verify in float64.

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
    """
    t0 = time.perf_counter()
    # LMI-L is homogeneous in the readout: W_hy -> W_hy / c scales gamma by 1/c and (P, mu)
    # by 1/c**2. Solving with a unit readout keeps gamma**2 far above the solver's absolute
    # accuracy (a 1e-4 readout otherwise left a 1e-9 violation no nudge could repair).
    c = float(np.linalg.norm(model.W_hy, 2))
    if c == 0.0:
        n = model.n_h
        return Gain(0.0, np.zeros((n, n)), True, "certified (zero readout: dy = 0)",
                    margin=0.0, seconds=time.perf_counter() - t0, activation=model.activation)
    W, U, V = model.W_hh, model.W_xh, model.W_hy / c
    n, nx = model.n_h, model.n_x
    P = cp.Variable((n, n), symmetric=True)
    g2 = cp.Variable(nonneg=True)
    if model.activation == "linear":
        mu = None
        B = np.hstack([W, U])
        E_h = np.vstack([np.eye(n), np.zeros((nx, n))])  # embeds the h block
        E_x = np.vstack([np.zeros((n, nx)), np.eye(nx)])  # embeds the x block
        M = B.T @ (P + V.T @ V) @ B - E_h @ P @ E_h.T - g2 * (E_x @ E_x.T)
    else:
        mu = cp.Variable(n, nonneg=True)
        L = cp.diag(mu)
        Z = np.zeros((n, nx))
        M = cp.bmat([
            [-P, Z, W.T @ L],
            [Z.T, -g2 * np.eye(nx), U.T @ L],
            [L @ W, L @ U, P + V.T @ V - 2 * L],
        ])
    M = 0.5 * (M + M.T)
    dim = M.shape[0]
    cons = [M << -EPS_STRICT * np.eye(dim), P >> EPS_STRICT * np.eye(n)]
    problem = cp.Problem(cp.Minimize(g2), cons)
    status, info = _solve(problem, (solver,) if solver else _c.solver_order(dim))
    act = model.activation
    if status != "ok":
        reason = (
            f"LMI-L infeasible (solver {info}): no finite incremental gain certified"
            if status == "infeasible" else f"solver failure: {info}"
        )
        return Gain(float("nan"), None, False, reason, seconds=time.perf_counter() - t0,
                    activation=act)
    P_val = c**2 * 0.5 * (P.value + P.value.T)  # back to the model's own readout
    mu_val = None if mu is None else c**2 * np.maximum(mu.value, 0.0)
    gamma0 = c * float(np.sqrt(max(g2.value, 0.0)))
    gamma = _c._nudge(lambda g: check_lmi_l(model, g, P_val, mu_val)[0], gamma0,
                      gamma0 * (1.0 + MAX_NUDGE) + 1e-6)
    if gamma is None:
        ok, me = check_lmi_l(model, gamma0 * (1.0 + MAX_NUDGE) + 1e-6, P_val, mu_val)
        return Gain(float("nan"), None, False,
                    f"float64 check failed (min eig of -LMI-L {me:.3g}, or P not PSD; solver "
                    f"{info})", seconds=time.perf_counter() - t0, activation=act, solver=info)
    _, me = check_lmi_l(model, gamma, P_val, mu_val)
    return Gain(gamma, P_val, True, "certified", margin=gamma - gamma0, multiplier=mu_val,
                min_eig=me, solver=info, seconds=time.perf_counter() - t0, activation=act)


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
    status, _ = _solve(problem, (solver,) if solver else _c.solver_order(2 * n))
    if status != "ok":
        return float("nan")
    I, mu_val = np.eye(n), np.maximum(mu.value, 0.0)
    lam0 = float(np.sqrt(max(lam2.value, 0.0)))
    hi = 2.0 * lam0 + 1.0
    lam = _c._nudge(lambda l: _c.check_lmi_c(W, l, I * (1 + 1e-12), mu_val).passed, lam0, hi)
    return float("nan") if lam is None else float(lam)


def one_step(
    model: ElmanRNN, certificate: _c.Certificate | None = None, *, solver: str | None = None
) -> OneStep:
    """One-step constants ``L_f`` (Euclidean and in the A1 metric), ``||W_xh||``, ``L_g``.

    Parameters
    ----------
    model : ElmanRNN
    certificate : Certificate, optional
        The A1 certificate whose ``lam`` is ``L_f_P``; computed with ``certify`` if omitted.
    """
    cert = certificate if certificate is not None else _c.certify(model, solver=solver)
    return OneStep(
        L_f=float(np.linalg.norm(model.W_hh, 2)),
        L_f_lmi=euclidean_rate(model, solver=solver),
        L_f_P=float(cert.lam),
        W_xh_norm=float(np.linalg.norm(model.W_xh, 2)),
        L_g=float(np.linalg.norm(model.W_hy, 2)),
    )
