"""Outward-rounded enclosures of the scalar activations and their derivatives.

Used by :mod:`~verification.certificates.step_error` (float error of a cell step),
:mod:`~verification.certificates.tube` (how far a cell's Jacobian moves over a ball) and
:mod:`~verification.certificates.taylor` (Taylor models of the tangent). For ``phi`` in
``{sigmoid, tanh}``, arrays ``a`` and ``r >= 0``:

* :func:`derivatives` ``(kind, a, K)``: ``phi^(k)(a)``, ``k = 0..K``, each with a bound of its
  float error (the enclosure ``[value - err, value + err]`` holds the exact derivative);
* :func:`d1`, :func:`d2`, :func:`d3`, :func:`d4` ``(kind, a, r) >= sup |phi^(k)|`` over
  ``[a - r, a + r]``; :func:`slope_range` the ``[inf, sup]`` of ``phi'`` there.

Cancellation-free forms. ``1 - tanh(a)**2`` and ``p (1 - p)`` lose every digit once ``|a|`` is
past ~19 resp. ~37 (``1 - 1 = 0`` where the derivative is 1e-17). With ``s = |a|``:

* tanh: ``e = exp(-2 s)``, ``w = tanh' = 4 e / (1 + e)**2``, ``|t| = |tanh a| = -expm1(-2 s) /
  (1 + e)``; ``tanh'' = -2 t w``, ``tanh''' = 2 w (2 - 3 w)``, ``tanh'''' = 8 t w (3 w - 1)``;
* sigmoid: ``e = exp(-s)``, ``w = sigma' = e / (1 + e)**2``, ``v = tanh(a / 2) = sigma(a) -
  sigma(-a)`` (so ``1 - 2 sigma = -v``, ``|v| = -expm1(-s) / (1 + e)``); ``sigma'' = -v w``,
  ``sigma''' = w (1 - 6 w)``, ``sigma'''' = -v w (1 - 12 w)``.

``w`` is computed to a few ulps relative for every ``a`` (no subtraction of nearly equal
numbers); the only remaining cancellations are in the affine factors ``2 - 3 w``, ``3 w - 1``,
``1 - 6 w``, ``1 - 12 w`` near their zeros, where the error is absolute: at most ``FN_REL``
times the factor's terms in absolute value (``2 + 3 w``, ...), and it is carried as such.

Suprema. ``w`` decreases in ``s``, ``|t|`` and ``|v|`` increase; ``|phi''|`` is unimodal in
``s`` with its peak at ``S_TANH2`` (``S_SIG2``). Over an interval of ``s = |a|`` values
``[s_lo, s_hi]`` (widened outward first): ``d1 = w(s_lo)``; ``d2`` = the peak if it lies inside,
else the value at the end nearer to it; ``d3`` = the largest ``|P(w)|`` of the quadratic ``P``
over the range ``[w(s_hi), w(s_lo)]`` (ends or vertex); ``d4`` a product of suprema of its
factors.

Rounding. Values that must be upper bounds go through :func:`up` (relative ``REL = 1e-12``, far
above the few-ulp error of ``exp``/``expm1``/``tanh`` and the handful of operations here, plus
``ABS = 1e-300`` so that an underflow to 0 still rounds up), lower bounds through :func:`down`.
The one assumption on the platform: ``numpy``'s ``exp``, ``expm1``, ``tanh`` and ``scipy``'s
``expit`` are accurate to ``FN_ULPS`` ulps (tested against mpmath).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

#: Unit roundoff of IEEE double (round to nearest): ``fl(x op y) = (x op y)(1 + delta)``,
#: ``|delta| <= U``.
U = float(np.finfo(np.float64).eps) / 2.0
#: Accuracy assumed of the library's ``exp``, ``expm1``, ``tanh``, ``expit`` (glibc: <= 2).
FN_ULPS = 4
#: Relative error of a computed activation derivative against the absolute value of its terms
#: (``FN_ULPS`` ulps of the elementary function plus up to ~12 roundings: ``<= 24 U``; 64 U).
FN_REL = 64.0 * U
#: Relative outward inflation of every enclosure (see the module docstring).
REL = 1e-12
#: Absolute outward inflation (below any quantity that matters, above underflow).
ABS = 1e-300
#: Where ``|tanh''|`` and ``|sigmoid''|`` peak (in ``|a|``).
S_TANH2 = float(np.arctanh(1.0 / np.sqrt(3.0)))
S_SIG2 = float(np.log(2.0 + np.sqrt(3.0)))
KINDS = ("sigmoid", "tanh")


def up(x: np.ndarray | float) -> np.ndarray:
    """``x`` rounded outward (upward for the non-negative quantities used here)."""
    return np.asarray(x) * (1.0 + REL) + ABS


def down(x: np.ndarray | float) -> np.ndarray:
    """A lower bound of a non-negative quantity computed as ``x`` (never below 0)."""
    return np.maximum(np.asarray(x) * (1.0 - REL) - ABS, 0.0)


def gamma(k: int | np.ndarray) -> float | np.ndarray:
    """Higham's ``gamma_k = k U / (1 - k U)``, rounded up: a sum of ``k`` terms, each a
    product of two doubles, computed in any order, has an error ``<= gamma_k sum |terms|``."""
    k = np.asarray(k, dtype=np.float64)
    return up(k * U / (1.0 - k * U))


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function (``scipy.special.expit``), overflow-free for large ``|a|``."""
    return expit(np.asarray(a, dtype=np.float64))


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _w_odd(kind: str, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``phi'`` and the odd factor at ``|a| = s``: ``|tanh(s)|`` (tanh), ``|tanh(s / 2)| =
    |1 - 2 sigma|`` (sigmoid); cancellation-free, a few ulps relative."""
    x = 2.0 * s if kind == "tanh" else s
    e = np.exp(-x)
    d = 1.0 + e
    return (4.0 * e if kind == "tanh" else e) / (d * d), -np.expm1(-x) / d


def _s_range(a: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[s_lo, s_hi]`` enclosing ``|s|`` over ``|s - a| <= r``, widened outward."""
    a, r = np.asarray(a, dtype=np.float64), np.asarray(r, dtype=np.float64)
    lo, hi = a - r, a + r
    s_lo = np.where((lo <= 0.0) & (hi >= 0.0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    s_hi = np.maximum(np.abs(lo), np.abs(hi))
    return down(s_lo), up(s_hi)


#: ``phi''' = w (C3[0] + C3[1] w)``; ``phi'''' = C4[0] t w (C4[1] + C4[2] w)`` (``t`` the
#: signed odd factor: ``tanh(a)``, resp. ``tanh(a / 2)``); ``phi'' = -C2 t w``.
C2 = {"tanh": 2.0, "sigmoid": 1.0}
C3 = {"tanh": (4.0, -6.0), "sigmoid": (1.0, -6.0)}
C4 = {"tanh": (8.0, -1.0, 3.0), "sigmoid": (-1.0, 1.0, -12.0)}


# ------------------------------------------------------------------------ at points
def derivatives(kind: str, a: np.ndarray, K: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``phi^(k)(a)`` for ``k = 0..K`` (``K <= 4``) and bounds of their float errors.

    Returns ``(values, errors)``, two lists of ``K + 1`` arrays shaped like ``a``, with
    ``|values[k] - phi^(k)(a)| <= errors[k]`` (``FN_REL`` times the terms in absolute value,
    rounded up; see the module docstring for the forms).
    """
    _check_kind(kind)
    if not 0 <= K <= 4:
        raise ValueError(f"K must be in 0..4, got {K}")
    a = np.asarray(a, dtype=np.float64)
    v = np.tanh(a) if kind == "tanh" else sigmoid(a)
    if K == 0:
        return [v], [up(FN_REL * np.abs(v))]
    w, odd = _w_odd(kind, np.abs(a))
    vals, mags = [v, w], [np.abs(v), w]
    t = odd * np.sign(a)
    if K >= 2:
        vals.append(-C2[kind] * t * w)
        mags.append(C2[kind] * odd * w)
    if K >= 3:
        c0, c1 = C3[kind]
        vals.append(w * (c0 + c1 * w))
        mags.append(w * (abs(c0) + abs(c1) * w))
    if K >= 4:
        c, b0, b1 = C4[kind]
        vals.append(c * t * w * (b0 + b1 * w))
        mags.append(abs(c) * odd * w * (abs(b0) + abs(b1) * w))
    return vals[:K + 1], [up(FN_REL * m) for m in mags[:K + 1]]


# --------------------------------------------------------------------- over intervals
def slope_range(kind: str, a: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[inf, sup]`` of ``phi'`` over ``|s - a| <= r`` (elementwise), rounded outward."""
    _check_kind(kind)
    s_lo, s_hi = _s_range(a, r)
    return down(_w_odd(kind, s_hi)[0]), up(_w_odd(kind, s_lo)[0])


def d1(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Upper bound of ``|phi'(s)|`` over ``|s - a| <= r`` (elementwise), rounded outward."""
    return slope_range(kind, a, r)[1]


def _g2(kind: str, s: np.ndarray) -> np.ndarray:
    """``|phi''|`` at ``|a| = s``: ``C2 |t| w``."""
    w, odd = _w_odd(kind, s)
    return C2[kind] * odd * w


def d2(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Upper bound of ``|phi''(s)|`` over ``|s - a| <= r`` (elementwise), rounded outward."""
    _check_kind(kind)
    s_star = S_TANH2 if kind == "tanh" else S_SIG2
    s_lo, s_hi = _s_range(a, r)
    # g increases on [0, s*] and decreases after: below the peak the sup is at s_hi, above it
    # at s_lo (both already widened towards s*, so rounding of the ends can only raise g)
    return up(_g2(kind, np.where(s_hi < s_star, s_hi, np.where(s_lo > s_star, s_lo, s_star))))


def _affine_sup(c0: float, c1: float, w_lo: np.ndarray, w_hi: np.ndarray) -> np.ndarray:
    """``max |c0 + c1 w|`` over ``[w_lo, w_hi]`` plus its evaluation error (ends: it is affine)."""
    val = np.maximum(np.abs(c0 + c1 * w_lo), np.abs(c0 + c1 * w_hi))
    return val + FN_REL * (abs(c0) + abs(c1) * w_hi)


def d3(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Upper bound of ``|phi'''(s)|`` over ``|s - a| <= r`` (elementwise), rounded outward.

    ``phi''' = w (c0 + c1 w)`` (tanh: ``2 w (2 - 3 w)``; sigmoid: ``w (1 - 6 w)``), a quadratic
    in ``w = phi'``, whose range over the interval is :func:`slope_range`: the largest modulus
    is at an end or at the vertex ``w = -c0 / (2 c1)``.
    """
    return d34(kind, a, r)[0]


def d4(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Upper bound of ``|phi''''(s)|`` over ``|s - a| <= r`` (elementwise), rounded outward.

    ``tanh'''' = 8 t w (3 w - 1)``, ``sigma'''' = -v w (1 - 12 w)``: the product of the suprema
    of ``|t|`` (``|v|``, at the largest ``|a|``), ``w`` (at the smallest) and the affine factor
    (at an end of the range of ``w``).
    """
    return d34(kind, a, r)[1]


def d34(kind: str, a: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`d3` and :func:`d4` at once (one range of ``w`` for both)."""
    _check_kind(kind)
    s_lo, s_hi = _s_range(a, r)
    w_top, _ = _w_odd(kind, s_lo)
    w_bot, odd_top = _w_odd(kind, s_hi)
    w_lo, w_hi = down(w_bot), up(w_top)
    c0, c1 = C3[kind]

    def P(w):
        return np.abs(w * (c0 + c1 * w))

    vertex = -c0 / (2.0 * c1)
    val = np.maximum(P(w_lo), P(w_hi))
    val = np.where((w_lo <= vertex) & (w_hi >= vertex), np.maximum(val, P(vertex)), val)
    sup3 = up(val + FN_REL * w_hi * (abs(c0) + abs(c1) * w_hi))
    c, b0, b1 = C4[kind]
    return sup3, up(abs(c) * up(odd_top) * w_hi * _affine_sup(b0, b1, w_lo, w_hi))


#: ``sup |phi'|`` and ``sup |phi''|`` over the whole real line (rounded up).
D1_GLOBAL = {"sigmoid": float(up(0.25)), "tanh": float(up(1.0))}
D2_GLOBAL = {"sigmoid": float(up(_g2("sigmoid", np.array(S_SIG2)))),
             "tanh": float(up(_g2("tanh", np.array(S_TANH2))))}


def d1_global(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``sup |phi'|`` over the real line, shaped like ``a``: a cruder, cheaper :func:`d1`."""
    return np.full(np.shape(a), D1_GLOBAL[kind])


def d2_global(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``sup |phi''|`` over the real line, shaped like ``a``: a cruder, cheaper :func:`d2`."""
    return np.full(np.shape(a), D2_GLOBAL[kind])


def dev_prod(f: np.ndarray, df: np.ndarray, g: np.ndarray, dg: np.ndarray) -> np.ndarray:
    """Bound of ``|F G - f g|`` given ``|F - f| <= df``, ``|G - g| <= dg`` (midpoint-radius).

    ``F G - f g = (F - f) G + f (G - g)``, so ``|.| <= df (|g| + dg) + |f| dg``.
    """
    return up(df * (np.abs(g) + dg) + np.abs(f) * dg)
