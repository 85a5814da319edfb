"""LMI-C certificates of Assumption A1 for the Elman RNN (docs/theory.md §3, §7).

The incremental dynamics of ``h_t = sigma(W_hh h_{t-1} + W_xh x_t + b_h)`` with a slope
restricted activation (``tanh``: slope in ``[0, 1]``) are ``dh_t = D_t W_hh dh_{t-1}`` with
``D_t = diag(d)``, ``d in [0, 1]``. Contraction in the metric ``P`` at rate ``lam``,

    ||dh_t||_P <= lam**t ||dh_0||_P,

follows for ``tanh`` from (S-procedure, multiplier ``Lambda = diag(mu) >= 0``)

    [[ lam**2 P,        -W_hh^T Lambda ],
     [ -Lambda W_hh,    2 Lambda - P   ]]  >= 0,     P >= I                   (LMI-C)

and for the identity activation from the exact Lyapunov inequality
``lam**2 P - W_hh^T P W_hh >= 0``, ``P >= I``. Then, with ``y_t = W_hy h_t + b_y``,

    ||dy_j|| <= C lam**j ||dh_0||,    C = ||W_hy||_2 sqrt(kappa(P))                (A1)

for every ``j >= 1``, every pair of initial states and every input sequence (a global
certificate: the "relevant set" of A1 is the whole state space).

How a certificate is produced (PEPit style: the solver proposes, our own float64 code decides)

1. ``lam`` free (default ``method="eigen"``): the smallest rate comes from eigenvalues alone --
   for a fixed multiplier the best rate is the numerical radius ``w(D W_hh D^-1)``
   (:mod:`~verification.certificates.rate`), minimised over ``D``; a linear model's is the
   spectral radius. Then ONE SDP ``min t  s.t.  I <= P <= t I,  LMI-C(lam) >= eps I`` at
   ``lam = rate + RATE_GAPS[0] * tol`` gives the metric of smallest ``kappa(P)`` (Clarabel,
   SCS as fallback; :mod:`~verification.certificates.sdp`). If its ``P`` misses the float64
   check (near the smallest rate the feasible set is thin), it is moved towards an interior
   metric from eigenvalue methods (Stein equation, or the doubling algorithm of ``rate``)
   just far enough to pass. For tanh above ``METRIC_SDP_MAX_DIM`` the SDP is skipped and the
   interior metric itself is used (``kappa`` ~1.4x the SDP's, no solver).
   ``method="bisection"`` (also the fallback) bisects on
   ``(rho(W_hh), min(||W_hh||_2, 1))`` with one SDP per step, compiled once (``lam**2`` is
   a ``cp.Parameter``, DPP). ``rho(W_hh) <= lam`` is necessary (``D = I`` is in the sector).
2. The returned ``P`` (symmetrised, rescaled so that ``lambda_min(P) = 1``; LMI-C is
   homogeneous in ``(P, Lambda)``) and ``mu`` are checked by ``sdp.check_lmi``: the smallest
   eigenvalue of the assembled block matrix must exceed the float64 rounding bound of the
   summed terms, ``P`` must be positive definite beyond rounding, ``mu >= 0``. If the check
   fails at a given ``lam``, ``lam`` is nudged up (the check is monotone in ``lam`` for fixed
   ``P``) to the smallest value that passes; the nudge is reported as ``margin``.
3. No certificate is a result with ``lam = C = nan``, ``verified = False`` and a ``reason``;
   a memoryless model (``W_hh = 0`` or ``W_hy = 0``) gets ``C = 0`` without any solver.

Examples
--------
>>> import numpy as np
>>> from systems.rnn import ElmanRNN
>>> m = ElmanRNN([[0.5]], [[1.0]], None, [[2.0]], None, activation="linear")
>>> cert = certify(m)
>>> cert.verified, round(cert.lam, 6), round(cert.C, 6)
(True, 0.5, 2.0)
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
from scipy.linalg import LinAlgWarning, solve_discrete_lyapunov

from systems.blas import single_thread_blas
from systems.rnn import ElmanRNN
from verification.certificates import sdp
from verification.certificates.rate import best_rate, metric_for_multiplier
from verification.certificates.sdp import Check, check_lmi, check_model, nudge, solver_order

#: Bisection tolerance on ``lam`` (absolute).
TOL = 1e-4
#: Largest rate tried: a certificate with ``lam >= LAM_MAX`` is not a contraction certificate.
LAM_MAX = 1.0 - 1e-6
#: Strictness margin ``eps`` of the SDP (``LMI >= eps I``); ``P >= I`` fixes the scale.
EPS_STRICT = 1e-9
#: Gaps (in units of ``tol``) above the eigenvalue rate at which the metric SDP is tried.
RATE_GAPS = (0.01, 0.1, 1.0, 10.0)
#: Largest LMI block for which the eigenvalue path solves the metric SDP (Clarabel, ~2 s for
#: 2 n_h = 32 on a busy machine). Above it the SDP (SCS, seconds to its time limit) is skipped
#: and the interior metric of ``rate.metric_for_multiplier`` is the certificate's metric: its
#: ``C`` is within a few per cent of the SDP's at the sizes of ``benchmarks/lmi_scaling.py``
#: (tanh only; a linear model's Stein metric is not as well conditioned).
METRIC_SDP_MAX_DIM = 40
#: Relative increase of ``C`` accepted to keep the rate when the solver's metric misses the
#: float64 check (see ``_certify_eigen``); a larger one and ``lam`` is nudged instead.
C_SLACK = 0.1
#: Linear models up to this size use ``lam**2 P - W^T P W >= eps I`` directly; larger ones the
#: equivalent, sparser Schur form ``[[lam**2 P, W^T P], [P W, P]] >= eps I``.
LINEAR_DIRECT_MAX_N = 24


@dataclass(frozen=True, eq=False)
class Certificate:
    """An A1 certificate ``||dy_j|| <= C lam**j ||dz||`` from LMI-C (docs/theory.md §3, §7).

    Attributes
    ----------
    lam : float
        Certified contraction rate in the metric ``P`` (``nan`` if not verified; ``0`` for a
        memoryless model).
    C : float
        A1 constant ``||W_hy||_2 sqrt(kappa(P))`` (``nan`` if not verified; ``0`` exactly for
        a memoryless model).
    P : (n_h, n_h) ndarray or None
        The metric, symmetric, scaled so that its smallest eigenvalue is about 1 (positive
        definite in float64 beyond rounding).
    verified : bool
        True only if the float64 eigenvalue check of LMI-C and of ``P`` passed at ``lam`` (or
        the model is memoryless).
    kappa : float
        ``lambda_max(P) / lambda_min(P)`` in float64.
    multiplier : (n_h,) ndarray or None
        The sector multiplier ``mu`` (``Lambda = diag(mu)``); None for a linear model.
    margin : float
        ``lam - lam_solver``: how far ``lam`` was nudged up to pass the float64 check.
    min_eig : float
        Smallest eigenvalue of the assembled LMI matrix at ``lam`` (float64).
    reason : str
        ``"certified"`` or why not.
    solver : str
        Solver that produced ``P`` (``"closed form"`` for the scalar linear fast path).
    seconds : float
        Wall time of the whole certification.
    activation : str
        ``"tanh"`` or ``"linear"``.
    lam_solver : float
        The rate at which the solver was asked (before the nudge).
    n_solves : int
        Number of SDP solves (bisection steps included).
    memoryless : bool
        The outputs forget the initial state at once: ``W_hh = 0`` (``dh_1 = D_1 W_hh dh_0
        = 0``) or ``W_hy = 0`` (``dy_j = W_hy dh_j = 0``). Then ``||dy_j|| = 0`` for every
        ``j >= 1``: A1 holds with ``C = 0`` (reported with ``lam = 0``; any rate is valid),
        no LMI is needed, and every A1-based bound is the trivial one (its ``C`` terms vanish).
    """

    lam: float
    C: float
    P: np.ndarray | None
    verified: bool
    kappa: float = float("nan")
    multiplier: np.ndarray | None = None
    margin: float = float("nan")
    min_eig: float = float("nan")
    reason: str = ""
    solver: str = ""
    seconds: float = 0.0
    activation: str = ""
    lam_solver: float = float("nan")
    n_solves: int = 0
    memoryless: bool = False

    def bound(self, j: np.ndarray | int) -> np.ndarray:
        """``C lam**j``: the A1 envelope at positions ``j`` (nan if not verified)."""
        return self.C * self.lam ** np.asarray(j, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: floats (``nan`` where not verified), bools, strings; ``P``
        and ``multiplier`` as nested lists (or None)."""
        return {
            "verified": bool(self.verified), "lam": float(self.lam), "C": float(self.C),
            "memoryless": bool(self.memoryless), "kappa": float(self.kappa),
            "margin": float(self.margin), "min_eig": float(self.min_eig),
            "reason": self.reason, "solver": self.solver, "seconds": float(self.seconds),
            "activation": self.activation, "lam_solver": float(self.lam_solver),
            "n_solves": int(self.n_solves), "P": sdp.plain(self.P),
            "multiplier": sdp.plain(self.multiplier),
        }


# --------------------------------------------------------------------------- float64 check
def lmi_c_matrix(
    W_hh: np.ndarray, lam: float, P: np.ndarray, mu: np.ndarray | None
) -> np.ndarray:
    """Assemble LMI-C in float64.

    Parameters
    ----------
    W_hh : (n_h, n_h)
    lam : float
    P : (n_h, n_h) symmetric
    mu : (n_h,) sector multiplier, or None for the linear (exact Lyapunov) form

    Returns
    -------
    M : (2 n_h, 2 n_h) for ``mu`` given (tanh), else (n_h, n_h) ``lam**2 P - W_hh^T P W_hh``.
    A certificate needs ``M >= 0``.
    """
    W = np.asarray(W_hh, dtype=np.float64)
    P = 0.5 * (P + P.T)
    if mu is None:
        M = lam**2 * P - W.T @ P @ W
    else:
        LW = np.asarray(mu, dtype=np.float64)[:, None] * W
        M = np.block([[lam**2 * P, -LW.T], [-LW, 2.0 * np.diag(mu) - P]])
    return 0.5 * (M + M.T)


def check_lmi_c(
    W_hh: np.ndarray, lam: float, P: np.ndarray, mu: np.ndarray | None
) -> Check:
    """Float64 check of LMI-C at ``lam``, of ``P > 0`` and ``mu >= 0`` (docs/theory.md §7).

    :func:`verification.certificates.sdp.check_lmi` with the rounding scale of the summed
    terms: ``lam**2 ||P|| + ||W_hh||**2 ||P||`` (linear) or
    ``lam**2 ||P|| + ||P|| + 2 max mu + ||Lambda W_hh||`` (tanh).
    """
    M = lmi_c_matrix(W_hh, lam, P, mu)
    nP = float(np.linalg.norm(P, 2)) if np.all(np.isfinite(P)) else float("inf")
    if mu is None:
        scale = (lam**2 + float(np.linalg.norm(W_hh, 2)) ** 2) * nP
    else:
        mu = np.asarray(mu, dtype=np.float64)
        LW = mu[:, None] * np.asarray(W_hh, dtype=np.float64)
        LW_norm = float(np.linalg.norm(LW, 2)) if np.all(np.isfinite(LW)) else float("inf")
        scale = (lam**2 + 1.0) * nP + 2.0 * float(np.max(np.abs(mu), initial=0.0)) + LW_norm
    return check_lmi(M, scale, P, mu)


# --------------------------------------------------------------------------- the SDP
class _ContractionSDP:
    """``min t  s.t.  I <= P <= t I,  LMI-C(lam) >= eps I``, compiled once (DPP in ``lam**2``)."""

    def __init__(self, W_hh: np.ndarray, activation: str) -> None:
        n = W_hh.shape[0]
        self.W = W_hh
        self.linear = activation == "linear"
        self.P = cp.Variable((n, n), symmetric=True)
        self.t = cp.Variable()
        self.lam2 = cp.Parameter(nonneg=True)
        I = np.eye(n)
        if self.linear and n <= LINEAR_DIRECT_MAX_N:
            self.mu = None
            M = self.lam2 * self.P - W_hh.T @ self.P @ W_hh
            dim = n
        elif self.linear:
            self.mu = None
            PW = self.P @ W_hh
            M = cp.bmat([[self.lam2 * self.P, PW.T], [PW, self.P]])
            dim = 2 * n
        else:
            self.mu = cp.Variable(n, nonneg=True)
            L = cp.diag(self.mu)
            M = cp.bmat([[self.lam2 * self.P, -W_hh.T @ L], [-L @ W_hh, 2 * L - self.P]])
            dim = 2 * n
        M = 0.5 * (M + M.T)
        cons = [M >> EPS_STRICT * np.eye(dim), self.P >> I, self.t * I - self.P >> 0]
        self.problem = cp.Problem(cp.Minimize(self.t), cons)
        self.n_solves = 0
        self.solvers = solver_order(dim)
        self.dim = dim

    def solve(
        self, lam: float, solver: str | None
    ) -> tuple[str, np.ndarray | None, np.ndarray | None, str]:
        """Returns ``(status, P, mu, solver_or_message)``; status in {ok, infeasible, failure}."""
        self.lam2.value = lam * lam
        out = sdp.solve(self.problem, (solver,) if solver else self.solvers)
        self.n_solves += out.n_solves
        if out.status == "ok" and self.P.value is not None:
            mu = None if self.mu is None else np.maximum(self.mu.value, 0.0)
            return "ok", np.array(self.P.value, dtype=np.float64), mu, out.info
        if out.status == "ok":
            return "failure", None, None, f"{out.info}: no solution returned"
        return out.status, None, None, out.info


def _verify(
    W_hh: np.ndarray, lam: float, P: np.ndarray, mu: np.ndarray | None
) -> tuple[float | None, np.ndarray, np.ndarray | None, Check]:
    """Rescale ``(P, mu)`` so that ``P >= I``, then nudge ``lam`` until the float64 check passes.

    Returns ``(lam_verified or None, P, mu, check at lam_verified (or at LAM_MAX))``.
    """
    P = 0.5 * (P + P.T)
    lmin = float(np.linalg.eigvalsh(P)[0])
    if not np.isfinite(lmin) or lmin <= 0:
        return None, P, mu, Check(False, float("nan"), float("nan"), lmin - 1.0)
    scale = (1.0 + 1e-9) / lmin  # LMI-C is homogeneous in (P, Lambda)
    P = P * scale
    mu = None if mu is None else mu * scale
    lam_ok = nudge(lambda l: check_lmi_c(W_hh, l, P, mu).passed, lam, LAM_MAX)
    return lam_ok, P, mu, check_lmi_c(W_hh, LAM_MAX if lam_ok is None else lam_ok, P, mu)


def _no_certificate(model: ElmanRNN, reason: str, t0: float, **kw: object) -> Certificate:
    return Certificate(
        lam=float("nan"), C=float("nan"), P=None, verified=False, reason=reason,
        seconds=time.perf_counter() - t0, activation=model.activation, **kw,  # type: ignore[arg-type]
    )


def _certificate(
    model: ElmanRNN, lam_solver: float, lam: float, P: np.ndarray, mu: np.ndarray | None,
    chk: Check, solver: str, t0: float, n_solves: int,
) -> Certificate:
    ev = np.linalg.eigvalsh(P)
    kappa = float(ev[-1] / ev[0])
    C = float(np.linalg.norm(model.W_hy, 2) * np.sqrt(kappa))
    return Certificate(
        lam=float(lam), C=C, P=P, verified=True, kappa=kappa, multiplier=mu,
        margin=float(lam - lam_solver), min_eig=chk.min_eig, reason="certified", solver=solver,
        seconds=time.perf_counter() - t0, activation=model.activation,
        lam_solver=float(lam_solver), n_solves=n_solves,
    )


def _interior_metric(
    W: np.ndarray, lam: float, mu: np.ndarray | None, w: float | None = None
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A strictly feasible ``(P, mu)`` of LMI-C at ``lam`` from eigenvalue methods alone,
    scaled to ``lambda_min(P) = 1``: the Stein equation ``lam**2 P - W^T P W = lam**2 I``
    (linear, needs ``lam > rho(W)``) or ``rate.metric_for_multiplier``
    (tanh, needs ``lam > w = w(D W D^-1)``, passed on if known). None if there is none."""
    if mu is None:  # ill-conditioned near lam = rho(W): the float64 check judges the result
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)
            P = solve_discrete_lyapunov((W / lam).T, np.eye(W.shape[0]))
    else:
        P = metric_for_multiplier(W, mu, lam, w=w)
    if P is None or not np.all(np.isfinite(P)):
        return None
    P = 0.5 * (P + P.T)
    lmin = float(np.linalg.eigvalsh(P)[0])
    if not lmin > 0:
        return None
    return P / lmin, None if mu is None else mu / lmin


def _normalised(P: np.ndarray, mu: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(P, mu)`` symmetrised and scaled to ``lambda_min(P) = 1`` (LMI-C is homogeneous)."""
    P = 0.5 * (P + P.T)
    lmin = float(np.linalg.eigvalsh(P)[0])
    if not (np.isfinite(lmin) and lmin > 0):
        return P, mu
    return P / lmin, None if mu is None else mu / lmin


def _segment(
    P_s: np.ndarray, mu_s: np.ndarray | None, interior: tuple[np.ndarray, np.ndarray | None],
    x: float,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(1 - x) (P_s, mu_s) + x interior``: LMI-C at a fixed ``lam`` is linear in ``(P, mu)``,
    so the points that pass form an interval ending at the interior point ``x = 1``."""
    P = (1.0 - x) * P_s + x * interior[0]
    mu = None if mu_s is None else (1.0 - x) * mu_s + x * interior[1]
    return P, mu


def _C_of(model: ElmanRNN, P: np.ndarray) -> float:
    """``||W_hy||_2 sqrt(kappa(P))`` (A1)."""
    ev = np.linalg.eigvalsh(0.5 * (P + P.T))
    if not ev[0] > 0:
        return float("inf")
    return float(np.linalg.norm(model.W_hy, 2) * np.sqrt(ev[-1] / ev[0]))


def _repair(
    model: ElmanRNN, lam: float, solved: tuple[np.ndarray, np.ndarray | None],
    interior: tuple[np.ndarray, np.ndarray | None],
) -> tuple[float, np.ndarray, np.ndarray | None] | None:
    """``(lam_u, P_u, mu_u)`` passing the float64 check, from the solver's metric at ``lam``.

    Near the smallest rate the solver's metric may miss the check. It is moved towards the
    interior metric (which costs ``C``) until the check passes at ``lam`` or ``C`` has grown
    by ``C_SLACK``, whichever comes first; then ``lam`` is nudged up if still needed.
    """
    W = model.W_hh
    P_s, mu_s = _normalised(*solved)
    C_max = (1.0 + C_SLACK) * _C_of(model, P_s)
    s_C = nudge(lambda x: _C_of(model, _segment(P_s, mu_s, interior, x)[0]) > C_max, 0.0, 1.0)
    s_pass = nudge(lambda x: check_lmi_c(W, lam, *_segment(P_s, mu_s, interior, x)).passed,
                   0.0, 1.0)
    s_use = min(1.0 if s_pass is None else s_pass,
                1.0 if s_C is None else max(s_C - 1e-9, 0.0))
    P_u, mu_u = _segment(P_s, mu_s, interior, s_use)
    lam_u = nudge(lambda x: check_lmi_c(W, x, P_u, mu_u).passed, lam, LAM_MAX)
    return None if lam_u is None else (lam_u, P_u, mu_u)


def _certify_eigen(
    model: ElmanRNN, tol: float, solver: str | None, problem: _ContractionSDP, t0: float
) -> Certificate | None:
    """The smallest rate from eigenvalues (``rate.best_rate``; ``rho(W)`` for a linear model),
    then ONE SDP for the metric of smallest ``kappa`` at ``lam = rate + RATE_GAPS[0] tol``,
    repaired towards an interior metric from eigenvalue methods if it misses the float64
    check (``_segment``) as far as ``C_SLACK`` allows, then ``lam`` nudged; for tanh above
    ``METRIC_SDP_MAX_DIM`` the interior metric without an SDP. Wider gaps if there is no
    interior metric; None if all fail."""
    W = model.W_hh
    rho = spectral_radius(W)
    if model.activation == "linear":
        lam_star, mu_star = rho, None
    else:
        with single_thread_blas():  # many small eigenproblems: BLAS threads only cost here
            lam_star, mu_star = best_rate(W)
    for gap in RATE_GAPS:
        lam = max(lam_star, rho) + gap * tol
        if lam >= LAM_MAX:
            return None
        interior = _interior_metric(W, lam, mu_star, None if mu_star is None else lam_star)
        if interior is None or not check_lmi_c(W, lam, *interior).passed:
            continue
        if mu_star is not None and problem.dim > METRIC_SDP_MAX_DIM and solver is None:
            return _certificate(model, lam, lam, *interior, check_lmi_c(W, lam, *interior),
                                "eigenvalues (doubling algorithm)", t0, problem.n_solves)
        # one solve near the smallest rate: the accurate interior-point solver while it is
        # affordable (the first-order SCS stalls on this nearly singular LMI)
        accurate = solver is None
        status, P, mu, info = problem.solve(lam, "CLARABEL" if accurate else solver)
        if accurate and status == "failure":
            status, P, mu, info = problem.solve(lam, "SCS")
        if status != "ok":  # solver failure or (inaccurate) infeasibility: the interior metric
            (P, mu), info = interior, "eigenvalues (SDP: " + info + ")"
            chk = check_lmi_c(W, lam, P, mu)
            return _certificate(model, lam, lam, P, mu, chk, info, t0, problem.n_solves)
        repaired = _repair(model, lam, (P, mu), interior)
        if repaired is None:
            continue
        lam_u, P_u, mu_u = repaired
        return _certificate(model, lam, lam_u, P_u, mu_u, check_lmi_c(W, lam_u, P_u, mu_u),
                            info, t0, problem.n_solves)
    return None


def is_memoryless(model: ElmanRNN) -> bool:
    """``W_hh = 0`` or ``W_hy = 0``: outputs ``y_j``, ``j >= 1``, do not depend on ``h_0``."""
    return not np.any(model.W_hh) or not np.any(model.W_hy)


def _memoryless(model: ElmanRNN, lam: float, t0: float) -> Certificate:
    which = "W_hh = 0: dh_1 = 0" if not np.any(model.W_hh) else "W_hy = 0: dy_j = 0"
    return Certificate(
        lam=float(lam), C=0.0, P=np.eye(model.n_h), verified=True, kappa=1.0, margin=0.0,
        reason=f"certified: memoryless model ({which}), A1 holds with C = 0", solver="exact",
        seconds=time.perf_counter() - t0, activation=model.activation, lam_solver=float(lam),
        memoryless=True,
    )


def spectral_radius(W: np.ndarray) -> float:
    """``max |eig(W)|``."""
    return float(np.max(np.abs(np.linalg.eigvals(W)))) if W.size else 0.0


# --------------------------------------------------------------------------- public API
def certify(
    model: ElmanRNN,
    lam: float | None = None,
    *,
    tol: float = TOL,
    solver: str | None = None,
    fast_path: bool = True,
    method: str = "eigen",
    _sdp: _ContractionSDP | None = None,
) -> Certificate:
    """Certify A1 for ``model`` with LMI-C (docs/theory.md §7).

    Parameters
    ----------
    model : ElmanRNN
        ``activation="tanh"`` uses the sector LMI-C, ``"linear"`` the exact Lyapunov LMI.
    lam : float in (0, 1), optional
        Certify at this rate (nudged up by ``margin`` if the float64 check needs it). If None,
        the smallest certifiable rate is found to absolute tolerance ``tol`` (``method``).
    tol : float
        Tolerance on ``lam``: the certified rate exceeds the smallest one by at most ``tol``
        (bisection), or by ``RATE_GAPS[0] * tol`` above the rate found by ``rate.best_rate``.
    solver : str, optional
        A cvxpy solver name; default Clarabel, then SCS as fallback.
    fast_path : bool
        For a scalar linear model use the closed form ``lam = |w_hh|`` (floored at ``tol``),
        ``P = 1``, ``C = |w_hy|`` (still checked in float64). ``False`` forces the SDP path.
    method : ``"eigen"`` (default) or ``"bisection"``
        How the smallest rate is found when ``lam`` is None. ``"eigen"``: the rate from
        eigenvalues alone (:func:`~verification.certificates.rate.best_rate`; the rate of a
        linear model is the spectral radius), then one SDP for the metric (a few if the float64
        check needs a wider gap; the bisection if all fail; none for tanh with
        ``2 n_h > METRIC_SDP_MAX_DIM``: the eigenvalue metric of ``rate``). ``"bisection"``:
        bisection over ``lam`` with one SDP per step (the reference; 13-19 SDPs).

    Returns
    -------
    Certificate
        ``verified=True`` with ``(lam, C, P)`` such that ``||dy_j|| <= C lam**j ||dz||`` for
        all ``j >= 1`` (A1), or ``verified=False``, ``lam = C = nan`` and a ``reason``.
        For the returned ``lam`` the metric ``P`` minimises ``kappa(P)``. A memoryless model
        (``W_hh = 0`` or ``W_hy = 0``) gets ``C = 0``, ``memoryless=True`` and ``lam = 0``
        (or the requested ``lam``) without any solver.

    Raises
    ------
    ValueError
        For ``lam`` outside ``(0, 1)``, ``tol`` outside ``(0, 0.5)``, and a model that cannot be
        certified as given (``n_h = 0``, weights beyond ``sdp.WEIGHT_MAX``):
        :func:`verification.certificates.sdp.check_model`, before any solver.
    """
    t0 = time.perf_counter()
    if lam is not None and not (0.0 < lam < 1.0):
        raise ValueError(f"lam must be in (0, 1), got {lam}")
    if not (0.0 < tol < 0.5):
        raise ValueError(f"tol must be in (0, 0.5), got {tol}")
    if method not in ("eigen", "bisection"):
        raise ValueError(f"method must be 'eigen' or 'bisection', got {method!r}")
    check_model(model)
    early = _without_sdp(model, lam, tol, fast_path, t0)
    if early is not None:
        return early
    problem = _sdp if _sdp is not None else _ContractionSDP(model.W_hh, model.activation)
    attempt = _attempts(model, problem, solver, t0)
    if lam is not None:
        status, cert, info = attempt(lam)
        if cert is not None:
            return cert
        reason = {
            "infeasible": f"LMI-C infeasible at lam = {lam:.6g} (solver {info})",
            "failure": f"solver failure: {info}",
        }.get(status, info)
        return _no_certificate(model, reason, t0, lam_solver=lam, n_solves=problem.n_solves)
    if method == "eigen":
        cert = _certify_eigen(model, tol, solver, problem, t0)
        if cert is not None:
            return cert
    return _bisection(model, tol, attempt, problem, t0)


Attempt = Callable[[float], tuple[str, "Certificate | None", str]]


def _without_sdp(model: ElmanRNN, lam: float | None, tol: float, fast_path: bool, t0: float
                 ) -> Certificate | None:
    """The answers that need no SDP: a memoryless model, a spectral radius that rules out every
    rate (or the requested one), the closed form of a scalar linear model; else ``None``."""
    if is_memoryless(model):
        return _memoryless(model, 0.0 if lam is None else lam, t0)
    W = model.W_hh
    rho = spectral_radius(W)
    if rho >= LAM_MAX:
        return _no_certificate(
            model,
            f"infeasible for every lam < 1 (spectral radius of W_hh = {rho:.6g} >= 1; "
            "D = I lies in the activation's sector, so lam >= spectral radius is necessary)",
            t0,
        )
    if lam is not None and lam < rho * (1.0 - 1e-12):
        return _no_certificate(
            model,
            f"infeasible at lam = {lam:.6g}: lam < spectral radius of W_hh = {rho:.6g}",
            t0,
        )
    if fast_path and model.activation == "linear" and model.n_h == 1:
        # scalar linear: lam_min = |w|, P = 1, C = |w_hy|
        lam0 = max(abs(float(W[0, 0])), tol) if lam is None else lam
        P = np.ones((1, 1))
        lam_ok = nudge(lambda l: check_lmi_c(W, l, P, None).passed, lam0, LAM_MAX)
        if lam_ok is None:  # only if |w| is within 1e-6 of 1
            return _no_certificate(model, f"closed form lam = {lam0:.9g} is not < 1", t0)
        chk = check_lmi_c(W, lam_ok, P, None)
        return _certificate(model, lam0, lam_ok, P, None, chk, "closed form", t0, 0)
    return None


def _attempts(model: ElmanRNN, problem: _ContractionSDP, solver: str | None, t0: float
              ) -> Attempt:
    """``attempt(lam) -> (status, certificate or None, solver info)``: one SDP at ``lam``, then
    the float64 re-check (nudging ``lam`` up if needed)."""
    W = model.W_hh

    def attempt(l: float) -> tuple[str, Certificate | None, str]:
        status, P, mu, info = problem.solve(l, solver)
        if status != "ok":
            return status, None, info
        lam_ok, P, mu, chk = _verify(W, l, P, mu)
        if lam_ok is None:
            return "unverified", None, (
                f"float64 check failed for every lam in [{l:.6g}, {LAM_MAX}] with the solver's "
                f"P (min eig of LMI-C {chk.min_eig:.3g} < {chk.threshold:.3g} or "
                f"min eig of P - I {chk.min_eig_P:.3g} < 0; solver {info})"
            )
        return "ok", _certificate(model, l, lam_ok, P, mu, chk, info, t0, problem.n_solves), info

    return attempt


def _bisection(model: ElmanRNN, tol: float, attempt: Attempt, problem: _ContractionSDP,
               t0: float) -> Certificate:
    """The smallest certifiable rate by bisection on ``(rho, hi]``, one SDP per step; ``hi =
    ||W_hh||_2`` is feasible with ``P = I``, ``Lambda = I`` when it is below 1."""
    W = model.W_hh
    rho = spectral_radius(W)
    hi = min(float(np.linalg.norm(W, 2)) * (1.0 + 1e-9) + 1e-12, LAM_MAX)
    lo = rho
    status, best, info = attempt(hi)
    if best is None and hi < LAM_MAX:  # numerical trouble at ||W||: try the largest rate
        hi = LAM_MAX
        status, best, info = attempt(hi)
    # Near lam = 1 LMI-C is nearly singular and the solver's P can miss the float64 check
    # by ~1e-9 with no room left to nudge lam; feasibility is monotone in lam, so a smaller
    # rate may still certify (e.g. W_hh = [[0.5, 1], [0, 0.5]], tanh, at lam = 0.9).
    for frac in (0.95, 0.8, 0.6, 0.4, 0.2):
        if best is not None or status == "infeasible":
            break
        hi = rho + frac * (LAM_MAX - rho)
        status, best, info = attempt(hi)
    if best is None:
        reason = {
            "infeasible": (
                f"LMI-C infeasible for every lam < 1 (checked at lam = {hi:.6g}; spectral "
                f"radius of W_hh = {rho:.6g}; the diagonal sector multiplier is conservative)"
            ),
            "failure": f"solver failure: {info}",
        }.get(status, info)
        return _no_certificate(model, reason, t0, lam_solver=hi, n_solves=problem.n_solves)
    lo = min(lo, hi)
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        status, cert, _ = attempt(mid)
        if status == "ok" and cert is not None:
            hi = mid
            if cert.lam <= best.lam:
                best = cert
        else:  # infeasible, float64 check failed, or solver failure: not certified at mid
            lo = mid
    return Certificate(**{**best.__dict__, "seconds": time.perf_counter() - t0,
                          "n_solves": problem.n_solves})


def curve(
    model: ElmanRNN,
    lams: Sequence[float] | np.ndarray | None = None,
    *,
    n: int = 12,
    solver: str | None = None,
) -> list[Certificate]:
    """LMI-C certificates along a grid of rates: the ``(lam, C(lam))`` trade-off (A1).

    Parameters
    ----------
    model : ElmanRNN
    lams : (K,) rates in (0, 1), optional
        Default: ``n`` points from the smallest certifiable rate to ``1 - (1 - lam_min)/20``,
        spaced so that ``1 - lam`` is geometric.
    solver : str, optional

    Returns
    -------
    list of Certificate, one per grid point; at each the metric minimises ``kappa(P)``,
    so ``C(lam)`` is non-increasing along a sorted grid. A memoryless model gives its one
    certificate (``C = 0``).
    """
    check_model(model)
    if is_memoryless(model):
        return [certify(model)]
    problem = _ContractionSDP(model.W_hh, model.activation)
    if lams is None:
        first = certify(model, solver=solver, _sdp=problem)
        if not first.verified:
            return [first]
        gaps = np.geomspace(1.0 - first.lam, (1.0 - first.lam) / 20.0, n)
        lams = 1.0 - gaps[1:]
        return [first] + [certify(model, float(l), solver=solver, _sdp=problem) for l in lams]
    return [certify(model, float(l), solver=solver, _sdp=problem) for l in lams]


def minimise_over_curve(
    certs: Sequence[Certificate], bound_fn: Callable[[float, float], float]
) -> Certificate:
    """The verified certificate minimising ``bound_fn(C, lam)`` (any A1 pair is valid).

    Parameters
    ----------
    certs : certificates, e.g. from :func:`curve`
    bound_fn : callable ``(C, lam) -> float``, e.g. a T1 bound at fixed ``m``

    Raises
    ------
    ValueError if no certificate is verified.
    """
    ok = [c for c in certs if c.verified]
    if not ok:
        raise ValueError("no verified certificate on the curve: " + "; ".join(
            sorted({c.reason for c in certs})))
    values = [float(bound_fn(c.C, c.lam)) for c in ok]
    return ok[int(np.nanargmin(values))]

