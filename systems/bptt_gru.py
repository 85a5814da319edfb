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

Layout: as for the LSTM (:mod:`systems.bptt_lstm`), ``XH : (N + 1, S, n_x + 1 + n_h)`` holds
``[x_{t+1}, 1, h_t]`` so each step is one product ``XH[t-1] @ W`` with
``W : (n_x + 1 + n_h, 4 n_h)`` giving ``(-a_r, -a_u, W_in x + b_in, q)``; the sigmoids are
``1 / (1 + exp(-a))`` and ``tanh(v) = 2 / (1 + exp(-2 v)) - 1``. Gates
``A : (N, S, 3 n_h)`` hold ``(r, u, n)`` and then, in the backward pass,
``(da_r, da_u, da_n)``; ``Q : (N, S, n_h)`` holds ``q`` and then ``dq``.
"""

from __future__ import annotations

import numpy as np

from .bptt import Part


class GRUPart(Part):
    """The GRU over windows ``lo:hi`` of a batch (buffers of one evaluation)."""

    def __init__(self, Xt, Yt, w2K, m, n_h):
        N, S, n_x = Xt.shape
        n = n_h
        self.n_x = n_x
        self.XH = np.zeros((N + 1, S, n_x + 1 + n))  # [x_{t+1}, 1, h_t]
        self.XH[:, :, n_x] = 1.0
        super().__init__(Xt, Yt, w2K, m, n_h)
        self.H = self.XH[:, :, n_x + 1 :]  # hidden states, a strided view
        self.set_data(Xt, self.Yt)
        del self.Xt  # the inputs live in XH
        self.A = np.empty((N, S, 3 * n))  # (r, u, n), then (da_r, da_u, da_n)
        self.Q = np.empty((N, S, n))  # q = W_hn h + b_hn, then dq
        self.pre = np.empty((S, 4 * n))
        self.dh = np.empty((S, n))
        self.tmp = np.empty((S, n))
        self.work = np.empty((S, n))
        self.aux = np.empty((S, n))
        self.carry = np.empty((S, n))

    def set_data(self, Xt, Yt) -> None:
        self.XH[:-1, :, : self.n_x] = Xt
        self.Yt[...] = Yt

    @staticmethod
    def prepare(p) -> dict[str, np.ndarray]:
        n, n_x = p["W_hh"].shape[1], p["W_ih"].shape[1]
        W = np.zeros((n_x + 1 + n, 4 * n))
        b = p["b_ih"] + p["b_hh"]
        W[:n_x, : 2 * n] = -p["W_ih"][: 2 * n].T  # -(a_r, a_u)
        W[n_x, : 2 * n] = -b[: 2 * n]
        W[n_x + 1 :, : 2 * n] = -p["W_hh"][: 2 * n].T
        W[:n_x, 2 * n : 3 * n] = p["W_ih"][2 * n :].T  # W_in x + b_in
        W[n_x, 2 * n : 3 * n] = p["b_ih"][2 * n :]
        W[n_x, 3 * n :] = p["b_hh"][2 * n :]  # q = W_hn h + b_hn
        W[n_x + 1 :, 3 * n :] = p["W_hh"][2 * n :].T
        return {
            "W": W,
            "W_hh_ru": p["W_hh"][: 2 * n].copy(),  # for the backward products
            "W_hh_n": p["W_hh"][2 * n :].copy(),
            **Part.readout(p),
        }

    def forward(self, p) -> None:
        """Fill ``A`` (activated gates), ``Q`` and ``H`` (``H[0]`` holds ``z``)."""
        n = self.n_h
        A, Q, H, XH, pre, tmp, W = self.A, self.Q, self.H, self.XH, self.pre, self.tmp, p["W"]
        with np.errstate(over="ignore"):  # exp -> inf is the right limit
            for t in range(1, self.N + 1):
                a = A[t - 1]
                np.matmul(XH[t - 1], W, out=pre)
                ru = a[:, : 2 * n]
                np.exp(pre[:, : 2 * n], out=ru)
                ru += 1.0
                np.divide(1.0, ru, out=ru)  # r, u
                r, u, nn = a[:, :n], a[:, n : 2 * n], a[:, 2 * n :]
                q = Q[t - 1]
                q[...] = pre[:, 3 * n :]
                np.multiply(r, q, out=nn)
                nn += pre[:, 2 * n : 3 * n]
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
        N, S, n = self.N, self.S, self.n_h
        A, Q, H = self.A, self.Q, self.H
        dh, tmp, work, aux, carry = self.dh, self.tmp, self.work, self.aux, self.carry
        carry[...] = 0.0
        for t in range(N, 0, -1):
            a, q = A[t - 1], Q[t - 1]
            r, u, nn = a[:, :n], a[:, n : 2 * n], a[:, 2 * n :]
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
            np.matmul(a[:, : 2 * n], p["W_hh_ru"], out=carry)
            np.matmul(q, p["W_hh_n"], out=tmp)
            carry += tmp
            carry += dh  # dV/dh_{t-1}
        # Parameter gradients: dA^T [x, 1, h] and dQ^T [x, 1, h], one product each.
        n_x = self.n_x
        XH = self.XH[:-1].reshape(N * S, -1)
        GA = A.reshape(N * S, 3 * n).T @ XH  # (3 n_h, n_x + 1 + n_h)
        GQ = Q.reshape(N * S, n).T @ XH[:, n_x:]  # (n_h, 1 + n_h)
        gp["W_ih"][...] = GA[:, :n_x]
        gp["b_ih"][...] = GA[:, n_x]
        gp["W_hh"][: 2 * n] = GA[: 2 * n, n_x + 1 :]
        gp["W_hh"][2 * n :] = GQ[:, 1:]
        gp["b_hh"][: 2 * n] = GA[: 2 * n, n_x]
        gp["b_hh"][2 * n :] = GQ[:, 0]
        self.readout_grad(gp)
        return carry
