"""Forward and hand-written backward pass of the Elman RNN over a stack of windows (time-major).

Forward (:class:`systems.rnn.ElmanRNN`, ``sigma = tanh`` or the identity)::

    a_t = W_hh h_{t-1} + W_xh x_t + b_h,   h_t = sigma(a_t),   y_t = W_hy h_t + b_y

Backward, the forward loop read in reverse (``gy_t = dV/dy_t``, zero on the burn-in steps)::

    dh_t  = gy_t W_hy + da_{t+1} W_hh                     # from the output and from step t+1
    da_t  = dh_t * sigma'(a_t),  sigma'(a_t) = 1 - h_t^2  # tanh (1 for linear)
    dW_hh = sum_t da_t^T h_{t-1},  dW_xh = sum_t da_t^T x_t,  db_h = sum_t da_t
    dW_hy = sum_t gy_t^T h_t,      db_y = sum_t gy_t,       dz_0 = da_1 W_hh

Layout (:class:`~systems.bptt_kernel.TimeMajorKernel`): ``H : (N + 1, S, n_h)``, each step
one ``(S, n_h) @ (n_h, n_h)`` product on a contiguous slab; the input drive of all steps is
one product before the loop, the parameter gradients one product each after it. ``tanh`` is
:func:`~systems.bptt_kernel.fast_tanh` (about half the cost of ``np.tanh``; the activation is
most of the work when ``n_h`` is small). The plain version: :func:`systems.bptt_reference.elman`.
"""

from __future__ import annotations

import numpy as np

from .bptt_kernel import Params, TimeMajorKernel, fast_tanh
from .spec import Spec


class ElmanKernel(TimeMajorKernel):
    """The Elman RNN over windows ``lo:hi`` of a batch (:class:`~systems.bptt_kernel.Kernel`)."""

    work_per_unit = 1

    def __init__(self, Xt: np.ndarray, Yt: np.ndarray, two_w_over_K: np.ndarray, m: int,
                 spec: Spec) -> None:
        super().__init__(Xt, Yt, two_w_over_K, m, spec)
        S, n_h = self.S, self.n_h
        self.tanh = spec.activation == "tanh"
        self.dA = np.empty((self.N, S, n_h))  # dV/da_t
        self.tmp = np.empty((S, n_h))
        self.work = np.empty((S, n_h))
        self.carry = np.empty((S, n_h))  # da_{t+1} W_hh

    @staticmethod
    def prepare(p: Params) -> Params:
        return {"W_hhT": p["W_hh"].T.copy(), "W_xhT": p["W_xh"].T.copy(), "b_h": p["b_h"],
                "W_hh": p["W_hh"].copy(), **TimeMajorKernel.readout(p)}

    def forward(self, p: Params) -> None:
        """Fill ``H`` (``H[0]`` already holds ``z_0``)."""
        W_hhT, W_xhT, b_h = p["W_hhT"], p["W_xhT"], p["b_h"]
        N, S, n_h = self.N, self.S, self.n_h
        H, tmp, work = self.H, self.tmp, self.work
        # Input drive for all steps in one product: H[t] <- W_xh x_t + b_h.
        np.matmul(self.Xt.reshape(N * S, -1), W_xhT, out=H[1:].reshape(N * S, n_h))
        H[1:] += b_h
        for t in range(1, N + 1):
            np.matmul(H[t - 1], W_hhT, out=tmp)  # W_hh h_{t-1}
            if self.tanh:
                tmp += H[t]  # a_t
                fast_tanh(tmp, out=H[t], work=work)  # h_t = sigma(a_t)
            else:
                H[t] += tmp  # h_t = a_t

    def backward(self, p: Params, gp: Params) -> np.ndarray:
        N, S, n_h = self.N, self.S, self.n_h
        W_hh, W_hy = p["W_hh"], p["W_hy"]
        H, dA, tmp, carry = self.H, self.dA, self.tmp, self.carry
        carry[...] = 0.0  # da_{N+1} W_hh: nothing arrives after the last step
        for t in range(N, 0, -1):
            da = dA[t - 1]
            self.output_grad(t, W_hy, carry, out=da)  # dh_t = gy_t W_hy + da_{t+1} W_hh
            if self.tanh:
                np.multiply(da, H[t], out=tmp)
                tmp *= H[t]
                da -= tmp  # da_t = dh_t (1 - h_t^2)
            np.matmul(da, W_hh, out=carry)
        # Parameter gradients: one product each over all steps and windows.
        dA2 = dA.reshape(N * S, n_h)
        np.matmul(dA2.T, H[:-1].reshape(N * S, n_h), out=gp["W_hh"])
        np.matmul(dA2.T, self.Xt.reshape(N * S, -1), out=gp["W_xh"])
        np.sum(dA2, axis=0, out=gp["b_h"])
        self.readout_grad(gp)
        return carry  # dz_0 = da_1 W_hh
