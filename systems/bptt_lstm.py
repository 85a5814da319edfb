"""Forward and hand-written backward pass of the LSTM over a stack of windows (feature-major).

Forward (torch's gates, :class:`systems.lstm.LSTM`; ``a_t`` the pre-activations)::

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,   i, f, o = sigma(a_i, a_f, a_o),  g = tanh(a_g)
    c_t = f c_{t-1} + i g,   h_t = o tanh(c_t),   y_t = W_hy h_t + b_y

Backward, the forward loop read in reverse (``gy_t = dV/dy_t``, ``tc_t = tanh(c_t)``)::

    dh_t  = W_hy^T gy_t + W_hh^T da_{t+1}                   # from the output and from step t+1
    dc_t  = dh_t o (1 - tc_t^2) + dc_{t+1} f_{t+1}           # from h_t and from c_{t+1}
    da_o = dh_t tc_t o (1 - o),   da_i = dc_t g i (1 - i)
    da_f = dc_t c_{t-1} f (1 - f),   da_g = dc_t i (1 - g^2)
    d[W_hh, b, W_ih] = sum_t da_t [h_{t-1}; 1; x_t]^T,   db_ih = db_hh
    dW_hy = sum_t gy_t h_t^T,   db_y = sum_t gy_t,   dz_0 = (W_hh^T da_1, dc_1 f_1)

Layout and speed (``benchmarks/epoch_speed.py``, ``benchmarks/bptt_speed.py``). With the
authors' sizes (``n_h = 8``, minibatches of ``S = 100`` windows) every per-step array is a few
thousand numbers, so the cost of a step is the number of NumPy calls (about 1-2 us each) plus
the float64 ``exp`` (no SIMD loop on AVX2, ~5 ns per number: the floor, printed by
``benchmarks/epoch_speed.py``). The layout is chosen to make the calls few:

* Feature-major (:class:`systems.bptt.FeaturePart`): the window index is last.
  ``Z : (N + 1, n_h + 1 + n_x, S)`` holds ``[h_t; 1; x_{t+1}]`` in slab ``t``, so the gate
  pre-activations of step ``t`` are one product ``[W_hh, b, W_ih] Z[t-1]`` into the contiguous
  block ``A[t-1, :4 n_h]``, and each gate is a contiguous ``(n_h, S)`` row block of it
  (elementwise passes run over long rows).
* Gates in the order ``(i, f, o, g)``; the weights are scaled by ``-1`` on ``i, f, o`` and by
  ``-2`` on ``g``, so one ``exp`` over the block gives ``sigma(a) = 1 / (1 + e)`` for all four
  and ``tanh(a_g) = 2 sigma(2 a_g) - 1`` (``exp`` may overflow to ``inf``: the right limits 0
  and -1). ``tanh(c) = 2 / (1 + exp(-2c)) - 1`` likewise. Both are accurate to a few ``2**-53``
  absolutely (not relatively near 0), as :func:`~systems.bptt.fast_tanh`.
* ``A : (N + 1, 4 n_h + n_y, S)``: slab ``t - 1`` holds the gates of step ``t`` in its first
  ``4 n_h`` rows, overwritten by ``da_t`` in the backward pass, and slab ``t`` holds ``gy_t`` in
  its last ``n_y`` rows (zero on burn-in steps). So ``A[t] = [da_{t+1}; gy_t]`` and
  ``dh_t = [W_hh^T, W_hy^T] A[t]`` is one product per step. The parameter gradients are one
  batched product each after the loop.
* The loops take their per-step views from a list built once, call the ufuncs bound to local
  names with positional outputs, and use 0-d arrays for constants (a Python float operand
  costs a conversion per call): ~0.55 us per call instead of ~0.85 us.
* Memory: ``Z``, ``A``, ``C``: ``6 n_h + n_x + n_y + 1`` floats per window and step;
  ``tanh(c_t)`` is recovered in the backward pass as ``h_t / o_t`` instead of stored (where
  ``o_t = 0`` every term it enters is multiplied by ``o_t``).
"""

from __future__ import annotations

import numpy as np

from .bptt import FeaturePart

#: ``o_t`` is floored at this before ``tanh(c_t) = h_t / o_t`` (only ``o_t = 0`` is affected).
_O_FLOOR = np.array(1e-300)
#: 0-d constants of the gated loops (here and in :mod:`systems.bptt_gru`).
ONE, TWO, MINUS_TWO = np.array(1.0), np.array(2.0), np.array(-2.0)


def _order(n_h: int) -> np.ndarray:
    """Row permutation from torch's ``(i, f, g, o)`` to the loops' ``(i, f, o, g)``."""
    return np.r_[0 : 2 * n_h, 3 * n_h : 4 * n_h, 2 * n_h : 3 * n_h]


class LSTMPart(FeaturePart):
    """The LSTM over windows ``lo:hi`` of a batch: the data and the buffers of one evaluation
    (parameters as :class:`~systems.bptt.FeaturePart`)."""

    def __init__(self, Xt, Yt, w2K, m, n_h):
        super().__init__(Xt, Yt, w2K, m, n_h, 4)
        N, S, n = self.N, self.S, n_h
        self.C = np.empty((N + 1, n, S))  # cell states, C[0] = c part of z
        self.U = np.empty((4, n, S))
        self.dh = np.empty((n, S))
        self.dc = np.empty((n, S))
        self.tc = np.empty((n, S))  # tanh(c_t) of one step
        self.tmp = np.empty((n, S))
        self.carry_c = np.empty((n, S))
        self.s1 = np.empty((3 * n, S))
        # The per-step views, built once (the buffers are never reallocated): slicing inside
        # the loops would cost as much as a third of the elementwise calls.
        A, C, Z = self.A, self.C, self.Z
        self.steps = [
            (A[t - 1, : 4 * n], A[t - 1, :n], A[t - 1, n : 2 * n], A[t - 1, 2 * n : 3 * n],
             A[t - 1, 3 * n : 4 * n], A[t - 1, : 3 * n], A[t], Z[t - 1], Z[t, :n], C[t - 1], C[t])
            for t in range(1, N + 1)
        ]

    def set_initial(self, z) -> None:
        """``z_0 = (h_0, c_0)``: ``(S, 2 n_h)``, ``(2 n_h,)`` or the scalar 0."""
        n = self.n_h
        z = np.asarray(z, dtype=np.float64)
        if z.ndim == 0:
            self.set_h0(z)
            self.C[0] = z
        else:
            self.set_h0(z[..., :n])
            self.C[0] = z[..., n:].T if z.ndim == 2 else z[n:, None]

    def states(self) -> np.ndarray:
        """``(N + 1, S, 2 n_h)`` states ``(h_t, c_t)`` of the last forward pass (a new array)."""
        return np.concatenate([self.Z[:, : self.n_h], self.C], axis=1).transpose(0, 2, 1)

    @staticmethod
    def prepare(p) -> dict[str, np.ndarray]:
        """The parameters as the loops use them (see the module docstring)."""
        n = p["W_hh"].shape[1]
        order = _order(n)
        neg = np.r_[np.full(3 * n, -1.0), np.full(n, -2.0)]  # e = exp(-a), exp(-2 a_g)
        W = np.c_[p["W_hh"], p["b_ih"] + p["b_hh"], p["W_ih"]][order] * neg[:, None]
        return {
            "order": order,
            "W": W,  # (4 n_h, n_h + 1 + n_x), scaled
            "Wback": np.ascontiguousarray(np.c_[p["W_hh"][order].T, p["W_hy"].T]),
            **FeaturePart.readout(p),
        }

    def forward(self, p) -> None:
        """Fill the gates, ``C`` and the ``h`` rows of ``Z`` (slab 0 holds ``z``)."""
        W, tc, tmp = p["W"], self.tc, self.tmp
        # ufuncs bound locally, output arrays positional, constants as 0-d arrays: each call
        # is then ~0.55 us instead of ~0.85 us (a Python float operand costs a conversion)
        mul, add, sub, div, exp, matmul = (np.multiply, np.add, np.subtract, np.divide, np.exp,
                                           np.matmul)
        one, two, m2 = ONE, TWO, MINUS_TWO
        with np.errstate(over="ignore"):  # exp -> inf is the right limit
            for a, i, f, o, g, _, _, z_prev, h, c_prev, c in self.steps:
                matmul(W, z_prev, a)  # (-a_i, -a_f, -a_o, -2 a_g)
                exp(a, a)
                add(a, one, a)
                div(one, a, a)  # i, f, o, sigma(2 a_g)
                mul(g, two, g)
                sub(g, one, g)  # g = tanh(a_g)
                mul(f, c_prev, c)
                mul(i, g, tmp)
                add(c, tmp, c)  # c_t = f c_{t-1} + i g
                mul(c, m2, tc)
                exp(tc, tc)
                add(tc, one, tc)
                div(two, tc, tc)
                sub(tc, one, tc)  # tanh(c_t)
                mul(o, tc, h)  # h_t = o tanh(c_t)

    def backward(self, p, gp) -> np.ndarray:
        """BPTT over this part; write its gradient into the views ``gp``; return ``dz``."""
        N, n = self.N, self.n_h
        A, U, tc = self.A, self.U, self.tc
        dh, dc, tmp, carry_c, s1 = self.dh, self.dc, self.tmp, self.carry_c, self.s1
        U0, U1, U2, U3, U4 = U[0], U[1], U[2], U[3], U.reshape(4 * n, -1)
        Wback = p["Wback"]
        mul, add, sub, div, maximum, matmul = (np.multiply, np.add, np.subtract, np.divide,
                                               np.maximum, np.matmul)
        one, floor = ONE, _O_FLOOR
        A[N, : 4 * n] = 0.0  # da_{N+1}
        carry_c[...] = 0.0  # dc_{t+1} f_{t+1}
        for a, i, f, o, g, s, nxt, _, h, c_prev, _ in reversed(self.steps):
            maximum(o, floor, out=tmp)
            div(h, tmp, tc)  # tanh(c_t) = h_t / o_t
            matmul(Wback, nxt, dh)  # dh_t = W_hh^T da_{t+1} + W_hy^T gy_t
            mul(tc, tc, dc)
            sub(one, dc, dc)
            mul(dc, o, dc)
            mul(dc, dh, dc)
            add(dc, carry_c, dc)  # dc_t
            mul(dc, f, carry_c)  # dc_t f_t, for step t - 1
            mul(dc, g, U0)  # dV/di
            mul(dc, c_prev, U1)  # dV/df
            mul(dh, tc, U2)  # dV/do
            mul(dc, i, U3)  # dV/dg
            sub(one, s, s1)
            mul(s, s1, s)  # sigma' = s (1 - s) for i, f, o
            mul(g, g, tmp)
            sub(one, tmp, g)  # tanh' = 1 - g^2
            mul(U4, a, a)  # da_t
        # Parameter gradients: one batched product over all steps.
        gW = self.slab_grad(A[:N, : 4 * n])  # (4 n_h, n_h + 1 + n_x): [W_hh, b, W_ih]
        order = p["order"]
        gp["W_hh"][order] = gW[:, :n]
        gp["b_ih"][order] = gW[:, n]
        gp["b_hh"][...] = gp["b_ih"]
        gp["W_ih"][order] = gW[:, n + 1 :]
        self.readout_grad(gp)
        dh0 = Wback[:, : 4 * n] @ A[0, : 4 * n]  # W_hh^T da_1
        return np.concatenate([dh0, carry_c], axis=0).T  # dz = (W_hh^T da_1, dc_1 f_1)
