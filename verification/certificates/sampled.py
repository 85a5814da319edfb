"""Sampled (not certified) A1 constants: a lower estimate of ``(C, lam)`` (docs/theory.md §7).

Procedure (:func:`empirical_constants`)

1. States the model visits on the data: every ``h_t`` of the model run from ``h_0 = 0`` over the
   input windows (or the whole sequence), or states passed in.
2. ``n_pairs`` pairs of initial states ``(z, z')``, each pair with one input window ``X_i`` drawn
   at random. "Far" pairs: ``z, z'`` two visited states, each plus a uniform sample of the ball
   of radius ``margin * R`` (``R = max(1, max ||visited state||)``). "Near" pairs (a fraction
   ``near_fraction``): ``z`` as before and ``z' = z + delta`` with ``||delta|| = 1e-4 R``, which
   probes the local (linearised) incremental gain.
3. ``rho_j = max_pairs ||y_j(z) - y_j(z')|| / ||z - z'||`` for ``j = 1..N``.
4. Envelope ``C lam**j >= rho_j``: for a fixed ``lam`` the smallest ``C`` is
   ``C(lam) = max_j rho_j / lam**j`` (:meth:`Empirical.C_at`); ``C(lam)`` decreases in ``lam``,
   so a rule picks ``lam`` (:func:`fit_envelope`). Default ``fit="loglinear"``: the rate of a
   least-squares line through ``log rho_j`` (over all reliable ``j``, and never below the rate
   of the tail ``j > J/2``), then ``C = C(lam)``; exact for geometric ``rho_j = c r**j``.
   ``"energy"``, ``"tail"`` and ``"touch"`` are the alternatives; ``Empirical.C_at`` gives the
   whole trade-off.

Every pair is a witness: ``rho_j`` is a lower bound of the true A1 sup, so any certified
``(C, lam)`` must satisfy ``C lam**j >= rho_j``. An unstable model gives ``lam >= 1`` and
``contracting = False``; nothing raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from systems.rnn import ElmanRNN

#: Size of the "near" perturbation relative to the state scale ``R``.
NEAR_SCALE = 1e-4
#: ``rho_j`` below this fraction of ``max rho`` are treated as rounding noise in the fit: a near
#: pair's output difference cancels to about ``eps_64 / NEAR_SCALE ~ 2e-12`` of the outputs.
RHO_FLOOR = 1e-9
#: Rules for choosing ``lam`` (see :func:`fit_envelope`).
FITS = ("loglinear", "energy", "tail", "touch")
#: Smallest reported ``lam`` (a model whose outputs forget the initial state after one step).
LAM_FLOOR = 1e-6


@dataclass(frozen=True, eq=False)
class Empirical:
    """Sampled A1 constants (docs/theory.md §7): a lower estimate, never a certificate.

    Attributes
    ----------
    lam : float
        Fitted rate (``>= 1`` for a non-contracting model).
    C : float
        ``max_j rho_j / lam**j``.
    rho : (N,) ndarray
        ``rho_j = max ||dy_j|| / ||dz||`` over the sampled pairs, ``j = 1..N``.
    n_pairs : int
    seed : int or None
        Seed of the generator (None if a ``Generator`` was passed).
    certified : bool
        Always False.
    contracting : bool
        ``lam < 1``.
    margin : float
        Radius of the sampling ball relative to the state scale.
    fit : str
        The rule that chose ``lam`` (:func:`fit_envelope`).
    """

    lam: float
    C: float
    rho: np.ndarray
    n_pairs: int
    seed: int | None
    certified: bool = False
    contracting: bool = True
    margin: float = 0.1
    fit: str = "loglinear"

    def C_at(self, lam: float | np.ndarray) -> np.ndarray:
        """Smallest ``C`` with ``C lam**j >= rho_j`` for all ``j``: ``max_j rho_j / lam**j``."""
        lam = np.atleast_1d(np.asarray(lam, dtype=np.float64))
        j = np.arange(1, self.rho.size + 1)
        with np.errstate(divide="ignore", over="ignore"):
            logs = np.log(self.rho)[None, :] - j[None, :] * np.log(lam)[:, None]
        return np.exp(np.max(logs, axis=1))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; ``rho`` as a list of floats (``inf`` for a diverging pair)."""
        return {
            "lam": float(self.lam), "C": float(self.C), "rho": self.rho.astype(float).tolist(),
            "n_pairs": int(self.n_pairs), "seed": self.seed, "certified": bool(self.certified),
            "contracting": bool(self.contracting), "margin": float(self.margin),
            "fit": self.fit,
        }


def fit_envelope(rho: np.ndarray, fit: str = "loglinear") -> tuple[float, float]:
    """Fit ``C lam**j >= rho_j`` (``j = 1..N``) by the rule ``fit``; returns ``(lam, C)``.

    Parameters
    ----------
    rho : (N,) non-negative ratios
    fit : str
        ``"loglinear"`` (default): ``lam = max(exp(s_all), exp(s_tail))`` with ``s_all``,
        ``s_tail`` the slopes of least-squares lines through ``log rho_j`` over all (reliable)
        ``j`` and over the tail ``j > J/2``: the geometric rate of the data, never below the
        tail's. Exact (``lam = r``, ``C = c``) for ``rho_j = c r**j``.
        ``"energy"``: ``lam`` minimises ``sum_j (C(lam) lam**j)**2``, the envelope's
        energy (the quantity ``C**2 Gamma_0`` of L1). For exactly geometric ``rho_j = c r**j``
        the minimiser is ``lam = r``, ``C = c``; but whenever ``C`` binds at ``j = 2`` the
        minimiser is ``1/sqrt(2)`` whatever the data (a property of the criterion).
        ``"tail"``: slope of a least-squares line through ``log rho_j`` on the tail.
        ``"touch"``: the smallest ``lam`` with ``C lam = rho_1``.

    Notes
    -----
    ``rho_j`` below ``RHO_FLOOR * max(rho)`` are rounding noise and are neither fitted nor
    covered by ``C``. If ``rho_N >= rho_1`` (no net decay over the window) the result is
    ``lam = max(1, lam_fit, max_j (rho_j / rho_1)**(1/(j-1)))``: not contracting.
    """
    rho = np.asarray(rho, dtype=np.float64)
    if rho.ndim != 1 or rho.size == 0:
        raise ValueError(f"rho must have shape (N,) with N >= 1, got {rho.shape}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    N = rho.size
    j = np.arange(1, N + 1, dtype=np.float64)
    finite = np.isfinite(rho)
    if not finite.any():
        return np.inf, np.inf
    top = float(np.max(rho[finite]))
    if top == 0.0:
        return LAM_FLOOR, 0.0
    floor = RHO_FLOOR * top
    reliable = finite & (rho > floor)
    jr, lr = j[reliable], np.log(rho[reliable])

    def log_C(lam: float) -> float:
        return float(np.max(lr - jr * np.log(lam)))

    lam = np.nan
    if fit == "energy":
        def log_energy(log_lam: float) -> float:
            lam_ = np.exp(log_lam)
            return 2.0 * log_C(lam_) + float(logsumexp(2.0 * j * log_lam))

        grid = np.linspace(np.log(1e-4), np.log(10.0), 281)
        vals = [log_energy(g) for g in grid]
        k = int(np.argmin(vals))
        lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
        res = minimize_scalar(log_energy, bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-10})
        lam = float(np.exp(res.x if res.fun <= vals[k] else grid[k]))
    elif fit in ("tail", "loglinear"):
        sel = reliable & (j > jr.max() / 2)
        if sel.sum() >= 2:
            lam = float(np.exp(np.polyfit(j[sel], np.log(rho[sel]), 1)[0]))
        if fit == "loglinear" and reliable.sum() >= 2:
            lam_all = float(np.exp(np.polyfit(jr, lr, 1)[0]))
            lam = lam_all if not np.isfinite(lam) else max(lam, lam_all)
    if not np.isfinite(lam):  # "touch", or too few tail points for a line
        sel = reliable & (j >= 2)
        if not reliable[0] or not sel.any():
            lam = LAM_FLOOR if not sel.any() else float(np.exp(np.max(
                (np.log(rho[sel]) - np.log(floor)) / (j[sel] - 1))))
        else:
            lam = float(np.exp(np.max((np.log(rho[sel]) - np.log(rho[0])) / (j[sel] - 1))))
    r = np.where(finite, rho, np.inf)
    if N > 1 and r[-1] >= r[0]:  # no net decay over the window: rate of the worst growth
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            grow = float(np.exp(np.max((np.log(r[1:]) - np.log(max(r[0], floor))) / (j[1:] - 1))))
        lam = max(lam, grow, 1.0)
    lam = max(lam, LAM_FLOOR)
    if not np.all(finite):
        return lam, np.inf
    return lam, float(np.exp(log_C(lam)))


def _windows(x: np.ndarray, N: int | None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:
        if N is not None and N != x.shape[1]:
            raise ValueError(f"N={N} does not match windows of length {x.shape[1]}")
        return x
    if x.ndim != 2:
        raise ValueError(f"X must have shape (S, N, n_x) or (T, n_x), got {x.shape}")
    if N is None or not (1 <= N <= x.shape[0]):
        raise ValueError(f"for a sequence X of length T={x.shape[0]}, N must be in [1, T], "
                         f"got {N}")
    return np.lib.stride_tricks.sliding_window_view(x, N, axis=0).transpose(0, 2, 1)


def empirical_constants(
    model: ElmanRNN,
    X: np.ndarray,
    N: int | None = None,
    *,
    states: np.ndarray | None = None,
    n_pairs: int = 2000,
    margin: float = 0.1,
    near_fraction: float = 0.5,
    fit: str = "loglinear",
    seed: int | None = 0,
    rng: np.random.Generator | None = None,
) -> Empirical:
    """Sampled A1 constants ``rho_j`` and their envelope (docs/theory.md §7, not a certificate).

    Parameters
    ----------
    model : ElmanRNN
    X : (S, N, n_x) input windows, or (T, n_x) a sequence (then windows of length ``N``,
        stride 1)
    N : int, optional
        Window length when ``X`` is a sequence.
    states : (K, n_h), optional
        States to draw initial states from; default: all states of the model run from
        ``h_0 = 0`` over ``X``.
    n_pairs : int
        Number of sampled pairs of initial states.
    margin : float
        Radius of the sampling ball around visited states, relative to ``R`` (module doc).
    near_fraction : float in [0, 1]
        Fraction of "near" pairs (``||z - z'|| = 1e-4 R``).
    fit : ``"loglinear"`` (default), ``"energy"``, ``"tail"`` or ``"touch"`` (:func:`fit_envelope`).
    seed, rng : the random source (``rng`` wins if given).

    Returns
    -------
    Empirical
        ``rho : (N,)``, the fitted ``(lam, C)``, ``contracting = lam < 1``.
    """
    if model.n_h < 1:
        raise ValueError(f"n_h = {model.n_h}: a model needs at least one hidden state (n_h >= 1)")
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs}")
    if not (0.0 <= near_fraction <= 1.0):
        raise ValueError(f"near_fraction must be in [0, 1], got {near_fraction}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    W = _windows(X, N)
    if W.shape[-1] != model.n_x or not np.all(np.isfinite(W)):
        raise ValueError(f"X must be finite with n_x={model.n_x} inputs, got shape {W.shape}")
    gen = rng if rng is not None else np.random.default_rng(seed)
    S, Nw, n = W.shape[0], W.shape[1], model.n_h
    if states is None:
        with np.errstate(over="ignore", invalid="ignore"):
            h, _ = model.simulate(W)
        states = h.reshape(-1, n)
    states = np.asarray(states, dtype=np.float64).reshape(-1, n)
    states = states[np.all(np.isfinite(states), axis=1)]
    if states.shape[0] == 0:
        states = np.zeros((1, n))
    R = max(1.0, float(np.max(np.linalg.norm(states, axis=1))))

    def ball(k: int) -> np.ndarray:
        u = gen.standard_normal((k, n))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        return u * (gen.uniform(size=(k, 1)) ** (1.0 / n)) * margin * R

    z = states[gen.integers(states.shape[0], size=n_pairs)] + ball(n_pairs)
    z2 = states[gen.integers(states.shape[0], size=n_pairs)] + ball(n_pairs)
    near = gen.uniform(size=n_pairs) < near_fraction
    d = gen.standard_normal((int(near.sum()), n))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    z2[near] = z[near] + NEAR_SCALE * R * d
    dz = np.linalg.norm(z - z2, axis=1)
    keep = dz > 0
    z, z2, dz = z[keep], z2[keep], dz[keep]
    Xp = W[gen.integers(S, size=z.shape[0])]
    with np.errstate(over="ignore", invalid="ignore"):
        _, y = model.simulate(Xp, z)
        _, y2 = model.simulate(Xp, z2)
        ratio = np.linalg.norm(y - y2, axis=-1) / dz[:, None]  # (pairs, N)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    rho = ratio.max(axis=0) if ratio.size else np.zeros(Nw)
    lam, C = fit_envelope(rho, fit)
    return Empirical(
        lam=lam, C=C, rho=rho, n_pairs=int(z.shape[0]),
        seed=seed if rng is None else None, certified=False, contracting=bool(lam < 1.0),
        margin=margin, fit=fit,
    )
