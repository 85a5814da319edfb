"""The Elman RNN's passes of :class:`systems.batched.BatchedBPTT`: ``K`` models side by side.

``h_t = sigma(W_hh h_{t-1} + W_xh x_t + b_h)`` (``tanh`` or linear), as :mod:`systems.bptt`;
backward ``dh_t = W_hh^T da_{t+1} + W_hy^T gy_t`` (one product with ``A[t]``) and
``da_t = dh_t (1 - h_t^2)`` (``dh_t`` for linear).
"""

from __future__ import annotations

import numpy as np

from .batched import BatchedBPTT


class BatchedElman(BatchedBPTT):
    """``K`` Elman RNNs (see :class:`~systems.batched.BatchedBPTT` for the parameters)."""

    cell = "elman"
    P = 1

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        N, n = self.N, self.n_h
        self._tmp = np.empty((n, self.K, self.B), self.dtype)
        self._one = np.array(1.0, self.dtype)
        A, Z = self.A, self.Z
        self._steps = [(self._Zmm[t - 1], Z[t, :n], A[t - 1, n:], self._ZmmT[t - 1],
                        *self._back_views(t)) for t in range(1, N + 1)]

    def _layout(self) -> tuple[np.ndarray, np.ndarray]:
        n, n_x, n_y = self.n_h, self.n_x, self.n_y
        idx, sl = self._index()
        hid, out = idx[0, :n], idx[0, n:]
        self._place(hid, slice(0, n), sl["W_hh"].start, np.arange(n), n)
        self._place(hid, slice(n, n + 1), sl["b_h"].start, np.arange(n), 1)
        self._place(hid, slice(n + 1, None), sl["W_xh"].start, np.arange(n), n_x)
        self._place(out, slice(0, n), sl["W_hy"].start, np.arange(n_y), n)
        self._place(out, slice(n, n + 1), sl["b_y"].start, np.arange(n_y), 1)
        return idx, np.ones(n + n_y)

    def _forward_steps(self) -> None:
        n, W, S_mm = self.n_h, self._W, self._Smm
        S_a, S_y = self._S[:n], self._S[n:]
        matmul, copyto = np.matmul, np.copyto
        tanh = self.route.tanh if self.activation == "tanh" else None
        for z_prev, h, y_prev, *_ in self._steps:
            matmul(W, z_prev, S_mm)  # pre-activation of step t, y_{t-1}
            copyto(y_prev, S_y)
            if tanh is None:
                copyto(h, S_a)
            else:
                tanh(S_a, h)  # h_t (the pre-activation is not kept: da_t needs only h_t)

    def _backward_steps(self) -> None:
        Wback, dh, tmp, one = self._Wback, self._dh, self._tmp, self._one
        dh_mm = dh.transpose(1, 0, 2)
        gtmp, gacc = self._gtmp, self._gacc
        mul, add, sub, matmul = np.multiply, np.add, np.subtract, np.matmul
        tanh = self.activation == "tanh"
        for _, h, _, zT, da, d_mm, d_next, gy, d_gy in reversed(self._steps):
            matmul(Wback, d_next, dh_mm)  # dh_t = W_hh^T da_{t+1} + W_hy^T gy_t
            if tanh:
                mul(h, h, tmp)
                sub(one, tmp, tmp)
                mul(dh, tmp, da)  # da_t = dh_t (1 - h_t^2)
            else:
                da[...] = dh
            d_gy[...] = gy
            matmul(d_mm, zT, gtmp)  # dV/dW += D_{t-1} Z[t-1]^T
            add(gacc, gtmp, gacc)
