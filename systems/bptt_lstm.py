"""Forward and hand-written backward pass of the LSTM over a stack of windows (time-major).

Forward (torch's gates, :class:`systems.lstm.LSTM`; ``a_t`` the pre-activations)::

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,   i, f, o = sigma(a_i, a_f, a_o),  g = tanh(a_g)
    c_t = f c_{t-1} + i g,   h_t = o tanh(c_t),   y_t = W_hy h_t + b_y

Backward, the forward loop read in reverse (``gy_t = dV/dy_t``, ``tc_t = tanh(c_t)``)::

    dh_t  = gy_t W_hy + da_{t+1} W_hh                       # from the output and from step t+1
    dc_t  = dh_t o (1 - tc_t^2) + dc_{t+1} f_{t+1}           # from h_t and from c_{t+1}
    da_o = dh_t tc_t o (1 - o),   da_i = dc_t g i (1 - i)
    da_f = dc_t c_{t-1} f (1 - f),   da_g = dc_t i (1 - g^2)
    dW_ih = sum_t da_t^T x_t,  dW_hh = sum_t da_t^T h_{t-1},  db_ih = db_hh = sum_t da_t
    dz_0 = (da_1 W_hh, dc_1 f_1)

Layout and speed: inside the loops the gate rows are ordered ``(i, f, o, g)`` so the three
sigmoids are one contiguous block, and ``sigma(a) = (1 + tanh(a / 2)) / 2`` with the factor
``1/2`` folded into the weights, so one :func:`~systems.bptt.fast_tanh` call activates all four
gates. The gate buffer ``A : (N, S, 4 n_h)`` is overwritten by ``da`` in the backward pass
(each step's gates are dead once its ``da`` is formed), so memory is ``A``, ``C`` and ``H``:
``6 n_h`` floats per window and step.
"""

from __future__ import annotations

import numpy as np

from .bptt import Part, fast_tanh


def _order(n_h: int) -> np.ndarray:
    """Row permutation from torch's ``(i, f, g, o)`` to the loops' ``(i, f, o, g)``."""
    return np.r_[0 : 2 * n_h, 3 * n_h : 4 * n_h, 2 * n_h : 3 * n_h]


class LSTMPart(Part):
    """The LSTM over windows ``lo:hi`` of a batch (buffers of one evaluation)."""

    def __init__(self, Xt, Yt, w2K, m, n_h):
        super().__init__(Xt, Yt, w2K, m, n_h)
        N, S, n = self.N, self.S, n_h
        self.A = np.empty((N, S, 4 * n))  # gates (i, f, o, g), then dV/da
        self.C = np.empty((N + 1, S, n))  # cell states, C[0] = c part of z
        self.pre = np.empty((S, 4 * n))
        self.work4 = np.empty((S, 4 * n))
        self.tc = np.empty((S, n))
        self.dh = np.empty((S, n))
        self.dc = np.empty((S, n))
        self.tmp = np.empty((S, n))
        self.work = np.empty((S, n))
        self.carry_h = np.empty((S, n))
        self.carry_c = np.empty((S, n))

    def set_initial(self, z) -> None:
        n = self.n_h
        if np.ndim(z) == 0:
            self.H[0], self.C[0] = z, z
        else:
            self.H[0], self.C[0] = z[..., :n], z[..., n:]

    def states(self) -> np.ndarray:
        return np.concatenate([self.H, self.C], axis=2)

    @staticmethod
    def prepare(p) -> dict[str, np.ndarray]:
        n = p["W_hh"].shape[1]
        order = _order(n)
        half = np.r_[np.full(3 * n, 0.5), np.ones(n)]  # sigma(a) = (1 + tanh(a/2)) / 2
        return {
            "order": order,
            "W_ihT": (p["W_ih"][order] * half[:, None]).T.copy(),  # (n_x, 4 n_h)
            "W_hhT": (p["W_hh"][order] * half[:, None]).T.copy(),  # (n_h, 4 n_h)
            "b": (p["b_ih"] + p["b_hh"])[order] * half,
            "W_hh": p["W_hh"][order].copy(),  # (4 n_h, n_h), unscaled: for da W_hh
            **Part.readout(p),
        }

    def forward(self, p) -> None:
        """Fill ``A`` (activated gates), ``C`` and ``H`` (``H[0]``, ``C[0]`` hold ``z``)."""
        N, S, n = self.N, self.S, self.n_h
        A, C, H, pre, tc = self.A, self.C, self.H, self.pre, self.tc
        # Input drive for all steps in one product: A[t] <- W_ih x_t + b (scaled rows).
        np.matmul(self.Xt.reshape(N * S, -1), p["W_ihT"], out=A.reshape(N * S, 4 * n))
        A += p["b"]
        for t in range(1, N + 1):
            a = A[t - 1]
            np.matmul(H[t - 1], p["W_hhT"], out=pre)
            pre += a  # (a_i/2, a_f/2, a_o/2, a_g)
            fast_tanh(pre, out=a, work=self.work4)
            s = a[:, : 3 * n]
            s *= 0.5
            s += 0.5  # i, f, o = sigma(.)
            i, f, o, g = a[:, :n], a[:, n : 2 * n], a[:, 2 * n : 3 * n], a[:, 3 * n :]
            np.multiply(f, C[t - 1], out=C[t])
            np.multiply(i, g, out=self.tmp)
            C[t] += self.tmp  # c_t = f c_{t-1} + i g
            fast_tanh(C[t], out=tc, work=self.work)
            np.multiply(o, tc, out=H[t])  # h_t = o tanh(c_t)

    def backward(self, p, gp) -> np.ndarray:
        """BPTT over this part; write its gradient into the views ``gp``; return ``dz``."""
        N, S, n = self.N, self.S, self.n_h
        A, C, H = self.A, self.C, self.H
        dh, dc, tc, tmp, work = self.dh, self.dc, self.tc, self.tmp, self.work
        carry_h, carry_c = self.carry_h, self.carry_c
        carry_h[...] = 0.0  # da_{t+1} W_hh
        carry_c[...] = 0.0  # dc_{t+1} f_{t+1}
        for t in range(N, 0, -1):
            a = A[t - 1]
            i, f, o, g = a[:, :n], a[:, n : 2 * n], a[:, 2 * n : 3 * n], a[:, 3 * n :]
            self.output_grad(t, p["W_hy"], carry_h, out=dh)  # dh_t
            fast_tanh(C[t], out=tc, work=work)  # tc_t, recomputed
            np.multiply(tc, tc, out=dc)
            np.subtract(1.0, dc, out=dc)
            dc *= o
            dc *= dh
            dc += carry_c  # dc_t
            np.multiply(dc, f, out=carry_c)  # dc_t f_t, for step t - 1
            tc *= dh  # do = dh tc
            np.subtract(1.0, o, out=work)
            work *= o
            np.multiply(work, tc, out=o)  # da_o
            np.subtract(1.0, f, out=work)
            work *= f
            work *= dc
            np.multiply(work, C[t - 1], out=f)  # da_f
            np.multiply(dc, g, out=work)  # di
            np.multiply(dc, i, out=dh)  # dg
            np.subtract(1.0, i, out=tmp)
            tmp *= i
            np.multiply(tmp, work, out=i)  # da_i
            np.multiply(g, g, out=work)
            np.subtract(1.0, work, out=work)
            np.multiply(work, dh, out=g)  # da_g
            np.matmul(a, p["W_hh"], out=carry_h)  # da_t W_hh
        # Parameter gradients: one product each over all steps and windows, rows back to
        # torch's order.
        order = p["order"]
        dA2 = A.reshape(N * S, 4 * n)
        gp["W_ih"][order] = dA2.T @ self.Xt.reshape(N * S, -1)
        gp["W_hh"][order] = dA2.T @ H[:-1].reshape(N * S, n)
        gp["b_ih"][order] = dA2.sum(axis=0)
        gp["b_hh"][...] = gp["b_ih"]
        self.readout_grad(gp)
        return np.concatenate([carry_h, carry_c], axis=1)  # dz = (da_1 W_hh, dc_1 f_1)
