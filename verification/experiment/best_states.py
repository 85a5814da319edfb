r"""The best initial state of every window at fixed parameters, solved as one batched problem.

Given ``theta`` and windows ``X_i``, ``Y_i`` (docs/theory.md §2), the relaxed objective at fixed
``theta`` is a sum of independent terms,

    V(theta; z) = (1/K) sum_i L_i(z_i),
    L_i(z) = sum_{j=m+1..N} ||psi_j(z; theta, X_i) - y^d_ij||^2,

so ``z*_i = argmin L_i`` is ``S`` separate problems in ``n_z`` unknowns (``2 n_h`` for the
LSTM). They are solved together by a projected Levenberg-Marquardt method with one
``n_z x n_z`` system per window (:func:`levenberg_marquardt`):

* Gauss-Newton matrix (:func:`gauss_newton_terms`): forward-mode sensitivities
  ``Phi_j = dz_j/dz_0 : (n_z, n_z)`` (``Phi_j = J_j Phi_(j-1)``, ``J_j`` the cell's Jacobian),
  ``A_ij = W_y Phi_j`` (``W_y = dg/dz``), ``H_i = sum_(j>m) A_ij^T A_ij``; the gradient
  ``g_i = sum_(j>m) A_ij^T r_ij = (1/2) dL_i/dz`` comes from the adjoint pass of
  :class:`~systems.bptt.WindowBatch` (cheap), ``H_i`` from the sensitivity pass (``n_z``
  times the work), so ``H_i`` is reused for up to ``refresh`` accepted steps (and recomputed
  at once for a window whose step with a reused ``H_i`` is rejected);
* step ``(H_i + mu_i s_i I) delta_i = -g_i`` with ``s_i = tr(H_i) / n_z`` (damping relative to
  the window's own curvature; a rank-deficient ``H_i``, e.g. ``m`` close to ``N``, gives the
  least-change step), restricted to the coordinates not held at a bound of the box (those at a
  bound whose gradient points outwards are frozen), then projected onto the box;
* a window keeps its trial state only if ``L_i`` decreases (``mu_i / 3``), else ``mu_i x 4``;
  it leaves the active set when an accepted step lowers ``L_i`` by at most ``ftol L_i`` or its
  ``mu_i`` exceeds :data:`MU_MAX` (no Gauss-Newton step lowers it), and the solve stops after
  ``max_iter`` iterations. The LSTM's loss surfaces have flat valleys (Gauss-Newton matrices
  with eigenvalues from ~1e2 down to ~1e-14: units whose forget gate is saturated shut), so
  the last percent of the value can take hundreds of iterations; :attr:`StateFit.history`
  shows how settled the value is (on the authors' Silverbox model at ``m = 0``: 1 % lower
  after 40 iterations than after 10).

The box. Unconstrained, ``inf_z L_i`` need not be attained: an LSTM's loss keeps falling
slowly while ``||z||`` grows without bound (states no trajectory reaches, deep in the gates'
saturation; seen on the authors' Silverbox model: ``||z||`` from 7 to 744 over 250 steps for a
1 % lower loss). :func:`state_box` gives the box of the states the model visits on the data,
widened by a margin: the best state is then the best state the model could be in, and the
minimum exists.

Losses are always evaluated by the same code (:class:`~systems.bptt.WindowBatch`), so the
per-window comparisons never mix two roundings. :func:`best_states` starts every window from
the better of several guesses (e.g. the model's free-run state at the window start, and ``0``)
or, with ``multistart=True``, solves from each and keeps the best result per window.

Example
-------
>>> import numpy as np
>>> from systems.rnn import ElmanRNN
>>> model = ElmanRNN([[0.5]], [[1.0]], None, [[1.0]], None, activation="linear")
>>> X = np.zeros((2, 3, 1)); Y = np.ones((2, 3, 1))   # y_j = 0.5**j z: best z fits 1, 1, 1
>>> fit = best_states(model, X, Y, m=0, starts=[np.zeros((2, 1))])
>>> round(float(fit.z[0, 0]), 6)    # least squares: sum_j 0.5**j / sum_j 0.25**j
2.666667
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from systems.bptt import WindowBatch

__all__ = ["StateFit", "state_box", "gauss_newton_terms", "window_losses", "window_gradients",
           "levenberg_marquardt", "best_states"]

#: Initial damping (relative to ``tr(H_i) / n_z``).
MU0 = 1e-3
#: A window whose damping exceeds this has no Gauss-Newton step that lowers its loss.
MU_MAX = 1e10
#: Windows per chunk of the sensitivity pass (memory ``chunk * n_z**2 * 8`` bytes x ~4).
CHUNK = 4096
#: Margin of :func:`state_box`, relative to the half-width of the visited range.
BOX_MARGIN = 0.1


@dataclass(frozen=True, eq=False)
class StateFit:
    """The best initial states found, and how they were found.

    Attributes
    ----------
    z : (S, n_z) the states
    loss : (S,) ``L_i(z_i)``
    V : ``sum_i L_i(z_i) / K``, ``K = S (N - m)``
    start : (S,) index of the start each window's state came from
    converged : (S,) the window left the active set (small decrease or no descent step)
    iterations : Levenberg-Marquardt iterations per run
    history : ``V`` after each iteration of the last run (how converged the value is)
    sensitivity_passes : window-passes of the sensitivity computation (cost, in windows)
    box : ``(lo, hi)`` each ``(n_z,)``, or None (unconstrained)
    seconds : wall-clock time
    """

    z: np.ndarray
    loss: np.ndarray
    V: float
    start: np.ndarray
    converged: np.ndarray
    iterations: list[int]
    history: list[float]
    sensitivity_passes: int
    box: tuple[np.ndarray, np.ndarray] | None
    seconds: float


def state_box(z_visited: np.ndarray, margin: float = BOX_MARGIN
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per coordinate, the range of the visited states widened by ``margin`` x its half-width.

    ``z_visited : (T, n_z)`` (e.g. the free run over the training split, ``0`` included);
    returns ``(lo, hi)``, each ``(n_z,)``. A coordinate that never moves gets ``margin``
    on either side.
    """
    z = np.asarray(z_visited, dtype=np.float64).reshape(-1, np.shape(z_visited)[-1])
    lo, hi = z.min(axis=0), z.max(axis=0)
    half = np.where(hi > lo, (hi - lo) / 2.0, 1.0)
    return lo - margin * half, hi + margin * half


def _batch(model: object, X: np.ndarray, Y: np.ndarray, m: int) -> WindowBatch:
    return WindowBatch(X, Y, m, n_h=model.n_h, cell=model.cell, **model.options)


def window_losses(model: object, X: np.ndarray, Y: np.ndarray, m: int,
                  z: np.ndarray | None) -> np.ndarray:
    """``L_i(z_i) = sum_(j>m) ||psi_j(z_i) - y_ij||^2`` for every window: ``(S,)``.

    ``X : (S, N, n_x)``, ``Y : (S, N, n_y)``, ``z : (S, n_z)`` or None (zeros).
    """
    out = _batch(model, X, Y, m).outputs(model.theta, z)
    r = out[:, m:] - Y[:, m:]
    return np.einsum("sjy,sjy->s", r, r)


def window_gradients(model: object, X: np.ndarray, Y: np.ndarray, m: int,
                     z: np.ndarray) -> np.ndarray:
    """``g_i = (1/2) dL_i/dz_i`` for every window (the adjoint pass): ``(S, n_z)``."""
    S, N = X.shape[:2]
    _, _, dz = _batch(model, X, Y, m).loss_grad(model.theta, z)
    return dz * (S * (N - m) / 2.0)  # V = sum_i L_i / K, K = S (N - m)


def gauss_newton_terms(model: object, X: np.ndarray, Y: np.ndarray, z: np.ndarray,
                       m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(g, H)`` of every window at ``z : (S, n_z)``: ``g : (S, n_z)``, ``H : (S, n_z, n_z)``.

    ``H_i = sum_(j>m) A_ij^T A_ij``, ``g_i = sum_(j>m) A_ij^T r_ij`` with ``A_ij = W_y dz_j/dz_0``
    (module docstring): one forward pass carrying the ``n_z`` sensitivity directions, in chunks
    of :data:`CHUNK` windows. The model needs ``step``, ``jacobian``, ``output`` and
    ``output_matrix``.
    """
    S, N, _ = X.shape
    n_z = int(model.n_z)
    W_yT = np.asarray(model.output_matrix, dtype=np.float64).T  # (n_z, n_y)
    g, H = np.zeros((S, n_z)), np.zeros((S, n_z, n_z))
    for lo in range(0, S, CHUNK):
        hi = min(lo + CHUNK, S)
        zt = np.array(z[lo:hi], dtype=np.float64)
        Phi = np.broadcast_to(np.eye(n_z), (hi - lo, n_z, n_z)).copy()
        for t in range(N):
            xt = X[lo:hi, t]
            Phi = model.jacobian(zt, xt) @ Phi  # dz_(t+1)/dz_0
            zt = model.step(zt, xt)
            if t >= m:  # position j = t + 1 is scored
                r = model.output(zt) - Y[lo:hi, t]  # (B, n_y)
                At = np.matmul(Phi.transpose(0, 2, 1), W_yT)  # A^T : (B, n_z, n_y)
                H[lo:hi] += At @ At.transpose(0, 2, 1)
                g[lo:hi] += (At @ r[:, :, None])[:, :, 0]
    return g, H


def _step(H: np.ndarray, g: np.ndarray, mu: np.ndarray, z: np.ndarray,
          box: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """The damped Gauss-Newton trial state, frozen at and projected onto the box."""
    n_z = g.shape[1]
    scale = np.maximum(np.trace(H, axis1=1, axis2=2) / n_z, 1e-300)
    A = H + (mu * scale)[:, None, None] * np.eye(n_z)
    b = -g
    if box is not None:
        lo, hi = box
        frozen = ((z <= lo) & (g > 0)) | ((z >= hi) & (g < 0))  # descent would leave the box
        free = (~frozen).astype(np.float64)
        A = A * free[:, :, None] * free[:, None, :]
        A[:, np.arange(n_z), np.arange(n_z)] += 1.0 - free
        b = b * free
    trial = z + np.linalg.solve(A, b[:, :, None])[:, :, 0]
    return trial if box is None else np.clip(trial, box[0], box[1])


def levenberg_marquardt(model: object, X: np.ndarray, Y: np.ndarray, m: int, z0: np.ndarray,
                        *, box: tuple[np.ndarray, np.ndarray] | None = None,
                        max_iter: int = 20, ftol: float = 1e-10, refresh: int = 4,
                        progress: Callable[[str], None] | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float], int]:
    """Minimise every ``L_i`` from ``z0 : (S, n_z)`` (inside ``box``, if given).

    Returns ``(z, loss, converged, history, sensitivity_passes)``, ``history`` the value
    ``sum_i L_i / K`` after each iteration. Every accepted step
    lowers its window's loss, so ``loss <= L_i(z0_i)`` window by window. Long by the
    algorithm's bookkeeping (active set, per-window damping, reuse of ``H``), not its math.
    """
    z = np.array(z0, dtype=np.float64)
    if box is not None:
        z = np.clip(z, box[0], box[1])
    S, _ = z.shape
    loss = window_losses(model, X, Y, m, z)
    g, H = gauss_newton_terms(model, X, Y, z, m)
    passes = S
    age = np.zeros(S, dtype=int)  # accepted steps since H_i was computed
    mu = np.full(S, MU0)
    active = np.ones(S, dtype=bool)
    history: list[float] = []
    K = S * (X.shape[1] - m)
    while len(history) < max_iter and active.any():
        idx = np.flatnonzero(active)
        trial = _step(H[idx], g[idx], mu[idx], z[idx], box)
        with np.errstate(over="ignore", invalid="ignore"):
            L = window_losses(model, X[idx], Y[idx], m, trial)
        better = np.isfinite(L) & (L < loss[idx])
        acc, rej = idx[better], idx[~better]
        small = loss[acc] - L[better] <= ftol * loss[acc]
        z[acc], loss[acc] = trial[better], L[better]
        mu[acc] = np.maximum(mu[acc] / 3.0, 1e-12)
        stale = rej[age[rej] > 0]  # rejected with a reused H: recompute it, keep mu
        mu[rej[age[rej] == 0]] *= 4.0
        active[acc[small]] = False
        active[rej[mu[rej] > MU_MAX]] = False
        moved = acc[~small]
        age[moved] += 1
        if moved.size:
            g[moved] = window_gradients(model, X[moved], Y[moved], m, z[moved])
        redo = np.union1d(stale, moved[age[moved] >= refresh])
        if redo.size:
            g[redo], H[redo] = gauss_newton_terms(model, X[redo], Y[redo], z[redo], m)
            age[redo] = 0
            passes += redo.size
        history.append(float(loss.sum() / K))
        if progress is not None:
            progress(f"LM iteration {len(history)}: {int(active.sum())} of {S} windows "
                     f"active, V = {history[-1]:.6g}")
    return z, loss, ~active, history, passes


def best_states(model: object, X: np.ndarray, Y: np.ndarray, m: int,
                starts: Sequence[np.ndarray], *, box: tuple[np.ndarray, np.ndarray] | None = None,
                multistart: bool = False, max_iter: int = 20, ftol: float = 1e-10,
                refresh: int = 4, progress: Callable[[str], None] | None = None) -> StateFit:
    """The best initial state of every window (module docstring).

    Parameters
    ----------
    model : a cell with the ``systems`` model interface (Elman, LSTM, GRU), float64
    X : (S, N, n_x), Y : (S, N, n_y) the windows
    m : burn-in (positions ``1..m`` are not scored)
    starts : one or more ``(S, n_z)`` initial guesses. Default: each window starts from the
        guess with the lowest ``L_i`` (one solve); ``multistart=True``: one solve from every
        guess, the best result kept per window
    box : ``(lo, hi)`` each ``(n_z,)`` (:func:`state_box`), or None for unconstrained states
    max_iter, ftol, refresh : Levenberg-Marquardt settings (:func:`levenberg_marquardt`)
    progress : optional callable receiving status strings

    Returns
    -------
    StateFit
    """
    t0 = time.perf_counter()
    if len(starts) == 0:
        raise ValueError("starts must hold at least one (S, n_z) initial guess")
    S, N = X.shape[:2]
    guesses = []
    for k, z0 in enumerate(starts):
        z0 = np.asarray(z0, dtype=np.float64)
        if z0.shape != (S, model.n_z):
            raise ValueError(f"start {k} has shape {z0.shape}; expected (S, n_z) = "
                             f"({S}, {model.n_z})")
        guesses.append(z0 if box is None else np.clip(z0, box[0], box[1]))
    if not multistart and len(guesses) > 1:
        L0 = np.stack([window_losses(model, X, Y, m, z0) for z0 in guesses])
        pick = np.argmin(L0, axis=0)
        runs = [(np.stack(guesses)[pick, np.arange(S)], pick)]
    else:
        runs = [(z0, np.full(S, k)) for k, z0 in enumerate(guesses)]
    best, iterations, passes = None, [], 0
    for z0, origin in runs:
        z, loss, conv, history, p = levenberg_marquardt(model, X, Y, m, z0, box=box,
                                                   max_iter=max_iter, ftol=ftol,
                                                   refresh=refresh, progress=progress)
        iterations.append(len(history))
        passes += p
        if best is None:
            best = [z, loss, origin, conv]
            continue
        win = loss < best[1]
        best[0][win], best[1][win], best[2][win], best[3][win] = (z[win], loss[win],
                                                                  origin[win], conv[win])
    z, loss, start, conv = best
    return StateFit(z, loss, float(loss.sum() / (S * (N - m))), start, conv, iterations,
                    history, passes, box, time.perf_counter() - t0)
