"""The LSTM kernel's elementwise passes compiled with numba (float32; optional, ``--kernel numba``).

Same buffers, products and equations as :class:`systems.batched_lstm.BatchedLSTM` (its
docstring has them); what differs is how each step's elementwise work runs. NumPy needs about
38 passes over ``(n_h, K, B)`` blocks per step, each a call that reads and writes memory; here
each step's forward activations (four gates, ``c_t``, ``h_t``) and backward factors (``dc_t``,
the four ``da``) are one compiled loop over the ``K B`` windows, every number read once and
kept in registers. The three stacked products stay NumPy's (``np.matmul``, OpenBLAS).

``tanh`` is :func:`tanh32`, a rational function that LLVM vectorises (numba's ``math.tanh``
calls libm once per number, slower than the whole NumPy step); the sigmoids are
``(1 + tanh(a/2)) / 2`` with the halves folded into ``W``, as in NumPy's float32 route. Its
error against the exact ``tanh`` is a few float32 units (measured in ``tests/test_batched.py``
over 2^20 inputs), so a float32 training with this kernel agrees with the NumPy kernel's to
float32 rounding, not bit for bit: a study or tuning run records which kernel trained it and
never mixes the two. Speed: ``benchmarks/kernel_scaling.py``, ``docs/performance_sweep.md``.

numba is an optional dependency (``pip install "burnin[fast]"``); :func:`available` says
whether it imports.
"""

from __future__ import annotations

import numpy as np

from .batched_lstm import BatchedLSTM

try:  # the optional compiler
    import numba
except ImportError:  # pragma: no cover - exercised where numba is absent
    numba = None

#: The kernels a trainer can run: NumPy passes (the reference) or the numba-compiled ones.
KERNELS = ("numpy", "numba")


def available() -> bool:
    """Whether numba imports (the ``numba`` kernel can run)."""
    return numba is not None


def check_kernel(kernel: object, cell: str, dtype: object) -> str:
    """``kernel`` if it can train ``cell`` in ``dtype``, else ``ValueError`` saying why."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "numba":
        if cell != "lstm" or np.dtype(dtype) != np.float32:
            raise ValueError(f"the numba kernel trains LSTMs in float32, not {cell} in "
                             f"{np.dtype(dtype).name}; use --kernel numpy")
        if not available():
            raise ValueError('the numba kernel needs numba: pip install "burnin[fast]" '
                             "(or --kernel numpy)")
    return str(kernel)


if numba is not None:
    # reassoc/contract only: no "nnan"/"ninf" (a diverging model must stay NaN, not be
    # clamped); error_model="numpy": no zero-division branch, so the loops vectorise.
    _JIT = {"fastmath": {"reassoc", "contract"}, "error_model": "numpy", "cache": True}
    _f32 = np.float32

    @numba.njit(inline="always", **_JIT)
    def tanh32(x):  # noqa: ANN001, ANN201 - numba's scalar types
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
    def tanh32_array(x):  # noqa: ANN001, ANN201
        """:func:`tanh32` of every number of a float32 array (a new array; for tests)."""
        out = np.empty_like(x)
        flat, res = x.ravel(), out.ravel()
        for i in range(flat.size):
            res[i] = tanh32(flat[i])
        return out

    @numba.njit(**_JIT)
    def _forward_step(S, A, c_prev, c, h, n):  # noqa: ANN001, ANN201
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
    def _backward_step(dh, A, h, c_prev, carry, D, n):  # noqa: ANN001, ANN201
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


class BatchedLSTMNumba(BatchedLSTM):
    """:class:`~systems.batched_lstm.BatchedLSTM` with numba-compiled elementwise passes
    (float32 only; same parameters)."""

    kernel = "numba"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_kernel("numba", self.cell, self.dtype)
        N, R, n, F, M = self.N, self.R, self.n_h, self.F, self.K * self.B
        # the buffers as (rows, K B): every row block of a step is one contiguous run
        self._S2 = self._S.reshape(R, M)
        self._A2 = self.A.reshape(N + 1, R, M)
        self._C2 = self.C.reshape(N + 1, n, M)
        self._Z2 = self.Z.reshape(N + 1, F, M)
        self._D2 = self.D.reshape(2, R, M)
        self._dh2 = self._dh.reshape(n, M)
        self._carry2 = self._carry.reshape(n, M)

    def _forward_steps(self) -> None:
        W, S_mm, S2, A2, C2, Z2, Zmm, n = (self._W, self._Smm, self._S2, self._A2, self._C2,
                                           self._Z2, self._Zmm, self.n_h)
        matmul = np.matmul
        for t in range(1, self.N + 1):
            matmul(W, Zmm[t - 1], S_mm)  # scaled pre-activations of step t, y_{t-1}
            _forward_step(S2, A2[t - 1], C2[t - 1], C2[t], Z2[t, :n], n)

    def _backward_steps(self) -> None:
        n = self.n_h
        Wback, dh_mm, gtmp, gacc = (self._Wback, self._dh.transpose(1, 0, 2), self._gtmp,
                                    self._gacc)
        A2, Z2, C2, D2, dh2, carry2 = (self._A2, self._Z2, self._C2, self._D2, self._dh2,
                                       self._carry2)
        Dmm, ZmmT = self._Dmm, self._ZmmT
        matmul, add = np.matmul, np.add
        carry2[...] = 0.0
        for t in range(self.N, 0, -1):
            s = (t - 1) % 2
            matmul(Wback, Dmm[1 - s], dh_mm)  # dh_t = W_hh^T da_{t+1} + W_hy^T gy_t
            _backward_step(dh2, A2[t - 1], Z2[t, :n], C2[t - 1], carry2, D2[s], n)
            matmul(Dmm[s], ZmmT[t - 1], gtmp)  # dV/dW += [da_t; gy_{t-1}] Z[t-1]^T
            add(gacc, gtmp, gacc)
