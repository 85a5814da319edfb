"""The three training problems of docs/theory.md §2 and their solver.

For windows ``i = 1..S`` of length ``N`` (offsets ``s_i``, :class:`~systems.windows.Windows`)
and a burn-in ``m``, with ``K = S (N - m)`` scored outputs and residuals
``r_ij(z, theta) = psi_j(z; theta, X_i) - y^d_{s_i + j}``::

    tbptt      V(theta)        = (1/K) sum_{i, j>m} ||r_ij(0, theta)||^2                   -> V*
    benchmark  V^b(theta, h_0) = (1/K) sum_{i, j>m} ||r_ij(phi_{s_i}(h_0), theta)||^2      -> V^b
    relaxed    V^inf(theta, z) = (1/K) sum_{i, j>m} ||r_ij(z_i, theta)||^2                 -> V^inf

The benchmark windows all lie on the free run from ``h_0``, so its objective is evaluated as
one pass over the sequence with time ``t`` weighted by the number of windows that score it
(``Windows.weights(m)``), normalised by ``K`` -- not as ``S`` window passes.

Solver (DESIGN.md "Numerics"): scipy's L-BFGS-B on the flat vector ``(theta, initial states)``
with the exact gradient of :class:`systems.bptt.WindowBatch`; ``|W_hh| <= w_hh_max``
elementwise and frozen (zero) biases go through the L-BFGS-B bounds. The problems are
non-convex, so :func:`fit` runs a seeded multi-start (plus optional warm starts), screens the
starts with a short run and polishes the best ones to convergence. Two numerical devices keep
L-BFGS-B fast and accurate without changing the problem:

* the initial states are optimised in scaled coordinates ``z = zeta * u``, with ``zeta`` chosen
  from the current ``theta`` so that a unit change of ``u`` moves the scored outputs by O(1)
  (the influence of ``z`` on the scored outputs decays like ``W_hh^(m+1)``, which makes
  the raw coordinates very badly scaled for large burn-in ``m``); ``zeta`` is recomputed
  between polishing rounds;
* for the linear activation the outputs are invariant under ``h -> c h``
  (``W_xh, b_h, z -> c (W_xh, b_h, z)``, ``W_hy -> W_hy / c``), a flat direction of the
  objective; every iterate handed to L-BFGS-B is balanced (``||W_hy|| = ||[W_xh, b_h]||``),
  which changes no output. Returned solutions are balanced too.

Every ``OptimizeResult`` goes through :func:`check_result`; a run that did not converge emits a
:class:`ConvergenceWarning` and its result is kept.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from .blas import single_thread_blas
from .bptt import WindowBatch
from .cells import CELLS, Model, check_cell
from .data import Sequence
from .rnn import check_activation
from .spec import Spec
from .windows import WindowedData, Windows, check_burn_in, check_int

PROBLEMS = ("tbptt", "benchmark", "relaxed")

#: Default solver settings (tuned on the paper's synthetic data, see benchmarks/).
DEFAULT_RESTARTS = 3
DEFAULT_MAXITER = 2000
DEFAULT_TOL = 1e-12
SCREEN_ITER = 8  # iterations every start gets before the best ones are polished
POLISH_KEEP = 1  # at most this many screened starts are polished to convergence ...
POLISH_MARGIN = 0.05  # ... if their screened value is within this fraction of the best
POLISH_ROUNDS = 6  # polishing rounds (state rescaling between rounds)
_ZETA_RANGE = (1e-8, 1e8)


class ConvergenceWarning(UserWarning):
    """An L-BFGS-B run of :func:`fit` stopped without meeting its convergence test."""


# ----------------------------------------------------------------------------- Solution
@dataclass(eq=False)
class Solution:
    """A solution of one of the three training problems (docs/theory.md §2).

    Attributes
    ----------
    problem : ``"tbptt"``, ``"benchmark"`` or ``"relaxed"``
    model : the trained model, any cell (``theta*``, ``theta^b`` or ``theta^inf``)
    value : the objective at the solution (``V*``, ``V^b`` or ``V^inf``)
    h0 : ``(n_z,)`` the benchmark's free initial state ``h_0^b``; ``None`` otherwise
    z : ``(S, n_z)`` initial state of each window: zeros (tbptt), the free ``z^inf_i``
        (relaxed), or ``phi_{s_i}(h_0^b; theta^b)`` -- the benchmark trajectory at the window
        starts (benchmark)
    outputs : ``(S, N, n_y)`` window outputs ``psi_j(z_i; theta, X_i)`` (for the benchmark:
        the free run from ``h_0`` cut into windows)
    N, m, stride : window length, burn-in, stride
    T : length of the training sequence
    iterations : L-BFGS-B iterations summed over all runs
    converged : whether the run that produced the solution met its convergence test
    seconds : wall-clock time of :func:`fit`
    n_starts : number of starts (random and warm)
    message : L-BFGS-B's message of the final run
    states : ``(T + 1, n_z)`` free-run states from ``h_0`` (benchmark only, else ``None``)
    start_values : objective value reached by each start after screening
    """

    problem: str
    model: Model
    value: float
    h0: np.ndarray | None
    z: np.ndarray
    outputs: np.ndarray
    N: int
    m: int
    stride: int
    T: int
    iterations: int = 0
    converged: bool = True
    seconds: float = 0.0
    n_starts: int = 0
    message: str = ""
    states: np.ndarray | None = None
    start_values: list[float] = field(default_factory=list)

    @property
    def windows(self) -> Windows:
        """The window geometry ``Windows(T, N, stride)`` of the solution."""
        return Windows(self.T, self.N, self.stride)

    def __repr__(self) -> str:
        return (
            f"Solution({self.problem}, N={self.N}, m={self.m}, value={self.value:.6g}, "
            f"converged={self.converged}, iterations={self.iterations}, "
            f"starts={self.n_starts}, {self.seconds:.3f}s)"
        )


# ----------------------------------------------------------------------------- checks
def check_result(res: OptimizeResult, context: str = "", *, warn: bool = True) -> bool:
    """Check an L-BFGS-B result: ``True`` if it converged, else warn (``ConvergenceWarning``).

    Parameters
    ----------
    res : the ``OptimizeResult`` of ``scipy.optimize.minimize(..., method="L-BFGS-B")``
    context : what was being solved, for the warning text
    warn : emit the warning (``False`` for deliberately truncated screening runs)
    """
    ok = bool(res.success) and np.isfinite(res.fun)
    if not ok and warn:
        warnings.warn(
            f"L-BFGS-B did not converge{' on ' + context if context else ''}: "
            f"status {res.status}, {res.message!s} (after {res.nit} iterations, "
            f"objective {res.fun:.6g}); the result is kept",
            ConvergenceWarning,
            stacklevel=3,
        )
    return ok


def _check_problem(problem: object) -> str:
    if problem not in PROBLEMS:
        raise ValueError(f"problem must be one of {PROBLEMS}, got {problem!r}")
    return str(problem)


def windowed(data: Sequence | WindowedData, N: object = None, m: object = None,
             stride: object = None) -> WindowedData:
    """``data`` as :class:`~systems.windows.WindowedData`: built from a ``Sequence`` and
    ``(N, m, stride)`` (``stride`` defaults to 1), or a given ``WindowedData`` checked against
    any of ``N, m, stride`` that are not ``None`` (a different ``m`` gives :meth:`with_m`).
    """
    if isinstance(data, WindowedData):
        for name, given, have in (("N", N, data.N), ("stride", stride, data.stride)):
            if given is not None and given != have:
                raise ValueError(f"{name} = {given} disagrees with the windowed data's "
                                 f"{name} = {have}")
        return data if m is None or m == data.m else data.with_m(check_burn_in(m, data.N))
    if not isinstance(data, Sequence):
        raise TypeError(
            f"data must be a systems.data.Sequence or WindowedData, got {type(data).__name__}")
    if N is None or m is None:
        raise TypeError("N and m are required when data is a Sequence")
    N = check_int("N", N, 1)
    stride = check_int("stride", 1 if stride is None else stride, 1)
    if N > data.T:
        raise ValueError(f"N = {N} must satisfy 1 <= N <= T = {data.T}")
    return WindowedData(data, N, check_burn_in(m, N), stride)


def _check_model(model: Model, data: Sequence | WindowedData, n_h: int | None = None,
                 activation: str | None = None, what: str = "model",
                 cell: str | None = None) -> None:
    if not isinstance(model, tuple(CELLS.values())):
        raise TypeError(f"{what} must be an ElmanRNN, LSTM or GRU, got {type(model).__name__}")
    if cell is not None and model.cell != cell:
        raise ValueError(f"{what} is a {model.cell!r} model but cell={cell!r} was requested")
    if model.n_x != data.n_x or model.n_y != data.n_y:
        raise ValueError(
            f"{what} has n_x={model.n_x}, n_y={model.n_y} but the data have "
            f"n_x={data.n_x}, n_y={data.n_y}"
        )
    if n_h is not None and model.n_h != n_h:
        raise ValueError(f"{what} has n_h={model.n_h} but n_h={n_h} was requested")
    if activation is not None and model.options.get("activation", activation) != activation:
        raise ValueError(
            f"{what} has activation {model.activation!r} but {activation!r} was requested"
        )


# ----------------------------------------------------------------------------- objectives
class _Objective:
    """``x -> (V, dV/dx)`` for one problem; ``x = (theta, u)`` with states ``z = zeta * u``."""

    def __init__(self, problem: str, wd: WindowedData, spec: Spec, bias: bool,
                 w_hh_max: float | None) -> None:
        self.problem, self.m, self.spec = problem, wd.m, spec
        self.n_h, self.n_z, self.activation = spec.n_h, spec.n_z, spec.activation
        self.n_x, self.n_y = wd.n_x, wd.n_y
        self.bias = bias
        if problem == "benchmark":
            self.batch = WindowBatch.one_pass(spec, wd)
            self.state_shape: tuple[int, ...] = (1, spec.n_z)
            self.pos_weights = wd.coverage  # (T,) coverage counts
            self.targets = wd.sequence.y[:, None, :]  # (T, 1, n_y) time-major
        else:
            self.batch = WindowBatch.for_model(spec, wd.X, wd.Y, wd.m)
            self.state_shape = (wd.S, spec.n_z) if problem == "relaxed" else (0, spec.n_z)
            self.pos_weights = wd.mask.astype(np.float64)  # (N,)
            self.targets = wd.Y.transpose(1, 0, 2)  # (N, S, n_y) time-major
        self.K = float(wd.K)
        self.n_theta = spec.n_theta
        self.n_state = int(np.prod(self.state_shape))
        self.sl = spec.slices()
        self.zeta = 1.0
        self.nfev = 0
        lo = np.full(self.n_theta + self.n_state, -np.inf)
        hi = np.full_like(lo, np.inf)
        if w_hh_max is not None:
            lo[self.sl["W_hh"]], hi[self.sl["W_hh"]] = -w_hh_max, w_hh_max
        if not bias:
            for k in self.sl:
                if k.startswith("b_"):
                    lo[self.sl[k]], hi[self.sl[k]] = 0.0, 0.0
        self.lo, self.hi = lo, hi
        self.bounds = list(zip(np.where(np.isinf(lo), None, lo).tolist(),
                               np.where(np.isinf(hi), None, hi).tolist(), strict=True))

    # x <-> (theta, z)
    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        theta = x[: self.n_theta]
        if self.n_state == 0:
            return theta, None
        return theta, self.zeta * x[self.n_theta:].reshape(self.state_shape)

    def join(self, theta: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        u = np.zeros(0) if z is None or self.n_state == 0 else np.ravel(z) / self.zeta
        return np.concatenate([np.asarray(theta, dtype=np.float64), u])

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.nfev += 1
        theta, z = self.split(x)
        V, dtheta, dz = self.batch.loss_grad(theta, z)
        if self.n_state == 0:
            return V, dtheta
        return V, np.concatenate([dtheta, self.zeta * dz.ravel()])

    def value(self, theta: np.ndarray, z: np.ndarray | None) -> float:
        return self.batch.loss(theta, z)

    def fit_readout(self, theta: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        """``theta`` with ``W_hy`` (and ``b_y`` if biases are free) solving the weighted least
        squares problem of the objective for the states of ``(theta, z)`` -- the objective is
        quadratic in the readout, so this is its exact minimiser over ``(W_hy, b_y)``."""
        H = self.batch.forward(theta, z)[1:, :, : self.n_h]  # (N, S, n_h) time-major
        sw = np.sqrt(self.pos_weights)[:, None, None]
        A = (sw * H).reshape(-1, self.n_h)
        if self.bias:
            A = np.hstack([A, (sw * np.ones(H.shape[:2] + (1,))).reshape(-1, 1)])
        B = (sw * self.targets).reshape(-1, self.n_y)
        coef, *_ = np.linalg.lstsq(A, B, rcond=1e-10)
        theta = theta.copy()
        theta[self.sl["W_hy"]] = coef[: self.n_h].T.ravel()
        if self.bias:
            theta[self.sl["b_y"]] = coef[self.n_h]
        return theta

    # conditioning devices
    def rescale(self, x: np.ndarray) -> np.ndarray:
        """Balance the scaling symmetry (linear) and refresh ``zeta``; same outputs."""
        theta, z = self.split(x)
        theta = theta.copy()
        if self.spec.cell == "elman" and self.activation == "linear":
            W_in = np.concatenate([theta[self.sl["W_xh"]], theta[self.sl["b_h"]]])
            a, b = np.linalg.norm(W_in), np.linalg.norm(theta[self.sl["W_hy"]])
            if a > 0 and b > 0 and np.isfinite(a * b):
                c = np.sqrt(b / a)
                theta[self.sl["W_xh"]] *= c
                theta[self.sl["b_h"]] *= c
                theta[self.sl["W_hy"]] /= c
                if z is not None:
                    z = c * z
        if self.n_state:
            self.zeta = self._state_scale(theta)
        return self.join(theta, z)

    def _state_scale(self, theta: np.ndarray) -> float:
        """``zeta`` with ``(2/K) sum_scored w_t ||C J^t||_F^2 zeta^2 / n_z ~ 2 / S_z``.

        ``J = df/dz`` at ``z = 0, x = 0`` (``W_hh`` for the Elman RNN) and ``C = dg/dz``;
        ``S_z`` is the number of state blocks (``S`` relaxed, 1 benchmark): each block then
        has the curvature of an average share of the outputs (linearised at zero; exact for
        the linear activation).
        """
        n_h = self.n_z
        if self.spec.cell == "elman":
            W_hh = theta[self.sl["W_hh"]].reshape(n_h, n_h)
            P = theta[self.sl["W_hy"]].reshape(self.n_y, n_h)
        else:
            model = self.spec.model(theta)
            W_hh = model.jacobian(np.zeros((1, n_h)), np.zeros((1, self.n_x)))[0]
            P = model.output_matrix
        bw = self.pos_weights  # weights per position
        G, n_steps = 0.0, bw.shape[0]
        for t in range(n_steps):
            P = P @ W_hh
            p2 = float(np.vdot(P, P))
            G += bw[t] * p2
            if not np.isfinite(G) or p2 < 1e-32 * max(G, 1e-300):
                break
        per_block = G / (self.state_shape[0] if self.problem == "benchmark" else 1.0)
        curv = per_block / (self.K * n_h)  # (1/2) d^2 V / dz^2 per coordinate
        target = 1.0 / self.state_shape[0]
        if not np.isfinite(curv) or curv <= 0:
            return 1.0
        return float(np.clip(np.sqrt(target / curv), *_ZETA_RANGE))


# ----------------------------------------------------------------------------- helpers
def _random_theta(rng: np.random.Generator, spec: Spec, bias: bool, w_hh_max: float | None,
                  index: int) -> np.ndarray:
    """A random start of ``spec``'s cell (Elman: :func:`_random_elman`; gated: torch's
    initialisation ``U(-1/sqrt(n_h), 1/sqrt(n_h))`` for the cell, ``N(0, 1/n_h)`` readout).
    """
    if spec.cell == "elman":
        return _random_elman(rng, spec.n_h, spec.n_x, spec.n_y, bias, w_hh_max, index)
    k = 1.0 / np.sqrt(spec.n_h)
    theta = rng.uniform(-k, k, size=spec.n_theta)
    sl = spec.slices()
    theta[sl["W_hy"]] = rng.normal(0.0, k, size=sl["W_hy"].stop - sl["W_hy"].start)
    theta[sl["b_y"]] = 0.0
    if w_hh_max is not None:
        np.clip(theta[sl["W_hh"]], -w_hh_max, w_hh_max, out=theta[sl["W_hh"]])
    if not bias:
        for name in ("b_ih", "b_hh"):
            theta[sl[name]] = 0.0
    return theta


def _random_elman(rng: np.random.Generator, n_h: int, n_x: int, n_y: int, bias: bool,
                  w_hh_max: float | None, index: int) -> np.ndarray:
    """A random Elman start: ``W_hh`` within the bound with spectral radius < 1, others
    ~ N(0, 1/fan_in).

    For ``n_h = 1`` the ``index``-th start draws ``W_hh`` from the ``index``-th of a fixed
    sequence of strata of ``[-r, r]`` (positive first), so a few starts cover the interval.
    """
    r = 0.99 if w_hh_max is None else min(0.99, float(w_hh_max))
    if n_h == 1:
        strata = [(0.3, 0.8), (-0.8, -0.3), (0.8, 1.0), (-0.3, 0.3), (-1.0, -0.8)]
        lo, hi = strata[index % len(strata)]
        W_hh = np.array([[rng.uniform(lo, hi) * r]])
    else:
        W_hh = rng.uniform(-r, r, size=(n_h, n_h))
        rho = max(abs(np.linalg.eigvals(W_hh)))
        target = rng.uniform(0.5, 0.95)
        if rho > target:
            W_hh *= target / rho
    W_xh = rng.normal(0.0, 1.0 / np.sqrt(n_x), size=(n_h, n_x))
    W_hy = rng.normal(0.0, 1.0 / np.sqrt(n_h), size=(n_y, n_h))
    b_h = rng.normal(0.0, 0.1, size=n_h) if bias else np.zeros(n_h)
    b_y = np.zeros(n_y)
    return np.concatenate([W_hh.ravel(), W_xh.ravel(), b_h, W_hy.ravel(), b_y])


def window_starts_states(model: Model, data: Sequence | WindowedData, N: int | None = None,
                         stride: int | None = None, h0: np.ndarray | None = None) -> np.ndarray:
    """``phi_{s_i}(h0; theta, x^d)`` for every window start, shape ``(S, n_z)``.

    ``data`` is a ``Sequence`` with ``N`` (and ``stride``, default 1), or a ``WindowedData``.
    """
    starts = windowed(data, N, 0 if N is not None else None, stride).starts
    seq = data.sequence if isinstance(data, WindowedData) else data
    h, _ = model.simulate(seq.x, h0)
    return h[starts].copy()


def _warm_start(init: Model | Solution, problem: str, wd: WindowedData,
                obj: _Objective) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Candidate ``(theta, z)`` pairs for a warm start (docs/theory.md §8 protocol)."""
    model = init.model if isinstance(init, Solution) else init
    theta = np.clip(model.theta, obj.lo[: obj.n_theta], obj.hi[: obj.n_theta])
    if problem == "tbptt":
        return [(theta, None)]
    n_h = model.n_z
    if problem == "benchmark":
        if isinstance(init, Solution) and init.h0 is not None:
            return [(theta, np.asarray(init.h0).reshape(1, n_h))]
        if isinstance(init, Solution):
            return [(theta, np.asarray(init.z[0]).reshape(1, n_h))]  # z_1: the state at s_1 = 0
        return [(theta, np.zeros((1, n_h)))]
    # relaxed
    if isinstance(init, Solution):
        if init.z.shape == (wd.S, n_h) and init.N == wd.N and init.stride == wd.stride:
            return [(theta, np.array(init.z))]
        if init.h0 is not None:
            return [(theta, window_starts_states(model, wd, h0=init.h0))]
    return _relaxed_states(theta, model.with_theta(theta), wd)


def _relaxed_states(theta: np.ndarray, model: Model, wd: WindowedData
                    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Two natural initial states for the relaxed problem: zeros and the free run from 0."""
    return [(theta, np.zeros((wd.S, model.n_z))), (theta, window_starts_states(model, wd))]


# ----------------------------------------------------------------------------- fit
def fit(problem: str, data: Sequence | WindowedData, N: int | None = None,
        m: int | None = None, *, n_h: int, activation: str = "tanh", cell: str = "elman",
        bias: bool = True, w_hh_max: float | None = None, stride: int | None = None,
        init: Model | Solution | None = None, seed: int | np.random.Generator = 0,
        restarts: int | None = None, maxiter: int | None = None, tol: float | None = None,
        progress: Callable[[str], None] | None = None) -> Solution:
    """Solve one of the training problems of docs/theory.md §2 with L-BFGS-B (multi-start).

    Parameters
    ----------
    problem : ``"tbptt"`` (zero initial states, variables ``theta``), ``"benchmark"`` (one
        trajectory from a free ``h_0 : (n_z,)``, variables ``(theta, h_0)``), or
        ``"relaxed"`` (a free ``z_i`` per window, variables ``(theta, z : (S, n_z))``)
    data : the training sequence, ``x : (T, n_x)``, ``y : (T, n_y)``, or the same already cut
        into windows (:class:`~systems.windows.WindowedData`, which then fixes ``N``, ``m``
        and ``stride`` unless they are given: ``N``/``stride`` must agree, another ``m``
        reuses the windows)
    N : window length, ``1 <= N <= T`` (required with a ``Sequence``)
    m : burn-in, ``0 <= m < N`` (required with a ``Sequence``)
    n_h : hidden size ``>= 1``
    activation : ``"linear"`` or ``"tanh"`` (Elman only)
    cell : ``"elman"``, ``"lstm"`` or ``"gru"``; the state size ``n_z`` is ``2 n_h`` for the
        LSTM, ``n_h`` otherwise
    bias : ``False`` freezes every bias at zero (the paper's synthetic model)
    w_hh_max : elementwise bound ``|W_hh| <= w_hh_max`` (the paper: 0.999), or ``None``
    stride : window stride ``>= 1`` (default 1)
    init : a warm start, a model of the same cell or a previous :class:`Solution`. From a
        Solution the benchmark takes ``h_0 = `` its ``h0`` (benchmark) or ``z_1`` (relaxed),
        the relaxed problem takes its ``z`` (``phi_{s_i}(h_0)`` from a benchmark, zeros
        from TBPTT); from a bare model the relaxed problem starts from the better of
        ``z = 0`` and the free run from 0. The warm start is added to the random starts.
    seed : seed or generator of the random starts
    restarts : number of random starts (``0``: only the warm start; needs ``init``)
    maxiter : iteration limit of each polishing run
    tol : L-BFGS-B ``ftol``; ``gtol`` is ``tol * 1e3``
    progress : optional callable receiving short status strings

    Returns
    -------
    Solution
        the best solution over all starts; ``value`` is the objective at it.

    Raises
    ------
    ValueError
        (before any work) for an unknown problem or activation, ``m`` outside ``0..N-1``,
        ``N > T``, ``stride < 1``, ``n_h < 1``, or an ``init`` of the wrong sizes.
    """
    t_start = time.perf_counter()
    with single_thread_blas():
        return _fit(problem, data, N, m, n_h=n_h, activation=activation, cell=cell, bias=bias,
                    w_hh_max=w_hh_max, stride=stride, init=init, seed=seed, restarts=restarts,
                    maxiter=maxiter, tol=tol, progress=progress, t_start=t_start)


def _fit(problem, data, N, m, *, n_h, activation, cell, bias, w_hh_max, stride, init, seed,
         restarts, maxiter, tol, progress, t_start) -> Solution:
    """:func:`fit` after the BLAS setup: check, build the starts, screen them, polish."""
    problem = _check_problem(problem)
    wd = windowed(data, N, m, stride)
    n_h, restarts, maxiter, tol = _check_fit(wd, n_h=n_h, activation=activation, cell=cell,
                                             w_hh_max=w_hh_max, init=init, restarts=restarts,
                                             maxiter=maxiter, tol=tol)
    say = progress if progress is not None else (lambda s: None)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    spec = Spec(cell, wd.n_x, n_h, wd.n_y, activation)
    obj = _Objective(problem, wd, spec, bias, w_hh_max)
    starts = _starts(problem, wd, obj, init, restarts, rng, bias, w_hh_max)
    run = _Runner(obj, tol)
    screened = _screen(problem, wd.m, obj, run, starts, say)
    x, res = _polish(problem, wd.m, obj, run, screened, maxiter, say)
    converged = check_result(res, f"the {problem} problem (N={wd.N}, m={wd.m})")
    theta, z = obj.split(obj.rescale(x))
    sol = _solution(problem, spec.model(theta), wd, z)
    sol.iterations, sol.converged = run.iterations, converged
    sol.n_starts, sol.message = len(starts), str(res.message)
    sol.start_values = [s[0] for s in screened]
    sol.seconds = time.perf_counter() - t_start
    say(f"{problem} m={wd.m}: done, V = {sol.value:.6g} ({sol.seconds:.2f}s)")
    return sol


def _check_fit(wd: WindowedData, *, n_h, activation, cell, w_hh_max, init, restarts, maxiter,
               tol) -> tuple[int, int, int, float]:
    """Check :func:`fit`'s settings; ``(n_h, restarts, maxiter, tol)`` with the defaults."""
    restarts = DEFAULT_RESTARTS if restarts is None else restarts
    maxiter = DEFAULT_MAXITER if maxiter is None else maxiter
    tol = DEFAULT_TOL if tol is None else tol
    check_activation(activation)
    check_cell(cell)
    n_h = check_int("n_h", n_h, 1)
    restarts = check_int("restarts", restarts, 0)
    maxiter = check_int("maxiter", maxiter, 1)
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol = {tol} must be a finite number > 0")
    if w_hh_max is not None and not (np.isfinite(w_hh_max) and w_hh_max > 0):
        raise ValueError(f"w_hh_max = {w_hh_max} must be a finite number > 0 (or None)")
    if init is not None:
        _check_model(init.model if isinstance(init, Solution) else init, wd.sequence, n_h,
                     activation if cell == "elman" else None, what="init", cell=cell)
    if init is None and restarts == 0:
        raise ValueError("restarts = 0 needs a warm start: pass init=")
    return n_h, restarts, maxiter, tol


Start = tuple[np.ndarray, np.ndarray | None]  # (theta, z)


def _starts(problem: str, wd: WindowedData, obj: _Objective, init: Model | Solution | None,
            restarts: int, rng: np.random.Generator, bias: bool, w_hh_max: float | None
            ) -> list[Start]:
    """The warm start (if any) first, then ``restarts`` random ones; of the candidate states
    of each start, the one with the lowest objective."""
    spec = obj.spec
    starts: list[Start] = []
    if init is not None:
        cands = _warm_start(init, problem, wd, obj)
        starts.append(min(cands, key=lambda c: obj.value(*c)))
    for k in range(restarts):
        theta = _random_theta(rng, spec, bias, w_hh_max, k)
        if problem == "relaxed":
            cands = _relaxed_states(theta, spec.model(theta), wd)
        elif problem == "benchmark":
            cands = [(theta, np.zeros((1, spec.n_z)))]
        else:
            cands = [(theta, None)]
        # the readout of a random start: the least-squares one for its states
        cands = [(obj.fit_readout(th, z), z) for th, z in cands]
        starts.append(min(cands, key=lambda c: obj.value(*c)))
    return starts


class _Runner:
    """L-BFGS-B runs on one objective, counting their iterations."""

    def __init__(self, obj: _Objective, tol: float) -> None:
        self.obj, self.iterations = obj, 0
        self.opts = {"ftol": tol, "gtol": tol * 1e3, "maxcor": 20}

    def __call__(self, x0: np.ndarray, iters: int) -> OptimizeResult:
        res = minimize(self.obj, x0, jac=True, method="L-BFGS-B", bounds=self.obj.bounds,
                       options={**self.opts, "maxiter": iters})
        self.iterations += int(res.nit)
        return res


def _screen(problem: str, m: int, obj: _Objective, run: _Runner, starts: list[Start],
            say: Callable[[str], None]) -> list[tuple[float, np.ndarray, float]]:
    """``(value, x, zeta)`` after a short run from every start (no run when there is one)."""
    screened: list[tuple[float, np.ndarray, float]] = []
    for k, (theta, z) in enumerate(starts):
        obj.zeta = 1.0
        x0 = obj.rescale(obj.join(theta, z))
        if len(starts) == 1:
            screened.append((float(obj(x0)[0]), x0, obj.zeta))
            break
        res = run(x0, SCREEN_ITER)
        check_result(res, f"{problem} (screening start {k})", warn=False)
        screened.append((float(res.fun), res.x, obj.zeta))
        say(f"{problem} m={m}: start {k + 1}/{len(starts)} screened, V = {res.fun:.6g}")
    return screened


def _polish(problem: str, m: int, obj: _Objective, run: _Runner,
            screened: list[tuple[float, np.ndarray, float]], maxiter: int,
            say: Callable[[str], None]) -> tuple[np.ndarray, OptimizeResult]:
    """Polish the best screened starts to convergence, rescaling the states between rounds;
    the best ``x`` and its last result (``obj.zeta`` set to its scale)."""
    values = [s[0] for s in screened]
    best: tuple[float, np.ndarray, float, OptimizeResult] | None = None
    order = np.argsort(values)
    keep = [i for i in order[:POLISH_KEEP]
            if values[i] <= values[order[0]] * (1 + POLISH_MARGIN) + 1e-300]
    for rank, idx in enumerate(keep):
        _, x, obj.zeta = screened[idx]
        res = None
        for _ in range(POLISH_ROUNDS):
            x = obj.rescale(x)
            res = run(x, maxiter)
            improved = res.nit > 1
            x = res.x
            if not improved and check_result(res, warn=False):
                break
        assert res is not None
        say(f"{problem} m={m}: polished start {rank + 1}, V = {res.fun:.6g}")
        if best is None or res.fun < best[0]:
            best = (float(res.fun), x, obj.zeta, res)
    assert best is not None
    _, x, obj.zeta, res = best
    return x, res


def _solution(problem: str, model: Model, wd: WindowedData, z: np.ndarray | None
              ) -> Solution:
    """Assemble a :class:`Solution` (value, outputs, states) for given parameters."""
    n_z = model.n_z
    states = h0 = None
    if problem == "benchmark":
        h0 = np.asarray(z, dtype=np.float64).reshape(n_z).copy()
        states, y = model.simulate(wd.sequence.x, h0)
        zz = states[wd.starts].copy()
        outputs = wd.windows.stack(y)
        value = float(WindowBatch.one_pass(model, wd).loss(model.theta, h0))
    else:
        zz = np.zeros((wd.S, n_z)) if z is None else np.array(z, dtype=np.float64)
        batch = WindowBatch.for_model(model, wd.X, wd.Y, wd.m)
        outputs = batch.outputs(model.theta, zz)
        value = float(batch.loss(model.theta, zz))
    return Solution(problem=problem, model=model, value=value, h0=h0, z=zz, outputs=outputs,
                    N=wd.N, m=wd.m, stride=wd.stride, T=wd.T, states=states)


# ----------------------------------------------------------------------------- evaluation
def evaluate(problem: str, model: Model, data: Sequence | WindowedData, N: int | None = None,
             m: int | None = None, stride: int | None = None,
             h0: np.ndarray | None = None, z: np.ndarray | None = None) -> float:
    """The objective of ``problem`` (docs/theory.md §2) at given parameters.

    Parameters
    ----------
    problem : ``"tbptt"`` (``V(theta)``, zero initial states), ``"benchmark"``
        (``V^b(theta, h0)``, ``h0 : (n_z,)``, zeros if ``None``) or ``"relaxed"``
        (``V^inf(theta, z)``, ``z : (S, n_z)``, zeros if ``None``)
    model, data, N, m, stride : as in :func:`fit`

    Returns
    -------
    float
    """
    problem = _check_problem(problem)
    wd = windowed(data, N, m, stride)
    _check_model(model, wd)
    n_z = model.n_z
    if problem == "benchmark":
        h = np.zeros(n_z) if h0 is None else np.asarray(h0, dtype=np.float64)
        if h.shape != (n_z,):
            raise ValueError(f"h0 must have shape (n_z,)=({n_z},), got {h.shape}")
        return float(WindowBatch.one_pass(model, wd).loss(model.theta, h))
    zz = None
    if problem == "relaxed" and z is not None:
        zz = np.asarray(z, dtype=np.float64)
        if zz.shape != (wd.S, n_z):
            raise ValueError(f"z must have shape (S, n_z)=({wd.S}, {n_z}), got {zz.shape}")
    batch = WindowBatch.for_model(model, wd.X, wd.Y, wd.m)
    return float(batch.loss(model.theta, zz))


def performance(model: Model, data: Sequence, m: int, h0: np.ndarray | None = None) -> float:
    """``P(h_0, theta; D)`` of docs/theory.md §2: free run from ``h0`` over the whole sequence.

    ``P = 1/(T - m) sum_{t=m+1..T} ||psi_t(h_0; theta, x^d) - y^d_t||^2``.

    Parameters
    ----------
    model : the RNN
    data : ``x : (T, n_x)``, ``y : (T, n_y)``
    m : burn-in, ``0 <= m < T``
    h0 : ``(n_z,)``, zeros if ``None``
    """
    _check_model(model, data)
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
        raise TypeError(f"m must be an integer, got {m!r}")
    if not 0 <= m < data.T:
        raise ValueError(f"m = {m} must satisfy 0 <= m < T = {data.T}")
    _, y = model.simulate(data.x, h0)
    r = y[m:] - data.y[m:]
    return float(np.sum(r * r) / (data.T - m))
