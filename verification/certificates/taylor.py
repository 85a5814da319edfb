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
  with one derivative more (:func:`interval.d2`, :func:`interval.d3`, :func:`interval.d4`);
* ``W A`` (+ a ball ``||b|| <= rho`` of unknown direction): ``W a_k``, ``|W| e + ||W_k|| rho``.

Along the segment, ``a_0`` is the exact signed tangent at the piece centre, ``a_1`` its first
derivative in ``s`` (``delta (D^2 f[v, v] + J w)``, the second directional derivative of the
flow) and ``a_2`` half the second (the third directional derivative), all exact and signed; the
remainder ``e`` is of order ``delta**(D+1)`` (:func:`second_derivative` exposes ``D^2 f`` and
``D^3 f`` of the cell for the tests).

Rounding: every coefficient is computed in float64 and its error is added to ``e``: sums and
products by ``RND`` (``4 eps >= gamma_3``) times the magnitude of the exact terms; matrix-vector
products and the input drive ``W_x x + b`` by Higham's ``gamma_k`` (``gamma_n |W| |x|``; the
drive through :func:`step_error.affine`, the input and bias terms counted in full); each
activation derivative at the centre by its own bound from :func:`interval.derivatives`
(cancellation-free forms, error relative to the terms' absolute values: a saturated slope
``~1e-17`` is known to ``~1e-31``, not to an absolute ``1e-12``). The non-negative ``e`` sums are
rounded up with :func:`interval.up`; the suprema :func:`interval.d2`, :func:`interval.d3`,
:func:`interval.d4` are outward-rounded enclosures.

Cells (as in :mod:`~verification.certificates.tube`): ``elman`` (``tanh`` or linear), ``lstm``
(``z = (h, c)``), ``gru``.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

from verification.certificates import interval, step_error
from verification.certificates.interval import d3, d4, gamma, up
from verification.certificates.step_error import cell_of

__all__ = ["DEGREES", "RND", "TM", "act", "add", "affine", "const", "d3", "d4", "drive", "matvec",
           "mul", "one_minus", "scale", "second_derivative", "sub", "tangent_model"]

EPS = float(np.finfo(np.float64).eps)
#: Float error of up to three chained elementary operations, relative to the terms' magnitude.
RND = 4.0 * EPS
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
    e = A.e @ absW.T + gamma(W.shape[1]) * (A.poly @ absW.T)
    if rho is not None:
        e = e + np.sqrt(np.sum(W * W, axis=1))[None, :] * up(rho)[:, None]
    return TM(a, up(e))


def drive(W_x: np.ndarray, x: np.ndarray, b: list[np.ndarray], D: int) -> TM:
    """The constant ``W_x x + sum(b)`` with the float error of its evaluation, degree ``D``.

    ``x : (B, n_x)``, ``W_x : (k, n_x)``, ``b``: bias vectors ``(k,)`` (:func:`step_error.affine`).
    """
    val, err = step_error.affine([(W_x, x)], b)
    return const(val, D, err)


def affine(W: np.ndarray, A: TM, rho: np.ndarray | None, W_x: np.ndarray, x: np.ndarray,
           b: list[np.ndarray]) -> TM:
    """``W (A + ball) + W_x x + sum(b)`` (:func:`matvec` plus :func:`drive`)."""
    return add(matvec(W, A, rho), drive(W_x, x, b, A.D))


# ------------------------------------------------------------ activation derivatives
def _sups(kind: str, D: int, a: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sup |phi^(D+1)|`` and ``sup |phi^(D+2)|`` over ``|s - a| <= r`` (``D`` in 1, 2)."""
    if D == 1:
        return interval.d2(kind, a, r), d3(kind, a, r)
    return interval.d34(kind, a, r)


def act(kind: str, A: TM) -> tuple[TM, TM]:
    """``phi(A)`` and ``phi'(A)`` for ``phi`` = ``tanh`` or ``sigmoid`` (see the module)."""
    D = A.D
    a0 = A.a[0]
    zero = np.zeros_like(a0)
    x = TM((zero,) + A.a[1:], A.e)
    m = up(x.poly + A.e)
    der, err = interval.derivatives(kind, a0, D + 1)
    powers = [const(np.ones_like(a0), D), x]
    for _ in range(2, D + 1):
        powers.append(mul(powers[-1], x))
    out = []
    sups = _sups(kind, D, a0, m)
    for shift in (0, 1):  # phi, then phi'
        acc = const(der[shift], D, err[shift])
        for k in range(1, D + 1):
            c_k = der[shift + k] / factorial(k)  # its error: the derivative's, and the division's
            acc = add(acc, scale(c_k, powers[k], up(err[shift + k] / factorial(k)
                                                    + interval.U * np.abs(c_k))))
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
    A = affine(W, Z, rho, np.asarray(model.W_xh, float), x, [np.asarray(model.b_h, float)])
    _, slope = act("tanh", A)
    return mul(slope, dA)


def _lstm(model, x, Z, rho, V):
    n = model.W_hh.shape[1]
    W = np.asarray(model.W_hh, float)
    A = affine(W, Z[:n], rho, np.asarray(model.W_ih, float), x,
               [np.asarray(model.b_ih, float), np.asarray(model.b_hh, float)])
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
    A = affine(W[g2], Z, rho, W_ih[g2], x, [b_ih[g2], b_hh[g2]])
    Q = add(matvec(W[2 * n:], Z, rho), const(np.broadcast_to(b_hh[2 * n:], (x.shape[0], n)), Z.D))
    dA = matvec(W, V)
    r, dr_da = act("sigmoid", A[:n])
    u, du_da = act("sigmoid", A[n:])
    pre = add(drive(W_ih[2 * n:], x, [b_ih[2 * n:]], Z.D), mul(r, Q))
    nv, dn_da = act("tanh", pre)
    dr, du = mul(dr_da, dA[:n]), mul(du_da, dA[n:2 * n])
    dn = mul(dn_da, add(mul(dr, Q), mul(r, dA[2 * n:])))
    H = _ball(Z, rho)
    return add(add(mul(du, sub(H, nv)), mul(one_minus(u), dn)), mul(u, V))
