"""What every tuned BPTT kernel shares: the interface, the two memory layouts, ``fast_tanh``.

A *kernel* runs one cell's forward and backward pass over a part of a batch's windows
(windows ``lo:hi``, in buffers of its own). :class:`systems.bptt.WindowBatch` splits its
windows into parts, builds one kernel per part from its registry and runs them on threads.
The kernels of the cells: :mod:`systems.bptt_elman` (time-major),
:mod:`systems.bptt_lstm` and :mod:`systems.bptt_gru` (feature-major); the plain kernels they
are tested against: :mod:`systems.bptt_reference`.

Every kernel implements :class:`Kernel`. Shapes in this module use ``S`` for the part's
``hi - lo`` windows; the objective is the one of :mod:`systems.bptt`, with the weights given
to a kernel already scaled as ``2 w_ij / K`` (zero on the burn-in steps), so that
``dV/dy_ij = (2 w_ij / K) r_ij`` for the residuals ``r_ij = y_ij - y^d_ij``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np

from .spec import Spec

#: Rows per chunk where a full-size temporary is avoided.
CHUNK = 1 << 16

#: 0-d constants of the elementwise loops: a Python float operand costs a conversion per
#: ufunc call (~0.3 us), a 0-d array does not.
ONE, TWO, MINUS_TWO = np.array(1.0), np.array(2.0), np.array(-2.0)

Params = dict[str, np.ndarray]


def fast_tanh(x: np.ndarray, out: np.ndarray, work: np.ndarray) -> np.ndarray:
    """``tanh(x)`` into ``out``, using ``work`` as scratch (three distinct arrays, one shape).

    ``tanh|x| = (1 - e) / (1 + e)`` with ``e = exp(-2|x|)`` in ``(0, 1]``, then the sign of
    ``x`` is copied onto it. ``e`` never overflows and ``1 - e`` is exact for ``e >= 1/2``,
    so the absolute error is a few units of ``2**-53`` on the whole line (tested against
    ``np.tanh``); the relative error near 0 is not that good (``tanh(1e-20)`` gives 0).
    Odd by construction, ``tanh(+-0) = +-0``, exactly ``+-1`` for ``|x| > 19.1`` and at
    ``+-inf``; NaN propagates. About half the cost of ``np.tanh`` on AVX2, where NumPy has
    no SIMD float64 ``tanh`` but ``exp`` and the arithmetic are vectorised.
    """
    e = work
    np.abs(x, out=e)
    e *= -2.0
    np.exp(e, out=e)  # e = exp(-2|x|)
    np.subtract(1.0, e, out=out)
    e += 1.0
    out /= e  # tanh|x| = (1 - e) / (1 + e)
    return np.copysign(out, x, out=out)


def weigh_residuals(r: np.ndarray, two_w_over_K: np.ndarray, rows: int) -> float:
    """Turn the residuals ``r`` into ``dV/dy = (2 w / K) r`` in place; return their ``V``.

    ``V = (1/K) sum w ||r||^2``. ``r`` and ``two_w_over_K`` (broadcast against it) are taken
    ``rows`` leading rows at a time, so no full-size temporary is made.
    """
    V = 0.0
    for lo in range(0, r.shape[0], rows):
        g = r[lo : lo + rows]
        wg = two_w_over_K[lo : lo + rows] * g
        V += 0.5 * float(np.vdot(wg, g))  # (1/K) sum w ||r||^2
        g[...] = wg  # (2/K) w r
    return V


class Kernel(Protocol):
    """The interface :class:`systems.bptt.WindowBatch` uses (one instance per part).

    ``Kernel(Xt, Yt, two_w_over_K, m, spec)`` takes the part's windows time-major,
    ``Xt : (N, S, n_x)``, ``Yt : (N, S, n_y)``, the weights ``2 w_ij / K : (N, S, 1)``, the
    burn-in ``m`` and the :class:`~systems.spec.Spec`; it allocates every buffer once.
    ``p`` below is what :meth:`prepare` made of the named parameters, ``gp`` the named views
    of the part's gradient vector.
    """

    #: relative work per window, step and hidden unit (sizes the parts: 1 Elman, 4 gated)
    work_per_unit: ClassVar[int]

    @staticmethod
    def prepare(p: Params) -> Params:
        """The named parameters as the loops use them (transposed, stacked, scaled)."""

    def set_data(self, Xt: np.ndarray, Yt: np.ndarray) -> None:
        """New windows of the same shape: ``Xt : (N, S, n_x)``, ``Yt : (N - m, S, n_y)``."""

    def set_initial(self, z: Any) -> None:
        """``z_0``: ``(S, n_z)``, ``(n_z,)`` or the scalar 0."""

    def forward(self, p: Params) -> None:
        """Run the cell over the ``N`` steps from ``z_0``, keeping what the backward pass needs."""

    def residuals(self, p: Params) -> float:
        """After :meth:`forward`: store ``dV/dy_t`` of the scored steps, return the part's ``V``."""

    def backward(self, p: Params, gp: Params) -> np.ndarray:
        """After :meth:`residuals`: write ``dV/dtheta`` into ``gp``; return
        ``dV/dz_0 : (S, n_z)`` (may be a buffer of the kernel)."""

    def states(self) -> np.ndarray:
        """``(N + 1, S, n_z)`` states ``z_0 .. z_N`` of the last forward pass (may be a view)."""

    def final_state(self) -> np.ndarray:
        """``(S, n_z)`` state ``z_N`` of the last forward pass (a new array)."""


# ------------------------------------------------------------------------- time-major
class TimeMajorKernel:
    """Time-major buffers and the readout ``y_t = W_hy h_t + b_y`` (the Elman kernel's base).

    ``H : (N + 1, S, n_h)`` holds ``h_0 .. h_N``, so each step works on a contiguous
    ``(S, n_h)`` slab; ``gy : (N - m, S, n_y)`` holds the residuals, then ``dV/dy_t``, of the
    scored steps ``t = m+1..N``.
    """

    def __init__(self, Xt: np.ndarray, Yt: np.ndarray, two_w_over_K: np.ndarray, m: int,
                 spec: Spec) -> None:
        N, S, n_y = Yt.shape
        n_h = spec.n_h
        self.N, self.S, self.n_h, self.m = N, S, n_h, m
        self.Xt = np.ascontiguousarray(Xt)  # (N, S, n_x)
        self.Yt = np.ascontiguousarray(Yt[m:])  # (N - m, S, n_y), scored targets
        self.two_w_over_K = np.ascontiguousarray(two_w_over_K[m:])  # (N - m, S, 1)
        self.H = np.empty((N + 1, S, n_h))  # hidden states, H[0] = h part of z
        self.gy = np.empty((N - m, S, n_y))  # residuals r, then dV/dy on scored steps

    def set_initial(self, z) -> None:
        self.H[0] = z

    def set_data(self, Xt: np.ndarray, Yt: np.ndarray) -> None:
        self.Xt[...] = Xt
        self.Yt[...] = Yt

    def states(self) -> np.ndarray:
        return self.H

    def final_state(self) -> np.ndarray:
        return self.H[self.N].copy()

    def residuals(self, p: Params) -> float:
        gy, n_h, n_y = self.gy, self.n_h, self.gy.shape[2]
        np.matmul(self.H[1 + self.m :].reshape(-1, n_h), p["W_hyT"], out=gy.reshape(-1, n_y))
        gy += p["b_y"]
        gy -= self.Yt  # r_ij
        return weigh_residuals(gy.reshape(-1, n_y), self.two_w_over_K.reshape(-1, 1), CHUNK)

    def readout_grad(self, gp: Params) -> None:
        """``dW_hy = sum_t gy_t^T h_t``, ``db_y = sum_t gy_t`` into the views ``gp``."""
        gy = self.gy.reshape(-1, self.gy.shape[2])
        np.matmul(gy.T, self.H[1 + self.m :].reshape(-1, self.n_h), out=gp["W_hy"])
        np.sum(gy, axis=0, out=gp["b_y"])

    def output_grad(self, t: int, W_hy: np.ndarray, carry: np.ndarray, out: np.ndarray) -> None:
        """``dh_t = gy_t W_hy + carry`` (``carry`` alone on a burn-in step) into ``out``."""
        if t > self.m:
            np.matmul(self.gy[t - 1 - self.m], W_hy, out=out)
            out += carry
        else:
            out[...] = carry

    @staticmethod
    def readout(p: Params) -> Params:
        return {"W_hyT": p["W_hy"].T.copy(), "b_y": p["b_y"], "W_hy": p["W_hy"].copy()}


# ---------------------------------------------------------------------- feature-major
class FeatureMajorKernel:
    """What the LSTM and GRU kernels share: feature-major buffers (the window index last).

    With the authors' sizes (``n_h = 8``, minibatches of ``S = 100`` windows) every per-step
    array is a few thousand numbers, so a step costs its number of NumPy calls; this layout
    makes them few (see :mod:`systems.bptt_lstm`):

    * ``Z : (N + 1, n_h + 1 + n_x, S)``, slab ``t`` = ``[h_t; 1; x_{t+1}]``: the gate
      pre-activations of step ``t`` are products with the contiguous slab ``Z[t-1]``, and
      each gate is a contiguous ``(n_h, S)`` row block;
    * ``A : (N + 1, n_gates n_h + n_y, S)``: slab ``t - 1`` holds the gates of step ``t``
      (then their gradients), slab ``t`` holds ``gy_t = dV/dy_t`` in its last ``n_y`` rows
      (zero on the burn-in steps), so ``W_hy^T gy_t`` rides along in the backward pass's one
      product with ``A[t]``.

    Parameters as :class:`Kernel`; a subclass sets :attr:`n_gates` and allocates its own
    buffers in :meth:`allocate`.
    """

    #: gate blocks per hidden unit (4 LSTM, 3 GRU)
    n_gates: ClassVar[int]
    work_per_unit = 4

    def __init__(self, Xt: np.ndarray, Yt: np.ndarray, two_w_over_K: np.ndarray, m: int,
                 spec: Spec) -> None:
        N, S, n_x = Xt.shape
        n_h, n_y = spec.n_h, Yt.shape[2]
        self.N, self.S, self.n_h, self.n_x, self.n_y, self.m = N, S, n_h, n_x, n_y, m
        self.Z = np.zeros((N + 1, n_h + 1 + n_x, S))  # [h_t; 1; x_{t+1}]
        self.Z[:, n_h] = 1.0
        self.A = np.zeros((N + 1, self.n_gates * n_h + n_y, S))  # gates, their gradients; gy
        self.Yt = np.empty((N - m, n_y, S))
        self.two_w_over_K = np.ascontiguousarray(two_w_over_K[m:].transpose(0, 2, 1))
        self.set_data(Xt, Yt[m:])
        self.allocate()

    def allocate(self) -> None:
        """The cell's own buffers and its per-step views of all buffers (built once: the
        buffers are never reallocated, and slicing inside the loops would cost as much as a
        third of the elementwise calls)."""
        raise NotImplementedError

    def set_data(self, Xt: np.ndarray, Yt: np.ndarray) -> None:
        self.Z[: self.N, self.n_h + 1 :] = Xt.transpose(0, 2, 1)
        self.Yt[...] = Yt.transpose(0, 2, 1)

    def set_h0(self, h0) -> None:
        """``h_0``: ``(S, n_h)``, ``(n_h,)`` or the scalar 0."""
        h0 = np.asarray(h0, dtype=np.float64)
        self.Z[0, : self.n_h] = h0.T if h0.ndim == 2 else (h0 if h0.ndim == 0 else h0[:, None])

    def final_h(self) -> np.ndarray:
        """``(S, n_h)`` hidden state ``h_N`` of the last forward pass (a new array)."""
        return self.Z[self.N, : self.n_h].T.copy()

    @staticmethod
    def readout(p: Params) -> Params:
        return {"W_hy": np.ascontiguousarray(p["W_hy"]), "b_y": p["b_y"][:, None]}

    def residuals(self, p: Params) -> float:
        """Write ``gy_t`` into ``A[t, n_gates n_h:]`` on the scored steps; return the part's
        ``V``."""
        n_h, m = self.n_h, self.m
        gy = self.A[m + 1 :, self.n_gates * n_h :]  # (N - m, n_y, S)
        np.matmul(p["W_hy"], self.Z[m + 1 :, :n_h], out=gy)
        gy += p["b_y"]
        gy -= self.Yt  # r_t
        return weigh_residuals(gy, self.two_w_over_K, max(1, CHUNK // gy[0].size))

    def readout_grad(self, gp: Params) -> None:
        """``dW_hy = sum_t gy_t h_t^T``, ``db_y = sum_t gy_t`` into the views ``gp``."""
        n_h, m = self.n_h, self.m
        gy = self.A[m + 1 :, self.n_gates * n_h :]
        gp["W_hy"][...] = np.matmul(gy, self.Z[m + 1 :, :n_h].transpose(0, 2, 1)).sum(axis=0)
        gp["b_y"][...] = gy.sum(axis=(0, 2))

    def slab_grad(self, D: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        """``sum_t D_t Z[t-1, rows]^T`` for gradients ``D : (N, k, S)`` of pre-activations:
        ``(k, n_h + 1 + n_x)`` for all rows ``[h_{t-1}; 1; x_t]``, or the ``rows`` chosen."""
        return np.matmul(D, self.Z[: self.N, rows].transpose(0, 2, 1)).sum(axis=0)
