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

The same equations one step at a time, without the devices below:
:func:`systems.bptt_reference.lstm`.

Layout and speed (``benchmarks/epoch_speed.py``, ``benchmarks/bptt_speed.py``). With the
authors' sizes (``n_h = 8``, minibatches of ``S = 100`` windows) every per-step array is a few
thousand numbers, so the cost of a step is the number of NumPy calls (about 1-2 us each) plus
the float64 ``exp`` (no SIMD loop on AVX2, ~5 ns per number: the floor, printed by
``benchmarks/epoch_speed.py``). The layout is chosen to make the calls few:

* Feature-major (:class:`systems.bptt_kernel.FeatureMajorKernel`): the window index is last.
  ``Z : (N + 1, n_h + 1 + n_x, S)`` holds ``[h_t; 1; x_{t+1}]`` in slab ``t``, so the gate
  pre-activations of step ``t`` are one product ``W_a Z[t-1]`` with ``W_a = [W_hh, b, W_ih]``
  (rows reordered and scaled, below) into the contiguous block ``A[t-1, :4 n_h]``, and each
  gate is a contiguous ``(n_h, S)`` row block of it (elementwise passes run over long rows).
* Gates in the order ``(i, f, o, g)``; the rows of ``W_a`` are scaled by ``-1`` on ``i, f, o``
  and by ``-2`` on ``g``, so one ``exp`` over the block gives ``sigma(a) = 1 / (1 + e)`` for all
  four and ``tanh(a_g) = 2 sigma(2 a_g) - 1`` (``exp`` may overflow to ``inf``: the right limits
  0 and -1). ``tanh(c) = 2 / (1 + exp(-2c)) - 1`` likewise. Both are accurate to a few ``2**-53``
  absolutely (not relatively near 0), as :func:`~systems.bptt_kernel.fast_tanh`.
* ``A : (N + 1, 4 n_h + n_y, S)``: slab ``t - 1`` holds the gates of step ``t`` in its first
  ``4 n_h`` rows, overwritten by ``da_t`` in the backward pass, and slab ``t`` holds ``gy_t`` in
  its last ``n_y`` rows (zero on burn-in steps). So ``A[t] = [da_{t+1}; gy_t]`` and
  ``dh_t = W_dh A[t]`` with ``W_dh = [W_hh^T, W_hy^T]`` is one product per step. The parameter
  gradients are one batched product each after the loop.
* The loops take their per-step views (:class:`LSTMStep`, stored as plain tuples) from a list
  built once, unpack them in the loop header (attribute access would cost ~3% of the loop),
  call the ufuncs bound to local names with positional outputs, and use 0-d arrays for
  constants (a Python float operand costs a conversion per call): ~0.55 us per call instead
  of ~0.85 us.
* Memory: ``Z``, ``A``, ``C``: ``6 n_h + n_x + n_y + 1`` floats per window and step;
  ``tanh(c_t)`` is recovered in the backward pass as ``h_t / o_t`` instead of stored (where
  ``o_t = 0`` every term it enters is multiplied by ``o_t``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .bptt_kernel import MINUS_TWO, ONE, TWO, FeatureMajorKernel, Params

#: ``o_t`` is floored at this before ``tanh(c_t) = h_t / o_t`` (only ``o_t = 0`` is affected).
_O_FLOOR = np.array(1e-300)


def _order(n_h: int) -> np.ndarray:
    """Row permutation from torch's ``(i, f, g, o)`` to the loops' ``(i, f, o, g)``."""
    return np.r_[0 : 2 * n_h, 3 * n_h : 4 * n_h, 2 * n_h : 3 * n_h]


class LSTMStep(NamedTuple):
    """Views of the buffers at step ``t`` (``1..N``); each ``(rows, S)``.

    The loops unpack these in this order: the names in their headers are these field names.
    """

    #: ``A[t-1, :4 n_h]``: ``W_a [h_{t-1}; 1; x_t]``, then the gates ``(i, f, o, g)``, then
    #: (backward) ``da_t``
    a: np.ndarray
    i: np.ndarray  #: rows ``0:n_h`` of ``a``
    f: np.ndarray  #: rows ``n_h:2 n_h``
    o: np.ndarray  #: rows ``2 n_h:3 n_h``
    g: np.ndarray  #: rows ``3 n_h:4 n_h``
    ifo: np.ndarray  #: rows ``0:3 n_h``, the three sigmoid gates
    da_next_gy: np.ndarray  #: ``A[t] = [da_{t+1}; gy_t]``
    z_prev: np.ndarray  #: ``Z[t-1] = [h_{t-1}; 1; x_t]``
    h: np.ndarray  #: ``Z[t, :n_h] = h_t``
    c_prev: np.ndarray  #: ``C[t-1] = c_{t-1}``
    c: np.ndarray  #: ``C[t] = c_t``


class LSTMKernel(FeatureMajorKernel):
    """The LSTM over windows ``lo:hi`` of a batch (:class:`~systems.bptt_kernel.Kernel`;
    buffers as :class:`~systems.bptt_kernel.FeatureMajorKernel`)."""

    n_gates = 4

    def allocate(self) -> None:
        N, S, n_h = self.N, self.S, self.n_h
        self.C = np.empty((N + 1, n_h, S))  # cell states, C[0] = c part of z
        self.dgates = np.empty((4, n_h, S))  # dV/d(i, f, o, g) of one step
        self.dh = np.empty((n_h, S))
        self.dc = np.empty((n_h, S))
        self.tc = np.empty((n_h, S))  # tanh(c_t) of one step
        self.tmp = np.empty((n_h, S))
        self.dc_f = np.empty((n_h, S))  # dc_{t+1} f_{t+1}: what c_t gets from c_{t+1}
        self.one_minus = np.empty((3 * n_h, S))
        A, C, Z, n = self.A, self.C, self.Z, n_h
        self.steps = [  # plain tuples: a tuple subclass unpacks ~0.1 us slower
            tuple(LSTMStep(a=A[t - 1, : 4 * n], i=A[t - 1, :n], f=A[t - 1, n : 2 * n],
                           o=A[t - 1, 2 * n : 3 * n], g=A[t - 1, 3 * n : 4 * n],
                           ifo=A[t - 1, : 3 * n], da_next_gy=A[t], z_prev=Z[t - 1],
                           h=Z[t, :n], c_prev=C[t - 1], c=C[t]))
            for t in range(1, N + 1)
        ]

    def set_initial(self, z) -> None:
        """``z_0 = (h_0, c_0)``: ``(S, 2 n_h)``, ``(2 n_h,)`` or the scalar 0."""
        n_h = self.n_h
        z = np.asarray(z, dtype=np.float64)
        if z.ndim == 0:
            self.set_h0(z)
            self.C[0] = z
        else:
            self.set_h0(z[..., :n_h])
            self.C[0] = z[..., n_h:].T if z.ndim == 2 else z[n_h:, None]

    def states(self) -> np.ndarray:
        """``(N + 1, S, 2 n_h)`` states ``(h_t, c_t)`` of the last forward pass (a new array)."""
        return np.concatenate([self.Z[:, : self.n_h], self.C], axis=1).transpose(0, 2, 1)

    def final_state(self) -> np.ndarray:
        return np.concatenate([self.final_h(), self.C[self.N].T], axis=1)

    @staticmethod
    def prepare(p: Params) -> Params:
        """``W_a`` (rows ``(i, f, o, g)``, scaled) and ``W_dh`` (see the module docstring)."""
        n_h = p["W_hh"].shape[1]
        order = _order(n_h)
        neg = np.r_[np.full(3 * n_h, -1.0), np.full(n_h, -2.0)]  # e = exp(-a), exp(-2 a_g)
        W_a = np.c_[p["W_hh"], p["b_ih"] + p["b_hh"], p["W_ih"]][order] * neg[:, None]
        return {
            "order": order,
            "W_a": W_a,  # (4 n_h, n_h + 1 + n_x)
            "W_dh": np.ascontiguousarray(np.c_[p["W_hh"][order].T, p["W_hy"].T]),
            **FeatureMajorKernel.readout(p),
        }

    def forward(self, p: Params) -> None:
        """Fill the gates, ``C`` and the ``h`` rows of ``Z`` (slab 0 holds ``z_0``)."""
        W_a, tc, tmp = p["W_a"], self.tc, self.tmp
        mul, add, sub, div, exp, matmul = (np.multiply, np.add, np.subtract, np.divide, np.exp,
                                           np.matmul)
        one, two, m2 = ONE, TWO, MINUS_TWO
        with np.errstate(over="ignore"):  # exp -> inf is the right limit
            for a, i, f, o, g, _, _, z_prev, h, c_prev, c in self.steps:
                matmul(W_a, z_prev, a)  # (-a_i, -a_f, -a_o, -2 a_g)
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

    def backward(self, p: Params, gp: Params) -> np.ndarray:
        N, n_h = self.N, self.n_h
        A, tc, W_dh = self.A, self.tc, p["W_dh"]
        dh, dc, tmp, dc_f, one_minus = self.dh, self.dc, self.tmp, self.dc_f, self.one_minus
        di, df, do, dg = self.dgates
        dgates = self.dgates.reshape(4 * n_h, -1)
        mul, add, sub, div, maximum, matmul = (np.multiply, np.add, np.subtract, np.divide,
                                               np.maximum, np.matmul)
        one, floor = ONE, _O_FLOOR
        A[N, : 4 * n_h] = 0.0  # da_{N+1}
        dc_f[...] = 0.0  # dc_{N+1} f_{N+1}
        for a, i, f, o, g, ifo, da_next_gy, _, h, c_prev, _ in reversed(self.steps):
            maximum(o, floor, out=tmp)
            div(h, tmp, tc)  # tanh(c_t) = h_t / o_t
            matmul(W_dh, da_next_gy, dh)  # dh_t = W_hh^T da_{t+1} + W_hy^T gy_t
            mul(tc, tc, dc)
            sub(one, dc, dc)
            mul(dc, o, dc)
            mul(dc, dh, dc)
            add(dc, dc_f, dc)  # dc_t = dh_t o (1 - tc^2) + dc_{t+1} f_{t+1}
            mul(dc, f, dc_f)  # dc_t f_t, for step t - 1
            mul(dc, g, di)  # dV/di
            mul(dc, c_prev, df)  # dV/df
            mul(dh, tc, do)  # dV/do
            mul(dc, i, dg)  # dV/dg
            sub(one, ifo, one_minus)
            mul(ifo, one_minus, ifo)  # sigma' = s (1 - s) for i, f, o
            mul(g, g, tmp)
            sub(one, tmp, g)  # tanh' = 1 - g^2
            mul(dgates, a, a)  # da_t = dV/d(i, f, o, g) * their derivatives
        # Parameter gradients: one batched product over all steps.
        gW = self.slab_grad(A[:N, : 4 * n_h])  # (4 n_h, n_h + 1 + n_x): [W_hh, b, W_ih]
        order = p["order"]
        gp["W_hh"][order] = gW[:, :n_h]
        gp["b_ih"][order] = gW[:, n_h]
        gp["b_hh"][...] = gp["b_ih"]
        gp["W_ih"][order] = gW[:, n_h + 1 :]
        self.readout_grad(gp)
        dh0 = W_dh[:, : 4 * n_h] @ A[0, : 4 * n_h]  # W_hh^T da_1
        return np.concatenate([dh0, dc_f], axis=0).T  # dz_0 = (W_hh^T da_1, dc_1 f_1)
