"""Forward and hand-written backward pass of the GRU over a stack of windows (time-major).

Forward (torch's gates, :class:`systems.gru.GRU`; ``u`` is torch's update gate ``z``)::

    r = sigma(W_ir x + b_ir + W_hr h_{t-1} + b_hr),   u = sigma(W_iu x + b_iu + W_hu h_{t-1} + b_hu)
    q = W_hn h_{t-1} + b_hn,   n = tanh(W_in x + b_in + r q)
    h_t = (1 - u) n + u h_{t-1},   y_t = W_hy h_t + b_y

Backward, the forward loop read in reverse (``gy_t = dV/dy_t``; ``da_.`` are gradients with
respect to the pre-activations)::

    dh_t = gy_t W_hy + carry_{t+1}
    da_n = dh_t (1 - u) (1 - n^2),      dq = da_n r
    da_u = dh_t (h_{t-1} - n) u (1 - u),   da_r = da_n q r (1 - r)
    carry_t = dh_t u + [da_r, da_u, dq] W_hh              # dV/dh_{t-1}
    dW_ih = sum_t [da_r, da_u, da_n]^T x_t,   db_ih = sum_t [da_r, da_u, da_n]
    dW_hh = sum_t [da_r, da_u, dq]^T h_{t-1},  db_hh = sum_t [da_r, da_u, dq]

Layout and speed: as for the LSTM (:mod:`systems.bptt_lstm`): gate-major buffers
``A : (N, 3, S, n_h)`` holding ``(r, u, n)`` and then, in the backward pass,
``(da_r, da_u, da_n)``; ``Q : (N, S, n_h)`` holding ``q`` and then ``dq``; each step two
batched products (``[x_t, 1]`` and ``h_{t-1}`` against per-gate weight blocks scaled by ``-1``
on ``r, u``); ``sigma(a) = 1 / (1 + exp(-a))``, ``tanh(v) = 2 / (1 + exp(-2 v)) - 1``;
parameter gradients accumulated per step.
"""

from __future__ import annotations

import numpy as np

from .bptt import GatedPart, Part


class GRUPart(GatedPart):
    """The GRU over windows ``lo:hi`` of a batch (buffers of one evaluation)."""

    def __init__(self, Xt, Yt, w2K, m, n_h):
        super().__init__(Xt, Yt, w2K, m, n_h)
        N, S, n = self.N, self.S, n_h
        self.A = np.empty((N, 3, S, n))  # (r, u, n), then (da_r, da_u, da_n)
        self.Q = np.empty((N, S, n))  # q = W_hn h + b_hn, then dq
        self.pre = np.empty((3, S, n))
        self.dh = np.empty((S, n))
        self.tmp = np.empty((S, n))
        self.work = np.empty((S, n))
        self.aux = np.empty((S, n))
        self.carry = np.empty((S, n))

    @staticmethod
    def prepare(p) -> dict[str, np.ndarray]:
        n, blocks = p["W_hh"].shape[1], GatedPart.blocks
        sign = np.r_[np.full(2 * n, -1.0), np.ones(n)]  # e = exp(-a_r), exp(-a_u)
        b = np.r_[p["b_ih"][: 2 * n] + p["b_hh"][: 2 * n], p["b_ih"][2 * n :]]
        return {
            "Wx": blocks(np.c_[p["W_ih"], b] * sign[:, None], n, 3),  # (3, n_x + 1, n_h)
            "Wh": blocks(p["W_hh"] * sign[:, None], n, 3),  # (3, n_h, n_h)
            "b_hn": p["b_hh"][2 * n :].copy(),
            "Wc": np.ascontiguousarray(p["W_hh"].reshape(3, n, n)),  # for the backward pass
            **Part.readout(p),
        }

    def forward(self, p) -> None:
        """Fill ``A`` (activated gates), ``Q`` and ``H`` (``H[0]`` holds ``z``)."""
        A, Q, H, X1, pre, tmp = self.A, self.Q, self.H, self.X1, self.pre, self.tmp
        with np.errstate(over="ignore"):  # exp -> inf is the right limit
            for t in range(1, self.N + 1):
                a = A[t - 1]
                np.matmul(X1[t - 1], p["Wx"], out=a)  # (-a_r, -a_u, W_in x + b_in), input side
                np.matmul(H[t - 1], p["Wh"], out=pre)  # hidden side
                ru = a[:2]
                ru += pre[:2]
                np.exp(ru, out=ru)
                ru += 1.0
                np.divide(1.0, ru, out=ru)  # r, u
                r, u, nn = a
                q = Q[t - 1]
                np.add(pre[2], p["b_hn"], out=q)  # q = W_hn h + b_hn
                np.multiply(r, q, out=tmp)
                nn += tmp
                nn *= -2.0
                np.exp(nn, out=nn)
                nn += 1.0
                np.divide(2.0, nn, out=nn)
                nn -= 1.0  # n = tanh(W_in x + b_in + r q)
                np.subtract(H[t - 1], nn, out=tmp)
                tmp *= u
                np.add(tmp, nn, out=H[t])  # h_t = n + u (h_{t-1} - n)

    def backward(self, p, gp) -> np.ndarray:
        """BPTT over this part; write its gradient into the views ``gp``; return ``dz``."""
        N, n, n_x = self.N, self.n_h, self.n_x
        A, Q, H, X1, pre = self.A, self.Q, self.H, self.X1, self.pre
        dh, tmp, work, aux, carry = self.dh, self.tmp, self.work, self.aux, self.carry
        carry[...] = 0.0
        gWx = np.zeros((3, n, n_x + 1))  # sum_t [da_r, da_u, da_n]^T [x_t, 1]
        gWh = np.zeros((3, n, n))  # sum_t [da_r, da_u, dq]^T h_{t-1}
        gbq = np.zeros(n)  # sum_t dq
        for t in range(N, 0, -1):
            a, q = A[t - 1], Q[t - 1]
            r, u, nn = a
            self.output_grad(t, p["W_hy"], carry, out=dh)  # dh_t
            np.subtract(H[t - 1], nn, out=work)
            work *= dh  # du
            np.subtract(1.0, u, out=tmp)
            tmp *= dh  # dn
            dh *= u  # the direct path dh_t u
            np.subtract(1.0, u, out=aux)
            aux *= u
            np.multiply(aux, work, out=u)  # da_u
            np.multiply(nn, nn, out=work)
            np.subtract(1.0, work, out=work)
            work *= tmp  # da_n
            np.multiply(work, q, out=tmp)  # dr
            np.multiply(work, r, out=q)  # dq
            nn[...] = work
            np.subtract(1.0, r, out=aux)
            aux *= r
            np.multiply(aux, tmp, out=r)  # da_r
            np.matmul(a[:2], p["Wc"][:2], out=pre[:2])
            np.matmul(q, p["Wc"][2], out=pre[2])
            np.sum(pre, axis=0, out=carry)
            carry += dh  # dV/dh_{t-1} = [da_r, da_u, dq] W_hh + dh_t u
            gWx += a.transpose(0, 2, 1) @ X1[t - 1]
            gWh[:2] += a[:2].transpose(0, 2, 1) @ H[t - 1]
            gWh[2] += q.T @ H[t - 1]
            gbq += q.sum(axis=0)
        gWx = gWx.reshape(3 * n, n_x + 1)
        gp["W_ih"][...] = gWx[:, :n_x]
        gp["b_ih"][...] = gWx[:, n_x]
        gp["W_hh"][...] = gWh.reshape(3 * n, n)
        gp["b_hh"][: 2 * n] = gWx[: 2 * n, n_x]
        gp["b_hh"][2 * n :] = gbq
        self.readout_grad(gp)
        return carry
