"""Loss and exact gradient of the window objective for any cell: :class:`WindowBatch`.

Objective (docs/theory.md §2, with optional weights ``w_ij >= 0``)::

    V = (1/K) sum_{i=1..S} sum_{j=m+1..N} w_ij ||y_ij - y^d_ij||^2,   K = sum_{i, j>m} w_ij

where ``y_ij`` is the output of window ``i`` at position ``j`` started from the state ``z_i``
(the cell's state, ``n_z`` numbers: ``(h, c)`` for the LSTM). With unit weights
``K = S (N - m)``. The benchmark problem is the special case of one window of length ``T``
weighted by the coverage counts ``Windows.weights(m)`` and normalised by ``S (N - m)``
(:meth:`WindowBatch.one_pass`).

Where things live:

* this module: :class:`WindowBatch` (the windows, weights, ``K``, the split into parts and the
  threads), :data:`KERNELS` (the tuned kernel of each cell, keyed by
  :data:`systems.cells.CELLS`'s names) and :func:`loss_grad` (a one-off evaluation);
* :mod:`systems.bptt_kernel`: the kernel interface, the time-major and feature-major buffer
  layouts, :func:`~systems.bptt_kernel.fast_tanh`;
* :mod:`systems.bptt_elman`, :mod:`systems.bptt_lstm`, :mod:`systems.bptt_gru`: one tuned
  kernel per cell, each with its forward and backward equations in its docstring;
* :mod:`systems.bptt_reference`: the same equations as plain loops, the tuned kernels'
  reference in the tests.

Speed (``benchmarks/bptt_speed.py``):

* The windows are independent and ``V`` is a sum over them, so a large batch is split into
  parts of consecutive windows (one kernel each, with its own contiguous buffers) that run on
  a thread pool: NumPy releases the GIL inside ufuncs and matmul. The parts' gradients are
  added in a fixed order, so results do not depend on thread timing.
* While BPTT runs, OpenBLAS is held at one thread (:func:`systems.blas.single_thread_blas`): the
  per-step products are small, and BLAS threads competing with ours for the same cores cost
  far more than they save.
* The loop runs over the ``N`` steps, never over windows; the kernels' docstrings say how each
  step is made of few NumPy calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .blas import cpu_count, single_thread_blas
from .bptt_elman import ElmanKernel
from .bptt_gru import GRUKernel
from .bptt_kernel import Kernel
from .bptt_lstm import LSTMKernel
from .cells import CELLS, Model, check_cell
from .errors import InputError
from .rnn import check_activation, finite_array
from .spec import Spec
from .windows import WindowedData, check_burn_in

#: The tuned kernel of each cell (:mod:`systems.bptt_kernel`), keyed as :data:`CELLS`.
KERNELS: dict[str, type[Kernel]] = {"elman": ElmanKernel, "lstm": LSTMKernel, "gru": GRUKernel}
assert KERNELS.keys() == CELLS.keys()

#: A batch is split into parts for threads only when each part gets at least this much work
#: per evaluation (``N * S_part * n_h`` times the kernel's ``work_per_unit``); below it,
#: handing work to threads costs more than it saves. Tests lower it to force the threaded path.
MIN_WORK_PER_THREAD = 1 << 18


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(cpu_count() - 1, 1), "bptt")
        return _pool


def scored_weights(weights: np.ndarray | None, S: int, N: int, m: int) -> np.ndarray:
    """The weights ``w : (N, S)``, time-major, zero on the burn-in positions ``1..m``.

    ``weights``: None (unit), ``(N,)`` per position or ``(S, N)`` per window and position,
    finite and ``>= 0``.
    """
    w = np.ones((N, S))
    if weights is not None:
        wt = np.asarray(weights, dtype=np.float64)
        if wt.shape == (N,):
            w *= wt[:, None]
        elif wt.shape == (S, N):
            w *= wt.T
        else:
            raise InputError(
                f"weights must have shape (N,)=({N},) or (S, N)=({S}, {N}), got {wt.shape}")
        if not np.all(np.isfinite(wt)) or np.any(wt < 0):
            raise InputError("weights must be finite and >= 0")
    w[:m] = 0.0
    return w


class WindowBatch:
    """Fixed data for repeated loss/gradient evaluations: windows, burn-in, weights, buffers.

    Build it from a model with :meth:`for_model` (or :meth:`one_pass` for the benchmark
    objective); the constructor takes the cell and sizes instead of a model.

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
    >>> from systems import LSTM, ElmanRNN
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(5, 7, 1)), rng.normal(size=(5, 7, 1))
    >>> rnn = ElmanRNN.from_theta(rng.normal(size=19) * 0.3, n_h=3, n_x=1, n_y=1)
    >>> batch = WindowBatch.for_model(rnn, X, Y, m=2)
    >>> V, dtheta, dz = batch.loss_grad(rnn.theta, np.zeros((5, 3)))
    >>> dtheta.shape, dz.shape
    ((19,), (5, 3))
    >>> lstm = LSTM.from_theta(rng.normal(size=76) * 0.3, n_x=1, n_h=3, n_y=1)
    >>> V, dtheta, dz = WindowBatch.for_model(lstm, X, Y, m=2).loss_grad(lstm.theta)
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
            raise InputError(f"X and Y must share (S, N), got X: {X.shape}, Y: {Y.shape}")
        S, N, n_x = X.shape
        self.m = check_burn_in(m, N)
        if isinstance(n_h, bool) or not isinstance(n_h, (int, np.integer)) or n_h < 1:
            raise InputError(f"n_h must be an integer >= 1, got {n_h!r}")
        self.spec = Spec(check_cell(cell), n_x, int(n_h), Y.shape[2], check_activation(activation))
        self.activation, self.cell = activation, cell
        self.S, self.N, self.n_x, self.n_y, self.n_h = S, N, n_x, Y.shape[2], int(n_h)
        self.n_z, self.n_theta = self.spec.n_z, self.spec.n_theta
        self._slices, self._shapes = self.spec.slices(), self.spec.shapes()

        w = scored_weights(weights, S, N, self.m)  # (N, S)
        K = float(w.sum()) if normalizer is None else float(normalizer)
        if not np.isfinite(K) or K <= 0:
            raise InputError(f"the normalizer K must be > 0, got {K} (no scored output?)")
        self.K = K
        w *= 2.0 / K  # the weights 2 w_ij / K: dV/dy_ij = (2 w_ij / K) r_ij

        # Consecutive windows lo:hi per part, one part per thread when the work is large; the
        # parts hold the only (time-major) copies of the data.
        kernel = KERNELS[cell]
        work = N * S * self.n_h * kernel.work_per_unit
        n_parts = max(1, min(cpu_count(), work // MIN_WORK_PER_THREAD, S))
        bounds = np.arange(n_parts + 1) * S // n_parts
        self._bounds = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
        Xt, Yt = X.transpose(1, 0, 2), Y.transpose(1, 0, 2)  # (N, S, .) views
        self._kernel = kernel
        self._parts: list[Kernel] = [
            kernel(Xt[:, lo:hi], Yt[:, lo:hi], w[:, lo:hi, None], self.m, self.spec)
            for lo, hi in self._bounds
        ]

    @classmethod
    def for_model(cls, model: Model | Spec, X: np.ndarray, Y: np.ndarray, m: int = 0,
                  weights: np.ndarray | None = None, normalizer: float | None = None
                  ) -> WindowBatch:
        """The batch of ``model``'s cell and sizes (a model of any cell, or its
        :class:`~systems.spec.Spec`) on windows ``X : (S, N, n_x)``, ``Y : (S, N, n_y)``;
        the other arguments as for the constructor."""
        spec = Spec.of(model)
        batch = cls(X, Y, m, weights, n_h=spec.n_h, cell=spec.cell, normalizer=normalizer,
                    **spec.options)
        if (batch.n_x, batch.n_y) != (spec.n_x, spec.n_y):
            raise InputError(f"the model has n_x={spec.n_x}, n_y={spec.n_y} but X, Y have "
                             f"n_x={batch.n_x}, n_y={batch.n_y}")
        return batch

    @classmethod
    def one_pass(cls, model: Model | Spec, data: WindowedData) -> WindowBatch:
        """The benchmark objective ``V^b(theta, h_0)`` of docs/theory.md §2 as one pass.

        One window of length ``T`` (the whole sequence of ``data``), time ``t`` weighted by the
        number of windows that score it (``data.coverage``), normalised by
        ``K = S (N - m)``; the initial state is ``h_0 : (1, n_z)`` or ``(n_z,)``.
        """
        seq = data.sequence
        return cls.for_model(model, seq.x[None], seq.y[None], data.m, data.coverage,
                             normalizer=float(data.K))

    def set_windows(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Replace the windows by others of the same shape (a minibatch), keeping the weights.

        Parameters
        ----------
        X : (S, N, n_x), Y : (S, N, n_y), finite (not checked again: the caller cuts them from
            data that were)
        """
        if X.shape != (self.S, self.N, self.n_x) or Y.shape != (self.S, self.N, self.n_y):
            raise InputError(f"set_windows needs X: {(self.S, self.N, self.n_x)}, "
                             f"Y: {(self.S, self.N, self.n_y)}; got {X.shape}, {Y.shape}")
        for part, (lo, hi) in zip(self._parts, self._bounds, strict=True):
            part.set_data(X[lo:hi].transpose(1, 0, 2), Y[lo:hi, self.m :].transpose(1, 0, 2))

    # ------------------------------------------------------------------ helpers
    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Views of ``theta`` as the cell's named parameters (``W_hh, W_xh, ...``)."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.n_theta,):
            raise InputError(f"theta must have shape ({self.n_theta},), got {theta.shape}")
        return {k: theta[s].reshape(self._shapes[k]) for k, s in self._slices.items()}

    def _start(self, theta: np.ndarray, z: np.ndarray | None) -> dict[str, np.ndarray]:
        """Set the initial state ``z`` in every part; return the prepared parameters."""
        p = self._kernel.prepare(self.unpack(theta))
        if z is not None:
            z = np.asarray(z, dtype=np.float64)
            if z.shape not in ((self.S, self.n_z), (self.n_z,)):
                raise InputError(
                    f"z must have shape (S, n_z)=({self.S}, {self.n_z}), got {z.shape}")
        for part, (lo, hi) in zip(self._parts, self._bounds, strict=True):
            part.set_initial(0.0 if z is None else (z[lo:hi] if z.ndim == 2 else z))
        return p

    def _run(self, job: Callable[[Kernel], object]) -> list:
        """``[job(part) for part in parts]``, the parts on threads when there are several.

        OpenBLAS is held at one thread either way: its threads gain nothing on the small
        per-step products and, when another process holds a core, cost up to 15x (measured:
        ``benchmarks/bptt_speed.py`` case (c) took 8.2 s instead of 0.58 s single-threaded
        with one core busy).
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
        p = self._start(theta, z)
        self._run(lambda part: part.forward(p))
        if len(self._parts) == 1:
            return self._parts[0].states()
        return np.concatenate([part.states() for part in self._parts], axis=1)

    def final_state(self) -> np.ndarray:
        """``(S, n_z)`` state ``z_N`` at the end of every window, from the last evaluation
        (:meth:`forward`, :meth:`loss` or :meth:`loss_grad`); a new array."""
        return np.concatenate([part.final_state() for part in self._parts], axis=0)

    def outputs(self, theta: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """Window outputs ``(S, N, n_y)``."""
        p = self.unpack(theta)
        Z = self.forward(theta, z)
        Yhat = Z[1:, :, : self.n_h].reshape(-1, self.n_h) @ p["W_hy"].T + p["b_y"]
        return Yhat.reshape(self.N, self.S, self.n_y).transpose(1, 0, 2).copy()

    def loss(self, theta: np.ndarray, z: np.ndarray | None = None) -> float:
        """``V(theta, z)``."""
        p = self._start(theta, z)

        def job(part: Kernel) -> float:
            part.forward(p)
            return part.residuals(p)

        return float(sum(self._run(job)))

    # ----------------------------------------------------------------- backward
    def loss_grad(
        self, theta: np.ndarray, z: np.ndarray | None = None
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """``V``, ``dV/dtheta : (n_theta,)`` and ``dV/dz : (S, n_z)``."""
        p = self._start(theta, z)

        def job(part: Kernel) -> tuple[float, np.ndarray, np.ndarray]:
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


def loss_grad(
    model: Model,
    X: np.ndarray,
    Y: np.ndarray,
    m: int = 0,
    z0: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """One-off ``(V, dV/dtheta, dV/dz_0)`` of ``model`` (any cell) on windows
    ``X : (S, N, n_x)``, ``Y : (S, N, n_y)``: the signature of
    :func:`systems.bptt_reference.loss_grad`.

    For repeated evaluations build a :class:`WindowBatch` once and call ``loss_grad``.
    """
    return WindowBatch.for_model(model, X, Y, m, weights).loss_grad(model.theta, z0)
