"""Outward-rounded enclosures of the scalar activations and their derivatives over intervals.

Used by :mod:`~verification.certificates.tube` to bound how much a cell's Jacobian can move over
a ball around a traced state (the second-order remainder of the on-data certificate).

For ``phi`` in ``{sigmoid, tanh}`` and an interval ``[a - r, a + r]`` (arrays ``a``, ``r >= 0``):

* ``d1(a, r) >= sup |phi'|`` over the interval;
* ``d2(a, r) >= sup |phi''|`` over the interval.

Both ``|phi'|`` and ``|phi''|`` are functions ``g(|s|)`` of ``|s|`` that increase on ``[0, s*]``
and decrease on ``[s*, inf)`` (``s* = 0`` for ``phi'``; for ``phi''``: ``s* = atanh(1/sqrt(3))``
for ``tanh``, ``s* = log(2 + sqrt(3))`` for the sigmoid). On an interval of ``|s|`` values
``[s_lo, s_hi]`` the supremum is ``g(s*)`` if ``s*`` lies in it, else ``max(g(s_lo), g(s_hi))``.

Rounding: every value returned is multiplied by ``1 + REL`` and increased by ``ABS`` (``REL``
covers the few-ulp error of ``numpy``'s ``exp``/``tanh`` and the handful of float operations
here with a factor of about 1e3 to spare; ``ABS`` keeps a zero from rounding down).
"""

from __future__ import annotations

import numpy as np

#: Relative outward inflation of every enclosure (see the module docstring).
REL = 1e-12
#: Absolute outward inflation (below any quantity that matters, above underflow).
ABS = 1e-300
#: Where ``|tanh''|`` and ``|sigmoid''|`` peak, and the peak values.
S_TANH2 = float(np.arctanh(1.0 / np.sqrt(3.0)))
S_SIG2 = float(np.log(2.0 + np.sqrt(3.0)))
KINDS = ("sigmoid", "tanh")


def up(x: np.ndarray | float) -> np.ndarray:
    """``x`` rounded outward (upward for the non-negative quantities used here)."""
    return np.asarray(x) * (1.0 + REL) + ABS


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function, overflow-free for large ``|a|``."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(a)))


def _g1(kind: str, s: np.ndarray) -> np.ndarray:
    if kind == "tanh":
        t = np.tanh(s)
        return 1.0 - t * t
    p = sigmoid(s)
    return p * (1.0 - p)


def _g2(kind: str, s: np.ndarray) -> np.ndarray:
    if kind == "tanh":
        t = np.tanh(s)
        return 2.0 * np.abs(t) * (1.0 - t * t)
    p = sigmoid(s)
    return p * (1.0 - p) * np.abs(1.0 - 2.0 * p)


def _abs_range(a: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = a - r, a + r
    s_lo = np.where((lo <= 0.0) & (hi >= 0.0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    s_hi = np.maximum(np.abs(lo), np.abs(hi))
    return s_lo, s_hi


def d1(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Upper bound of ``|phi'(s)|`` over ``|s - a| <= r`` (elementwise), rounded outward."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    s_lo, _ = _abs_range(np.asarray(a, float), np.asarray(r, float))
    # |phi'| decreases in |s|: the sup sits at the point of the interval closest to 0.
    # Round s_lo down a little so that the evaluation point is never past the true one.
    return up(_g1(kind, np.maximum(s_lo * (1.0 - REL) - ABS, 0.0)))


def d2(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Upper bound of ``|phi''(s)|`` over ``|s - a| <= r`` (elementwise), rounded outward."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    s_star = S_TANH2 if kind == "tanh" else S_SIG2
    s_lo, s_hi = _abs_range(np.asarray(a, float), np.asarray(r, float))
    # g increases on [0, s*] and decreases after: below the peak the sup is at s_hi, above it
    # at s_lo; both are evaluated a relative hair towards s*, so rounding can only raise g
    below = _g2(kind, np.minimum(s_hi * (1.0 + REL) + ABS, s_star))
    above = _g2(kind, np.maximum(s_lo * (1.0 - REL), s_star))
    peak = _g2(kind, np.full_like(s_lo, s_star))
    val = np.where(s_hi < s_star, below, np.where(s_lo > s_star, above, peak))
    return up(val)


def dev_prod(f: np.ndarray, df: np.ndarray, g: np.ndarray, dg: np.ndarray) -> np.ndarray:
    """Bound of ``|F G - f g|`` given ``|F - f| <= df``, ``|G - g| <= dg`` (midpoint-radius).

    ``F G - f g = (F - f) G + f (G - g)``, so ``|.| <= df (|g| + dg) + |f| dg``.
    """
    return up(df * (np.abs(g) + dg) + np.abs(f) * dg)


#: ``sup |phi'|`` and ``sup |phi''|`` over the whole real line (rounded up).
D1_GLOBAL = {"sigmoid": 0.25 * (1 + 1e-12), "tanh": 1.0 + 1e-12}
D2_GLOBAL = {"sigmoid": float(up(_g2("sigmoid", np.array(S_SIG2)))),
             "tanh": float(up(_g2("tanh", np.array(S_TANH2))))}


def d1_global(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``sup |phi'|`` over the real line, shaped like ``a``: a cruder, cheaper :func:`d1`."""
    return np.full(np.shape(a), D1_GLOBAL[kind])


def d2_global(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``sup |phi''|`` over the real line, shaped like ``a``: a cruder, cheaper :func:`d2`."""
    return np.full(np.shape(a), D2_GLOBAL[kind])
