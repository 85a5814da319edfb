"""The smallest LMI-C rate without an SDP: numerical radii of diagonally scaled ``W_hh``.

For a fixed sector multiplier ``Lambda = diag(mu) > 0`` put ``D = diag(sqrt(2 mu))`` and
``A = D W_hh D^-1``. With ``P = D Q D`` (Schur complement on the ``2 Lambda - P`` block)

    LMI-C(lam)  <=>  lam**2 Q >= (1/4) A^T (I - Q)^-1 A,   0 < Q < I
                <=>  X + At^T X^-1 At <= I  for some X > 0,   At = A / (2 lam),  X = I - Q,

and the matrix inequality ``X + At^T X^-1 At <= I`` has a positive definite solution iff
``I + e^{i th} At + e^{-i th} At^T >= 0`` for every ``th`` (Engwerda, Ran & Rijkeboer 1993,
"Necessary and sufficient conditions for the existence of a positive definite solution of the
matrix equation X + A*X^-1 A = Q"; necessity is Cauchy-Schwarz), i.e. iff ``2 w(At) <= 1``,
``w`` the numerical radius. Hence, for the multiplier ``mu``, the best rate is

    lam(mu) = w(D W_hh D^-1) = max_th lambda_max((e^{i th} A + e^{-i th} A^T) / 2),

one eigenvalue maximisation over ``th`` (no SDP), and the smallest LMI-C rate is
``min_D w(D W_hh D^-1)`` over positive diagonal ``D`` (the set of feasible ``(P, Lambda)`` at a
rate is convex, so ``lam(mu)`` is quasi-convex in ``mu``; in ``u = log d`` it is convex along
every line we sampled). :func:`best_rate` minimises it by BFGS with a weak Wolfe line search,
which works on such nonsmooth (max-eigenvalue) functions (Lewis & Overton 2013).

Nothing here is a certificate: :mod:`~verification.certificates.lmi_c` solves one SDP at the
rate found here (for the metric with the smallest ``kappa(P)``) and re-checks it in float64.
"""

from __future__ import annotations

import numpy as np

#: Grid of angles ``th in [0, 2 pi)`` on which the peaks of ``lambda_max`` are located.
THETA_GRID = 24
#: Grid used for the final value (a narrow peak missed by the coarse grid is found here).
THETA_GRID_FINAL = 256
#: Newton steps refining each peak in ``th``.
NEWTON_STEPS = 8
#: Bound on ``|log d_i - mean(log d)|`` (keeps ``D W D^-1`` finite).
LOG_SCALE_MAX = 20.0
#: Evaluation budget of the BFGS minimisation over ``log d`` (at ``n = 32`` the best value is
#: within ~3e-7 of its 150-evaluation value after 100; ``lam`` is certified to ``tol = 1e-4``).
MAX_EVALS = 100
#: Stop when the best value improved by less than this (relative) over ``STALL`` evaluations.
STALL_RTOL = 1e-7
STALL = 20


def _peak(S: np.ndarray, K: np.ndarray, th: float, h: float) -> tuple[float, float, np.ndarray]:
    """Refine a local maximum of ``f(th) = lambda_max(cos th S + i sin th K)`` by Newton
    (steps at most ``h``, the grid spacing)."""
    for _ in range(NEWTON_STEPS):
        ev, V = np.linalg.eigh(np.cos(th) * S + 1j * np.sin(th) * K)
        v = V[:, -1]
        H1 = -np.sin(th) * S + 1j * np.cos(th) * K  # dH/dth
        c = V.conj().T @ (H1 @ v)
        gap = ev[-1] - ev[:-1]
        d1 = float(np.real(c[-1]))
        d2 = float(np.real(v.conj() @ ((-np.cos(th) * S - 1j * np.sin(th) * K) @ v)))
        d2 += 2.0 * float(np.sum(np.abs(c[:-1]) ** 2 / np.maximum(gap, 1e-300)))
        step = float(np.clip(-d1 / d2, -h, h)) if d2 < 0 else h * np.sign(d1)
        if abs(step) < 1e-7:  # quadratic convergence: the value is exact to ~1e-14
            return float(ev[-1]), th, v
        th += step
    ev, V = np.linalg.eigh(np.cos(th) * S + 1j * np.sin(th) * K)
    return float(ev[-1]), th, V[:, -1]


def numerical_radius(
    A: np.ndarray, grid: int = THETA_GRID, starts: np.ndarray | None = None
) -> tuple[float, float, np.ndarray]:
    """``w(A) = max_th lambda_max((e^{i th} A + e^{-i th} A^T) / 2)`` for a real ``A``.

    Parameters
    ----------
    A : (n, n) real
    grid : number of angles in ``[0, 2 pi)``; every local maximum on the grid is refined by
        Newton's method.
    starts : angles to refine instead of scanning the grid (peaks tracked from a nearby
        matrix); the result is then a lower bound of ``w(A)``.

    Returns
    -------
    (w, th, v) : the value, the maximising angle and the unit top eigenvector (complex, (n,)).
    """
    best = (-np.inf, 0.0, np.zeros(A.shape[0], dtype=complex))
    S, K = 0.5 * (A + A.T), 0.5 * (A - A.T)
    if starts is not None:
        for th in starts:
            val, th, v = _peak(S, K, float(th), 2.0 * np.pi / grid)
            if val > best[0]:
                best = (val, th, v)
        return best
    ths = np.linspace(0.0, 2.0 * np.pi, grid, endpoint=False)
    H = np.cos(ths)[:, None, None] * S + 1j * np.sin(ths)[:, None, None] * K
    f = np.linalg.eigvalsh(H)[:, -1]
    # f is the support function of the numerical range in direction th, Lipschitz with
    # constant w(A) <= max|f|: a grid peak more than w(A) * spacing below the top cannot win
    band = float(np.max(np.abs(f))) * 2.0 * np.pi / grid
    peaks = np.flatnonzero((f >= np.roll(f, 1)) & (f >= np.roll(f, -1)) & (f >= f.max() - band))
    for k in peaks:
        val, th, v = _peak(S, K, float(ths[k]), 2.0 * np.pi / grid)
        if val > best[0]:
            best = (val, th, v)
    if best[0] < f.max():  # a Newton step left the peak: keep the grid value
        k = int(np.argmax(f))
        ev, V = np.linalg.eigh(H[k])
        best = (float(ev[-1]), float(ths[k]), V[:, -1])
    return best


def rate_for_multiplier(W: np.ndarray, mu: np.ndarray, grid: int = THETA_GRID_FINAL) -> float:
    """The smallest rate at which LMI-C is feasible with multiplier ``mu > 0``: ``w(D W D^-1)``,
    ``D = diag(sqrt(2 mu))`` (module docstring). Not a certificate."""
    d = np.sqrt(2.0 * np.asarray(mu, dtype=np.float64))
    return numerical_radius(d[:, None] * W / d[None, :], grid)[0]


def _rate(u: np.ndarray, W: np.ndarray) -> tuple[float, np.ndarray]:
    """``w(D W D^-1)``, ``D = diag(exp(u))``, and its gradient in ``u`` (where smooth)."""
    u = np.clip(u - u.mean(), -LOG_SCALE_MAX, LOG_SCALE_MAX)
    d = np.exp(u)
    A = d[:, None] * W / d[None, :]
    w, th, v = numerical_radius(A)
    return w, _gradient(A, th, v)


def _gradient(A: np.ndarray, th: float, v: np.ndarray) -> np.ndarray:
    """Gradient in ``u`` of ``Re(e^{i th} v^* A(u) v)``, ``A(u) = e^U A e^-U``, at ``u = 0``."""
    # d A / d u_k = E_kk A - A E_kk;  d w = Re(e^{i th} v^* dA v)
    return np.real(np.exp(1j * th) * (v.conj() * (A @ v) - (v.conj() @ A) * v))


def best_rate(W: np.ndarray, max_evals: int = MAX_EVALS) -> tuple[float, np.ndarray]:
    """Minimise ``w(D W D^-1)`` over positive diagonal ``D``: ``(lam, mu)`` with
    ``mu = d**2 / 2`` (scale-free) and ``lam = rate_for_multiplier(W, mu)``.

    BFGS in ``u = log d`` from ``u = 0`` (``Lambda = I``: ``lam = w(W) <= ||W||_2``) with a weak
    Wolfe line search; stops after ``max_evals`` evaluations or when the best value stalls.

    Parameters
    ----------
    W : (n, n) real
    max_evals : int

    Returns
    -------
    lam : float, the rate of the best multiplier found (an upper bound of the infimum over
        diagonal multipliers, up to the angular grid)
    mu : (n,) positive multiplier
    """
    n = W.shape[0]
    u = np.zeros(n)
    f, g = _rate(u, W)
    evals, best, best_u, since = 1, f, u, 0
    H = np.eye(n)
    while evals < max_evals and n > 1:
        p = -H @ g
        if g @ p >= 0:
            H, p = np.eye(n), -g
        t, lo, hi = 1.0, 0.0, np.inf
        accepted = False
        while evals < max_evals:  # weak Wolfe: sufficient decrease, and curvature
            fn, gn = _rate(u + t * p, W)
            evals += 1
            if fn < best * (1.0 - STALL_RTOL):
                best, best_u, since = fn, u + t * p, 0
            else:
                since += 1
            if fn > f + 1e-4 * t * (g @ p):
                hi = t
            elif gn @ p < 0.9 * (g @ p):
                lo = t
            else:
                accepted = True
                break
            t = 0.5 * (lo + hi) if np.isfinite(hi) else 2.0 * lo
            if t * np.linalg.norm(p) < 1e-15:
                break
        if not accepted or since >= STALL:
            if not accepted and not np.allclose(H, np.eye(n)):
                H = np.eye(n)  # restart once from steepest descent
                continue
            break
        s, y = t * p, gn - g
        if s @ y > 0:
            r = 1.0 / (s @ y)
            E = np.eye(n) - r * np.outer(s, y)
            H = E @ H @ E.T + r * np.outer(s, s)
        u, f, g = u + s, fn, gn
    uc = np.clip(best_u - best_u.mean(), -LOG_SCALE_MAX, LOG_SCALE_MAX)
    mu = 0.5 * np.exp(2.0 * uc)
    return rate_for_multiplier(W, mu), mu


def _maximal_solution(A: np.ndarray, beta: float, max_steps: int) -> np.ndarray | None:
    """Maximal solution ``Y`` of ``Y + A Y^-1 A^T = beta I`` by the structure-preserving doubling
    algorithm (Lin & Xu 2006), quadratically convergent; None if it does not settle."""
    n = A.shape[0]
    A_k, Q_k, G_k = A.T, beta * np.eye(n), np.zeros((n, n))  # SDA form Y + B^T Y^-1 B, B = A^T
    for _ in range(max_steps):
        M = Q_k - G_k
        try:
            MA, MAt = np.linalg.solve(M, A_k), np.linalg.solve(M, A_k.T)
        except np.linalg.LinAlgError:
            return None
        Q_next = Q_k - A_k.T @ MA
        G_k = G_k + A_k @ MAt
        A_k = A_k @ MA
        done = np.linalg.norm(Q_next - Q_k) <= 1e-14 * np.linalg.norm(Q_next)
        Q_k, G_k = 0.5 * (Q_next + Q_next.T), 0.5 * (G_k + G_k.T)
        if done:
            return Q_k
    return None


def metric_for_multiplier(
    W: np.ndarray, mu: np.ndarray, lam: float, max_steps: int = 60, w: float | None = None
) -> np.ndarray | None:
    """A well-conditioned metric ``P`` with LMI-C strictly feasible at ``lam`` for ``mu``.

    ``P = D (I - X) D`` with ``X`` the minimal solution of ``X + At^T X^-1 At = beta I``,
    ``At = D W D^-1 / (2 lam)``, ``beta = (1 + w / lam) / 2`` (``w = w(D W D^-1)``; a solution
    exists iff ``2 w(At) <= beta``), so ``X + At^T X^-1 At <= I - (1 - beta) I``: LMI-C holds
    with room ``(1 - beta)``. The minimal solution is ``X = beta I - Y`` with ``Y`` the maximal
    solution of the dual equation ``Y + At Y^-1 At^T = beta I`` (Engwerda, Ran & Rijkeboer
    1993), so ``I - X = Y + (1 - beta) I`` stays away from singular: ``kappa(P)`` is far
    smaller than with the maximal solution (``C`` 3.9 against 59 at ``n = 32`` in
    ``benchmarks/lmi_scaling.py``). Not a certificate (the float64 check decides); None if
    ``lam <= w`` or the iteration does not settle.

    Parameters
    ----------
    W : (n, n); mu : (n,) positive; lam : float
    max_steps : doubling steps allowed
    w : ``rate_for_multiplier(W, mu)`` if already known (it costs ``THETA_GRID_FINAL``
        eigenvalue problems)

    Returns
    -------
    P : (n, n) symmetric, or None
    """
    n = W.shape[0]
    d = np.sqrt(2.0 * np.asarray(mu, dtype=np.float64))
    A = d[:, None] * W / d[None, :]
    if w is None:
        w = numerical_radius(A, THETA_GRID_FINAL)[0]
    if not lam > w:
        return None
    beta = 0.5 * (1.0 + w / lam)
    Y = _maximal_solution(A / (2.0 * lam), beta, max_steps)
    if Y is None:
        return None
    P = d[:, None] * (Y + (1.0 - beta) * np.eye(n)) * d[None, :]
    return 0.5 * (P + P.T) if np.all(np.isfinite(P)) else None
