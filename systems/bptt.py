"""Forward pass and hand-written backward pass through time over a stack of windows.

Objective (docs/theory.md §2, with optional weights ``w_ij >= 0``)::

    V = (1/K) sum_{i=1..S} sum_{j=m+1..N} w_ij ||y_ij - y^d_ij||^2,   K = sum_{i, j>m} w_ij

where ``y_ij`` is the output of window ``i`` at position ``j`` started from ``h_{i,0} = z_i``.
With unit weights ``K = S (N - m)``. The benchmark problem is the special case of one
window of length ``T`` weighted by the coverage counts ``Windows.weights(m)`` and normalised
by ``S (N - m)``.

Every cell (``cell="elman" | "lstm" | "gru"``) shares the batch and the threads
(:class:`WindowBatch`); the Elman RNN's passes are below (:class:`Part`, :class:`ElmanPart`),
the LSTM's and GRU's in :mod:`systems.bptt_lstm` and :mod:`systems.bptt_gru` on the
feature-major :class:`FeaturePart` (its own readout and residuals). The initial states
``z_i`` have the cell's state size ``n_z`` (``(h, c)`` for the LSTM).

Layout: the loop runs over the ``N`` steps, never over windows. The Elman part is time-major,
``H : (N + 1, S, n_h)``, so each step works on a contiguous ``(S, n_h)`` slab; the LSTM and GRU
parts are feature-major (:class:`FeaturePart`, the window index last), which makes each step
a few long-row NumPy calls.

Backward pass (min-char-rnn style, the forward loop read in reverse)::

    g_t   = dV/dy_t = (2/K) w_t * (y_t - y^d_t)          # (S, n_y)
    dh_t  = g_t W_hy + da_{t+1} W_hh                      # from the output and from step t+1
    da_t  = dh_t * sigma'(a_t),  sigma'(a_t) = 1 - h_t^2  # tanh (1 for linear)
    dW_hh = sum_t da_t^T h_{t-1},  dW_xh = sum_t da_t^T x_t,  db_h = sum_t da_t
    dW_hy = sum_t g_t^T h_t,       db_y = sum_t g_t,        dz = da_1 W_hh

Speed (``benchmarks/bptt_speed.py``):

* The windows are independent and ``V`` is a sum over them, so a large batch is split into
  parts of consecutive windows (:class:`_Part`, each with its own contiguous buffers) that
  run on a thread pool: NumPy releases the GIL inside ufuncs and matmul. The parts' gradients
  are added in a fixed order, so results do not depend on thread timing.
* While BPTT runs, OpenBLAS is held at one thread (:func:`systems.blas.single_thread_blas`): the
  per-step products are small, and BLAS threads competing with ours for the same cores cost
  far more than they save.
* ``tanh`` is :func:`fast_tanh`, from one ``exp`` and a few arithmetic passes on
  preallocated buffers; ``np.tanh`` has no SIMD float64 loop on AVX2 and costs about twice
  as much, and the activation is most of the work when ``n_h`` is small.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .blas import single_thread_blas
from .cells import CELLS, Model, check_cell
from .rnn import (
    check_activation,
    finite_array,
)
from .windows import check_burn_in

#: A batch is split into parts for threads only when each part gets at least this many
#: hidden-state entries per evaluation (``N * S_part * n_h``); below it, handing work to
#: threads costs more than it saves. Tests lower it to force the threaded path.
MIN_WORK_PER_THREAD = 1 << 18


#: Rows per chunk where a full-size temporary is avoided.
_CHUNK = 1 << 16


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(_cpu_count() - 1, 1), "bptt")
        return _pool


# ---------------------------------------------------------------------------- the parts
class Part:
    """Windows ``lo:hi`` of a batch: time-major data and the buffers of one evaluation.

    The Elman RNN's base (:class:`ElmanPart`; the gated cells use :class:`FeaturePart`): the
    data, the hidden states ``H : (N + 1, S, n_h)`` and the readout ``y_t = W_hy h_t + b_y``
    with its residuals and gradient. Every part implements ``prepare`` (parameters as the loops
    want them), ``set_data``, ``set_initial``, ``forward``, ``residuals``, ``backward`` and
    ``states``: the interface :class:`WindowBatch` uses. Shapes below use ``S`` for this
    part's ``hi - lo`` windows.
    """

    def __init__(self, Xt, Yt, w2K, m, n_h):
        N, S, n_y = Yt.shape
        self.N, self.S, self.n_h, self.m = N, S, n_h, m
        self.Xt = np.ascontiguousarray(Xt)  # (N, S, n_x)
        self.Yt = np.ascontiguousarray(Yt[m:])  # (N - m, S, n_y), scored targets
        self.w2K = np.ascontiguousarray(w2K[m:])  # (N - m, S, 1): dV/dy = w2K * r
        self.H = np.empty((N + 1, S, n_h))  # hidden states, H[0] = h part of z
        self.G = np.empty((N - m, S, n_y))  # residuals r, then dV/dy = g on scored steps

    def set_initial(self, z) -> None:
        """``z_0``: ``(S, n_z)``, ``(n_z,)`` or the scalar 0."""
        self.H[0] = z

    def set_data(self, Xt: np.ndarray, Yt: np.ndarray) -> None:
        """New windows of the same shape: ``Xt : (N, S, n_x)``, ``Yt : (N - m, S, n_y)``."""
        self.Xt[...] = Xt
        self.Yt[...] = Yt

    def states(self) -> np.ndarray:
        """``(N + 1, S, n_z)`` states of the last forward pass (may be a view)."""
        return self.H

    def residuals(self, p) -> float:
        """Fill ``G`` with ``dV/dy`` on the scored steps; return this part's share of ``V``."""
        G, n_h, n_y = self.G, self.n_h, self.G.shape[2]
        np.matmul(self.H[1 + self.m :].reshape(-1, n_h), p["W_hyT"], out=G.reshape(-1, n_y))
        G += p["b_y"]
        G -= self.Yt  # r_ij
        G2, w2 = G.reshape(-1, n_y), self.w2K.reshape(-1, 1)
        V = 0.0
        for lo in range(0, G2.shape[0], _CHUNK):  # in chunks: no (N, S, n_y) temporary
            g, wg = G2[lo : lo + _CHUNK], w2[lo : lo + _CHUNK] * G2[lo : lo + _CHUNK]
            V += 0.5 * float(np.vdot(wg, g))  # (1/K) sum w ||r||^2
            g[...] = wg  # (2/K) w r
        return V

    def readout_grad(self, gp) -> None:
        """``dW_hy = sum_t g_t^T h_t``, ``db_y = sum_t g_t`` into the views ``gp``."""
        Gs = self.G.reshape(-1, self.G.shape[2])
        np.matmul(Gs.T, self.H[1 + self.m :].reshape(-1, self.n_h), out=gp["W_hy"])
        np.sum(Gs, axis=0, out=gp["b_y"])

    def output_grad(self, t: int, W_hy: np.ndarray, carry: np.ndarray, out: np.ndarray) -> None:
        """``dh_t = g_t W_hy + carry`` (``carry`` alone on a burn-in step) into ``out``."""
        if t > self.m:
            np.matmul(self.G[t - 1 - self.m], W_hy, out=out)
            out += carry
        else:
            out[...] = carry

    @staticmethod
    def readout(p) -> dict[str, np.ndarray]:
        return {"W_hyT": p["W_hy"].T.copy(), "b_y": p["b_y"], "W_hy": p["W_hy"].copy()}


class ElmanPart(Part):
    """The Elman RNN (module docstring's backward pass)."""

    def __init__(self, Xt, Yt, w2K, m, n_h, tanh):
        super().__init__(Xt, Yt, w2K, m, n_h)
        S = self.S
        self.tanh = tanh
        self.dA = np.empty((self.N, S, n_h))  # dV/da_t
        self.tmp = np.empty((S, n_h))
        self.work = np.empty((S, n_h))
        self.carry = np.empty((S, n_h))

    @staticmethod
    def prepare(p) -> dict[str, np.ndarray]:
        return {"W_hhT": p["W_hh"].T.copy(), "W_xhT": p["W_xh"].T.copy(), "b_h": p["b_h"],
                "W_hh": p["W_hh"].copy(), **Part.readout(p)}

    def forward(self, p):
        """Fill ``H`` (``H[0]`` already holds ``z``)."""
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

    def backward(self, p, gp):
        """BPTT over this part; write its gradient into the views ``gp``; return ``dz``."""
        N, S, n_h = self.N, self.S, self.n_h
        W_hh, W_hy = p["W_hh"], p["W_hy"]
        H, dA, tmp, carry = self.H, self.dA, self.tmp, self.carry
        carry[...] = 0.0  # da_{t+1} W_hh, the gradient arriving from step t+1
        for t in range(N, 0, -1):
            d = dA[t - 1]
            self.output_grad(t, W_hy, carry, out=d)  # dh_t = g_t W_hy + da_{t+1} W_hh
            if self.tanh:
                np.multiply(d, H[t], out=tmp)
                tmp *= H[t]
                d -= tmp  # da_t = dh_t (1 - h_t^2)
            np.matmul(d, W_hh, out=carry)
        # Parameter gradients: one product each over all steps and windows.
        dA2 = dA.reshape(N * S, n_h)
        np.matmul(dA2.T, H[:-1].reshape(N * S, n_h), out=gp["W_hh"])
        np.matmul(dA2.T, self.Xt.reshape(N * S, -1), out=gp["W_xh"])
        np.sum(dA2, axis=0, out=gp["b_h"])
        self.readout_grad(gp)
        return carry  # dz = da_1 W_hh


class FeaturePart:
    """What the LSTM and GRU parts share: feature-major buffers (the window index last).

    With the authors' sizes (``n_h = 8``, minibatches of ``S = 100`` windows) every per-step
    array is a few thousand numbers, so a step costs its number of NumPy calls; this layout
    makes them few (see :mod:`systems.bptt_lstm`):

    * ``Z : (N + 1, n_h + 1 + n_x, S)``, slab ``t`` = ``[h_t; 1; x_{t+1}]``: the gate
      pre-activations of step ``t`` are products with the contiguous slab ``Z[t-1]``, and
      each gate is a contiguous ``(n_h, S)`` row block;
    * ``A : (N + 1, G n_h + n_y, S)``: slab ``t - 1`` holds the ``G`` gates of step ``t`` (then
      their gradients), slab ``t`` holds ``gy_t = dV/dy_t`` in its last ``n_y`` rows (zero on
      the burn-in steps), so ``W_hy^T gy_t`` rides along in the backward pass's one product
      with ``A[t]``.

    Parameters
    ----------
    Xt : (N, S, n_x) inputs, time-major
    Yt : (N, S, n_y) targets (the first ``m`` steps are not scored)
    w2K : (N, S, 1) ``dV/dy = w2K * r`` (zero on the burn-in steps)
    m : burn-in
    n_h : hidden size
    G : gate blocks (4 LSTM, 3 GRU)
    """

    def __init__(self, Xt, Yt, w2K, m, n_h, G):
        N, S, n_x = Xt.shape
        n_y = Yt.shape[2]
        self.N, self.S, self.n_h, self.n_x, self.n_y, self.m, self.G = N, S, n_h, n_x, n_y, m, G
        self.Z = np.zeros((N + 1, n_h + 1 + n_x, S))  # [h_t; 1; x_{t+1}]
        self.Z[:, n_h] = 1.0
        self.A = np.zeros((N + 1, G * n_h + n_y, S))  # gates, then their gradients; gy
        self.Yt = np.empty((N - m, n_y, S))
        self.w2K = np.ascontiguousarray(w2K[m:].transpose(0, 2, 1))  # (N - m, 1, S)
        self.set_data(Xt, Yt[m:])

    def set_data(self, Xt: np.ndarray, Yt: np.ndarray) -> None:
        """New windows of the same shape: ``Xt : (N, S, n_x)``, ``Yt : (N - m, S, n_y)``."""
        self.Z[: self.N, self.n_h + 1 :] = Xt.transpose(0, 2, 1)
        self.Yt[...] = Yt.transpose(0, 2, 1)

    def set_h0(self, h0) -> None:
        """``h_0``: ``(S, n_h)``, ``(n_h,)`` or the scalar 0."""
        h0 = np.asarray(h0, dtype=np.float64)
        self.Z[0, : self.n_h] = h0.T if h0.ndim == 2 else (h0 if h0.ndim == 0 else h0[:, None])

    @staticmethod
    def readout(p) -> dict[str, np.ndarray]:
        return {"W_hy": np.ascontiguousarray(p["W_hy"]), "b_y": p["b_y"][:, None]}

    def residuals(self, p) -> float:
        """Write ``gy_t`` into ``A[t, G n_h:]`` on the scored steps; return this part's ``V``."""
        n, m = self.n_h, self.m
        G = self.A[m + 1 :, self.G * n :]  # (N - m, n_y, S)
        np.matmul(p["W_hy"], self.Z[m + 1 :, :n], out=G)
        G += p["b_y"]
        G -= self.Yt  # r_t
        V, rows = 0.0, max(1, _CHUNK // G[0].size)
        for lo in range(0, G.shape[0], rows):  # in chunks: no full-size temporary
            g = G[lo : lo + rows]
            wg = self.w2K[lo : lo + rows] * g
            V += 0.5 * float(np.vdot(wg, g))  # (1/K) sum w ||r||^2
            g[...] = wg  # (2/K) w r
        return V

    def readout_grad(self, gp) -> None:
        """``dW_hy = sum_t gy_t h_t^T``, ``db_y = sum_t gy_t`` into the views ``gp``."""
        n, m = self.n_h, self.m
        G = self.A[m + 1 :, self.G * n :]
        gp["W_hy"][...] = np.matmul(G, self.Z[m + 1 :, :n].transpose(0, 2, 1)).sum(axis=0)
        gp["b_y"][...] = G.sum(axis=(0, 2))

    def slab_grad(self, D: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        """``sum_t D_t Z[t-1, rows]^T`` for gradients ``D : (N, k, S)`` of pre-activations:
        ``(k, n_h + 1 + n_x)`` for all rows ``[h_{t-1}; 1; x_t]``, or the ``rows`` chosen."""
        return np.matmul(D, self.Z[: self.N, rows].transpose(0, 2, 1)).sum(axis=0)


def _part_class(cell: str):
    """The :class:`Part` subclass of ``cell`` (imported here: the gated parts import this)."""
    if cell == "lstm":
        from .bptt_lstm import LSTMPart

        return LSTMPart
    if cell == "gru":
        from .bptt_gru import GRUPart

        return GRUPart
    return ElmanPart


class WindowBatch:
    """Fixed data for repeated loss/gradient evaluations: windows, burn-in, weights, buffers.

    Parameters
    ----------
    X : (S, N, n_x) input windows
    Y : (S, N, n_y) target windows
    m : burn-in, ``0 <= m < N``: positions ``1..m`` are not scored
    weights : None (unit), ``(N,)`` per position, or ``(S, N)`` per window and position
    n_h : hidden size
    activation : ``"tanh"`` or ``"linear"`` (Elman only)
    cell : ``"elman"``, ``"lstm"`` or ``"gru"`` (:mod:`systems.cells`); the initial states
        ``z`` and ``dV/dz`` have the cell's state size ``n_z`` (``2 n_h`` for the LSTM)
    normalizer : ``K``; defaults to the sum of the scored weights (``S (N - m)`` for unit weights)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(5, 7, 1)), rng.normal(size=(5, 7, 1))
    >>> batch = WindowBatch(X, Y, m=2, n_h=3, activation="tanh")
    >>> theta = rng.normal(size=batch.n_theta) * 0.3
    >>> V, dtheta, dz = batch.loss_grad(theta, np.zeros((5, 3)))
    >>> dtheta.shape, dz.shape
    ((19,), (5, 3))
    >>> lstm = WindowBatch(X, Y, m=2, n_h=3, cell="lstm")
    >>> V, dtheta, dz = lstm.loss_grad(rng.normal(size=lstm.n_theta) * 0.3, None)
    >>> dtheta.shape, dz.shape
    ((76,), (5, 6))
    """

    def __init__(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        m: int = 0,
        weights: np.ndarray | None = None,
        *,
        n_h: int,
        activation: str = "tanh",
        cell: str = "elman",
        normalizer: float | None = None,
    ) -> None:
        X = finite_array("X", X, 3, " (S, N, n_x)")
        Y = finite_array("Y", Y, 3, " (S, N, n_y)")
        if X.shape[:2] != Y.shape[:2]:
            raise ValueError(f"X and Y must share (S, N), got X: {X.shape}, Y: {Y.shape}")
        S, N, n_x = X.shape
        n_y = Y.shape[2]
        self.m = check_burn_in(m, N)
        if isinstance(n_h, bool) or not isinstance(n_h, (int, np.integer)) or n_h < 1:
            raise ValueError(f"n_h must be an integer >= 1, got {n_h!r}")
        self.activation = check_activation(activation)
        self.cell = check_cell(cell)
        self.S, self.N, self.n_x, self.n_y, self.n_h = S, N, n_x, n_y, int(n_h)
        self.n_z = self.n_h * (2 if cell == "lstm" else 1)
        cls = CELLS[cell]
        self.n_theta = cls.n_params(n_x, self.n_h, n_y)
        self._slices = cls.param_slices(n_x, self.n_h, n_y)
        self._shapes = cls.param_shapes(n_x, self.n_h, n_y)

        # Weights w : (N, S) time-major, zero on the burn-in positions.
        w = np.ones((N, S))
        if weights is not None:
            wt = np.asarray(weights, dtype=np.float64)
            if wt.shape == (N,):
                w *= wt[:, None]
            elif wt.shape == (S, N):
                w *= wt.T
            else:
                raise ValueError(
                    f"weights must have shape (N,)=({N},) or (S, N)=({S}, {N}), got {wt.shape}"
                )
            if not np.all(np.isfinite(wt)) or np.any(wt < 0):
                raise ValueError("weights must be finite and >= 0")
        w[: self.m] = 0.0
        K = float(w.sum()) if normalizer is None else float(normalizer)
        if not np.isfinite(K) or K <= 0:
            raise ValueError(f"the normalizer K must be > 0, got {K} (no scored output?)")
        self.K = K

        # The parts hold the only (time-major) copies of the data; w2K = dV/dy / r.
        Xt, Yt = X.transpose(1, 0, 2), Y.transpose(1, 0, 2)  # (N, S, .) views
        w *= 2.0 / K
        w2K = w[:, :, None]  # (N, S, 1)

        # Consecutive windows lo:hi per part, one part per thread when the work is large.
        self._Part = _part_class(cell)
        extra = (self.activation == "tanh",) if cell == "elman" else ()
        work = N * S * self.n_h * (1 if cell == "elman" else 4)
        n_parts = max(1, min(_cpu_count(), work // MIN_WORK_PER_THREAD, S))
        bounds = np.arange(n_parts + 1) * S // n_parts
        self._parts = [
            self._Part(Xt[:, lo:hi], Yt[:, lo:hi], w2K[:, lo:hi], self.m,
                       self.n_h, *extra)
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        self._bounds = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))

    def set_windows(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Replace the windows by others of the same shape (a minibatch), keeping the weights.

        Parameters
        ----------
        X : (S, N, n_x), Y : (S, N, n_y), finite (not checked again: the caller cuts them from
            data that were)
        """
        if X.shape != (self.S, self.N, self.n_x) or Y.shape != (self.S, self.N, self.n_y):
            raise ValueError(f"set_windows needs X: {(self.S, self.N, self.n_x)}, "
                             f"Y: {(self.S, self.N, self.n_y)}; got {X.shape}, {Y.shape}")
        for part, (lo, hi) in zip(self._parts, self._bounds, strict=True):
            part.set_data(X[lo:hi].transpose(1, 0, 2), Y[lo:hi, self.m :].transpose(1, 0, 2))

    # ------------------------------------------------------------------ helpers
    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Views of ``theta`` as the cell's named parameters (``W_hh, W_xh, ...``)."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.n_theta,):
            raise ValueError(f"theta must have shape ({self.n_theta},), got {theta.shape}")
        return {k: theta[s].reshape(self._shapes[k]) for k, s in self._slices.items()}

    def _prepare(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        return self._Part.prepare(self.unpack(theta))

    def _initial(self, z: np.ndarray | None) -> None:
        """Set the initial state ``z`` in every part."""
        if z is not None:
            z = np.asarray(z, dtype=np.float64)
            if z.shape not in ((self.S, self.n_z), (self.n_z,)):
                raise ValueError(
                    f"z must have shape (S, n_z)=({self.S}, {self.n_z}), got {z.shape}"
                )
        for part, (lo, hi) in zip(self._parts, self._bounds, strict=True):
            part.set_initial(0.0 if z is None else (z[lo:hi] if z.ndim == 2 else z))

    def _run(self, job) -> list:
        """``[job(part) for part in parts]``, the parts on threads when there are several.

        OpenBLAS is held at one thread either way: its threads gain nothing on the small
        per-step products and, when another process holds a core, cost up to 15x (measured:
        (c) took 8.2 s instead of 0.58 s single-threaded with one core busy).
        """
        with single_thread_blas():
            if len(self._parts) == 1:
                return [job(self._parts[0])]
            futures = [_thread_pool().submit(job, part) for part in self._parts[1:]]
            first = job(self._parts[0])  # this thread takes the first part
            return [first] + [f.result() for f in futures]

    # ------------------------------------------------------------------ forward
    def forward(self, theta: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """States ``(N + 1, S, n_z)`` (possibly a view of an internal buffer; copy to keep)."""
        p = self._prepare(theta)
        self._initial(z)
        self._run(lambda part: part.forward(p))
        if len(self._parts) == 1:
            return self._parts[0].states()
        return np.concatenate([part.states() for part in self._parts], axis=1)

    def outputs(self, theta: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """Window outputs ``(S, N, n_y)``."""
        p = self.unpack(theta)
        Z = self.forward(theta, z)
        Yhat = Z[1:, :, : self.n_h].reshape(-1, self.n_h) @ p["W_hy"].T + p["b_y"]
        return Yhat.reshape(self.N, self.S, self.n_y).transpose(1, 0, 2).copy()

    def loss(self, theta: np.ndarray, z: np.ndarray | None = None) -> float:
        """``V(theta, z)``."""
        p = self._prepare(theta)
        self._initial(z)

        def job(part: Part) -> float:
            part.forward(p)
            return part.residuals(p)

        return float(sum(self._run(job)))

    # ----------------------------------------------------------------- backward
    def loss_grad(
        self, theta: np.ndarray, z: np.ndarray | None = None
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """``V``, ``dV/dtheta : (n_theta,)`` and ``dV/dz : (S, n_z)``."""
        p = self._prepare(theta)
        self._initial(z)

        def job(part: Part) -> tuple[float, np.ndarray, np.ndarray]:
            part.forward(p)
            V = part.residuals(p)
            grad = np.empty(self.n_theta)
            gp = {k: grad[s].reshape(self._shapes[k]) for k, s in self._slices.items()}
            dz = part.backward(p, gp)
            return V, grad, dz

        results = self._run(job)
        V = sum(r[0] for r in results)
        grad = results[0][1]
        for r in results[1:]:
            grad += r[1]  # the parts' gradients, added in a fixed order
        dz = np.concatenate([r[2] for r in results], axis=0)  # a copy of the carries
        return float(V), grad, dz


def loss_and_grad(
    model: Model,
    X: np.ndarray,
    Y: np.ndarray,
    z: np.ndarray | None = None,
    m: int = 0,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """One-off ``(V, dV/dtheta, dV/dz)`` for ``model`` (any cell) on windows ``X : (S, N, n_x)``.

    For repeated evaluations build a :class:`WindowBatch` once and call ``loss_grad``.
    """
    batch = WindowBatch(X, Y, m, weights, n_h=model.n_h, cell=model.cell,
                        **model.options)
    return batch.loss_grad(model.theta, z)
