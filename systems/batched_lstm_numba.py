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
error against the exact ``tanh`` is at most 4.25 float32 units (every 512th float32 in
``(-10, 10)``, 4.3 million inputs; ``tests/test_batched_numba.py`` checks 6), so a float32
training with this kernel agrees with the NumPy kernel's to float32 rounding, not bit for bit:
a study or tuning run records which kernel trained it and never mixes the two. Speed:
``benchmarks/kernel_scaling.py``, ``docs/performance_sweep.md``.

numba is an optional dependency (``pip install "burnin[fast]"``); :func:`available` says
whether it imports.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .batched_lstm import BatchedLSTM

#: The kernels a trainer can run: NumPy passes (the reference) or the numba-compiled ones.
KERNELS = ("numpy", "numba")


def available() -> bool:
    """Whether numba is installed (the ``numba`` kernel can run); does not import it."""
    return importlib.util.find_spec("numba") is not None


def tanh32_array(x: np.ndarray) -> np.ndarray:
    """The compiled kernel's ``tanh`` of every number of a float32 array (a new array)."""
    from ._numba_lstm import tanh32_array as compiled

    return compiled(np.ascontiguousarray(x, dtype=np.float32))


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


class BatchedLSTMNumba(BatchedLSTM):
    """:class:`~systems.batched_lstm.BatchedLSTM` with numba-compiled elementwise passes
    (float32 only; same parameters)."""

    kernel = "numba"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_kernel("numba", self.cell, self.dtype)
        from ._numba_lstm import backward_step, forward_step

        self._fwd, self._bwd = forward_step, backward_step
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
        matmul, fwd = np.matmul, self._fwd
        for t in range(1, self.N + 1):
            matmul(W, Zmm[t - 1], S_mm)  # scaled pre-activations of step t, y_{t-1}
            fwd(S2, A2[t - 1], C2[t - 1], C2[t], Z2[t, :n], n)

    def _backward_steps(self) -> None:
        n = self.n_h
        Wback, dh_mm, gtmp, gacc = (self._Wback, self._dh.transpose(1, 0, 2), self._gtmp,
                                    self._gacc)
        A2, Z2, C2, D2, dh2, carry2 = (self._A2, self._Z2, self._C2, self._D2, self._dh2,
                                       self._carry2)
        Dmm, ZmmT = self._Dmm, self._ZmmT
        matmul, add, bwd = np.matmul, np.add, self._bwd
        carry2[...] = 0.0
        for t in range(self.N, 0, -1):
            s = (t - 1) % 2
            matmul(Wback, Dmm[1 - s], dh_mm)  # dh_t = W_hh^T da_{t+1} + W_hy^T gy_t
            bwd(dh2, A2[t - 1], Z2[t, :n], C2[t - 1], carry2, D2[s], n)
            matmul(Dmm[s], ZmmT[t - 1], gtmp)  # dV/dW += [da_t; gy_{t-1}] Z[t-1]^T
            add(gacc, gtmp, gacc)
