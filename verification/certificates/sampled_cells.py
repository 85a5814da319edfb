"""Sampled A1 constants for every cell (Elman, LSTM, GRU): lower estimates, never certificates.

* :func:`sampled_constants` -- the procedure of :mod:`~verification.certificates.sampled`
  (pairs of visited states plus a margin, near pairs, envelope fit), for any cell: that module
  indexes states by ``n_h``, so it is called through :class:`StateView`, which presents the
  cell's state ``z`` (``n_z`` entries; ``(h, c)`` for the LSTM) as the state it samples.
* :func:`sampled_on_pairs` -- the same ratios on exactly the pairs an on-data certificate
  covers (``(z_i, 0)``, or random and near pairs on the segments ``[0, z_i]``), for a
  like-for-like comparison with :func:`~verification.certificates.ondata.certify_on_data`.

Both return :class:`~verification.certificates.sampled.Empirical` (``certified = False``).
"""

from __future__ import annotations

import numpy as np

from verification.certificates.ondata import PAIRS, dynamics, separations, simulate_pairs
from verification.certificates.sampled import (
    NEAR_SCALE,
    Empirical,
    empirical_constants,
    fit_envelope,
)


class StateView:
    """A cell seen through its full state: ``n_h`` is the cell's ``n_z``."""

    def __init__(self, model: object) -> None:
        self.model = model
        self.n_h = int(model.n_z)
        self.n_x = int(model.n_x)

    def simulate(self, x: np.ndarray, h0: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """``model.simulate(x, z0=h0)``: states ``(..., T + 1, n_z)`` and outputs."""
        return self.model.simulate(x, h0)


def sampled_constants(model: object, X: np.ndarray, N: int | None = None,
                      **kwargs: object) -> Empirical:
    """:func:`~verification.certificates.sampled.empirical_constants` for any cell.

    Parameters
    ----------
    model : a cell with the ``systems`` model interface
    X : (S, N, n_x) windows or (T, n_x) a sequence (then ``N`` is required)
    N : window length for a sequence
    **kwargs : ``states`` (K, n_z), ``n_pairs``, ``margin``, ``near_fraction``, ``fit``,
        ``seed``, ``rng`` as in ``empirical_constants``
    """
    return empirical_constants(StateView(model), X, N, **kwargs)  # type: ignore[arg-type]


def sampled_on_pairs(model: object, X: np.ndarray, z0: np.ndarray, *, pairs: str = "pair",
                     n_segment: int = 4, fit: str = "loglinear", seed: int | None = 0,
                     rng: np.random.Generator | None = None) -> Empirical:
    """Sampled ratios on the pairs of an on-data certificate; every window is used.

    ``pairs="pair"``: ``rho_j = max_i ||y_j(z_i) - y_j(0)|| / ||z_i||`` (the pair itself).
    ``pairs="segment"``: additionally, per window, ``n_segment`` random pairs ``(s z_i,
    s' z_i)`` and ``n_segment`` near pairs (``|s - s'| = NEAR_SCALE``), ``s, s'`` uniform in
    ``[0, 1]``. Pairs without separation (``z_i = 0``, ``s = s'``) are no witnesses and are not
    counted; with none left, or with ``N = 1`` (no rate from one step), ``lam = C = nan``; as
    in :func:`~verification.certificates.ondata.certify_on_data`, ``contracting`` needs
    ``lam < 1`` and a finite ``C``.

    Parameters
    ----------
    model : a cell
    X : (S, N, n_x)
    z0 : (S, n_z)
    pairs : ``"pair"`` or ``"segment"``
    n_segment : pairs per window and kind on the segment
    fit : envelope rule (``sampled.fit_envelope``)
    seed, rng : the random source for the segment pairs (``rng`` wins if given)
    """
    if pairs not in PAIRS:
        raise ValueError(f"pairs must be one of {PAIRS}, got {pairs!r}")
    X = np.asarray(X, float)
    z0 = np.asarray(z0, float)
    rho = simulate_pairs(model, X, z0).max(axis=0)
    n_pairs = int(np.count_nonzero(separations(z0) > 0))
    if pairs == "segment" and n_segment > 0:
        gen = rng if rng is not None else np.random.default_rng(seed)
        step, _, W_y, _ = dynamics(model)
        S, N, _ = X.shape
        k = 2 * n_segment
        s1 = gen.uniform(size=(S, k))
        s2 = gen.uniform(size=(S, k))
        near = np.zeros((S, k), dtype=bool)
        near[:, n_segment:] = True
        s2 = np.where(near, np.clip(s1 + NEAR_SCALE * np.sign(0.5 - s1), 0.0, 1.0), s2)
        za = (s1[:, :, None] * z0[:, None, :]).reshape(S * k, -1)
        zb = (s2[:, :, None] * z0[:, None, :]).reshape(S * k, -1)
        d = np.linalg.norm(za - zb, axis=1)
        ok = d > 0
        Xr = np.repeat(X, k, axis=0)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for t in range(N):
                za, zb = step(za, Xr[:, t]), step(zb, Xr[:, t])
                r = np.linalg.norm((za - zb) @ W_y.T, axis=1)[ok] / d[ok]
                if r.size:
                    rho[t] = max(rho[t], float(np.max(r)))
        n_pairs += int(ok.sum())
    lam, C = fit_envelope(rho, fit) if n_pairs and rho.size > 1 else (np.nan, np.nan)
    return Empirical(lam=lam, C=C, rho=rho, n_pairs=n_pairs,
                     seed=seed if rng is None else None, certified=False,
                     contracting=bool(lam < 1.0 and np.isfinite(C)), margin=0.0, fit=fit)
