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

Layout and speed (``benchmarks/bptt_speed.py``; float64 ``exp`` is most of the cost):

* Gate-major buffers: ``A : (N, 4, S, n_h)``, so every elementwise pass runs over a
  contiguous ``(S, n_h)`` block (a column slice of an ``(S, 4 n_h)`` array with ``n_h = 8``
  costs ~20x more per element: NumPy's inner loop is then 8 elements long).
* Gates in the order ``(i, f, o, g)``; the weights are scaled by ``-1`` on ``i, f, o`` and by
  ``-2`` on ``g``, so ``e = exp(.)`` gives ``sigma(a) = 1 / (1 + e)`` for all four blocks in
  one call and ``tanh(a_g) = 2 sigma(2 a_g) - 1``: one ``exp`` per gate and three arithmetic
  passes (``exp`` may overflow to ``inf``, which gives the right limits 0 and -1).
  ``tanh(c) = 2 / (1 + exp(-2c)) - 1`` likewise. Both are accurate to a few ``2**-53``
  absolutely (not relatively near 0), as :func:`~systems.bptt.fast_tanh`.
* Each step is two batched products, ``[x_t, 1] [W_ih, b]^T`` and ``h_{t-1} W_hh^T``, into the
  gate block; the inputs are stored as ``X1 = [x, 1] : (N, S, n_x + 1)`` so the bias rides
  along. Parameter gradients are accumulated per step (``da_t^T [x_t, 1]``, ``da_t^T h_{t-1}``)
  from the gate gradients ``da_t``, which overwrite the gates (dead once ``da_t`` is formed),
  and ``tanh(c_t)`` is recovered as ``h_t / o_t`` instead of stored (where ``o_t = 0`` every
  term it enters is multiplied by ``o_t``): memory is ``A``, ``C``, ``H``, ``X1``,
  ``6 n_h + n_x + 1`` floats per window and step.
"""

from __future__ import annotations

import numpy as np

from .bptt import GatedPart, Part

#: ``o_t`` is floored at this before ``tanh(c_t) = h_t / o_t`` (only ``o_t = 0`` is affected).
_O_FLOOR = 1e-300


def _order(n_h: int) -> np.ndarray:
    """Row permutation from torch's ``(i, f, g, o)`` to the loops' ``(i, f, o, g)``."""
    return np.r_[0 : 2 * n_h, 3 * n_h : 4 * n_h, 2 * n_h : 3 * n_h]


class LSTMPart(GatedPart):
    """The LSTM over windows ``lo:hi`` of a batch (buffers of one evaluation)."""

    def __init__(self, Xt, Yt, w2K, m, n_h):
        super().__init__(Xt, Yt, w2K, m, n_h)
        N, S, n = self.N, self.S, n_h
        self.A = np.empty((N, 4, S, n))  # gates (i, f, o, g), then dV/da
        self.C = np.empty((N + 1, S, n))  # cell states, C[0] = c part of z
        self.pre = np.empty((4, S, n))
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
        n, blocks = p["W_hh"].shape[1], GatedPart.blocks
        order = _order(n)
        neg = np.r_[np.full(3 * n, -1.0), np.full(n, -2.0)]  # e = exp(-a), exp(-2 a_g)
        return {
            "order": order,
            "Wx": blocks(np.c_[p["W_ih"], p["b_ih"] + p["b_hh"]][order] * neg[:, None], n, 4),
            "Wh": blocks(p["W_hh"][order] * neg[:, None], n, 4),  # (4, n_h, n_h)
            "Wc": np.ascontiguousarray(p["W_hh"][order].reshape(4, n, n)),  # for da W_hh
            **Part.readout(p),
        }

    def forward(self, p) -> None:
        """Fill ``A`` (activated gates), ``C`` and ``H`` (``H[0]``, ``C[0]`` hold ``z``)."""
        A, C, H, X1 = self.A, self.C, self.H, self.X1
        tc, tmp, pre = self.tc, self.tmp, self.pre
        with np.errstate(over="ignore"):  # exp -> inf is the right limit
            for t in range(1, self.N + 1):
                a = A[t - 1]
                np.matmul(X1[t - 1], p["Wx"], out=a)  # (4, S, n): W_ih x_t + b, scaled
                np.matmul(H[t - 1], p["Wh"], out=pre)  # h_{t-1} W_hh^T, scaled
                a += pre  # (-a_i, -a_f, -a_o, -2 a_g)
                np.exp(a, out=a)
                a += 1.0
                np.divide(1.0, a, out=a)  # i, f, o, sigma(2 a_g)
                i, f, o, g = a
                g *= 2.0
                g -= 1.0  # g = tanh(a_g)
                np.multiply(f, C[t - 1], out=C[t])
                np.multiply(i, g, out=tmp)
                C[t] += tmp  # c_t = f c_{t-1} + i g
                np.multiply(C[t], -2.0, out=tc)
                np.exp(tc, out=tc)
                tc += 1.0
                np.divide(2.0, tc, out=tc)
                tc -= 1.0  # tanh(c_t)
                np.multiply(o, tc, out=H[t])  # h_t = o tanh(c_t)

    def backward(self, p, gp) -> np.ndarray:
        """BPTT over this part; write its gradient into the views ``gp``; return ``dz``."""
        N, n = self.N, self.n_h
        A, C, H, X1 = self.A, self.C, self.H, self.X1
        dh, dc, tc, tmp, work, pre = self.dh, self.dc, self.tc, self.tmp, self.work, self.pre
        carry_h, carry_c = self.carry_h, self.carry_c
        carry_h[...] = 0.0  # da_{t+1} W_hh
        carry_c[...] = 0.0  # dc_{t+1} f_{t+1}
        gWx = np.zeros((4, n, self.n_x + 1))  # sum_t da_t^T [x_t, 1], gate by gate
        gWh = np.zeros((4, n, n))  # sum_t da_t^T h_{t-1}
        for t in range(N, 0, -1):
            a = A[t - 1]
            i, f, o, g = a
            self.output_grad(t, p["W_hy"], carry_h, out=dh)  # dh_t
            np.maximum(o, _O_FLOOR, out=work)
            np.divide(H[t], work, out=tc)  # tc_t = h_t / o_t
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
            np.matmul(a, p["Wc"], out=pre)
            np.sum(pre, axis=0, out=carry_h)  # da_t W_hh
            aT = a.transpose(0, 2, 1)  # (4, n, S)
            gWx += aT @ X1[t - 1]
            gWh += aT @ H[t - 1]
        order = p["order"]  # rows back to torch's order
        gWx = gWx.reshape(4 * n, -1)
        gp["W_ih"][order] = gWx[:, :-1]
        gp["b_ih"][order] = gWx[:, -1]
        gp["W_hh"][order] = gWh.reshape(4 * n, n)
        gp["b_hh"][...] = gp["b_ih"]
        self.readout_grad(gp)
        return np.concatenate([carry_h, carry_c], axis=1)  # dz = (da_1 W_hh, dc_1 f_1)
