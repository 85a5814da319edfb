"""Forward and hand-written backward pass of the GRU over a stack of windows (feature-major).

Forward (torch's gates, :class:`systems.gru.GRU`; ``u`` is torch's update gate ``z``, ``n``
its candidate state)::

    r = sigma(W_ir x + b_ir + W_hr h_{t-1} + b_hr),   u = sigma(W_iu x + b_iu + W_hu h_{t-1} + b_hu)
    q = W_hn h_{t-1} + b_hn,   n = tanh(W_in x + b_in + r q)
    h_t = (1 - u) n + u h_{t-1},   y_t = W_hy h_t + b_y

Backward, the forward loop read in reverse (``gy_t = dV/dy_t``; ``da_.`` are gradients with
respect to the pre-activations)::

    dh_t = W_hy^T gy_t + carry_{t+1}                      # from the output and from step t+1
    da_n = dh_t (1 - u) (1 - n^2),      dq = da_n r
    da_u = dh_t (h_{t-1} - n) u (1 - u),   da_r = da_n q r (1 - r)
    carry_t = dh_t u + W_hh^T [da_r; da_u; dq]           # dV/dh_{t-1}, through step t
    dW_ih = sum_t [da_r; da_u; da_n] x_t^T,   db_ih = sum_t [da_r; da_u; da_n]
    dW_hh = sum_t [da_r; da_u; dq] h_{t-1}^T,  db_hh = sum_t [da_r; da_u; dq]

The same equations one step at a time, without the devices below:
:func:`systems.bptt_reference.gru`.

Layout and speed: as for the LSTM (:mod:`systems.bptt_lstm`,
:class:`systems.bptt_kernel.FeatureMajorKernel`): ``Z[t] = [h_t; 1; x_{t+1}]``, ``A[t-1]``
holds ``(r, u, n)`` of step ``t`` and then, in the backward pass, ``(da_r, da_u, dq)`` (the
hidden side's gradients, so that ``W_hh^T [da_r; da_u; dq] + W_hy^T gy_t`` is one product
``W_dh A[t-1]``); ``da_n`` goes to ``DN``, ``q`` is kept in ``Q``. The input side
``W_x [1; x_t]``, ``W_x = [b_ih, W_ih]``, of every step is one batched product before the
loop; each step then has one product ``W_h [h_{t-1}; 1]``, ``W_h = [W_hh, b_hh]``.
``sigma(a) = 1 / (1 + exp(-a))`` (the ``r, u`` rows of ``W_x``, ``W_h`` are scaled by ``-1``),
``tanh(v) = 2 / (1 + exp(-2 v)) - 1``; the parameter gradients are batched products after
the loop.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .bptt_kernel import MINUS_TWO, ONE, TWO, FeatureMajorKernel, Params


class GRUStep(NamedTuple):
    """Views of the buffers at step ``t`` (``1..N``); each ``(rows, S)``.

    The loops unpack these in this order: the names in their headers are these field names.
    """

    #: ``A[t-1, :2 n_h]``: ``-(W_ir x + b_ir), -(W_iu x + b_iu)``, then ``r, u``
    ru: np.ndarray
    r: np.ndarray  #: rows ``0:n_h``: ``r``, then (backward) ``da_r``
    u: np.ndarray  #: rows ``n_h:2 n_h``: ``u``, then ``da_u``
    n: np.ndarray  #: ``A[t-1, 2 n_h:3 n_h]``: ``W_in x + b_in``, then ``n``, then ``dq``
    da_next_gy: np.ndarray  #: ``A[t] = [(da_r; da_u; dq)_{t+1}; gy_t]``
    h1_prev: np.ndarray  #: ``Z[t-1, :n_h+1] = [h_{t-1}; 1]``
    h_prev: np.ndarray  #: ``Z[t-1, :n_h] = h_{t-1}``
    h: np.ndarray  #: ``Z[t, :n_h] = h_t``
    q: np.ndarray  #: ``Q[t-1] = W_hn h_{t-1} + b_hn``
    da_n: np.ndarray  #: ``DN[t-1]``, filled by the backward pass


class GRUKernel(FeatureMajorKernel):
    """The GRU over windows ``lo:hi`` of a batch (:class:`~systems.bptt_kernel.Kernel`;
    buffers as :class:`~systems.bptt_kernel.FeatureMajorKernel`)."""

    n_gates = 3

    def allocate(self) -> None:
        N, S, n_h = self.N, self.S, self.n_h
        self.Q = np.empty((N, n_h, S))  # q = W_hn h_{t-1} + b_hn
        self.DN = np.empty((N, n_h, S))  # da_n
        self.hidden = np.empty((3 * n_h, S))  # hidden side W_h [h_{t-1}; 1] of one step
        self.dh = np.empty((n_h, S))
        self.tmp = np.empty((n_h, S))
        self.work = np.empty((n_h, S))
        self.aux = np.empty((n_h, S))
        self.dh_u = np.empty((n_h, S))  # dh_{t+1} u_{t+1}: what h_t gets directly from h_{t+1}
        A, Z, Q, DN, n = self.A, self.Z, self.Q, self.DN, n_h
        self.steps = [  # plain tuples: a tuple subclass unpacks ~0.1 us slower
            tuple(GRUStep(ru=A[t - 1, : 2 * n], r=A[t - 1, :n], u=A[t - 1, n : 2 * n],
                          n=A[t - 1, 2 * n : 3 * n], da_next_gy=A[t],
                          h1_prev=Z[t - 1, : n + 1], h_prev=Z[t - 1, :n], h=Z[t, :n],
                          q=Q[t - 1], da_n=DN[t - 1]))
            for t in range(1, N + 1)
        ]

    def set_initial(self, z) -> None:
        """``z_0 = h_0``: ``(S, n_h)``, ``(n_h,)`` or the scalar 0."""
        self.set_h0(z)

    def states(self) -> np.ndarray:
        """``(N + 1, S, n_h)`` states of the last forward pass (a view)."""
        return self.Z[:, : self.n_h].transpose(0, 2, 1)

    def final_state(self) -> np.ndarray:
        return self.final_h()

    @staticmethod
    def prepare(p: Params) -> Params:
        """``W_x``, ``W_h`` (``r, u`` rows scaled by -1) and ``W_dh`` (module docstring)."""
        n_h = p["W_hh"].shape[1]
        sign = np.r_[np.full(2 * n_h, -1.0), np.ones(n_h)][:, None]  # e = exp(-a_r), exp(-a_u)
        return {
            "W_x": np.c_[p["b_ih"], p["W_ih"]] * sign,  # (3 n_h, 1 + n_x)
            "W_h": np.c_[p["W_hh"], p["b_hh"]] * sign,  # (3 n_h, n_h + 1)
            "W_dh": np.ascontiguousarray(np.c_[p["W_hh"].T, p["W_hy"].T]),
            **FeatureMajorKernel.readout(p),
        }

    def forward(self, p: Params) -> None:
        """Fill the gates, ``Q`` and the ``h`` rows of ``Z`` (slab 0 holds ``h_0``)."""
        N, n_h = self.N, self.n_h
        A, Z, hidden, tmp = self.A, self.Z, self.hidden, self.tmp
        # input side of every step: (-a_r, -a_u, W_in x + b_in) without the hidden part
        np.matmul(p["W_x"], Z[:N, n_h:], out=A[:N, : 3 * n_h])
        W_h = p["W_h"]
        mul, add, sub, div, exp, matmul = (np.multiply, np.add, np.subtract, np.divide, np.exp,
                                           np.matmul)
        one, two, m2 = ONE, TWO, MINUS_TWO
        hidden_ru, hidden_q = hidden[: 2 * n_h], hidden[2 * n_h :]
        with np.errstate(over="ignore"):  # exp -> inf is the right limit
            for ru, r, u, n, _, h1_prev, h_prev, h, q, _ in self.steps:
                matmul(W_h, h1_prev, hidden)  # hidden side W_h [h_{t-1}; 1]
                add(ru, hidden_ru, ru)
                exp(ru, ru)
                add(ru, one, ru)
                div(one, ru, ru)  # r, u
                q[...] = hidden_q  # q = W_hn h_{t-1} + b_hn
                mul(r, q, tmp)
                add(n, tmp, n)
                mul(n, m2, n)
                exp(n, n)
                add(n, one, n)
                div(two, n, n)
                sub(n, one, n)  # n = tanh(W_in x + b_in + r q)
                sub(h_prev, n, tmp)
                mul(tmp, u, tmp)
                add(tmp, n, h)  # h_t = n + u (h_{t-1} - n)

    def backward(self, p: Params, gp: Params) -> np.ndarray:
        N, n_h = self.N, self.n_h
        A, DN, W_dh = self.A, self.DN, p["W_dh"]
        dh, tmp, work, aux, dh_u = self.dh, self.tmp, self.work, self.aux, self.dh_u
        mul, add, sub, matmul = np.multiply, np.add, np.subtract, np.matmul
        one = ONE
        A[N, : 3 * n_h] = 0.0  # the gradients of step N + 1
        dh_u[...] = 0.0
        for _, r, u, n, da_next_gy, _, h_prev, _, q, da_n in reversed(self.steps):
            matmul(W_dh, da_next_gy, dh)  # W_hh^T [da_r; da_u; dq]_{t+1} + W_hy^T gy_t
            add(dh, dh_u, dh)  # dh_t
            sub(h_prev, n, work)
            mul(work, dh, work)  # du = dh_t (h_{t-1} - n)
            sub(one, u, tmp)
            mul(tmp, u, aux)  # u (1 - u)
            mul(tmp, dh, tmp)  # dn = dh_t (1 - u)
            mul(dh, u, dh_u)  # dh_t u, for step t - 1
            mul(aux, work, u)  # da_u = du u (1 - u)
            mul(n, n, work)
            sub(one, work, work)
            mul(work, tmp, da_n)  # da_n = dn (1 - n^2)
            mul(da_n, q, tmp)  # dr = da_n q
            mul(da_n, r, n)  # dq = da_n r
            sub(one, r, aux)
            mul(aux, r, aux)
            mul(aux, tmp, r)  # da_r = dr r (1 - r)
        # Parameter gradients: batched products over all steps.
        D = A[:N, : 3 * n_h]  # (da_r, da_u, dq)
        gh = self.slab_grad(D, slice(0, n_h + 1))  # (3 n_h, n_h + 1): [W_hh, b_hh]
        gx_ru = self.slab_grad(D[:, : 2 * n_h], slice(n_h, None))  # (2 n_h, 1 + n_x)
        gx_n = self.slab_grad(DN, slice(n_h, None))  # (n_h, 1 + n_x)
        gp["W_hh"][...] = gh[:, :n_h]
        gp["b_hh"][...] = gh[:, n_h]
        gp["W_ih"][: 2 * n_h] = gx_ru[:, 1:]
        gp["W_ih"][2 * n_h :] = gx_n[:, 1:]
        gp["b_ih"][: 2 * n_h] = gx_ru[:, 0]
        gp["b_ih"][2 * n_h :] = gx_n[:, 0]
        self.readout_grad(gp)
        dz = W_dh[:, : 3 * n_h] @ A[0, : 3 * n_h]
        dz += dh_u  # dz_0 = carry_1 = dV/dh_0
        return dz.T
