"""SDP plumbing shared by every LMI certificate (docs/theory.md §7): solve, re-check, nudge.

PEPit style: the solver proposes, our own float64 code decides. Every LMI certificate of this
package goes through the same three steps.

1. :func:`solve` -- solvers tried in :func:`solver_order` (Clarabel first for small LMIs, SCS
   first for large ones, the other as fallback). A solver exception or an unusable status is
   a *failure*, reported as ``"not certified"`` with the messages, never as a number; an
   infeasibility status is a proof of infeasibility and stops the fallback.
2. :func:`check_lmi` -- ONE rounding-aware PSD re-check in float64: ``M >= 0`` passes only if
   the smallest eigenvalue of the assembled ``M`` exceeds ``ROUNDOFF * dim * eps_64 * scale``,
   where ``scale`` is the size of the *terms that were summed* into ``M`` (the caller's
   products such as ``lam**2 ||P||`` or ``||W||**2 ||P||``, never only ``||M||``, which may
   be small after cancellation); the metric ``P`` must pass the same test (positive definite
   beyond rounding: that is all soundness needs, its scale is a normalisation), multipliers
   must be ``>= 0``, and any non-finite input fails.
3. :func:`nudge` -- if the check fails at the solver's value of a monotone parameter (the
   rate ``lam``, the gain ``gamma``), the smallest value that passes is found by bisection on
   the check alone; the caller reports the nudge as ``margin``.

:func:`check_model` is the input check of every certificate: finite weights below
:data:`WEIGHT_MAX` and ``n_h >= 1``, raised as ``ValueError`` before any solver runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

#: Solvers tried in order for small LMIs (largest PSD block of size <= CLARABEL_MAX_DIM).
SOLVERS = ("CLARABEL", "SCS")
#: Clarabel's KKT system holds a dense block of size d(d+1)/2 per d x d PSD cone, so its cost per
#: iteration grows like d**6 (measured: 2n = 64 takes ~0.8 s per iteration, 2n = 128 is out of
#: reach). Above this block size SCS (first order, sparse) goes first and Clarabel is the
#: fallback only up to CLARABEL_FALLBACK_DIM.
CLARABEL_MAX_DIM = 24
CLARABEL_FALLBACK_DIM = 80
#: SCS settings: iteration and time caps (a capped run returns "optimal_inaccurate" and is
#: then judged by the float64 check like any other solution).
SCS_OPTIONS = {"max_iters": 20000, "time_limit_secs": 5.0}
#: Solver statuses that return a usable (to be re-checked) solution.
OK_STATUS = ("optimal", "optimal_inaccurate")
#: Solver statuses that prove infeasibility (no fallback is tried after them).
INFEASIBLE_STATUS = ("infeasible", "infeasible_inaccurate")
#: Safety factor on the float64 eigenvalue rounding bound ``dim * eps_64 * scale``.
ROUNDOFF = 10.0
#: Iterations of the bisection that finds the smallest passing nudge.
NUDGE_ITERS = 60
#: Largest weight magnitude accepted. The LMIs square the weights and multiply them with the
#: metric (``W^T P W``, ``W_hy^T W_hy``, ``gamma**2``), and ``C`` multiplies ``||W_hy||`` by
#: ``sqrt(kappa(P))``; ``1e100`` leaves float64 (max ~1.8e308) room for all of them.
WEIGHT_MAX = 1e100

_EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------- input
def check_model(model: object) -> None:
    """Raise ``ValueError`` (one line) unless ``model``'s weights can be certified.

    ``n_h >= 1`` and every entry of ``W_hh, W_xh, W_hy`` finite with magnitude at most
    :data:`WEIGHT_MAX`. Called by every certificate before any solver work.
    """
    n_h = int(model.n_h)  # type: ignore[attr-defined]
    if n_h < 1:
        raise ValueError(f"n_h = {n_h}: a model needs at least one hidden state (n_h >= 1)")
    for name in ("W_hh", "W_xh", "W_hy"):
        W = np.asarray(getattr(model, name), dtype=np.float64)
        if not np.all(np.isfinite(W)):
            raise ValueError(f"{name} contains NaN or inf: weights must be finite")
        top = float(np.max(np.abs(W), initial=0.0))
        if top > WEIGHT_MAX:
            raise ValueError(
                f"{name} has an entry of magnitude {top:.3g}: the certificates need weights "
                f"in [-{WEIGHT_MAX:.0e}, {WEIGHT_MAX:.0e}] (their squares must stay finite)")


# --------------------------------------------------------------------------- solve
def solver_order(dim: int) -> tuple[str, ...]:
    """Solvers to try, in order, for an LMI whose largest PSD block is ``dim x dim``."""
    if dim <= CLARABEL_MAX_DIM:
        return SOLVERS
    return ("SCS", "CLARABEL") if dim <= CLARABEL_FALLBACK_DIM else ("SCS",)


@dataclass(frozen=True)
class Solve:
    """Outcome of :func:`solve`.

    Attributes
    ----------
    status : ``"ok"`` (a solution to re-check), ``"infeasible"`` or ``"failure"``
    info : the solver that answered, or the failure messages of every solver tried
    n_solves : number of solver calls made
    """

    status: str
    info: str
    n_solves: int


def solve(problem: cp.Problem, solvers: tuple[str, ...], *, warm_start: bool = False) -> Solve:
    """Solve ``problem`` with the first of ``solvers`` that answers.

    Solver exceptions and unusable statuses are collected as messages and the next solver is
    tried; an infeasibility status stops the loop. Solver warnings about inaccuracy are
    silenced: the float64 re-check (:func:`check_lmi`) judges every solution.
    """
    messages = []
    for k, name in enumerate(solvers, start=1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                problem.solve(solver=name, warm_start=warm_start,
                              **(SCS_OPTIONS if name == "SCS" else {}))
        except (cp.error.SolverError, ValueError, ArithmeticError) as exc:
            messages.append(f"{name}: {type(exc).__name__}: {exc}".strip())
            continue
        if problem.status in OK_STATUS:
            return Solve("ok", name, k)
        if problem.status in INFEASIBLE_STATUS:
            return Solve("infeasible", name, k)
        messages.append(f"{name}: status {problem.status}")
    return Solve("failure", "; ".join(messages), len(solvers))


# --------------------------------------------------------------------------- check
@dataclass(frozen=True)
class Check:
    """Result of the float64 re-check of an LMI (:func:`check_lmi`).

    Attributes
    ----------
    passed : bool
    min_eig : smallest eigenvalue of the assembled LMI matrix (``nan`` for non-finite input)
    threshold : rounding bound it had to exceed
    min_eig_P : smallest eigenvalue of ``P``
    """

    passed: bool
    min_eig: float
    threshold: float
    min_eig_P: float


def psd_threshold(dim: int, scale: float) -> float:
    """Rounding bound ``ROUNDOFF * dim * eps_64 * scale`` of an assembled ``dim x dim`` matrix."""
    return ROUNDOFF * dim * _EPS * scale


def _min_eig(M: np.ndarray, scale: float) -> tuple[float, float]:
    """``(min eig of sym(M), threshold)`` with ``scale`` raised to the spectrum's size."""
    ev = np.linalg.eigvalsh(0.5 * (M + M.T))
    return float(ev[0]), psd_threshold(M.shape[0], max(abs(ev[0]), abs(ev[-1]), scale))


def check_lmi(
    M: np.ndarray, scale: float, P: np.ndarray, multiplier: np.ndarray | None = None
) -> Check:
    """Float64 check of ``M >= 0``, ``P > 0`` and ``multiplier >= 0`` (all beyond rounding).

    Parameters
    ----------
    M : (d, d) the assembled LMI matrix (symmetrised here)
    scale : float
        Size of the terms summed into ``M`` (e.g. ``lam**2 ||P|| + ||W||**2 ||P||``); the
        rounding bound is relative to it, not to ``||M||``.
    P : (n, n) the metric or storage matrix: must pass the same rounding-aware test
    multiplier : (n,) sector multiplier ``mu`` or None

    Returns
    -------
    Check
        ``passed`` iff every input is finite, ``min eig(M) >= threshold``, ``P`` passes
        likewise (relative to ``||P||``), and ``multiplier >= 0``.
    """
    M = np.asarray(M, dtype=np.float64)
    P = np.asarray(P, dtype=np.float64)
    mu = None if multiplier is None else np.asarray(multiplier, dtype=np.float64)
    finite = (np.all(np.isfinite(M)) and np.all(np.isfinite(P)) and np.isfinite(scale)
              and (mu is None or np.all(np.isfinite(mu))))
    if not finite:
        return Check(False, float("nan"), float("nan"), float("nan"))
    me, thr = _min_eig(M, scale)
    me_P, thr_P = _min_eig(P, 0.0)
    mu_ok = mu is None or bool(np.all(mu >= 0))
    return Check(bool(me >= thr and me_P >= thr_P and mu_ok), me, thr, me_P)


def nudge(passes: Callable[[float], bool], x0: float, x_max: float) -> float | None:
    """Smallest ``x in [x0, x_max]`` with ``passes(x)`` for a monotone predicate, or None."""
    if passes(x0):
        return x0
    if x_max <= x0 or not passes(x_max):
        return None
    lo, hi = x0, x_max
    for _ in range(NUDGE_ITERS):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------- output
def plain(a: np.ndarray | None) -> list | None:
    """A float64 array as nested lists of Python floats (JSON-ready), None stays None."""
    return None if a is None else np.asarray(a, dtype=np.float64).tolist()
