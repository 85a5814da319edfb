"""The LSTM's passes of :class:`systems.batched.BatchedBPTT`: ``K`` models side by side.

Same equations as :mod:`systems.bptt_lstm` (torch's gates; ``a`` the pre-activations)::

    i, f, o = sigma(a_i, a_f, a_o),  g = tanh(a_g),  c_t = f c_{t-1} + i g,  h_t = o tanh(c_t)

    dh_t = W_hh^T da_{t+1} + W_hy^T gy_t                     (one product with A[t])
    dc_t = dh_t o (1 - tc_t^2) + dc_{t+1} f_{t+1},   o (1 - tc^2) = o - h_t tc_t
    da_i = dc_t g i (1 - i),   da_f = dc_t c_{t-1} f (1 - f)
    da_o = dh_t tc_t o (1 - o),   da_g = dc_t i (1 - g^2)

Gate rows in the loops' order ``(i, f, o, g)`` (torch's is ``i, f, g, o``), so the three
sigmoids are one contiguous block ``(3 n_h, K, B)``. Stored per step: the gates (in ``A``),
``h_t`` (in ``Z``) and ``c_t``; ``tanh(c_t) = h_t / o_t`` is recomputed in the backward pass.
"""

from __future__ import annotations

import numpy as np

from .batched import BatchedBPTT


class BatchedLSTM(BatchedBPTT):
    """``K`` LSTMs (see :class:`~systems.batched.BatchedBPTT` for the parameters)."""

    cell = "lstm"
    P = 4

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        N, n, K, B, dt = self.N, self.n_h, self.K, self.B, self.dtype
        self.C = np.zeros((N + 1, n, K, B), dt)  # c_t
        self._tc, self._tmp, self._dc, self._carry = (np.empty((n, K, B), dt) for _ in range(4))
        self._fac = np.empty((4 * n, K, B), dt)  # sigma' and tanh' of the gates
        self._one = np.array(1.0, dt)
        self._floor = np.array(np.finfo(dt).tiny, dt)
        A, Z, C = self.A, self.Z, self.C
        self._steps = [
            (self._Zmm[t - 1], A[t - 1, : 4 * n], A[t - 1, : 3 * n],
             A[t - 1, :n], A[t - 1, n : 2 * n], A[t - 1, 2 * n : 3 * n],
             A[t - 1, 3 * n : 4 * n], Z[t, :n], C[t - 1], C[t], A[t - 1, 4 * n :],
             self._ZmmT[t - 1], *self._back_views(t))
            for t in range(1, N + 1)
        ]

    def _layout(self) -> tuple[np.ndarray, np.ndarray]:
        n, n_x, n_y = self.n_h, self.n_x, self.n_y
        idx, sl = self._index()
        order = np.r_[0 : 2 * n, 3 * n : 4 * n, 2 * n : 3 * n]  # torch (i, f, g, o) -> (i, f, o, g)
        gates, out = idx[0, : 4 * n], idx[0, 4 * n :]
        self._place(gates, slice(0, n), sl["W_hh"].start, order, n)
        self._place(gates, slice(n, n + 1), sl["b_ih"].start, order, 1)
        self._place(idx[1, : 4 * n], slice(n, n + 1), sl["b_hh"].start, order, 1)
        self._place(gates, slice(n + 1, None), sl["W_ih"].start, order, n_x)
        self._place(out, slice(0, n), sl["W_hy"].start, np.arange(n_y), n)
        self._place(out, slice(n, n + 1), sl["b_y"].start, np.arange(n_y), 1)
        r = self.route
        scale = np.r_[np.full(3 * n, r.sig_scale), np.full(n, r.tanh_scale), np.ones(n_y)]
        return idx, scale

    def _set_initial_rest(self, z0: np.ndarray | None) -> None:
        self.C[0] = 0.0 if z0 is None else z0[self.n_h :]

    def final_state(self) -> np.ndarray:
        return np.concatenate([self.Z[self.N, : self.n_h], self.C[self.N]], axis=0)

    def _forward_steps(self) -> None:
        W, tmp, tc, S_mm = self._W, self._tmp, self._tc, self._Smm
        S4, Sy = self._S[: 4 * self.n_h], self._S[4 * self.n_h :]
        gates, tanh = self.route.gates, self.route.tanh
        mul, add, matmul, copyto = np.multiply, np.add, np.matmul, np.copyto
        for z_prev, a4, s3, i, f, o, g, h, c_prev, c, y_prev, *_ in self._steps:
            matmul(W, z_prev, S_mm)  # scaled pre-activations of step t, y_{t-1}
            copyto(y_prev, Sy)
            gates(S4, a4, s3, g)  # i, f, o, g into A[t-1]
            mul(f, c_prev, c)
            mul(i, g, tmp)
            add(c, tmp, c)  # c_t = f c_{t-1} + i g
            tanh(c, tc)
            mul(o, tc, h)  # h_t = o tanh(c_t)

    def _backward_steps(self) -> None:
        n = self.n_h
        Wback, dh, dc, carry, tmp, tc, fac = (self._Wback, self._dh, self._dc, self._carry,
                                              self._tmp, self._tc, self._fac)
        dh_mm = dh.transpose(1, 0, 2)
        fac3, fac_g = fac[: 3 * n], fac[3 * n :]
        gtmp, gacc = self._gtmp, self._gacc
        mul, add, sub, div, maximum, matmul = (np.multiply, np.add, np.subtract, np.divide,
                                               np.maximum, np.matmul)
        one, floor = self._one, self._floor
        carry[...] = 0.0
        for (_, _, s3, i, f, o, g, h, c_prev, _, _, zT, d4, d_mm, d_next, gy, d_gy
             ) in reversed(self._steps):
            matmul(Wback, d_next, dh_mm)  # dh_t = W_hh^T da_{t+1} + W_hy^T gy_t
            maximum(o, floor, out=tmp)
            div(h, tmp, tc)  # tanh(c_t) = h_t / o_t (where o_t = 0 it is multiplied by 0)
            mul(h, tc, tmp)
            sub(o, tmp, tmp)  # o (1 - tc^2)
            mul(dh, tmp, dc)
            add(dc, carry, dc)  # dc_t
            mul(dc, f, carry)  # for step t - 1
            mul(dc, g, d4[:n])  # dV/di
            mul(dc, c_prev, d4[n : 2 * n])  # dV/df
            mul(dh, tc, d4[2 * n : 3 * n])  # dV/do
            mul(dc, i, d4[3 * n :])  # dV/dg
            sub(one, s3, fac3)
            mul(s3, fac3, fac3)  # sigma' = s (1 - s)
            mul(g, g, fac_g)
            sub(one, fac_g, fac_g)  # tanh' = 1 - g^2
            mul(d4, fac, d4)  # da_t
            d_gy[...] = gy
            matmul(d_mm, zT, gtmp)  # dV/dW += [da_t; gy_{t-1}] Z[t-1]^T
            add(gacc, gtmp, gacc)
