"""Forward and hand-written backward pass of the GRU over a stack of windows (feature-major).

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

Layout and speed: as for the LSTM (:mod:`systems.bptt_lstm`, :class:`systems.bptt.FeaturePart`):
``Z[t] = [h_t; 1; x_{t+1}]``, ``A[t-1]`` holds ``(r, u, n)`` of step ``t`` and then, in the
backward pass, ``(da_r, da_u, dq)`` (the hidden side's gradients, so that
``W_hh^T [da_r; da_u; dq] + W_hy^T gy`` is one product with ``A[t-1]``); ``da_n`` goes to
``DN``, ``q`` is kept in ``Q``. The input side ``[W_ih, b_ih] [x_t; 1]`` of every step is one
batched product before the loop; each step then has one product ``[W_hh, b_hh] [h_{t-1}; 1]``.
``sigma(a) = 1 / (1 + exp(-a))`` (the ``r, u`` rows are scaled by ``-1``),
``tanh(v) = 2 / (1 + exp(-2 v)) - 1``; the parameter gradients are batched products after
the loop.
"""

from __future__ import annotations

import numpy as np

from .bptt import FeaturePart
from .bptt_lstm import MINUS_TWO, ONE, TWO


class GRUPart(FeaturePart):
    """The GRU over windows ``lo:hi`` of a batch (parameters as
    :class:`~systems.bptt.FeaturePart`)."""

    def __init__(self, Xt, Yt, w2K, m, n_h):
        super().__init__(Xt, Yt, w2K, m, n_h, 3)
        N, S, n = self.N, self.S, n_h
        self.Q = np.empty((N, n, S))  # q = W_hn h_{t-1} + b_hn
        self.DN = np.empty((N, n, S))  # da_n
        self.hs = np.empty((3 * n, S))  # hidden side of one step
        self.dh = np.empty((n, S))
        self.tmp = np.empty((n, S))
        self.work = np.empty((n, S))
        self.aux = np.empty((n, S))
        self.direct = np.empty((n, S))  # dh_{t+1} u_{t+1}
        # per-step views, built once (see systems.bptt_lstm)
        A, Z, Q, DN = self.A, self.Z, self.Q, self.DN
        self.steps = [
            (A[t - 1, : 3 * n], A[t - 1, : 2 * n], A[t - 1, :n], A[t - 1, n : 2 * n],
             A[t - 1, 2 * n : 3 * n], A[t], Z[t - 1, : n + 1], Z[t - 1, :n], Z[t, :n],
             Q[t - 1], DN[t - 1])
            for t in range(1, N + 1)
        ]

    def set_initial(self, z) -> None:
        """``z_0 = h_0``: ``(S, n_h)``, ``(n_h,)`` or the scalar 0."""
        self.set_h0(z)

    def states(self) -> np.ndarray:
        """``(N + 1, S, n_h)`` states of the last forward pass (a view)."""
        return self.Z[:, : self.n_h].transpose(0, 2, 1)

    @staticmethod
    def prepare(p) -> dict[str, np.ndarray]:
        n = p["W_hh"].shape[1]
        sign = np.r_[np.full(2 * n, -1.0), np.ones(n)][:, None]  # e = exp(-a_r), exp(-a_u)
        return {
            "Wx": np.c_[p["b_ih"], p["W_ih"]] * sign,  # (3 n_h, 1 + n_x): [b_ih, W_ih]
            "Wh": np.c_[p["W_hh"], p["b_hh"]] * sign,  # (3 n_h, n_h + 1): [W_hh, b_hh]
            "Wback": np.ascontiguousarray(np.c_[p["W_hh"].T, p["W_hy"].T]),
            **FeaturePart.readout(p),
        }

    def forward(self, p) -> None:
        """Fill the gates, ``Q`` and the ``h`` rows of ``Z`` (slab 0 holds ``h_0``)."""
        N, n = self.N, self.n_h
        A, Z, hs, tmp = self.A, self.Z, self.hs, self.tmp
        # input side of every step: (-a_r, -a_u, W_in x + b_in) without the hidden part
        np.matmul(p["Wx"], Z[:N, n:], out=A[:N, : 3 * n])
        Wh = p["Wh"]
        mul, add, sub, div, exp, matmul = (np.multiply, np.add, np.subtract, np.divide, np.exp,
                                           np.matmul)
        one, two, m2 = ONE, TWO, MINUS_TWO
        hs_ru, hs_q = hs[: 2 * n], hs[2 * n :]
        with np.errstate(over="ignore"):  # exp -> inf is the right limit
            for _, ru, r, u, nn, _, z1_prev, h_prev, h, q, _ in self.steps:
                matmul(Wh, z1_prev, hs)  # hidden side [W_hh, b_hh] [h_{t-1}; 1]
                add(ru, hs_ru, ru)
                exp(ru, ru)
                add(ru, one, ru)
                div(one, ru, ru)  # r, u
                q[...] = hs_q  # q = W_hn h + b_hn
                mul(r, q, tmp)
                add(nn, tmp, nn)
                mul(nn, m2, nn)
                exp(nn, nn)
                add(nn, one, nn)
                div(two, nn, nn)
                sub(nn, one, nn)  # n = tanh(W_in x + b_in + r q)
                sub(h_prev, nn, tmp)
                mul(tmp, u, tmp)
                add(tmp, nn, h)  # h_t = n + u (h_{t-1} - n)

    def backward(self, p, gp) -> np.ndarray:
        """BPTT over this part; write its gradient into the views ``gp``; return ``dz``."""
        N, n = self.N, self.n_h
        A, DN, Wback = self.A, self.DN, p["Wback"]
        dh, tmp, work, aux, direct = self.dh, self.tmp, self.work, self.aux, self.direct
        mul, add, sub, matmul = np.multiply, np.add, np.subtract, np.matmul
        one = ONE
        A[N, : 3 * n] = 0.0  # the gradients of step N + 1
        direct[...] = 0.0
        for _, _, r, u, nn, nxt, _, h_prev, _, q, da_n in reversed(self.steps):
            matmul(Wback, nxt, dh)  # W_hh^T [da_r, da_u, dq]_{t+1} + W_hy^T gy_t
            add(dh, direct, dh)  # dh_t
            sub(h_prev, nn, work)
            mul(work, dh, work)  # du
            sub(one, u, tmp)
            mul(tmp, u, aux)  # u (1 - u)
            mul(tmp, dh, tmp)  # dn
            mul(dh, u, direct)  # dh_t u, for step t - 1
            mul(aux, work, u)  # da_u
            mul(nn, nn, work)
            sub(one, work, work)
            mul(work, tmp, da_n)  # da_n
            mul(da_n, q, tmp)  # dr
            mul(da_n, r, nn)  # dq
            sub(one, r, aux)
            mul(aux, r, aux)
            mul(aux, tmp, r)  # da_r
        # Parameter gradients: batched products over all steps.
        D = A[:N, : 3 * n]  # (da_r, da_u, dq)
        gh = self.slab_grad(D, slice(0, n + 1))  # (3 n_h, n_h + 1): [W_hh, b_hh]
        gx_ru = self.slab_grad(D[:, : 2 * n], slice(n, None))  # (2 n_h, 1 + n_x)
        gx_n = self.slab_grad(DN, slice(n, None))  # (n_h, 1 + n_x)
        gp["W_hh"][...] = gh[:, :n]
        gp["b_hh"][...] = gh[:, n]
        gp["W_ih"][: 2 * n] = gx_ru[:, 1:]
        gp["W_ih"][2 * n :] = gx_n[:, 1:]
        gp["b_ih"][: 2 * n] = gx_ru[:, 0]
        gp["b_ih"][2 * n :] = gx_n[:, 0]
        self.readout_grad(gp)
        dz = Wback[:, : 3 * n] @ A[0, : 3 * n]
        dz += direct  # dV/dh_0
        return dz.T
