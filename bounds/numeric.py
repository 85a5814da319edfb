r"""Numeric evaluation of the bounds of docs/theory.md §3-§6, generated from ``bounds.symbolic``.

Every formula lives once, in :mod:`bounds.symbolic`; this module ``lambdify``-s those
expressions and wraps them in functions that validate their arguments
(:class:`~bounds.checks.HypothesisError`, a ``ValueError``, names the failed hypothesis and
the allowed range) and broadcast over arrays (typically an array of burn-ins ``m``).
Keyword names are docs/theory.md's symbols: ``lam, m, N, C, V_inf, Delta_0, Delta_01, rho,
Delta_b, eps, S, T, o_min, P_b, A_J, B``.

Numerical stability
-------------------
* The geometric sums ``(1 - lam**(p k)) / (1 - lam**p)`` (symbolic :class:`~bounds.symbolic.geom`)
  are evaluated as ``expm1(k p log lam) / expm1(p log lam)``: no cancellation for ``lam``
  within 1e-13 of 1, the exact limit ``k`` at ``lam = 1``, and no overflow or NaN when
  ``lam**N`` underflows.
* Two targeted rewrites that change rounding, not value (both checked symbolically in the
  tests): T1a/T1c's ``(sqrt(V_inf) + c)**2 - V_inf`` is evaluated as
  ``2 sqrt(V_inf) c + c**2`` (sympy's ``expand_multinomial``; no cancellation when
  ``c << sqrt(V_inf)``), and ``1 - lam**2`` as ``(1 - lam)(1 + lam)``.

Example
-------
>>> import numpy as np
>>> from bounds.numeric import training_regret
>>> training_regret(C=1.3, lam=0.8, m=np.array([0, 10]), N=21, V_inf=0.02, Delta_0=0.5).round(5)
array([0.08925, 0.00869])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from bounds import checks
from bounds import symbolic as sy
from bounds.checks import HypothesisError

__all__ = [
    "HypothesisError",
    "gamma",
    "Lambda",
    "t1a",
    "t1b",
    "t1b_paper",
    "C2",
    "t1c",
    "training_regret",
    "benchmark_regret",
    "accuracy_bound",
    "performance_a",
    "performance_regret",
    "performance_regret_root",
    "B_term",
    "apriori_constants",
    "performance_a_apriori",
    "performance_regret_apriori",
    "envelope_sums",
    "t1e",
    "t1e_cross",
    "training_regret_envelope",
]

ArrayLike = float | int | np.ndarray


# --------------------------------------------------------------------------------------
# lambdify machinery
# --------------------------------------------------------------------------------------


def _stable_geom(q, p, k):
    """``sum_{l<k} q**(p l)`` as ``expm1(k p log q) / expm1(p log q)``; ``k`` at ``q = 1``."""
    q, p, k = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(p), np.asarray(k))
    x = p * np.log(q)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = np.expm1(k * x) / np.expm1(x)
    return np.where(x == 0, k.astype(float), out)


_MODULES = [{"geom": _stable_geom}, "numpy"]


def _rounding_form(expr: sp.Expr) -> sp.Expr:
    """Rewrites that change rounding, not value: ``1 - lam**2 -> (1 - lam)(1 + lam)``."""
    return expr.xreplace(
        {
            1 - r**2: sp.Mul(1 - r, 1 + r, evaluate=False)
            for r in (sy.lam, sy.lam_star)
        }
    )


def _lambdify(args: tuple, expr: sp.Expr) -> Callable:
    f = sp.lambdify(args, _rounding_form(expr), modules=_MODULES)

    def evaluate(*values):
        # lam**N underflowing to 0 is the correct answer to float precision
        with np.errstate(under="ignore"):
            return f(*values)

    evaluate.__doc__ = f.__doc__
    return evaluate


_T1B = sy.STATEMENTS["T1b"]
_T1A = sy.STATEMENTS["T1a"]
_T1C = sy.STATEMENTS["T1c"]
_T1D = sy.STATEMENTS["T1d"]
_T2A = sy.STATEMENTS["T2a"]
_T2B = sy.STATEMENTS["T2b"]

_gamma = _lambdify((sy.lam, sy.m, sy.N), sy.GAMMA_M)
_Lambda = _lambdify((sy.lam, sy.m, sy.N), sy.LAMBDA_M)
# (sqrt(V_inf) + c)**2 - V_inf  ->  2 sqrt(V_inf) c + c**2 (no cancellation)
_t1a = _lambdify(
    (sy.C, sy.lam, sy.m, sy.N, sy.V_inf, sy.Delta_0),
    _T1A.explicit(sp.expand_multinomial(_T1A.rhs)),
)
_t1c = _lambdify(
    (sy.C, sy.lam, sy.m, sy.N, sy.V_inf, sy.Delta_b),
    _T1C.explicit(sp.expand_multinomial(_T1C.rhs)),
)
_t1b = _lambdify(
    (sy.C, sy.lam, sy.m, sy.N, sy.rho, sy.Delta_0, sy.Delta_01), _T1B.explicit(_T1B.chain[0])
)
_t1b_paper = _lambdify(
    (sy.C, sy.lam, sy.m, sy.N, sy.rho, sy.Delta_0, sy.Delta_01), _T1B.explicit()
)
_C2 = _lambdify((sy.C, sy.lam, sy.rho, sy.Delta_0, sy.Delta_01), _T1B.defs[sy.C_2])
_t1d = _lambdify((sy.eps, sy.U), _T1D.rhs)
_a = _lambdify((sy.A_J, sy.B, sy.T, sy.m), _T2A.defs[sy.a])
_t2a = _lambdify((sy.P_b, sy.a), _T2A.rhs)
_t2a_root = _lambdify((sy.P_b, sy.a), sy.T2A_ROOT.rhs)

# B = C*^2 sum_{i>=2} ||phi_i||^2 Gamma_{o_i}: lambdify the summand, sum with numpy.
_phi_i, _o_i = sp.symbols("phi_i o_i", nonnegative=True)
_B_summand = _lambdify(
    (sy.C_star, sy.lam_star, _phi_i, _o_i, sy.N),
    _T2A.defs[sy.B]
    .replace(lambda e: isinstance(e, sp.Sum), lambda e: e.function)
    .xreplace({sy.phi_norm[sy.i]: _phi_i, sy.o[sy.i]: _o_i}),
)

_APRIORI_ARGS = (
    sy.eps, sy.C, sy.lam, sy.rho, sy.Delta_0, sy.Delta_01, sy.Delta_b,
    sy.C_star, sy.lam_star, sy.H,
)
_constants = {
    name: _lambdify(_APRIORI_ARGS, _T2B.explicit(sym))
    for name, sym in (
        ("C2", sy.C_2), ("C2b", sy.C_2b), ("K_A", sy.K_A), ("K_B", sy.K_B), ("E", sy.E),
    )
}
_a_apriori = _lambdify(_APRIORI_ARGS + (sy.S, sy.T, sy.m, sy.o_min), _T2B.explicit())


def _out(x) -> np.ndarray:
    """0-d arrays become numpy scalars; arrays stay arrays."""
    return np.asarray(x, dtype=float)[()]


# --------------------------------------------------------------------------------------
# Argument groups
# --------------------------------------------------------------------------------------


def _a1(C, lam, m, N, tag="A1"):
    C_ = checks.positive("C", C, "A1 constant")
    lam_ = checks.rate("lam", lam, tag)
    m_, N_ = checks.burn_in(m, N)
    return C_, lam_, m_, N_


def _cs(Delta_01, Delta_0, name01="Delta_01", name0="Delta_0"):
    checks.not_above(
        name01, Delta_01, name0, Delta_0,
        "the mean norm cannot exceed the root-mean-square norm (Cauchy-Schwarz)",
    )


# --------------------------------------------------------------------------------------
# Sums of A1 (docs/theory.md §3)
# --------------------------------------------------------------------------------------


def gamma(lam: ArrayLike, m: ArrayLike, N: ArrayLike) -> np.ndarray:
    r"""``Gamma_m = sum_{j=m+1..N} lam**(2j)`` (definition, docs/theory.md §3).

    Closed form ``lam**(2(m+1)) (1 - lam**(2(N-m))) / (1 - lam**2)``, evaluated without
    cancellation for ``lam`` near 1.

    Parameters
    ----------
    lam : float or array, 0 < lam < 1 (A1)
    m : int or array of int, 0 <= m < N
    N : int or array of int, N >= 1

    Returns
    -------
    ndarray
        Broadcast shape of the arguments (a numpy scalar for scalar input).

    Examples
    --------
    >>> float(gamma(0.5, 0, 2))  # 0.5**2 + 0.5**4
    0.3125
    """
    lam_ = checks.rate("lam", lam)
    m_, N_ = checks.burn_in(m, N)
    return _out(_gamma(lam_, m_, N_))


def Lambda(lam: ArrayLike, m: ArrayLike, N: ArrayLike) -> np.ndarray:
    r"""``Lambda_m = sum_{j=m+1..N} lam**j`` (definition, docs/theory.md §3).

    Closed form ``lam**(m+1) (1 - lam**(N-m)) / (1 - lam)``; arguments and shapes as in
    :func:`gamma`.

    Examples
    --------
    >>> float(Lambda(0.5, 0, 2))  # 0.5 + 0.25
    0.75
    """
    lam_ = checks.rate("lam", lam)
    m_, N_ = checks.burn_in(m, N)
    return _out(_Lambda(lam_, m_, N_))


# --------------------------------------------------------------------------------------
# T1 (docs/theory.md §5)
# --------------------------------------------------------------------------------------


def t1a(C: ArrayLike, lam: ArrayLike, m: ArrayLike, N: ArrayLike, V_inf: ArrayLike,
        Delta_0: ArrayLike) -> np.ndarray:
    r"""T1a, root form (upper bound, docs/theory.md §5).

    .. math:: V^* - V^\infty \le B_1(m) = \left(\sqrt{V^\infty}
              + C \Delta_0 \sqrt{\Gamma_m/(N-m)}\right)^2 - V^\infty

    Hypotheses: A1 for ``theta^inf`` with ``(C, lam)``; ``V* <= V(theta^inf; 0)``;
    ``Delta_0**2 = (1/S) sum_i ||z^inf_i||**2``; ``0 <= m < N``.

    Parameters
    ----------
    C : float > 0;  lam : float in (0, 1);  m, N : int arrays, 0 <= m < N;
    V_inf : float >= 0 (relaxed optimum);  Delta_0 : float >= 0.
    All broadcast; returns the broadcast shape (typically that of ``m``).

    Examples
    --------
    >>> float(t1a(C=1.0, lam=0.5, m=0, N=2, V_inf=0.0, Delta_0=1.0))  # Gamma_0 / 2
    0.15625
    """
    C_, lam_, m_, N_ = _a1(C, lam, m, N, "A1 (T1a)")
    V_ = checks.nonnegative("V_inf", V_inf)
    D_ = checks.nonnegative("Delta_0", Delta_0)
    return _out(_t1a(C_, lam_, m_, N_, V_, D_))


def _t1b_args(C, lam, m, N, rho, Delta_0, Delta_01) -> tuple:
    """Validated arguments of both T1b forms: A1, ``rho >= 0``, ``Delta_01 <= Delta_0``."""
    C_, lam_, m_, N_ = _a1(C, lam, m, N, "A1 (T1b)")
    r_ = checks.nonnegative("rho", rho)
    D0 = checks.nonnegative("Delta_0", Delta_0)
    D01 = checks.nonnegative("Delta_01", Delta_01)
    _cs(D01, D0)
    return C_, lam_, m_, N_, r_, D0, D01


def t1b(C: ArrayLike, lam: ArrayLike, m: ArrayLike, N: ArrayLike, rho: ArrayLike,
        Delta_0: ArrayLike, Delta_01: ArrayLike) -> np.ndarray:
    r"""T1b, first inequality (upper bound, docs/theory.md §5).

    .. math:: V^* - V^\infty \le \frac{2 \rho C \Delta_{0,1} \Lambda_m
              + C^2 \Delta_0^2 \Gamma_m}{N - m}

    Hypotheses: as :func:`t1a`, plus ``Delta_01 = (1/S) sum_i ||z^inf_i||`` (so
    ``Delta_01 <= Delta_0``, checked) and ``rho = max_ij ||r_ij(z^inf_i, theta^inf)||``.
    Shapes: broadcast of the arguments.

    Examples
    --------
    >>> float(t1b(C=1.0, lam=0.5, m=0, N=2, rho=0.0, Delta_0=1.0, Delta_01=1.0))
    0.15625
    """
    return _out(_t1b(*_t1b_args(C, lam, m, N, rho, Delta_0, Delta_01)))


def C2(C: ArrayLike, lam: ArrayLike, rho: ArrayLike, Delta_0: ArrayLike,
       Delta_01: ArrayLike) -> np.ndarray:
    r"""The constant of T1b's paper form (definition, docs/theory.md §5).

    .. math:: C_2 = \lambda \left(\frac{2 \rho C \Delta_{0,1}}{1 - \lambda}
              + \frac{C^2 \Delta_0^2 \lambda}{1 - \lambda^2}\right)

    Examples
    --------
    >>> float(C2(C=1.0, lam=0.5, rho=0.0, Delta_0=1.0, Delta_01=1.0))  # 0.25 / 0.75
    0.3333333333333333
    """
    C_ = checks.positive("C", C, "A1 constant")
    lam_ = checks.rate("lam", lam)
    r_ = checks.nonnegative("rho", rho)
    D0 = checks.nonnegative("Delta_0", Delta_0)
    D01 = checks.nonnegative("Delta_01", Delta_01)
    _cs(D01, D0)
    return _out(_C2(C_, lam_, r_, D0, D01))


def t1b_paper(C: ArrayLike, lam: ArrayLike, m: ArrayLike, N: ArrayLike, rho: ArrayLike,
              Delta_0: ArrayLike, Delta_01: ArrayLike) -> np.ndarray:
    r"""T1b, paper form (upper bound, docs/theory.md §5): ``V* - V^inf <= C2 lam**m / (N - m)``.

    Looser than :func:`t1b` (it drops the ``lam**N`` terms and uses
    ``lam**(2m) <= lam**m``); hypotheses and shapes as :func:`t1b`; ``C2`` from :func:`C2`.

    Examples
    --------
    >>> float(t1b_paper(C=1.0, lam=0.5, m=0, N=2, rho=0.0, Delta_0=1.0, Delta_01=1.0))
    0.16666666666666666
    """
    return _out(_t1b_paper(*_t1b_args(C, lam, m, N, rho, Delta_0, Delta_01)))


def t1c(C: ArrayLike, lam: ArrayLike, m: ArrayLike, N: ArrayLike, V_inf: ArrayLike,
        Delta_b: ArrayLike) -> np.ndarray:
    r"""T1c, benchmark regret in T1a's root form (upper bound, docs/theory.md §5).

    .. math:: V^b - V^\infty \le \left(\sqrt{V^\infty}
              + C \Delta_b \sqrt{\Gamma_m/(N-m)}\right)^2 - V^\infty

    with ``Delta_b**2 = (1/S) sum_i ||phi_{s_i}(z^inf_1; theta^inf) - z^inf_i||**2``.
    Hypotheses: A1 for ``theta^inf``; ``V^b <= V^b(theta^inf, z^inf_1)``; ``0 <= m < N``.

    Examples
    --------
    >>> float(t1c(C=1.0, lam=0.5, m=0, N=2, V_inf=0.0, Delta_b=1.0))
    0.15625
    """
    C_, lam_, m_, N_ = _a1(C, lam, m, N, "A1 (T1c)")
    V_ = checks.nonnegative("V_inf", V_inf)
    Db = checks.nonnegative("Delta_b", Delta_b)
    return _out(_t1c(C_, lam_, m_, N_, V_, Db))


def training_regret(C: ArrayLike, lam: ArrayLike, m: ArrayLike, N: ArrayLike,
                    V_inf: ArrayLike, Delta_0: ArrayLike, Delta_01: ArrayLike | None = None,
                    rho: ArrayLike | None = None) -> np.ndarray:
    r"""The T1 bound on ``V* - V^inf`` (upper bound, docs/theory.md §5).

    :func:`t1a`; when ``Delta_01`` and ``rho`` are given, the elementwise minimum of
    :func:`t1a` and :func:`t1b` (both are valid upper bounds).

    Returns
    -------
    ndarray
        Broadcast shape of the arguments (typically that of ``m``).

    Examples
    --------
    >>> import numpy as np
    >>> training_regret(C=1.3, lam=0.8, m=np.array([0, 10]), N=21, V_inf=0.02,
    ...                 Delta_0=0.5, Delta_01=0.4, rho=0.3).round(5)
    array([0.08925, 0.00869])
    """
    bound = t1a(C, lam, m, N, V_inf, Delta_0)
    if (Delta_01 is None) != (rho is None):
        raise HypothesisError("T1b needs both Delta_01 and rho (or neither, for T1a alone)")
    if Delta_01 is not None:
        bound = np.minimum(bound, t1b(C, lam, m, N, rho, Delta_0, Delta_01))
    return _out(bound)


def benchmark_regret(C: ArrayLike, lam: ArrayLike, m: ArrayLike, N: ArrayLike,
                     V_inf: ArrayLike, Delta_b: ArrayLike, Delta_b1: ArrayLike | None = None,
                     rho: ArrayLike | None = None) -> np.ndarray:
    r"""The T1c bound on ``V^b - V^inf`` (upper bound, docs/theory.md §5).

    :func:`t1c`; when ``rho`` is given, the elementwise minimum with T1b's form
    ``(2 rho C Delta_b1 Lambda_m + C**2 Delta_b**2 Gamma_m) / (N - m)``, where
    ``Delta_b1 = (1/S) sum_i ||phi_{s_i}(z^inf_1) - z^inf_i||`` defaults to ``Delta_b``
    (conservative: ``Delta_b1 <= Delta_b`` by Cauchy-Schwarz).
    Together with :func:`training_regret`: ``|V* - V^b| <= max(T1, T1c)``.

    Examples
    --------
    >>> float(benchmark_regret(C=1.0, lam=0.5, m=0, N=2, V_inf=0.0, Delta_b=1.0))
    0.15625
    """
    bound = t1c(C, lam, m, N, V_inf, Delta_b)
    if rho is not None:
        Db1 = Delta_b if Delta_b1 is None else Delta_b1
        checks.nonnegative("Delta_b1", Db1)
        _cs(np.asarray(Db1, dtype=float), np.asarray(Delta_b, dtype=float),
            "Delta_b1", "Delta_b")
        bound = np.minimum(bound, t1b(C, lam, m, N, rho, Delta_b, Db1))
    return _out(bound)


def accuracy_bound(eps: ArrayLike, C: ArrayLike | None = None, lam: ArrayLike | None = None,
                   m: ArrayLike | None = None, N: ArrayLike | None = None,
                   V_inf: ArrayLike | None = None, Delta_0: ArrayLike | None = None,
                   Delta_01: ArrayLike | None = None, rho: ArrayLike | None = None, *,
                   bound: ArrayLike | None = None) -> np.ndarray:
    r"""T1d, accuracy of the TBPTT outputs (upper bound, docs/theory.md §5).

    .. math:: \frac{1}{K}\|Y^* - Y^\infty\|^2 \le \frac{\varepsilon}{\varepsilon - 1}
              (V^* - V^\infty) \le \frac{\varepsilon}{\varepsilon - 1}\, U(m)

    Hypotheses: (C_eps) with ``eps > 1`` for the solution (checked a posteriori elsewhere);
    ``U(m)`` a valid bound on ``V* - V^inf``: either pass ``bound=`` (any T1 bound), or the
    arguments of :func:`training_regret`, which is then used.

    Examples
    --------
    >>> float(accuracy_bound(2.0, bound=0.1))
    0.2
    """
    eps_ = checks.coercivity(eps)
    given = [x is not None for x in (C, lam, m, N, V_inf, Delta_0)]
    if bound is None:
        if not all(given):
            raise HypothesisError(
                "accuracy_bound needs bound= or all of C, lam, m, N, V_inf, Delta_0 (T1d)"
            )
        bound = training_regret(C, lam, m, N, V_inf, Delta_0, Delta_01, rho)
    elif any(given) or Delta_01 is not None or rho is not None:
        raise HypothesisError("accuracy_bound takes bound= or the T1 arguments, not both")
    U_ = checks.nonnegative("bound", bound, "a bound on V* - V^inf")
    return _out(_t1d(eps_, U_))


# --------------------------------------------------------------------------------------
# T2 (docs/theory.md §6)
# --------------------------------------------------------------------------------------


def _T_m(T, m):
    T_ = checks.integer("T", T, low=1)
    m_ = checks.integer("m", m, low=0)
    Tb, mb = np.broadcast_arrays(T_, m_)
    bad = mb >= Tb
    if bad.any():
        idx = np.flatnonzero(bad.reshape(-1))[0]
        raise HypothesisError(
            f"m = {mb.reshape(-1)[idx]} must satisfy 0 <= m < T = {Tb.reshape(-1)[idx]}"
        )
    return T_, m_


def performance_a(A_J: ArrayLike, B: ArrayLike, T: ArrayLike, m: ArrayLike) -> np.ndarray:
    r"""``a = (sqrt(A_J) + sqrt(B)) / sqrt(T - m)`` of T2a (definition, docs/theory.md §6).

    ``A_J`` (sum over the blocks ``J_i`` of ``||y*_ij - y^b_ij||**2``) usually depends on
    ``m``; ``B`` from :func:`B_term`. Shapes broadcast.

    Examples
    --------
    >>> float(performance_a(A_J=4.0, B=0.0, T=5, m=1))
    1.0
    """
    A_ = checks.nonnegative("A_J", A_J)
    B_ = checks.nonnegative("B", B)
    T_, m_ = _T_m(T, m)
    return _out(_a(A_, B_, T_, m_))


def performance_regret(P_b: ArrayLike, A_J: ArrayLike, B: ArrayLike, T: ArrayLike,
                       m: ArrayLike) -> np.ndarray:
    r"""T2a, performance regret a posteriori (upper bound, docs/theory.md §6).

    .. math:: P(0, \theta^*) - P(h_0^b, \theta^b) \le 2 a \sqrt{P_b} + a^2, \quad
              a = \frac{\sqrt{A_J} + \sqrt{B}}{\sqrt{T - m}}

    Hypotheses: A1 for ``theta*`` (in ``B``); windows cover the sequence
    (``s_S + N = T``) with every overlap ``o_i >= m``; ``P_b = P(h_0^b, theta^b)``.
    Holds for any ``theta*, theta^b, h_0^b``. Shapes broadcast (typically over ``m``).

    Examples
    --------
    >>> float(performance_regret(P_b=1.0, A_J=4.0, B=0.0, T=5, m=1))  # a = 1
    3.0
    """
    P_ = checks.nonnegative("P_b", P_b)
    return _out(_t2a(P_, performance_a(A_J, B, T, m)))


def performance_regret_root(P_b: ArrayLike, A_J: ArrayLike, B: ArrayLike, T: ArrayLike,
                            m: ArrayLike) -> np.ndarray:
    r"""T2a, root form (upper bound, docs/theory.md §6): ``sqrt(P(0, theta*)) <= sqrt(P_b) + a``.

    Returns the bound on ``sqrt(P(0, theta*))``; arguments as :func:`performance_regret`.

    Examples
    --------
    >>> float(performance_regret_root(P_b=1.0, A_J=4.0, B=0.0, T=5, m=1))
    2.0
    """
    P_ = checks.nonnegative("P_b", P_b)
    return _out(_t2a_root(P_, performance_a(A_J, B, T, m)))


def B_term(C_star: ArrayLike, lam_star: ArrayLike, phi_norms: ArrayLike,
           overlaps: ArrayLike, N: ArrayLike) -> np.ndarray:
    r"""``B`` of T2a (definition, docs/theory.md §6).

    .. math:: B = C^{*2} \sum_{i=2}^{S} \|\phi_{s_i}(0;\theta^*)\|^2
              \sum_{j=o_i+1}^{N} \lambda^{*2j}

    Parameters
    ----------
    C_star : float > 0;  lam_star : float in (0, 1) -- A1 for ``theta*``.
    phi_norms : (..., S - 1) array >= 0
        ``||phi_{s_i}(0; theta*)||`` for windows ``i = 2..S`` (window 1 starts at 0).
    overlaps : (..., S - 1) int array, 0 <= o_i < N
        ``o_i = s_{i-1} + N - s_i`` for ``i = 2..S``.
    N : int, window length.

    Returns
    -------
    ndarray, shape ``(...)`` -- summed over the last axis (0 for ``S = 1``).

    Examples
    --------
    >>> float(B_term(C_star=1.0, lam_star=0.5, phi_norms=[2.0], overlaps=[1], N=2))  # 4 * 0.5**4
    0.25
    """
    Cs = checks.positive("C_star", C_star, "A1 constant for theta*")
    ls = checks.rate("lam_star", lam_star, "A1 for theta*")
    ph = checks.nonnegative("phi_norms", phi_norms)
    N_ = checks.integer("N", N, low=1)
    ov = checks.integer("overlaps", overlaps, low=0)
    bad = ov >= N_
    if bad.any():
        raise HypothesisError(
            f"overlaps = {ov[bad].reshape(-1)[0]} must satisfy 0 <= o_i < N = {N_.max()}"
        )
    ph, ov = np.broadcast_arrays(np.atleast_1d(ph), np.atleast_1d(ov))
    terms = _B_summand(Cs[..., None], ls[..., None], ph, ov, N_[..., None])
    return _out(np.sum(terms, axis=-1))


def apriori_constants(eps: ArrayLike, C: ArrayLike, lam: ArrayLike, rho: ArrayLike,
                      Delta_0: ArrayLike, Delta_01: ArrayLike, Delta_b: ArrayLike,
                      C_star: ArrayLike, lam_star: ArrayLike, H: ArrayLike
                      ) -> dict[str, np.ndarray]:
    r"""The constants of T2b (definitions, docs/theory.md §6).

    ``C2`` (T1b), ``C2b`` (``C2`` with ``Delta_b`` for ``Delta_0`` and ``Delta_01``),
    ``K_A = 2 eps/(eps-1) (C2 + C2b)``, ``K_B = C*^2 H^2 lam*^2 / (1 - lam*^2)``,
    ``E = sqrt(2 max(K_A, K_B))``. See :func:`performance_a_apriori` for the derivation.

    Examples
    --------
    >>> k = apriori_constants(2.0, 1.0, 0.5, 0.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0)
    >>> round(float(k["K_A"]), 6), round(float(k["E"]), 6)
    (2.666667, 2.309401)
    """
    args = _apriori_args(eps, C, lam, rho, Delta_0, Delta_01, Delta_b, C_star, lam_star, H)
    return {name: _out(f(*args)) for name, f in _constants.items()}


def _apriori_args(eps, C, lam, rho, Delta_0, Delta_01, Delta_b, C_star, lam_star, H):
    eps_ = checks.coercivity(eps, "T2b")
    C_ = checks.positive("C", C, "A1 constant for theta^inf")
    lam_ = checks.rate("lam", lam, "A1 for theta^inf")
    r_ = checks.nonnegative("rho", rho)
    D0 = checks.nonnegative("Delta_0", Delta_0)
    D01 = checks.nonnegative("Delta_01", Delta_01)
    _cs(D01, D0)
    Db = checks.nonnegative("Delta_b", Delta_b)
    Cs = checks.positive("C_star", C_star, "A1 constant for theta*")
    ls = checks.rate("lam_star", lam_star, "A1 for theta*")
    H_ = checks.nonnegative("H", H)
    return eps_, C_, lam_, r_, D0, D01, Db, Cs, ls, H_


def performance_a_apriori(eps: ArrayLike, C: ArrayLike, lam: ArrayLike, rho: ArrayLike,
                          Delta_0: ArrayLike, Delta_01: ArrayLike, Delta_b: ArrayLike,
                          C_star: ArrayLike, lam_star: ArrayLike, H: ArrayLike,
                          S: ArrayLike, T: ArrayLike, N: ArrayLike, m: ArrayLike,
                          o_min: ArrayLike) -> np.ndarray:
    r"""T2b, a priori bound on ``a`` of T2a (upper bound, docs/theory.md §6).

    .. math:: a \le E \sqrt{\frac{(S-1)\bar\lambda^{2 o_{\min}} + S \bar\lambda^m}{T - m}},
              \quad E = \sqrt{2 \max(K_A, K_B)}, \quad \bar\lambda = \max(\lambda, \lambda^*)

    Derivation (each step is an upper bound):

    1. ``A_J <= A = sum_{i, j>m} ||y*_ij - y^b_ij||**2`` because every overlap ``o_i >= m``
       makes the blocks ``J_i`` subsets of the scored positions.
    2. ``A <= 2 ||Y* - Y^inf||**2 + 2 ||Y^b - Y^inf||**2`` (parallelogram) and, by T1d for
       both solutions, ``A <= 2 eps/(eps-1) K ((V* - V^inf) + (V^b - V^inf))``.
    3. ``V* - V^inf <= C2 lam**m / (N - m)`` (T1b paper form) and ``V^b - V^inf <=
       C2b lam**m / (N - m)`` (T1c in T1b's form, ``Delta_b1 <= Delta_b``); with
       ``K = S (N - m)``: ``A <= K_A S lam**m``, ``K_A = 2 eps/(eps-1) (C2 + C2b)``.
       (a chain through ``B1(m)`` -- T1a -- fails: ``B1(m) <= C2 lam**m/(N-m)`` is false in
       general, docs/theory.md §6.3; so the chain goes through T1b's paper form, which bounds
       ``V* - V^inf`` directly.)
    4. ``B = C*^2 sum_{i>=2} ||phi_{s_i}||**2 Gamma_{o_i} <= K_B (S - 1) lam***(2 o_min)``
       with ``Gamma_{o_i} <= lam***(2 o_i + 2) / (1 - lam***2)``,
       ``K_B = C*^2 H^2 lam*^2 / (1 - lam*^2)``, ``H = max_i ||phi_{s_i}(0; theta*)||``.
    5. ``(sqrt(x) + sqrt(y))**2 <= 2 (x + y)`` and ``lam, lam* <= lam_bar``.

    Hypotheses: A1 for ``theta^inf`` ``(C, lam)`` and ``theta*`` ``(C*, lam*)``; (C_eps)
    with ``eps > 1`` for both solutions; windows cover the sequence (``s_S + N = T``, so
    ``N + S - 1 <= T <= N + (S - 1)(N - o_min)``, checked); ``m <= o_min < N`` (checked;
    for ``S = 1`` any ``o_min >= m`` works, e.g. ``N`` as ``systems.windows`` uses: it does
    not enter).

    Returns
    -------
    ndarray -- broadcast shape of the arguments (typically that of ``m``).

    Examples
    --------
    >>> a = performance_a_apriori(2.0, 1.0, 0.5, 0.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0,
    ...                           S=1, T=2, N=2, m=0, o_min=1)  # E sqrt(1 / 2)
    >>> round(float(a), 6)
    1.632993
    """
    args = _apriori_args(eps, C, lam, rho, Delta_0, Delta_01, Delta_b, C_star, lam_star, H)
    S_ = checks.integer("S", S, low=1)
    T_ = checks.integer("T", T, low=1)
    m_, N_ = checks.burn_in(m, N)
    o_ = checks.overlap(o_min, m_)
    Sb, Tb, Nb, ob = np.broadcast_arrays(S_, T_, N_, o_)
    bad = (Sb > 1) & (ob >= Nb)
    if bad.any():
        raise HypothesisError(
            f"o_min = {ob[bad][0]} must satisfy o_min < N = {Nb[bad][0]} when S > 1 "
            "(distinct window starts)"
        )
    bad = Tb - Nb < Sb - 1
    if bad.any():
        raise HypothesisError(
            f"T = {Tb[bad][0]} < N + S - 1 = {(Nb + Sb - 1)[bad][0]}: S windows of length N "
            "with distinct starts need a longer sequence"
        )
    bad = Tb - Nb > (Sb - 1) * (Nb - ob)
    if bad.any():
        raise HypothesisError(
            f"T2 needs the windows to cover the sequence (s_S + N = T): T - N = "
            f"{(Tb - Nb)[bad][0]} > (S - 1)(N - o_min) = {((Sb - 1) * (Nb - ob))[bad][0]}"
        )
    return _out(_a_apriori(*args, S_, T_, m_, o_))


def performance_regret_apriori(P_b: ArrayLike, eps: ArrayLike, C: ArrayLike, lam: ArrayLike,
                               rho: ArrayLike, Delta_0: ArrayLike, Delta_01: ArrayLike,
                               Delta_b: ArrayLike, C_star: ArrayLike, lam_star: ArrayLike,
                               H: ArrayLike, S: ArrayLike, T: ArrayLike, N: ArrayLike,
                               m: ArrayLike, o_min: ArrayLike) -> np.ndarray:
    r"""T2b in T2a's form: bound on ``P(0, theta*) - P(h_0^b, theta^b)`` (upper bound, §6).

    ``2 a sqrt(P_b) + a**2`` with ``a`` replaced by its a priori bound
    :func:`performance_a_apriori` (the expression is increasing in ``a``). Hypotheses,
    derivation and shapes as there; ``P_b = P(h_0^b, theta^b) >= 0``.

    Examples
    --------
    >>> r = performance_regret_apriori(0.0, 2.0, 1.0, 0.5, 0.0, 1.0, 1.0, 1.0, 1.0, 0.5,
    ...                                0.0, S=1, T=2, N=2, m=0, o_min=1)  # a**2
    >>> round(float(r), 6)
    2.666667
    """
    P_ = checks.nonnegative("P_b", P_b)
    a_ = performance_a_apriori(eps, C, lam, rho, Delta_0, Delta_01, Delta_b, C_star,
                               lam_star, H, S, T, N, m, o_min)
    return _out(_t2a(P_, a_))


# --------------------------------------------------------------------------------------
# T1e: T1 from the certified envelope (bounds.symbolic.T1E_STATEMENTS)
# --------------------------------------------------------------------------------------

# Both forms are lambdified in the sums Gamma^G_m, Lambda^G_m (symbols); the sums themselves
# are suffix sums of the envelope (envelope_sums), like B_term's sum over windows.
_t1e = _lambdify(
    (sy.Gamma_G, sy.m, sy.N, sy.V_inf, sy.Delta_0),
    sp.expand_multinomial(sy.T1E.rhs),  # 2 sqrt(V_inf) c + c**2: no cancellation
)
_t1e_cross = _lambdify(
    (sy.Gamma_G, sy.Lambda_G, sy.m, sy.N, sy.rho, sy.Delta_0, sy.Delta_01), sy.T1E_CROSS.rhs
)


def envelope_sums(G: np.ndarray, m: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    r"""``Gamma^G_m = sum_{j=m+1..N} G_j**2`` and ``Lambda^G_m = sum_{j=m+1..N} G_j``
    (definitions of T1e, ``bounds.symbolic.T1E_STATEMENTS``).

    Parameters
    ----------
    G : (N,) finite, non-negative envelope ``G_1..G_N`` (A1-D)
    m : int or int array, ``0 <= m < N``

    Returns
    -------
    (Gamma_G, Lambda_G) : arrays of the shape of ``m``

    Examples
    --------
    >>> g2, g1 = envelope_sums([0.5, 0.25], [0, 1])
    >>> g2.tolist(), g1.tolist()
    ([0.3125, 0.0625], [0.75, 0.25])
    """
    G_ = np.atleast_1d(checks.nonnegative("G", G, "a certified envelope"))
    if G_.ndim != 1:
        raise HypothesisError(f"G must be one envelope (N,), got shape {G_.shape}")
    m_, _ = checks.burn_in(m, G_.size)
    # suffix sums: tail[k] = sum_{j > k} (k = 0..N), added from the small end
    tail2 = np.concatenate([np.cumsum((G_ ** 2)[::-1])[::-1], [0.0]])
    tail1 = np.concatenate([np.cumsum(G_[::-1])[::-1], [0.0]])
    return _out(tail2[m_]), _out(tail1[m_])


def t1e(G: np.ndarray, m: ArrayLike, V_inf: ArrayLike, Delta_0: ArrayLike) -> np.ndarray:
    r"""T1e, root form (upper bound; T1a with the certified envelope, docs/theory.md §5).

    .. math:: V^* - V^\infty \le \left(\sqrt{V^\infty}
              + \Delta_0 \sqrt{\Gamma^G_m / (N - m)}\right)^2 - V^\infty,
              \quad \Gamma^G_m = \sum_{j=m+1}^N G_j^2

    Hypotheses (``bounds.symbolic.T1E``, proof there): ``||psi_j(z^inf_i) - psi_j(0)|| <= G_j
    ||z^inf_i||`` for every window and scored ``j`` (an on-data certificate's envelope on the
    pairs ``(z^inf_i, 0)``); ``V* <= V(theta^inf; 0)``; ``Delta_0`` the RMS of ``||z^inf_i||``.
    Never looser than :func:`t1a` with any ``(C, lam)`` satisfying ``C lam**j >= G_j``.

    Parameters
    ----------
    G : (N,) envelope;  m : int array, ``0 <= m < N``;  V_inf, Delta_0 : float >= 0

    Returns
    -------
    ndarray, the broadcast shape of ``m``, ``V_inf``, ``Delta_0``

    Examples
    --------
    >>> float(t1e([0.5, 0.25], m=0, V_inf=0.0, Delta_0=1.0))  # = t1a(C=1, lam=0.5, m=0, N=2)
    0.15625
    """
    g2, _ = envelope_sums(G, m)
    N = np.asarray(G).size
    V_ = checks.nonnegative("V_inf", V_inf)
    D_ = checks.nonnegative("Delta_0", Delta_0)
    return _out(_t1e(g2, checks.integer("m", m), N, V_, D_))


def t1e_cross(G: np.ndarray, m: ArrayLike, rho: ArrayLike, Delta_0: ArrayLike,
              Delta_01: ArrayLike) -> np.ndarray:
    r"""T1e, T1b's form (upper bound; T1b's first inequality with the certified envelope).

    .. math:: V^* - V^\infty \le \frac{2 \rho \Delta_{0,1} \Lambda^G_m
              + \Delta_0^2 \Gamma^G_m}{N - m}

    Hypotheses as :func:`t1e`, plus ``Delta_01`` the mean of ``||z^inf_i||`` (``<= Delta_0``,
    checked) and ``rho`` the largest scored residual norm at ``(theta^inf, z^inf)``. Never
    looser than :func:`t1b` with any ``(C, lam)`` satisfying ``C lam**j >= G_j``.

    Examples
    --------
    >>> float(t1e_cross([0.5, 0.25], m=0, rho=0.0, Delta_0=1.0, Delta_01=1.0))  # = t1b
    0.15625
    """
    g2, g1 = envelope_sums(G, m)
    N = np.asarray(G).size
    r_ = checks.nonnegative("rho", rho)
    D0 = checks.nonnegative("Delta_0", Delta_0)
    D01 = checks.nonnegative("Delta_01", Delta_01)
    _cs(D01, D0)
    return _out(_t1e_cross(g2, g1, checks.integer("m", m), N, r_, D0, D01))


def training_regret_envelope(G: np.ndarray, m: ArrayLike, V_inf: ArrayLike,
                             Delta_0: ArrayLike, Delta_01: ArrayLike | None = None,
                             rho: ArrayLike | None = None) -> np.ndarray:
    r"""The T1e bound on ``V* - V^inf`` (upper bound): :func:`t1e`, and when ``Delta_01`` and
    ``rho`` are given the elementwise minimum with :func:`t1e_cross`.

    The envelope counterpart of :func:`training_regret`; with ``G_j <= C lam**j`` it is never
    above ``training_regret(C, lam, ...)`` (up to rounding).

    Examples
    --------
    >>> import numpy as np
    >>> G = 1.3 * 0.8 ** np.arange(1, 22)   # exactly geometric: T1e = T1
    >>> training_regret_envelope(G, m=np.array([0, 10]), V_inf=0.02, Delta_0=0.5).round(5)
    array([0.08925, 0.00869])
    """
    bound = t1e(G, m, V_inf, Delta_0)
    if (Delta_01 is None) != (rho is None):
        raise HypothesisError("T1e's T1b form needs both Delta_01 and rho (or neither)")
    if Delta_01 is not None:
        bound = np.minimum(bound, t1e_cross(G, m, rho, Delta_0, Delta_01))
    return _out(bound)
