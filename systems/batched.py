"""BPTT over a stack of ``K`` models at once: each model its own parameters, windows, burn-in.

The single-model :class:`systems.bptt.WindowBatch` is the readable reference; this is the same
objective and gradient for ``K`` models of one cell and size side by side (tested against it
model by model). Model ``k`` runs ``B`` windows of ``N`` steps from its own initial states and
is scored by its own weights ``w_tk`` (docs/theory.md §2)::

    V_k = (1/K_k) sum_{t=1..N} w_tk sum_{b=1..B} ||y_tkb - y^d_tkb||^2,   (w_tk = 0 for t <= m_k)

with ``K_k`` the model's normaliser (``B (N - m_k)`` for the TBPTT loss of a burn-in ``m_k``).
:meth:`BatchedBPTT.loss_grad` returns ``V : (K,)`` and ``dV/dtheta : (K, n_theta)`` (each row
the model's flat ``theta`` of :mod:`systems.cells`).

Layout: every buffer is time-major and feature-major with the model axis before the window
axis, ``(N + 1, rows, K, B)``: a row block of one step (a gate of all ``K`` models) is one
contiguous run of ``n_h K B`` numbers, so an elementwise step is one NumPy call for all models,
and the per-model products are stacked ``np.matmul`` calls over strided ``(K, rows, B)`` views.

* ``Z[t] = [h_t; 1; x_{t+1}]`` (``F = n_h + 1 + n_x`` rows, ``x_{N+1} = 0``).
* ``W Z[t]`` (``R = P n_h + n_y`` rows) is one product with the extended weights
  ``W : (K, R, F)`` (the cell's recurrent, bias, input and readout weights in one matrix): the
  ``P n_h`` pre-activations of step ``t + 1`` and the output ``y_t``. It goes to a scratch slab
  that stays in cache (a product writes its ``K`` outputs as short scattered runs, slow into
  memory the caches do not hold); the first elementwise pass reads it and writes ``A[t]``
  sequentially: the gates the backward pass needs and ``y_t`` (then ``gy_t = dV/dy_t``).
* The backward pass writes ``D_t = [da_{t+1}; gy_t]`` into two alternating slabs (it never
  writes ``A``): ``dh_t = W[:, :, :n_h]^T D_t`` and ``dV/dW = sum_t D_t Z[t]^T`` are one product
  per step each, accumulated while the slab is in cache.
* The cell's elementwise passes (:mod:`systems.batched_lstm`, :mod:`systems.batched_gru`,
  :mod:`systems.batched_elman`) turn the scratch slab and the state into ``A[t-1]`` and ``h_t``
  (forward) and ``dh_t`` into ``da_t`` (backward).

The ``K`` models' buffers (about ``(6 n_h + n_x + n_y + 1) B N K`` numbers for the LSTM)
outgrow the caches, so every step streams its slab from memory; to keep that traffic small the
backward pass reads the stored gates but writes only the two hot slabs, and the LSTM recomputes
``tanh(c_t) = h_t / o_t`` instead of storing it. Speed and the alternatives measured:
``docs/performance_sweep.md`` (``benchmarks/sweep_speed.py``).

Activations (:class:`TanhRoute`, :class:`ExpRoute`): in float32 NumPy's ``tanh`` is a SIMD loop
as fast as ``exp``, so sigmoids are ``(1 + tanh(a/2)) / 2``; in float64 ``tanh`` costs about
twice ``exp`` and ``sigma(a) = 1 / (1 + exp(-a))``, ``tanh(a) = 2 sigma(2a) - 1`` are used. The
factors ``1/2``, ``-1``, ``-2`` are folded into the rows of ``W`` (the backward pass uses the
unscaled weights). Both are accurate to a few units of the dtype's epsilon, absolutely.
"""

from __future__ import annotations

import numpy as np

from .cells import CELLS, check_cell
from .rnn import check_activation
from .windows import check_int

#: The training dtypes (the arithmetic of the kernel, its parameters and Adam's moments).
DTYPES = ("float32", "float64")


def check_dtype(dtype: object) -> np.dtype:
    """``np.dtype`` of ``"float32"`` / ``"float64"`` (or those NumPy types), else ``ValueError``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return dt


class TanhRoute:
    """Gates via ``tanh``: ``sigma(a) = (1 + tanh(a/2)) / 2`` (weights of sigmoid rows halved)."""

    sig_scale, tanh_scale = 0.5, 1.0

    def __init__(self, dtype: np.dtype) -> None:
        self.half = np.array(0.5, dtype)

    def gates(self, src: np.ndarray, block: np.ndarray, sig: np.ndarray,
              th: np.ndarray | None) -> None:
        """Scaled pre-activations ``src`` -> gate values in ``block`` = ``[sig; th]`` (its
        sigmoid rows, then its tanh rows; ``src`` may be ``block``)."""
        np.tanh(src, block)
        np.multiply(sig, self.half, sig)
        np.add(sig, self.half, sig)

    def tanh(self, x: np.ndarray, out: np.ndarray) -> None:
        """``out = tanh(x)`` (unscaled ``x``)."""
        np.tanh(x, out)


class ExpRoute:
    """Gates via ``exp``: ``sigma(a) = 1 / (1 + exp(-a))``, ``tanh(a) = 2 sigma(2a) - 1``.

    ``exp`` may overflow to ``inf``: the results are then the right limits 0 and -1 (the
    passes run under ``np.errstate(over="ignore")``, entered once per pass, not per call).
    """

    sig_scale, tanh_scale = -1.0, -2.0

    def __init__(self, dtype: np.dtype) -> None:
        self.one, self.two, self.m2 = (np.array(v, dtype) for v in (1.0, 2.0, -2.0))

    def gates(self, src: np.ndarray, block: np.ndarray, sig: np.ndarray,
              th: np.ndarray | None) -> None:
        one = self.one
        np.exp(src, block)
        np.add(block, one, block)
        np.divide(one, block, block)  # sigma(a) and sigma(2 a) on the tanh rows
        if th is not None:
            np.multiply(th, self.two, th)
            np.subtract(th, one, th)

    def tanh(self, x: np.ndarray, out: np.ndarray) -> None:
        one = self.one
        np.multiply(x, self.m2, out)
        np.exp(out, out)
        np.add(out, one, out)
        np.divide(self.two, out, out)
        np.subtract(out, one, out)


def route_for(dtype: np.dtype) -> TanhRoute | ExpRoute:
    """The faster activation route of ``dtype`` (measured: ``benchmarks/sweep_speed.py``)."""
    return TanhRoute(dtype) if dtype == np.float32 else ExpRoute(dtype)


class BatchedBPTT:
    """Buffers and shared passes of ``K`` models x ``B`` windows x ``N`` steps (one cell).

    Subclasses (one per cell) set ``P`` (pre-activation blocks per ``n_h``), build
    ``W``'s index map in :meth:`_layout` and implement the step loops ``_forward_steps`` and
    ``_backward_steps``. Use :func:`make_kernel`.

    Parameters
    ----------
    n_x, n_h, n_y : sizes of every model
    K : number of models
    B : windows per model
    N : steps per window
    dtype : ``"float32"`` or ``"float64"``: all arithmetic
    activation : Elman only, ``"tanh"`` or ``"linear"``

    Attributes
    ----------
    x : ``(N, n_x, K, B)`` view of ``Z``: write the input windows here (``x[t - 1] = x_t``)
    y : ``(N, n_y, K, B)``: write the targets here
    Z, A, D : the buffers of the module docstring

    A pass is: :meth:`set_params`, :meth:`set_weights` (``w_tk / K_k``, zero on the burn-in
    steps), the data in ``x`` and ``y``, :meth:`set_initial`, then :meth:`loss_grad` (or
    :meth:`forward` and :meth:`outputs`, :meth:`final_state`).
    """

    cell = ""
    P = 1

    def __init__(self, n_x: int, n_h: int, n_y: int, K: int, B: int, N: int,
                 dtype: object = "float64", activation: str = "tanh") -> None:
        self.n_x, self.n_h, self.n_y = (check_int(k, v, 1) for k, v in
                                        (("n_x", n_x), ("n_h", n_h), ("n_y", n_y)))
        self.K, self.B, self.N = (check_int(k, v, 1) for k, v in (("K", K), ("B", B), ("N", N)))
        self.dtype = check_dtype(dtype)
        self.activation = check_activation(activation)
        self.route = route_for(self.dtype)
        cls = CELLS[self.cell]
        self.n_theta = cls.n_params(n_x, n_h, n_y)
        n, F, R = n_h, n_h + 1 + n_x, self.P * n_h + n_y
        self.F, self.R = F, R
        dt = self.dtype
        self.Z = np.zeros((N + 1, F, K, B), dt)
        self.Z[:, n] = 1.0
        self.A = np.zeros((N + 1, R, K, B), dt)
        self.x = self.Z[:N, n + 1 :]
        self.y = np.zeros((N, n_y, K, B), dt)
        self._w = np.zeros((N, 1, K, 1), dt)  # 2 w_tk / K_k
        self._gtmp = np.empty((K, R, F), dt)
        self._gacc = np.empty((K, R, F), dt)
        self._dh = np.empty((n, K, B), dt)
        self.D = np.zeros((2, R, K, B), dt)  # D_t in slab t % 2
        self._S = np.zeros((R, K, B), dt)  # the forward product of one step
        self._Smm = self._S.transpose(1, 0, 2)
        self._layout_maps()
        # stacked-matmul views of every step, built once (slicing in the loops costs)
        self._Zmm = [self.Z[t].transpose(1, 0, 2) for t in range(N + 1)]  # (K, F, B)
        self._ZmmT = [self.Z[t].transpose(1, 2, 0) for t in range(N + 1)]  # (K, B, F)
        self._Dmm = [self.D[s].transpose(1, 0, 2) for s in range(2)]

    # ---------------------------------------------------------------- parameters
    def _layout(self) -> tuple[np.ndarray, np.ndarray]:
        """The cell's map from ``theta`` to ``W : (R, F)``.

        Returns ``(idx, row_scale)``: ``idx : (T, R, F)`` indices into ``theta`` (``n_theta``
        for a structural zero) and ``row_scale : (R,)``, with
        ``W[r, c] = row_scale[r] sum_T theta[idx[T, r, c]]`` (``T = 2`` where a pre-activation
        has two biases, as torch's ``b_ih + b_hh``).
        """
        raise NotImplementedError

    def _index(self) -> tuple[np.ndarray, dict[str, slice]]:
        """An empty ``idx : (2, R, F)`` (all structural zeros) and the cell's theta slices."""
        slices = CELLS[self.cell].param_slices(self.n_x, self.n_h, self.n_y)
        return np.full((2, self.R, self.F), self.n_theta), slices

    @staticmethod
    def _place(dst: np.ndarray, cols: slice, start: int, rows: np.ndarray, width: int) -> None:
        """``dst[:, cols] = start + rows * width + col``: rows ``rows`` of a row-major theta
        matrix of ``width`` columns (e.g. in the loops' gate order) into the rows ``dst``."""
        ncol = len(range(*cols.indices(dst.shape[1])))
        dst[:, cols] = start + np.asarray(rows)[:, None] * width + np.arange(ncol)

    def _layout_maps(self) -> None:
        idx, row_scale = self._layout()
        self._idx = idx
        self._row_scale = row_scale.astype(self.dtype)[:, None]  # (R, 1)
        # dV/dtheta_p = dV/dW[r, c] at the one (r, c) where theta_p enters W (the two biases
        # of a pre-activation enter the same (r, c) and get the same gradient)
        pos = np.full(self.n_theta, -1)
        for term in idx.reshape(idx.shape[0], -1):
            hit = term < self.n_theta
            if np.bincount(term[hit]).max(initial=0) > 1 or (pos[term[hit]] >= 0).any():
                raise AssertionError(f"{self.cell}: a theta entry enters W twice")
            pos[term[hit]] = np.flatnonzero(hit)
        if (pos < 0).any():
            raise AssertionError(f"{self.cell}: theta entries {np.flatnonzero(pos < 0)} unused")
        self._grad_pos = pos

    def set_params(self, Theta: np.ndarray) -> None:
        """Load ``Theta : (K, n_theta)`` (any float dtype; cast to the kernel's)."""
        Theta = np.asarray(Theta)
        if Theta.shape != (self.K, self.n_theta):
            raise ValueError(f"Theta must have shape (K, n_theta)=({self.K}, {self.n_theta}), "
                             f"got {Theta.shape}")
        ext = np.zeros((self.K, self.n_theta + 1), self.dtype)
        ext[:, :-1] = Theta
        W = ext[:, self._idx[0]]
        for idx in self._idx[1:]:
            W += ext[:, idx]  # (K, R, F), unscaled
        n = self.n_h
        self._Wback = np.ascontiguousarray(W[:, :, :n].transpose(0, 2, 1))  # (K, n_h, R)
        W *= self._row_scale
        self._W = np.ascontiguousarray(W)  # the gather leaves it strided: ~20% slower products
        self._Wy = self._W[:, self.P * n :]  # (K, n_y, F): the readout rows

    def gradient(self) -> np.ndarray:
        """``dV/dtheta : (K, n_theta)`` from the accumulated ``dV/dW`` (a new array)."""
        return self._gacc.reshape(self.K, -1)[:, self._grad_pos]

    # ---------------------------------------------------------------- data
    def set_weights(self, w: np.ndarray) -> None:
        """``w : (N, K)``: the weight of step ``t`` of model ``k`` divided by ``K_k``."""
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (self.N, self.K):
            raise ValueError(f"w must have shape (N, K)=({self.N}, {self.K}), got {w.shape}")
        self._w[:, 0, :, 0] = 2.0 * w

    def set_initial(self, z0: np.ndarray | None) -> None:
        """Initial states ``z0 : (n_z, K, B)`` (``h`` then the cell's other blocks), or zeros."""
        n = self.n_h
        if z0 is None:
            self.Z[0, :n] = 0.0
        else:
            self.Z[0, :n] = z0[:n]
        self._set_initial_rest(z0)

    def _set_initial_rest(self, z0: np.ndarray | None) -> None:
        """The state blocks after ``h`` (the LSTM's ``c``)."""

    def final_state(self) -> np.ndarray:
        """``z_N : (n_z, K, B)`` of the last forward pass (a copy)."""
        return self.Z[self.N, : self.n_h].copy()

    # ---------------------------------------------------------------- passes
    def forward(self) -> None:
        """Fill the states and ``A`` (pre-activations, then the outputs ``y_t`` in ``A[t]``)."""
        with np.errstate(over="ignore"):  # ExpRoute: exp -> inf is the right limit
            self._forward_steps()
        N = self.N
        np.matmul(self._Wy, self._Zmm[N], self.A[N, self.P * self.n_h :].transpose(1, 0, 2))

    def outputs(self) -> np.ndarray:
        """``(N, n_y, K, B)`` outputs ``y_1..y_N`` of the last forward pass (a view)."""
        return self.A[1:, self.P * self.n_h :]

    def residuals(self) -> np.ndarray:
        """Turn the outputs into ``gy_t = dV/dy_t`` in ``A``; return ``V : (K,)`` (float64)."""
        G = self.outputs()
        np.subtract(G, self.y, G)  # r
        sq = np.einsum("tokb,tokb->tk", G, G, dtype=np.float64)  # (N, K)
        V = 0.5 * np.einsum("tk,tk->k", sq, self._w[:, 0, :, 0], dtype=np.float64)
        np.multiply(G, self._w, G)  # 2 w r / K_k
        return V

    def loss(self) -> np.ndarray:
        """``V : (K,)`` under the loaded parameters, data and weights."""
        self.forward()
        return self.residuals()

    def loss_grad(self) -> tuple[np.ndarray, np.ndarray]:
        """``V : (K,)`` and ``dV/dtheta : (K, n_theta)`` (float64 ``V``; kernel dtype gradient)."""
        self.forward()
        V = self.residuals()
        Pn, N = self.P * self.n_h, self.N
        self.A[0, Pn:] = 0.0  # gy_0: no output at t = 0
        D = self.D[N % 2]
        D[:Pn] = 0.0  # da_{N+1}
        D[Pn:] = self.A[N, Pn:]  # gy_N
        np.matmul(self._Dmm[N % 2], self._ZmmT[N], self._gacc)  # the readout of step N
        self._backward_steps()
        return V, self.gradient()

    def _back_views(self, t: int) -> tuple[np.ndarray, ...]:
        """Backward step ``t``'s views: ``D_{t-1}`` as rows ``(P n_h, K, B)`` and as
        ``(K, R, B)``, ``D_t`` as ``(K, R, B)``, ``gy_{t-1}`` in ``A`` and its place in ``D``."""
        Pn, s = self.P * self.n_h, (t - 1) % 2
        return (self.D[s, :Pn], self._Dmm[s], self._Dmm[1 - s], self.A[t - 1, Pn:],
                self.D[s, Pn:])

    def _forward_steps(self) -> None:
        raise NotImplementedError

    def _backward_steps(self) -> None:
        raise NotImplementedError


def burn_in_weights(N: int, B: int, ms: np.ndarray) -> np.ndarray:
    """``(N, K)`` weights of :meth:`BatchedBPTT.set_weights` for the TBPTT loss of burn-ins
    ``ms`` averaged over ``B`` windows: ``1 / (B (N - m_k))`` on the scored steps ``t > m_k``,
    else 0 (docs/theory.md §2)."""
    ms = np.asarray(ms)
    t = np.arange(1, N + 1)[:, None]
    return (t > ms[None, :]) / (B * (N - ms[None, :]).astype(float))


def make_kernel(cell: str, n_x: int, n_h: int, n_y: int, K: int, B: int, N: int,
                dtype: object = "float64", activation: str = "tanh", kernel: str = "numpy"
                ) -> BatchedBPTT:
    """The :class:`BatchedBPTT` of ``cell`` (``"lstm"``, ``"gru"``, ``"elman"``); ``kernel``
    ``"numba"``: the LSTM's float32 passes compiled (:mod:`systems.batched_lstm_numba`)."""
    check_cell(cell)
    from .batched_lstm_numba import check_kernel

    if check_kernel(kernel, cell, dtype) == "numba":
        from .batched_lstm_numba import BatchedLSTMNumba as cls
    elif cell == "lstm":
        from .batched_lstm import BatchedLSTM as cls
    elif cell == "gru":
        from .batched_gru import BatchedGRU as cls
    else:
        from .batched_elman import BatchedElman as cls
    return cls(n_x, n_h, n_y, K, B, N, dtype, activation)
