"""The compiled passes of :mod:`systems.batched_lstm_numba` (imports numba: import lazily).

Kept apart so that importing the trainer, the CLI or the kernel registry never imports numba;
``BatchedLSTMNumba`` imports this module when it is built.
"""

from __future__ import annotations

import numba
import numpy as np

# reassoc/contract only: no "nnan"/"ninf" (a diverging model must stay NaN, not be
# clamped); error_model="numpy": no zero-division branch, so the loops vectorise.
_JIT = {"fastmath": {"reassoc", "contract"}, "error_model": "numpy", "cache": True}
_f32 = np.float32


@numba.njit(inline="always", **_JIT)
def tanh32(x):
    """``tanh(x)`` in float32: the 13/6 rational interpolant of Eigen's
    ``generic_fast_tanh_float`` on ``[-9, 9]`` (outside, ``tanh`` is +-1 in float32),
    ``x`` itself below ``4e-4``; NaN stays NaN."""
    if x > _f32(9.0):
        x = _f32(9.0)
    if x < _f32(-9.0):
        x = _f32(-9.0)
    x2 = x * x
    p = x2 * _f32(-2.76076847742355e-16) + _f32(2.00018790482477e-13)
    p = x2 * p + _f32(-8.60467152213735e-11)
    p = x2 * p + _f32(5.12229709037114e-08)
    p = x2 * p + _f32(1.48572235717979e-05)
    p = x2 * p + _f32(6.37261928875436e-04)
    p = x2 * p + _f32(4.89352455891786e-03)
    q = x2 * _f32(1.19825839466702e-06) + _f32(1.18534705686654e-04)
    q = x2 * q + _f32(2.26843463243900e-03)
    q = x2 * q + _f32(4.89352518554385e-03)
    r = x * (p / q)
    if abs(x) < _f32(4e-4):  # tanh(x) = x to within x^2 / 3 < half a unit; and x p would
        r = x  # underflow near the smallest normal numbers
    return r


@numba.njit(**_JIT)
def tanh32_array(x):
    """:func:`tanh32` of every number of a float32 array (a new array; for tests)."""
    out = np.empty_like(x)
    flat, res = x.ravel(), out.ravel()
    for i in range(flat.size):
        res[i] = tanh32(flat[i])
    return out


@numba.njit(**_JIT)
def forward_step(S, A, c_prev, c, h, n):
    """One forward step. ``S : (R, M)`` the scaled pre-activations and ``y_{t-1}``
    (``M = K B``); writes the gates ``(i, f, o, g)`` and ``y_{t-1}`` to ``A : (R, M)``,
    ``c_t = f c_{t-1} + i g`` to ``c``, ``h_t = o tanh(c_t)`` to ``h`` (``(n, M)``)."""
    R, M = S.shape
    half = _f32(0.5)
    for j in range(n):
        for b in range(M):
            i = half * tanh32(S[j, b]) + half
            f = half * tanh32(S[n + j, b]) + half
            o = half * tanh32(S[2 * n + j, b]) + half
            g = tanh32(S[3 * n + j, b])
            A[j, b] = i
            A[n + j, b] = f
            A[2 * n + j, b] = o
            A[3 * n + j, b] = g
            ct = f * c_prev[j, b] + i * g
            c[j, b] = ct
            h[j, b] = o * tanh32(ct)
    for r in range(4 * n, R):
        for b in range(M):
            A[r, b] = S[r, b]


@numba.njit(**_JIT)
def backward_step(dh, A, h, c_prev, carry, D, n):
    """One backward step: from ``dh_t : (n, M)``, the stored gates ``A : (R, M)``,
    ``h_t``, ``c_{t-1}`` and ``carry = dc_{t+1} f_{t+1}`` (updated to ``dc_t f_t``), write
    ``D_{t-1} = [da_t; gy_{t-1}] : (R, M)``."""
    R, M = A.shape
    one = _f32(1.0)
    floor = _f32(np.finfo(np.float32).tiny)
    for j in range(n):
        for b in range(M):
            i = A[j, b]
            f = A[n + j, b]
            o = A[2 * n + j, b]
            g = A[3 * n + j, b]
            ht = h[j, b]
            dhj = dh[j, b]
            tc = ht / max(o, floor)  # tanh(c_t) = h_t / o_t, as the NumPy kernel
            dc = dhj * (o - ht * tc) + carry[j, b]
            carry[j, b] = dc * f
            D[j, b] = dc * g * (i * (one - i))
            D[n + j, b] = dc * c_prev[j, b] * (f * (one - f))
            D[2 * n + j, b] = dhj * tc * (o * (one - o))
            D[3 * n + j, b] = dc * i * (one - g * g)
    for r in range(4 * n, R):
        for b in range(M):
            D[r, b] = A[r, b]
