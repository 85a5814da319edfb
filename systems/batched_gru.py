"""The GRU's passes of :class:`systems.batched.BatchedBPTT`: ``K`` models side by side.

Same equations as :mod:`systems.bptt_gru` (``u`` is torch's update gate ``z``)::

    r, u = sigma(a_r, a_u),  q = W_hn h_{t-1} + b_hn,  p = W_in x_t + b_in,
    n = tanh(p + r q),  h_t = n + u (h_{t-1} - n)

The four pre-activation blocks ``(a_r, a_u, q, p)`` come from the one product
``A[t-1] = W Z[t-1]`` (``q`` without the input columns, ``p`` without the hidden ones), so the
backward pass's ``D_{t-1} = [da_r; da_u; dq; dp; gy_{t-1}]`` gives every parameter's gradient
in ``sum_t D_t Z[t]^T``. Backward, the forward step read in reverse::

    dh_t = W_h^T [da_r; da_u; dq]_{t+1} + W_hy^T gy_t + u_{t+1} dh_{t+1}
    da_u = dh_t (h_{t-1} - n) u (1 - u),   dp = dh_t (1 - u) (1 - n^2)
    dq = dp r,   da_r = dp q r (1 - r)
"""

from __future__ import annotations

import numpy as np

from .batched import BatchedBPTT


class BatchedGRU(BatchedBPTT):
    """``K`` GRUs (see :class:`~systems.batched.BatchedBPTT` for the parameters)."""

    cell = "gru"
    P = 4

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        N, n, K, B, dt = self.N, self.n_h, self.K, self.B, self.dtype
        self._tmp, self._w1, self._dn, self._direct = (np.empty((n, K, B), dt) for _ in range(4))
        self._one = np.array(1.0, dt)
        A, Z = self.A, self.Z
        self._steps = [
            (self._Zmm[t - 1], A[t - 1, : 2 * n], A[t - 1, :n],
             A[t - 1, n : 2 * n], A[t - 1, 2 * n : 3 * n], A[t - 1, 3 * n : 4 * n],
             Z[t - 1, :n], Z[t, :n], A[t - 1, 4 * n :], self._ZmmT[t - 1],
             *self._back_views(t))
            for t in range(1, N + 1)
        ]

    def _layout(self) -> tuple[np.ndarray, np.ndarray]:
        n, n_x, n_y = self.n_h, self.n_x, self.n_y
        idx, sl = self._index()
        ru, q, p, out = (idx[0, : 2 * n], idx[0, 2 * n : 3 * n], idx[0, 3 * n : 4 * n],
                         idx[0, 4 * n :])
        h_cols, b_col, x_cols = slice(0, n), slice(n, n + 1), slice(n + 1, None)
        self._place(ru, h_cols, sl["W_hh"].start, np.arange(2 * n), n)
        self._place(ru, b_col, sl["b_ih"].start, np.arange(2 * n), 1)
        self._place(idx[1, : 2 * n], b_col, sl["b_hh"].start, np.arange(2 * n), 1)
        self._place(ru, x_cols, sl["W_ih"].start, np.arange(2 * n), n_x)
        self._place(q, h_cols, sl["W_hh"].start, np.arange(2 * n, 3 * n), n)
        self._place(q, b_col, sl["b_hh"].start, np.arange(2 * n, 3 * n), 1)
        self._place(p, b_col, sl["b_ih"].start, np.arange(2 * n, 3 * n), 1)
        self._place(p, x_cols, sl["W_ih"].start, np.arange(2 * n, 3 * n), n_x)
        self._place(out, h_cols, sl["W_hy"].start, np.arange(n_y), n)
        self._place(out, b_col, sl["b_y"].start, np.arange(n_y), 1)
        return idx, np.r_[np.full(2 * n, self.route.sig_scale), np.ones(2 * n + n_y)]

    def _forward_steps(self) -> None:
        n = self.n_h
        W, tmp, S_mm = self._W, self._tmp, self._Smm
        S_ru, S_q, S_p, S_y = (self._S[: 2 * n], self._S[2 * n : 3 * n],
                               self._S[3 * n : 4 * n], self._S[4 * n :])
        gates, tanh = self.route.gates, self.route.tanh
        mul, add, sub, matmul, copyto = np.multiply, np.add, np.subtract, np.matmul, np.copyto
        for z_prev, ru, r, u, q, p, h_prev, h, y_prev, *_ in self._steps:
            matmul(W, z_prev, S_mm)  # (a_r, a_u) scaled, q, p, y_{t-1}
            copyto(y_prev, S_y)
            copyto(q, S_q)
            gates(S_ru, ru, ru, None)  # r, u
            mul(r, q, tmp)
            add(S_p, tmp, p)
            tanh(p, p)  # n = tanh(p + r q), kept in the p rows
            sub(h_prev, p, tmp)
            mul(tmp, u, tmp)
            add(tmp, p, h)  # h_t = n + u (h_{t-1} - n)

    def _backward_steps(self) -> None:
        n = self.n_h
        Wback, dh, tmp, w1, dn, direct = (self._Wback, self._dh, self._tmp, self._w1, self._dn,
                                          self._direct)
        dh_mm = dh.transpose(1, 0, 2)
        gtmp, gacc = self._gtmp, self._gacc
        mul, add, sub, matmul = np.multiply, np.add, np.subtract, np.matmul
        one = self._one
        direct[...] = 0.0
        for _, _, r, u, q, nn, h_prev, _, _, zT, d4, d_mm, d_next, gy, d_gy in reversed(
                self._steps):
            d_r, d_u, d_q, d_p = d4[:n], d4[n : 2 * n], d4[2 * n : 3 * n], d4[3 * n :]
            matmul(Wback, d_next, dh_mm)
            add(dh, direct, dh)  # dh_t
            sub(h_prev, nn, w1)
            mul(w1, dh, w1)  # dV/du
            sub(one, u, tmp)
            mul(tmp, dh, dn)  # dV/dn = (1 - u) dh
            mul(dh, u, direct)  # u dh_t, for step t - 1
            mul(tmp, u, tmp)
            mul(tmp, w1, d_u)  # da_u
            mul(nn, nn, w1)
            sub(one, w1, w1)
            mul(w1, dn, d_p)  # dp = dn (1 - n^2)
            mul(d_p, q, tmp)  # dV/dr = dp q
            mul(d_p, r, d_q)  # dq = dp r
            sub(one, r, w1)
            mul(w1, r, w1)
            mul(w1, tmp, d_r)  # da_r
            d_gy[...] = gy
            matmul(d_mm, zT, gtmp)  # dV/dW += D_{t-1} Z[t-1]^T
            add(gacc, gtmp, gacc)
