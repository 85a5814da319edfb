"""Taylor models in one parameter: a cell's tangent along a piece of segment, to second order.

On a piece of the segment the initial state is ``c + s delta u`` (``|s| <= 1``); the state and
the tangent at step ``t`` are functions of ``s``. A *Taylor model* (:class:`TM`) of degree
``D`` (1 or 2) of a vector function ``q(s)`` is a tuple of coefficient arrays ``a_0..a_D`` and a
remainder bound ``e >= 0`` with

    |q(s) - sum_k a_k s**k| <= e      componentwise, for every |s| <= 1.                 (TM)

:func:`tangent_model` evaluates the cell's tangent map ``J(z) v`` (the Jacobian-vector product
written out as the cell computes it, never as a matrix) on Taylor models of ``z(s)`` and
``v(s)``. Every operation of the formula acts on Taylor models (``|s|**k <= 1`` throughout;
``|P| = sum_k |a_k|`` bounds a polynomial part):

* ``A + B``: coefficients and remainders add;
* ``A B``: the product's coefficients up to ``s**D``; the higher powers go to the remainder
  with ``sum_(i+j>D) |a_i||b_j|``, and ``|P_A| e_B + e_A |P_B| + e_A e_B``;
* ``phi(A)`` with ``x = A - a_0``, ``m = |P_x| + e_A``: ``sum_(k<=D) phi^(k)(a_0) x**k / k!``
  evaluated by the rules above, plus ``sup|phi^(D+1)| m**(D+1) / (D+1)!`` over
  ``[a_0 - m, a_0 + m]`` (Taylor's theorem with Lagrange remainder); the same for ``phi'``
  with one derivative more (:func:`interval.d2`, :func:`d3`, :func:`d4`);
* ``W A`` (+ a ball ``||b|| <= rho`` of unknown direction): ``W a_k``, ``|W| e + ||W_k|| rho``.

Along the segment, ``a_0`` is the exact signed tangent at the piece centre, ``a_1`` its first
derivative in ``s`` (``delta (D^2 f[v, v] + J w)``, the second directional derivative of the
flow) and ``a_2`` half the second (the third directional derivative), all exact and signed; the
remainder ``e`` is of order ``delta**(D+1)`` (:func:`second_derivative` exposes ``D^2 f`` and
``D^3 f`` of the cell for the tests).

Rounding: every coefficient is computed in float64 and its error is added to ``e``: sums and
products by ``RND`` (``4 eps >= gamma_3``) times the magnitude of the exact terms; matrix-vector
products by Higham's ``gamma_n`` (``GAMMA n |W| |x|``); each computed activation derivative at
the centre (``tanh``, the sigmoid, ``1 - t**2``, ...: polynomials in ``tanh`` of degree <= 5) by
``FN_ABS`` absolute. The non-negative ``e`` sums are rounded up with
:func:`interval.up`; the suprema of :func:`d3`, :func:`d4` are taken over intervals widened by a
relative ``1e-12`` and raised by ``D_ABS``.

Cells (as in :mod:`~verification.certificates.tube`): ``elman`` (``tanh`` or linear), ``lstm``
(``z = (h, c)``), ``gru``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

from verification.certificates import interval
from verification.certificates.interval import sigmoid, up
from verification.certificates.tube import cell_of

EPS = float(np.finfo(np.float64).eps)
#: Float error of up to three chained elementary operations, relative to the terms' magnitude.
RND = 4.0 * EPS
#: Matrix-vector rounding: ``|fl(W x) - W x| <= GAMMA n |W| |x|`` (Higham's gamma_n, doubled).
GAMMA = 2.0 * EPS
#: Absolute float error of a computed activation derivative at a point: a polynomial of degree
#: <= 5 in ``t = tanh(a)`` (or ``p = sigmoid(a)``), slope in ``t`` <= 60, after a few-ulp
#: ``tanh``: <= ~1e-13; 1e-12 leaves a factor 10.
FN_ABS = 1e-12
#: Absolute margin on :func:`d3` and :func:`d4` (covers the rounding of ends and of ``tanh``).
D_ABS = 1e-12
DEGREES = (1, 2)


@dataclass(frozen=True)
class TM:
    """Taylor model ``(a_0, ..., a_D; e)`` of a function of ``s`` on ``[-1, 1]``: see (TM).

    Attributes
    ----------
    a : tuple of D + 1 arrays (B, k): the coefficients of ``s**0 .. s**D``
    e : (B, k) remainder bound, ``>= 0``
    """

    a: tuple
    e: np.ndarray

    @property
    def D(self) -> int:
        return len(self.a) - 1

    @property
    def c(self) -> np.ndarray:
        """The value at ``s = 0`` (``a_0``)."""
        return self.a[0]

    def __getitem__(self, sl) -> TM:
        return TM(tuple(a[:, sl] for a in self.a), self.e[:, sl])

    @property
    def poly(self) -> np.ndarray:
        """``|P| = sum_k |a_k|``: a bound of the polynomial part over ``|s| <= 1``."""
        return sum(np.abs(a) for a in self.a)


def const(c: np.ndarray, D: int, err: np.ndarray | float = 0.0) -> TM:
    """A constant ``c`` known to ``err`` (absolute), degree ``D``."""
    c = np.asarray(c, float)
    return TM((c,) + tuple(np.zeros_like(c) for _ in range(D)),
              up(np.broadcast_to(err, c.shape).copy()))


def _lin(A: TM, B: TM, sign: float) -> TM:
    a = tuple(x + sign * y for x, y in zip(A.a, B.a, strict=True))
    return TM(a, up(A.e + B.e + RND * sum(np.abs(x) for x in a)))


def add(A: TM, B: TM) -> TM:
    """``A + B``."""
    return _lin(A, B, 1.0)


def sub(A: TM, B: TM) -> TM:
    """``A - B``."""
    return _lin(A, B, -1.0)


def one_minus(A: TM) -> TM:
    """``1 - A``."""
    c = 1.0 - A.a[0]
    return TM((c,) + tuple(-x for x in A.a[1:]), up(A.e + RND * np.abs(c)))


def mul(A: TM, B: TM) -> TM:
    """``A B`` (elementwise)."""
    D = A.D
    a, terms, over = [], 0.0, 0.0
    for k in range(2 * D + 1):
        prods = [A.a[i] * B.a[k - i] for i in range(max(0, k - D), min(k, D) + 1)]
        if k <= D:
            a.append(sum(prods))
            terms = terms + sum(np.abs(p) for p in prods)
        else:
            over = over + sum(np.abs(p) for p in prods)
    PA, PB = A.poly, B.poly
    e = over + PA * B.e + A.e * PB + A.e * B.e + RND * terms
    return TM(tuple(a), up(e))


def scale(k: np.ndarray, A: TM, k_err: np.ndarray | float = 0.0) -> TM:
    """``k A`` for a constant array ``k`` known to ``k_err`` (absolute)."""
    a = tuple(k * x for x in A.a)
    P = A.poly
    return TM(a, up(np.abs(k) * A.e + k_err * (P + A.e) + RND * sum(np.abs(x) for x in a)))


def matvec(W: np.ndarray, A: TM, rho: np.ndarray | None = None) -> TM:
    """``W (A + b)`` for every ``||b||_2 <= rho`` (``rho : (B,)``; none if ``None``).

    Parameters
    ----------
    W : (k, n)
    A : TM of shape (B, n)
    """
    absW = np.abs(W)
    a = tuple(x @ W.T for x in A.a)
    e = A.e @ absW.T + GAMMA * W.shape[1] * (A.poly @ absW.T)
    if rho is not None:
        e = e + np.sqrt(np.sum(W * W, axis=1))[None, :] * up(rho)[:, None]
    return TM(a, up(e))


def drive(W_x: np.ndarray, x: np.ndarray, b: np.ndarray, D: int) -> TM:
    """The constant ``W_x x + b`` with the float error of its evaluation, degree ``D``.

    ``x : (B, n_x)``, ``W_x : (k, n_x)``, ``b : (k,)``.
    """
    k = x @ W_x.T + b
    err = GAMMA * (W_x.shape[1] + 1) * (np.abs(x) @ np.abs(W_x).T + np.abs(b))
    return const(k, D, err)


def affine(W: np.ndarray, A: TM, rho: np.ndarray | None, W_x: np.ndarray, x: np.ndarray,
           b: np.ndarray) -> TM:
    """``W (A + ball) + W_x x + b`` (:func:`matvec` plus :func:`drive`)."""
    return add(matvec(W, A, rho), drive(W_x, x, b, A.D))


# ------------------------------------------------------------ activation derivatives
def _widen(a: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|s|`` range ``[s_lo, s_hi]`` over ``|s - a| <= r``, the ends widened outward."""
    lo, hi = a - r, a + r
    lo, hi = lo - 1e-12 * np.abs(lo) - 1e-300, hi + 1e-12 * np.abs(hi) + 1e-300
    s_lo = np.where((lo <= 0.0) & (hi >= 0.0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    return s_lo, np.maximum(np.abs(lo), np.abs(hi))


def _check_kind(kind: str) -> None:
    if kind not in interval.KINDS:
        raise ValueError(f"kind must be one of {interval.KINDS}, got {kind!r}")


def _ends(kind: str, a: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Range of ``|tanh|`` (``tanh``) or of ``sigmoid'`` (sigmoid) over ``|s - a| <= r``."""
    _check_kind(kind)
    s_lo, s_hi = _widen(np.asarray(a, float), np.asarray(r, float))
    if kind == "tanh":
        return np.tanh(s_lo), np.tanh(s_hi)
    return _q(s_hi), _q(s_lo)


def _d3(kind: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    if kind == "tanh":
        ends, vertex = (lo * lo, hi * hi), 2.0 / 3.0

        def P(T):
            return -2.0 + 8.0 * T - 6.0 * T * T
    else:
        ends, vertex = (lo, hi), 1.0 / 12.0

        def P(q):
            return q - 6.0 * q * q
    val = np.maximum(np.abs(P(ends[0])), np.abs(P(ends[1])))
    inside = (ends[0] <= vertex) & (ends[1] >= vertex)
    val = np.where(inside, np.maximum(val, abs(P(vertex))), val)
    return up(val + D_ABS)


def _d4(kind: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    if kind == "tanh":
        Ta, Tb = lo * lo, hi * hi
        val = hi * (1.0 - Ta) * np.maximum(np.abs(16 - 24 * Ta), np.abs(16 - 24 * Tb))
    else:
        # 1 - 4 q >= 0; its computed value may be off by ~4 eps, which sqrt would magnify
        val = hi * np.sqrt(np.maximum(1.0 - 4.0 * lo, 0.0) + 1e-14) * np.maximum(
            np.abs(1 - 12 * lo), np.abs(1 - 12 * hi))
    return up(val * (1.0 + 1e-12) + D_ABS)


def d3(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Upper bound of ``|phi'''(s)|`` over ``|s - a| <= r`` (elementwise), rounded outward.

    ``tanh''' = -2 + 8 T - 6 T**2`` with ``T = tanh(s)**2``; ``sigmoid''' = q - 6 q**2`` with
    ``q = sigmoid'(s)``. ``T`` (``q``) is monotone in ``|s|``, so over the interval it ranges
    over ``[T(s_lo), T(s_hi)]`` (``[q(s_hi), q(s_lo)]``) and the quadratic's largest modulus is
    at an end or at its vertex (``T = 2/3``; ``q = 1/12``).
    """
    return _d3(kind, *_ends(kind, a, r))


def d4(kind: str, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Upper bound of ``|phi''''(s)|`` over ``|s - a| <= r`` (elementwise), rounded outward.

    ``tanh'''' = t (1 - T) (16 - 24 T)`` (``t = tanh s``, ``T = t**2``) and
    ``sigmoid'''' = q (1 - 2 p) (1 - 12 q)`` (``p = sigmoid s``, ``q = p (1 - p)``,
    ``|1 - 2 p| = sqrt(1 - 4 q)``): each factor is bounded separately over the interval's range
    of ``T`` (``q``), a product of suprema.
    """
    return _d4(kind, *_ends(kind, a, r))


def _q(s: np.ndarray) -> np.ndarray:
    p = sigmoid(s)
    return p * (1.0 - p)


def derivatives(kind: str, a: np.ndarray, K: int) -> list[np.ndarray]:
    """``[phi(a), phi'(a), ..., phi^(K)(a)]`` for ``K <= 4`` (each to ``FN_ABS``)."""
    _check_kind(kind)
    if kind == "tanh":
        t = np.tanh(a)
        T = t * t
        out = [t, 1.0 - T, -2.0 * t * (1.0 - T), -2.0 + 8.0 * T - 6.0 * T * T,
               t * (1.0 - T) * (16.0 - 24.0 * T)]
    else:
        p = sigmoid(a)
        q = p * (1.0 - p)
        out = [p, q, q * (1.0 - 2.0 * p), q * (1.0 - 6.0 * q),
               q * (1.0 - 2.0 * p) * (1.0 - 12.0 * q)]
    return out[:K + 1]


def _sups(kind: str, D: int, a: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sup |phi^(D+1)|`` and ``sup |phi^(D+2)|`` over ``|s - a| <= r`` (``D`` in 1, 2)."""
    ends = _ends(kind, a, r)
    if D == 1:
        return interval.d2(kind, a, r), _d3(kind, *ends)
    return _d3(kind, *ends), _d4(kind, *ends)


def act(kind: str, A: TM) -> tuple[TM, TM]:
    """``phi(A)`` and ``phi'(A)`` for ``phi`` = ``tanh`` or ``sigmoid`` (see the module)."""
    D = A.D
    a0 = A.a[0]
    zero = np.zeros_like(a0)
    x = TM((zero,) + A.a[1:], A.e)
    m = up(x.poly + A.e)
    der = derivatives(kind, a0, D + 1)
    powers = [const(np.ones_like(a0), D), x]
    for _ in range(2, D + 1):
        powers.append(mul(powers[-1], x))
    out = []
    sups = _sups(kind, D, a0, m)
    for shift in (0, 1):  # phi, then phi'
        acc = const(der[shift], D, FN_ABS)
        for k in range(1, D + 1):
            acc = add(acc, scale(der[shift + k] / factorial(k), powers[k], FN_ABS))
        lag = sups[shift] * m ** (D + 1) / factorial(D + 1)
        out.append(TM(acc.a, up(acc.e + lag)))
    return out[0], out[1]


def _ball(Z: TM, rho: np.ndarray) -> TM:
    """``Z`` plus a ball of radius ``rho`` taken componentwise (``|b_i| <= rho``)."""
    return TM(Z.a, up(Z.e + up(rho)[:, None]))


# ------------------------------------------------------------------------------- cells
def tangent_model(model: object, x: np.ndarray, Z: TM, rho: np.ndarray, V: TM) -> TM:
    """Taylor model of ``J(z(s), x) v(s)`` over ``z(s) = Z(s) + b``, ``||b|| <= rho``.

    Parameters
    ----------
    model : a cell (``elman`` tanh/linear, ``lstm``, ``gru``; parameters as in ``systems``)
    x : (B, n_x) inputs of the step
    Z : TM (B, n_z) of the state
    rho : (B,) radius of a ball of unknown direction around ``Z`` (e.g. the float error of the
        traced centre and the propagated remainder)
    V : TM (B, n_z) of the tangent, of the same degree as ``Z``

    Returns
    -------
    TM (B, n_z) of ``J(z(s)) v(s)``: ``a_0`` = ``J(Z.c) V.c`` (to rounding), ``a_k`` its
    ``k``-th derivative in ``s`` at ``s = 0`` over ``k!``, ``e`` per (TM).
    """
    if Z.D not in DEGREES or V.D != Z.D:
        raise ValueError(f"Z and V must have the same degree in {DEGREES}, got {Z.D}, {V.D}")
    cell = cell_of(model)
    rho = np.asarray(rho, float)
    if cell == "elman":
        return _elman(model, x, Z, rho, V)
    if cell == "lstm":
        return _lstm(model, x, Z, rho, V)
    return _gru(model, x, Z, rho, V)


def second_derivative(model: object, z: np.ndarray, x: np.ndarray, v: np.ndarray,
                      w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``D^2 f(z, x)[v, w]`` and ``D^3 f(z, x)[v, v, w]`` (``w = v`` if omitted): the
    coefficients of ``s`` and ``s**2`` (times 2) of :func:`tangent_model` along ``z + s v`` with
    the tangent ``w`` held fixed. Shapes ``(B, n_z)``."""
    v = np.asarray(v, float)
    w = v if w is None else np.asarray(w, float)
    zero = np.zeros_like(v)
    T = tangent_model(model, np.asarray(x, float), TM((np.asarray(z, float), v, zero), zero),
                      np.zeros(v.shape[0]), TM((w, zero, zero), zero))
    return T.a[1], 2.0 * T.a[2]


def _elman(model, x, Z, rho, V):
    W = np.asarray(model.W_hh, float)
    dA = matvec(W, V)
    if getattr(model, "activation", "tanh") == "linear":
        return dA
    A = affine(W, Z, rho, np.asarray(model.W_xh, float), x, np.asarray(model.b_h, float))
    _, slope = act("tanh", A)
    return mul(slope, dA)


def _lstm(model, x, Z, rho, V):
    n = model.W_hh.shape[1]
    W = np.asarray(model.W_hh, float)
    # b_ih + b_hh is one more rounding: covered by affine's (n_x + 1) gamma on |b| (doubled)
    A = affine(W, Z[:n], rho, np.asarray(model.W_ih, float), x,
               np.asarray(model.b_ih, float) + np.asarray(model.b_hh, float))
    dA = matvec(W, V[:n])
    gate = {k: slice(j * n, (j + 1) * n) for j, k in enumerate("ifgo")}
    val, dval = {}, {}
    for k in "ifgo":
        val[k], slope = act("tanh" if k == "g" else "sigmoid", A[gate[k]])
        dval[k] = mul(slope, dA[gate[k]])
    C = _ball(Z[n:], rho)
    c_new = add(mul(val["f"], C), mul(val["i"], val["g"]))
    dc = add(add(mul(dval["f"], C), mul(val["f"], V[n:])),
             add(mul(dval["i"], val["g"]), mul(val["i"], dval["g"])))
    tc, tslope = act("tanh", c_new)
    dh = add(mul(dval["o"], tc), mul(val["o"], mul(tslope, dc)))
    return TM(tuple(np.concatenate([p, q], axis=1) for p, q in zip(dh.a, dc.a, strict=True)),
              np.concatenate([dh.e, dc.e], axis=1))


def _gru(model, x, Z, rho, V):
    n = model.W_hh.shape[1]
    W = np.asarray(model.W_hh, float)
    W_ih, b_ih, b_hh = (np.asarray(getattr(model, k), float) for k in ("W_ih", "b_ih", "b_hh"))
    g2 = slice(0, 2 * n)
    A = affine(W[g2], Z, rho, W_ih[g2], x, b_ih[g2] + b_hh[g2])
    Q = add(matvec(W[2 * n:], Z, rho), const(np.broadcast_to(b_hh[2 * n:], (x.shape[0], n)), Z.D))
    dA = matvec(W, V)
    r, dr_da = act("sigmoid", A[:n])
    u, du_da = act("sigmoid", A[n:])
    pre = add(drive(W_ih[2 * n:], x, b_ih[2 * n:], Z.D), mul(r, Q))
    nv, dn_da = act("tanh", pre)
    dr, du = mul(dr_da, dA[:n]), mul(du_da, dA[n:2 * n])
    dn = mul(dn_da, add(mul(dr, Q), mul(r, dA[2 * n:])))
    H = _ball(Z, rho)
    return add(add(mul(du, sub(H, nv)), mul(one_minus(u), dn)), mul(u, V))
