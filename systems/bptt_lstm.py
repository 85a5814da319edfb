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
* Memory: ``Z``, ``A``, ``C``: ``6 n_h + n_x + n_y + 1`` floats per window and step;
  ``tanh(c_t)`` is recovered in the backward pass as ``h_t / o_t`` instead of stored (where
  ``o_t = 0`` every term it enters is multiplied by ``o_t``).
"""

from __future__ import annotations

import numpy as np

from .bptt import FeaturePart

#: ``o_t`` is floored at this before ``tanh(c_t) = h_t / o_t`` (only ``o_t = 0`` is affected).
_O_FLOOR = 1e-300


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
        n, W = self.n_h, p["W"]
        A, C, Z, tc, tmp = self.A, self.C, self.Z, self.tc, self.tmp
        with np.errstate(over="ignore"):  # exp -> inf is the right limit
            for t in range(1, self.N + 1):
                a = A[t - 1, : 4 * n]
                np.matmul(W, Z[t - 1], out=a)  # (-a_i, -a_f, -a_o, -2 a_g)
                np.exp(a, out=a)
                a += 1.0
                np.divide(1.0, a, out=a)  # i, f, o, sigma(2 a_g)
                i, f, o, g = a[:n], a[n : 2 * n], a[2 * n : 3 * n], a[3 * n :]
                g *= 2.0
                g -= 1.0  # g = tanh(a_g)
                c = C[t]
                np.multiply(f, C[t - 1], out=c)
                np.multiply(i, g, out=tmp)
                c += tmp  # c_t = f c_{t-1} + i g
                np.multiply(c, -2.0, out=tc)
                np.exp(tc, out=tc)
                tc += 1.0
                np.divide(2.0, tc, out=tc)
                tc -= 1.0  # tanh(c_t)
                np.multiply(o, tc, out=Z[t, :n])  # h_t = o tanh(c_t)

    def backward(self, p, gp) -> np.ndarray:
        """BPTT over this part; write its gradient into the views ``gp``; return ``dz``."""
        N, n = self.N, self.n_h
        A, C, Z, U, tc = self.A, self.C, self.Z, self.U, self.tc
        dh, dc, tmp, carry_c, s1 = self.dh, self.dc, self.tmp, self.carry_c, self.s1
        Wback = p["Wback"]
        A[N, : 4 * n] = 0.0  # da_{N+1}
        carry_c[...] = 0.0  # dc_{t+1} f_{t+1}
        for t in range(N, 0, -1):
            a = A[t - 1, : 4 * n]
            i, f, o, g = a[:n], a[n : 2 * n], a[2 * n : 3 * n], a[3 * n :]
            np.maximum(o, _O_FLOOR, out=tmp)
            np.divide(Z[t, :n], tmp, out=tc)  # tanh(c_t) = h_t / o_t
            np.matmul(Wback, A[t], out=dh)  # dh_t = W_hh^T da_{t+1} + W_hy^T gy_t
            np.multiply(tc, tc, out=dc)
            np.subtract(1.0, dc, out=dc)
            dc *= o
            dc *= dh
            dc += carry_c  # dc_t
            np.multiply(dc, f, out=carry_c)  # dc_t f_t, for step t - 1
            np.multiply(dc, g, out=U[0])  # dV/di
            np.multiply(dc, C[t - 1], out=U[1])  # dV/df
            np.multiply(dh, tc, out=U[2])  # dV/do
            np.multiply(dc, i, out=U[3])  # dV/dg
            s = a[: 3 * n]
            np.subtract(1.0, s, out=s1)
            s *= s1  # sigma' = s (1 - s) for i, f, o
            np.multiply(g, g, out=tmp)
            np.subtract(1.0, tmp, out=g)  # tanh' = 1 - g^2
            np.multiply(U.reshape(4 * n, -1), a, out=a)  # da_t
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
