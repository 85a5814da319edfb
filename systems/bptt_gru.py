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

Layout: gates ``A : (N, S, 3 n_h)`` hold ``(r, u, n)`` and then, in the backward pass,
``(da_r, da_u, da_n)``; ``Q : (N, S, n_h)`` holds ``q`` and then ``dq``. The sigmoids use
``sigma(a) = (1 + tanh(a / 2)) / 2`` with the ``1/2`` folded into the ``r, u`` rows.
"""

from __future__ import annotations

import numpy as np

from .bptt import Part, fast_tanh


class GRUPart(Part):
    """The GRU over windows ``lo:hi`` of a batch (buffers of one evaluation)."""

    def __init__(self, Xt, Yt, w2K, m, n_h):
        super().__init__(Xt, Yt, w2K, m, n_h)
        N, S, n = self.N, self.S, n_h
        self.A = np.empty((N, S, 3 * n))  # (r, u, n), then (da_r, da_u, da_n)
        self.Q = np.empty((N, S, n))  # q = W_hn h + b_hn, then dq
        self.hid = np.empty((S, 3 * n))
        self.pre = np.empty((S, 2 * n))
        self.work2 = np.empty((S, 2 * n))
        self.dh = np.empty((S, n))
        self.tmp = np.empty((S, n))
        self.work = np.empty((S, n))
        self.aux = np.empty((S, n))
        self.carry = np.empty((S, n))

    @staticmethod
    def prepare(p) -> dict[str, np.ndarray]:
        n = p["W_hh"].shape[1]
        half = np.r_[np.full(2 * n, 0.5), np.ones(n)]  # sigma(a) = (1 + tanh(a/2)) / 2
        return {
            "W_ihT": (p["W_ih"] * half[:, None]).T.copy(),  # (n_x, 3 n_h)
            "b_ih": p["b_ih"] * half,
            "W_hhT": (p["W_hh"] * half[:, None]).T.copy(),  # (n_h, 3 n_h)
            "b_hh": p["b_hh"] * half,
            "W_hh_ru": p["W_hh"][: 2 * n].copy(),  # unscaled, for the backward products
            "W_hh_n": p["W_hh"][2 * n :].copy(),
            **Part.readout(p),
        }

    def forward(self, p) -> None:
        """Fill ``A`` (activated gates), ``Q`` and ``H`` (``H[0]`` holds ``z``)."""
        N, S, n = self.N, self.S, self.n_h
        A, Q, H, hid, pre = self.A, self.Q, self.H, self.hid, self.pre
        np.matmul(self.Xt.reshape(N * S, -1), p["W_ihT"], out=A.reshape(N * S, 3 * n))
        A += p["b_ih"]
        for t in range(1, N + 1):
            a = A[t - 1]
            np.matmul(H[t - 1], p["W_hhT"], out=hid)
            hid += p["b_hh"]
            np.add(a[:, : 2 * n], hid[:, : 2 * n], out=pre)  # (a_r/2, a_u/2)
            fast_tanh(pre, out=a[:, : 2 * n], work=self.work2)
            ru = a[:, : 2 * n]
            ru *= 0.5
            ru += 0.5  # r, u
            r, u, nn = a[:, :n], a[:, n : 2 * n], a[:, 2 * n :]
            q = Q[t - 1]
            q[...] = hid[:, 2 * n :]
            np.multiply(r, q, out=self.tmp)
            self.tmp += nn
            fast_tanh(self.tmp, out=nn, work=self.work)  # n
            np.subtract(H[t - 1], nn, out=H[t])
            H[t] *= u
            H[t] += nn  # h_t = n + u (h_{t-1} - n)

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
        A2, Q2 = A.reshape(N * S, 3 * n), Q.reshape(N * S, n)
        H2 = H[:-1].reshape(N * S, n)
        np.matmul(A2.T, self.Xt.reshape(N * S, -1), out=gp["W_ih"])
        np.sum(A2, axis=0, out=gp["b_ih"])
        gp["W_hh"][: 2 * n] = A2[:, : 2 * n].T @ H2
        gp["W_hh"][2 * n :] = Q2.T @ H2
        gp["b_hh"][: 2 * n] = gp["b_ih"][: 2 * n]
        gp["b_hh"][2 * n :] = Q2.sum(axis=0)
        self.readout_grad(gp)
        return carry
